"""The end-of-call turn-by-turn breakdown (simulator/ui/scoring.py)."""

from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorer import Scorer
from simulator.ui.scoring import turn_breakdown


def test_the_breakdown_lists_every_turn_in_order_with_its_own_verdict_and_escapes_what_was_typed():
    scorer = Scorer(resolve_rubric("fr-default"), learned=False)
    good = "Bonjour Madame Lefèvre, je suis Paul, du service relance de Rénov'Plus, au sujet de la facture F-2291 de 2 350 €."
    bad = "Escroc <b>!</b> Si vous ne payez pas, l'huissier va saisir vos meubles."
    scored = [(good, scorer.score_isolated(good, "Allô ?")), (bad, scorer.score_isolated(bad, "Je ne paierai pas."))]
    html = turn_breakdown(scored, "fr")
    assert html.count("<li class='turn-detail'") == 2
    assert html.index("data-turn='1'") < html.index("Paul, du service") < html.index("data-turn='2'") < html.index("Escroc")
    assert "Détail réplique par réplique (2)" in html and "Réplique 2 :" in html
    assert "&lt;b&gt;!&lt;/b&gt;" in html and "<b>!</b>" not in html  # typed text is never markup
    first, second = html.split("data-turn='2'", 1)
    assert "class='violation'" not in first  # each turn carries its own verdict only
    assert "data-rule='FR-INSULT'" in second and "data-rule='FR-THREAT'" in second
    assert "Turn by turn (2)" in turn_breakdown(scored, "en") and "Turn 1:" in turn_breakdown(scored, "en")


def test_a_call_without_a_scored_turn_has_no_breakdown():
    assert turn_breakdown([], "fr") == ""
