from datetime import date

import pytest

from simulator.debtor.proposals import find_amounts, find_dates, find_instalments, parse_proposal

CALL = date(2024, 11, 4)  # a Monday


@pytest.mark.parametrize("text, expected", [
    ("Pouvez-vous verser 2 000 € cette semaine ?", [2000.0]),
    ("Je vous propose 2k tout de suite", [2000.0]),
    ("deux mille euros d'ici vendredi", [2000.0]),
    ("mille cinq cents euros", [1500.0]),
    ("cinq cents euros", [500.0]),
    ("1\u202f500,50 € puis 300 euros", [1500.5, 300.0]),
    ("2.000 EUR", [2000.0]),
    ("quatre-vingt euros", [80.0]),
    ("could you pay £1,500 today? or two thousand pounds", [1500.0, 2000.0]),
    ("la facture FA-2024-0312 du 15", []),
])
def test_amounts(text, expected):
    assert find_amounts(text) == expected


@pytest.mark.parametrize("text, expected", [
    ("vendredi", date(2024, 11, 8)),
    ("lundi", date(2024, 11, 11)),  # not today: the next one
    ("le 15", date(2024, 11, 15)),
    ("le 2", date(2024, 12, 2)),  # already past this month
    ("fin du mois", date(2024, 11, 30)),
    ("dans dix jours", date(2024, 11, 14)),
    ("dans 10 jours", date(2024, 11, 14)),
    ("dans deux semaines", date(2024, 11, 18)),
    ("demain", date(2024, 11, 5)),
    ("le 15 décembre", date(2024, 12, 15)),
    ("le 15/12", date(2024, 12, 15)),
    ("by Friday", date(2024, 11, 8)),
    ("on the 20th", date(2024, 11, 20)),
    ("December 3rd", date(2024, 12, 3)),
    ("in ten days", date(2024, 11, 14)),
    ("end of the month", date(2024, 11, 30)),
    ("le 5 janvier", date(2025, 1, 5)),
])
def test_dates(text, expected):
    assert find_dates(text, CALL)[0] == expected


def test_no_date_in_plain_sentences():
    assert find_dates("Je comprends votre situation, c'est difficile.", CALL) == []
    assert find_dates("La facture de 2 000 € est en retard de 35 jours.", CALL) == []


@pytest.mark.parametrize("text, expected", [
    ("en trois fois", 3), ("en 3 fois", 3), ("trois mensualités", 3), ("sur 4 mois", 4),
    ("in 3 instalments", 3), ("over six months", 6), ("une fois", None),
])
def test_instalments(text, expected):
    assert find_instalments(text) == expected


def test_full_proposal():
    p = parse_proposal("On peut dire 1 500 € vendredi, puis le reste en deux fois ?", CALL)
    assert (p.amount, p.date, p.instalments) == (1500.0, date(2024, 11, 8), 2)
    assert parse_proposal("Bonjour Madame, comment allez-vous ?", CALL).empty
    assert parse_proposal("Pouvez-vous régler la totalité le 15 ?", CALL).full
