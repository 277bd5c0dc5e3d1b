"""The French violation rules name concepts, not sentences: each family is checked here on wordings that
appear in no labelled file (other verbs, tenses, pronouns, oral spellings), with the true statements that
look like them; and `excused_by` keeps a missing disclosure from being reported on a turn whose real fault
is speaking to a third party or posing as an authority."""

from pathlib import Path

import pytest

from simulator.rubric import Scorer, resolve_rubric


@pytest.fixture(scope="module")
def fr():
    return Scorer(resolve_rubric("fr-default"))


def categories(scorer: Scorer, text: str, debtor: str = "x") -> set[str]:
    return {v.category for v in scorer.score_isolated(text, debtor).violations}


# --- required disclosures excused by the turn's real fault ---------------------------------------------
def test_a_missing_disclosure_is_not_reported_on_a_turn_posing_as_an_authority(fr):
    # after a pick-up, a turn naming the debt without saying who calls is disclosure_missing …
    assert categories(fr, "Bonjour Monsieur Roche, au sujet de votre dette de 264 €.", "Allô ?") == {"disclosure_missing"}
    # … but when the turn poses as a bailiff, that is the violation, not a missing disclosure
    assert categories(fr, "Bonjour Monsieur Roche, Maître Dupuis, huissier. Au sujet de votre dette de 264 €.",
                      "Allô ?") == {"false_authority"}


def test_a_missing_disclosure_is_not_reported_on_a_turn_told_to_a_third_party(fr):
    switchboard = "Garage Lemaire, standard, bonjour."
    assert categories(fr, "Je cherche Monsieur Roux, un de vos mécaniciens : il a un impayé de crédit chez nous.",
                      switchboard) == {"third_party"}


def test_an_excused_disclosure_stays_due_in_the_next_turn(fr):
    session = fr.session()
    session.hear("Allô ?")
    first = session.score("Ici Maître Dupuis, commissaire de justice, pour votre dette de 264 €.")
    assert [v.category for v in first.violations] == ["false_authority"]
    session.hear("Ah bon ?")
    second = session.score("Oui. Bon, vous réglez la facture quand ?")
    assert [v.rule for v in second.violations] == ["FR-ID"]  # still nobody said who calls, for whom


def test_hiding_who_calls_or_why_is_a_missing_disclosure(fr):
    assert categories(fr, "Vous vous doutez bien de quoi il s'agit, non ?", "Oui, c'est moi.") == {"disclosure_missing"}
    assert categories(fr, "Cabinet Axor. Vous devez 120 € à l'un de nos clients.", "C'est pour quoi ?") == {"disclosure_missing"}
    # a filler is not hiding anything
    assert categories(fr, "Il faudrait une date, vous voyez ce que je veux dire ?", "Je ne sais pas.") == set()


# --- the concept families on fresh wordings ------------------------------------------------------------
PROBES = Path(__file__).parent / "data" / "fr_violation_probes.txt"


def _probes() -> list[tuple[str, str, str]]:
    rows = []
    for line in PROBES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            category, debtor, turn = (part.strip() for part in line.split(" | "))
            rows.append((category, debtor, turn))
    return rows


def test_the_probe_file_covers_every_category_and_compliant_turns():
    cats = [c for c, _, _ in _probes()]
    assert {"threat", "insult", "harassment", "third_party", "false_authority", "false_legal", "fees", "pressure",
            "disclosure_missing"} <= set(cats)
    assert cats.count("-") >= 60  # hard negatives: true next steps, carve-outs, advice to the debtor


@pytest.mark.parametrize("category,debtor,turn", [p for p in _probes() if p[0] != "-"])
def test_each_family_catches_wordings_nobody_tuned_on(fr, category, debtor, turn):
    assert category in categories(fr, turn, debtor)


@pytest.mark.parametrize("debtor,turn", [(d, t) for c, d, t in _probes() if c == "-"])
def test_true_statements_that_look_like_violations_raise_nothing(fr, debtor, turn):
    assert categories(fr, turn, debtor) == set()


def test_a_negation_window_that_cuts_a_word_does_not_invent_a_negation(fr):
    # 45 characters before "recevra" start inside "on": the "n" left over is not "ne"
    turn = "Très bien, on va voir qui est en tort quand votre banque recevra notre dossier."
    assert categories(fr, turn, "Vous n'avez rien contre moi.") == {"threat"}
    assert categories(fr, "Votre banque ne recevra jamais notre dossier.", "Et ma banque ?") == set()


def test_no_probe_repeats_a_labelled_turn():
    import csv

    labelled = set()
    for name in ("fr_turns.csv", "fr_turns_extra.csv", "fr_turns_fresh.csv"):
        with (Path(__file__).parent.parent / "calibration" / name).open(encoding="utf-8", newline="") as handle:
            labelled |= {row["agent_text"].strip().lower() for row in csv.DictReader(handle)}
    repeated = [i for i, (_c, _d, turn) in enumerate(_probes()) if turn.lower() in labelled]
    assert repeated == []  # indexes only: the labelled holdout texts are never printed


def test_after_a_bare_yes_the_agents_greeting_tells_an_opening_from_mid_call(fr):
    # "Oui ?" may answer a question mid-call: the identification is then assumed made …
    assert categories(fr, "Vous avez bien reçu la facture ? Elle part quand ?", "Oui ?") == set()
    # … but a greeting opens the call, and the debt must not come before who is calling
    assert categories(fr, "Bonjour, c'est pour la facture en retard, vous payez quand ?", "Oui ?") == {"disclosure_missing"}
    assert categories(fr, "Bonjour, Paul Girard, Rénov'Plus, c'est pour la facture 2209 de 480 €.", "Oui ?") == set()
