"""A trainee turn checked against the scenario's file: a wrong amount stated as the debt (`rubric/facts.py`)."""

import pytest

from simulator.llm import ScriptedModel
from simulator.rubric.facts import check_stated_amount, misstated_amount
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorer import Scorer
from simulator.runtime import Simulator


@pytest.mark.parametrize("text, expected", [
    ("Bonjour, je suis Paul Girard, de Rénov'Plus. Je vous appelle pour la facture F-7781 de 2 350 €.", 2350),
    ("Vous nous devez 1 500 euros depuis septembre.", 1500),
    ("Le montant dû s'élève à 4 200 €, pénalités comprises.", 4200),
    ("Your balance is €950.", 950),
])
def test_a_wrong_figure_stated_as_the_debt_is_found(text, expected):
    language = "en" if text.startswith("Your") else "fr"
    assert misstated_amount(text, 1260, language, "b2b") == expected


@pytest.mark.parametrize("text", [
    "Je vous appelle pour la facture ID-2025-0917 de 1 260 €.",  # the right figure
    "La facture de 1 260 € reste due, plus l'indemnité forfaitaire de 40 €.",  # a part beside the right figure
    "Vous nous devez 1 300 €, indemnité de 40 € comprise.",  # B2B: the debt and the 40 € indemnity
    "Je vous propose 500 € maintenant et le reste en deux fois.",  # a proposal, not the debt
    "Pouvez-vous régler 400 € d'ici vendredi ?",  # a payment asked, not the debt
    "Votre client vous doit 38 000 €, je comprends que ça pèse.",  # someone else's debt
    "Si je comprends bien, votre promoteur a réglé la facture de 38 000 € avec deux mois de retard.",
    "Il vous reste 200 € sur le compte, c'est ça ?",  # the debtor's money, not the debt
    "Vous avez une facture de 38 000 € en attente chez un client ?",
    "Je vous appelle au sujet de la facture ID-2025-0917.",  # no figure
])
def test_right_figures_parts_and_proposals_are_not_flagged(text):
    assert misstated_amount(text, 1260, "fr", "b2b") is None


def test_the_forty_euro_indemnity_is_not_a_right_total_for_a_consumer():
    assert misstated_amount("Vous nous devez 1 300 €.", 1260, "fr", "b2c") == 1300


def test_a_misstated_amount_caps_clarity_with_a_tip_naming_both_figures():
    turn = Scorer(resolve_rubric("fr-default")).score_isolated(
        "Bonjour, je suis Paul Girard, du service relance de Rénov'Plus. Je vous appelle pour la facture F-7781 de "
        "2 350 €.", "Allô ?")
    assert turn.scores["clarity"] > 2
    checked = check_stated_amount(turn, "Je vous appelle pour la facture F-7781 de 2 350 €.", due=1260, currency="EUR",
                                  language="fr", segment="b2b", invoice_ref="ID-2025-0917")
    assert checked.scores["clarity"] == 2 and checked.scores["empathy"] == turn.scores["empathy"]
    tip = checked.tips["clarity"]
    assert "2\u202f350 €" in tip and "1\u202f260 €" in tip and "ID-2025-0917" in tip
    assert any(c.dimension == "clarity" and c.cap == 2 for c in checked.caps)
    assert checked.violations == turn.violations  # a wrong figure is not a compliance category
    same = check_stated_amount(turn, "La facture ID-2025-0917 de 1 260 € reste due.", due=1260, currency="EUR",
                               language="fr")
    assert same is turn


async def test_a_practice_call_checks_the_amount_against_the_scenario(settings):
    sim = Simulator(settings, model=ScriptedModel(["Combien ? Ce n'est pas le montant que j'ai.", "D'accord."]))
    try:
        call = await sim.start_call("difficulte-passagere")  # 4 800 €, invoice FA-2024-0312
        [u async for u in call.say("Bonjour Monsieur Moreau, Claire de Bois & Co. Je vous appelle pour la facture "
                                   "FA-2024-0312 de 8 400 €.")]
        wrong = call.scored[-1][1]
        assert wrong.scores["clarity"] <= 2 and "4\u202f800 €" in wrong.tips["clarity"]
        [u async for u in call.say("Pardon, je corrige : la facture FA-2024-0312 est de 4 800 €.")]
        right = call.scored[-1][1]
        assert not any("the file says" in n for n in right.notes)
        stored = [t for t in sim.store.turns(call.id) if t.speaker == "agent"]
        assert stored[0].score["scores"]["clarity"] <= 2  # what the reviewer reads is what the trainee saw
        await sim.end_call(call.id)
    finally:
        sim.store.close()
