"""Turns written to please a scorer never score above 3 on the dimension they try to game."""

import pytest

from simulator.rubric import Scorer, resolve_rubric


@pytest.fixture(scope="module")
def scorer():
    return Scorer(resolve_rubric("fr-default"))


def score(scorer, text, debtor="Je ne sais pas quand je pourrai payer, c'est compliqué en ce moment."):
    return scorer.score_isolated(text, debtor)


def test_the_same_formula_repeated_in_one_turn(scorer):
    for text in ("Je comprends. Je comprends. Je comprends. Je comprends.",
                 "Je suis désolée, je suis vraiment désolée, je suis sincèrement désolée, je suis désolée pour vous.",
                 "Si je reformule, vous ne pouvez pas. Si je reformule encore, vous ne pouvez pas. Je reformule : pas possible."):
        s = score(scorer, text)
        assert s.scores["empathy"] <= 3, (text, s.scores, s.caps)
        assert s.flags.formula_repeat


def test_the_same_formula_repeated_across_turns_loses_its_weight(scorer):
    session = scorer.session(disclosed=True)
    scores = []
    for _ in range(4):
        session.hear("Franchement c'est difficile, j'ai perdu un gros client.")
        scores.append(session.score("Je comprends, perdre un gros client, ça doit être difficile pour vous.")
                      .scores["empathy"])
    assert scores[0] >= 4  # said once, right after the difficulty, in the debtor's words: a real acknowledgement
    assert all(e <= 3 for e in scores[2:]), scores


def test_saying_the_same_turn_again_is_not_clearer_or_warmer(scorer):
    session = scorer.session(disclosed=True)
    text = "Je comprends votre situation, merci de me le dire, on va trouver une solution ensemble."
    session.hear("J'ai eu un accident, je suis en arrêt.")
    session.score(text)
    session.hear("Oui.")
    again = session.score(text)
    assert again.flags.repeated and again.scores["empathy"] <= 3


@pytest.mark.parametrize("text, dimension", [
    ("J'entends, je comprends, je vous écoute, je reformule, je note, je compatis, merci.", "empathy"),
    ("Engagement ferme, date précise, montant clair, échéancier, prochaine étape, récapitulatif.", "firmness"),
    ("Je comprends, et je vais être claire, précise et ferme : le montant, la date précise, l'engagement, "
     "le montant exact, la date de paiement et votre engagement ferme.", "firmness"),
    ("Je comprends parfaitement votre ressenti avec bienveillance, empathie et écoute active. Fermeté : le paiement est dû.",
     "empathy"),
])
def test_keyword_stuffing(scorer, text, dimension):
    s = score(scorer, text)
    assert s.scores[dimension] <= 3, (s.scores, s.caps, [e.indicator for e in s.evidence])
    assert s.scores["clarity"] <= 3


def test_very_long_turns_are_capped_on_every_dimension(scorer):
    good = ("Je comprends, ça doit être difficile. Si je comprends bien, votre client vous a payé en retard. "
            "Je vous demande de régler 1 500 € vendredi 8 novembre, puis le reste en trois fois. "
            "Pouvez-vous vous engager sur cette date ? Je vous envoie un mail de confirmation aujourd'hui. ")
    text = (good * 4).strip()
    assert len(text.split()) > 150
    s = score(scorer, text)
    assert s.flags.long_turn
    assert max(s.scores.values()) <= 3, s.scores
    assert s.scores["clarity"] <= 2
    short = score(scorer, good.strip())  # the same content, said once, scores well
    assert short.scores["firmness"] >= 4 and short.scores["empathy"] >= 4


@pytest.mark.parametrize("text", [
    "PAYEZ 2 350 € LE 5 DÉCEMBRE, JE VOUS DEMANDE UN ENGAGEMENT MAINTENANT",
    "Je vous demande de payer 2 350 € le 5 décembre !!! Engagez-vous !!!",
])
def test_shouting_is_not_firmness(scorer, text):
    s = score(scorer, text)
    assert s.flags.shouting and s.flags.hostile
    assert s.scores["firmness"] <= 3 and s.scores["empathy"] <= 2 and s.scores["clarity"] <= 3


def test_capitals_on_a_bad_line_are_not_shouting(scorer):
    s = scorer.score_isolated("JE DISAIS : LA FACTURE 0458, 2 616 EUROS, À RÉGLER LE 15 AVRIL.", "Allô ? Ça coupe, je vous entends mal !")
    assert not s.flags.shouting


@pytest.mark.parametrize("text, category", [
    ("Je comprends tout à fait, je suis là pour vous aider. Mais si vous ne payez pas vendredi, l'huissier viendra "
     "saisir vos meubles.", "threat"),
    ("Je vous entends, vraiment, et je compatis. Vendez votre voiture, ça réglera la facture.", "pressure"),
    ("Je comprends votre situation, merci de votre franchise. Mais ne pas payer, c'est un délit, vous risquez la prison.",
     "false_legal"),
])
def test_empathy_words_with_threats_or_pressure(scorer, text, category):
    s = score(scorer, text)
    assert category in {v.category for v in s.violations}
    assert s.scores["empathy"] <= 2, s.scores
    assert s.scores["firmness"] <= 3, s.scores


def test_a_real_good_turn_is_not_mistaken_for_gaming(scorer):
    s = scorer.score_isolated(
        "Je suis désolé d'apprendre ça. Merci de me le dire. Qu'est-ce qui serait possible pour vous chaque mois ?",
        "J'ai perdu mon travail en septembre.")
    assert not s.flags.stuffing and not s.flags.formula_repeat
    assert s.scores["empathy"] >= 4
