"""Rubric files, the lexical scorer, scorecards and signals."""

import json
from datetime import date
from pathlib import Path

import pytest

from simulator.errors import RubricError
from simulator.rubric import Scorer, load_rubric, resolve_rubric, rubric_from_json
from simulator.rubric.calibrate import quadratic_kappa, spearman
from simulator.schemas import schema_for
from simulator.rubric.scorecard import build_scorecard
from simulator.rubric.signals import to_signals
from simulator.settings import PROJECT_ROOT

RUBRICS = PROJECT_ROOT / "rubrics"


@pytest.fixture(scope="module")
def fr():
    return Scorer(resolve_rubric("fr-default"))


# --- files ---------------------------------------------------------------------------------------
def test_shipped_rubrics_load_with_their_packs():
    fr_file, us, uk = (resolve_rubric(r) for r in ("fr-default", "en-us", "en-uk"))
    assert fr_file.rubric.language == "fr" and [p.id for p in fr_file.rubric.packs] == ["fr"]
    assert us.rubric.language == "en" and [p.id for p in us.rubric.packs] == ["us"]
    assert uk.rubric.ref == "en-uk@1.0.0" and [p.id for p in uk.rubric.packs] == ["uk"]
    # en-uk extends en-us extends fr-default: same dimensions and indicators, its own pack
    assert len(uk.rubric.indicators) == len(fr_file.rubric.indicators)
    for rubric in (fr_file, us, uk):
        assert {r.category for r in rubric.rubric.rules} <= {
            "threat", "insult", "harassment", "third_party", "false_authority", "false_legal", "fees", "pressure",
            "disclosure_missing"}
        assert all(r.reference for r in rubric.rubric.rules)
    assert resolve_rubric(None, "fr").rubric.id == "fr-default" and resolve_rubric(None, "en").rubric.id == "en-us"


def test_each_rubric_file_points_at_the_schema():
    for path in [*RUBRICS.glob("*.yaml"), *RUBRICS.glob("packs/*.yaml")]:
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=") and "schemas/" in first, path


def test_published_json_schemas_are_up_to_date():
    # regenerate with `python -m simulator schema`
    for kind in ("rubric", "compliance-pack"):
        name = f"{kind}.schema.json"
        committed = json.loads((PROJECT_ROOT / "schemas" / name).read_text(encoding="utf-8"))
        assert committed == schema_for(kind), f"schemas/{name} is stale: run python -m simulator schema"


def test_frozen_rubric_round_trips():
    rf = resolve_rubric("fr-default")
    again = rubric_from_json(rf.frozen_json())
    assert again.rubric == rf.rubric.model_copy(update={"extends": None})
    assert Scorer(again).score_isolated("Bonjour, je suis Paul de Rénov'Plus.", "Allô ?").scores


def _write(tmp_path: Path, text: str, name="bad.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_bad_rubric_files_say_file_line_field_and_fix(tmp_path):
    base = (RUBRICS / "fr-default.yaml").read_text(encoding="utf-8")
    (tmp_path / "packs").mkdir()
    (tmp_path / "packs" / "fr.yaml").write_text((RUBRICS / "packs" / "fr.yaml").read_text(encoding="utf-8"))
    bad = base.replace("pass_mark: 3.0", "pass_mark: 3.0\nweird_key: 1").replace("    weight: 1.0\n    name: {fr: Empathie", "    weight: -1\n    name: {fr: Empathie")
    path = _write(tmp_path, bad)
    with pytest.raises(RubricError) as exc:
        load_rubric(path)
    problems = exc.value.problems
    line_of_key = next(i for i, l in enumerate(bad.splitlines(), 1) if l.startswith("weird_key"))
    assert f"{path}:{line_of_key}: weird_key: unknown key (remove this key or fix its spelling)" in problems
    assert any(p.startswith(f"{path}:") and "dimensions.empathy.weight" in p and "greater than 0" in p for p in problems)


def test_bad_regex_unknown_cue_and_missing_pack_are_reported(tmp_path):
    path = _write(tmp_path, """
schema_version: 1
id: tiny
version: 0.1.0
title: {fr: Petite, en: Tiny}
language: fr
dimensions:
  empathy: {weight: 1, name: {fr: E, en: E}, description: {fr: e, en: e}, levels: {1: {fr: a, en: a}, 2: {fr: a, en: a}, 3: {fr: a, en: a}, 4: {fr: a, en: a}, 5: {fr: a, en: a}}}
  firmness: {weight: 1, name: {fr: F, en: F}, description: {fr: f, en: f}, levels: {1: {fr: a, en: a}, 2: {fr: a, en: a}, 3: {fr: a, en: a}, 4: {fr: a, en: a}, 5: {fr: a, en: a}}}
  clarity: {weight: 1, name: {fr: C, en: C}, description: {fr: c, en: c}, levels: {1: {fr: a, en: a}, 2: {fr: a, en: a}, 3: {fr: a, en: a}, 4: {fr: a, en: a}, 5: {fr: a, en: a}}}
indicators:
  - {id: broken, dimension: empathy, polarity: positive, weight: 1, patterns: {fr: ["je (comprends"]}}
stages: []
""")
    with pytest.raises(RubricError) as exc:
        load_rubric(path)
    assert any(":12: indicators.0.patterns: " in p and "not a valid regular expression" in p and "backslash" in p
               for p in exc.value.problems), exc.value.problems
    missing_pack = _write(tmp_path, (RUBRICS / "en-uk.yaml").read_text().replace("packs/uk.yaml", "packs/nope.yaml")
                          .replace("extends: en-us.yaml", f"extends: {RUBRICS / 'en-us.yaml'}"), "uk.yaml")
    with pytest.raises(RubricError) as exc:
        load_rubric(missing_pack)
    assert any("no such pack file" in p and p.startswith(f"{missing_pack}:") for p in exc.value.problems)
    with pytest.raises(RubricError) as exc:
        load_rubric(_write(tmp_path, "id: [unclosed\n", "syntax.yaml"))
    assert "YAML syntax" in exc.value.problems[0]
    with pytest.raises(RubricError) as exc:
        resolve_rubric("no-such-rubric")
    assert "known: " in str(exc.value) and "fr-default" in str(exc.value)


# --- the scorer ------------------------------------------------------------------------------------
def test_evidence_spans_point_at_the_trainees_own_words(fr):
    text = "Je suis désolée d'apprendre ça… Si j'ai bien compris, votre trésorerie est à sec ? Réglez 1 500 € vendredi."
    s = fr.score_isolated(text, "Mon plus gros client m'a payé en retard, je suis à sec.")
    assert s.evidence
    for e in s.evidence:
        assert text[e.start:e.end] == e.text
    indicators = {e.indicator for e in s.evidence}
    assert {"validate-feelings", "reformulation", "amount", "date"} <= indicators


def test_a_model_turn_scores_high_and_a_vague_soft_one_low(fr):
    good = fr.score_isolated(
        "Je comprends, un gros client qui paie en retard, ça met la trésorerie à sec. Pouvez-vous verser 1 500 € "
        "vendredi 8 novembre, puis le reste en trois fois ?", "Mon plus gros client m'a payé avec deux mois de retard.")
    assert good.scores["empathy"] >= 4 and good.scores["firmness"] >= 4 and good.scores["clarity"] >= 4
    assert not good.tips and not good.violations
    soft = fr.score_isolated("Ah d'accord, pas de souci, c'est pas grave du tout, payez quand vous pouvez.",
                             "Je paierai quand je pourrai.")
    assert soft.scores["firmness"] <= 2
    assert "firmness" in soft.tips and "date" in soft.tips["firmness"].lower()


def test_acknowledging_counts_most_right_after_a_difficulty(fr):
    text = "Je comprends, ça doit être difficile."
    after = fr.score_isolated(text, "Mon associé est décédé le mois dernier, tout est compliqué.")
    cold = fr.score_isolated(text, "On a bien reçu votre facture.")
    assert after.scores["empathy"] > cold.scores["empathy"]
    ignored = fr.score_isolated("La facture est de 2 340 €, échue le 12. Quand est-ce qu'elle sera réglée ?",
                                "Mon associé est décédé le mois dernier.")
    assert ignored.scores["empathy"] <= 2 and ignored.flags.missed_cue and "empathy" in ignored.tips


def test_not_having_received_found_or_understood_is_no_difficulty(fr):
    # « je n'ai rien / pas … » is a difficulty when it is money; not when the debtor has not found the letter,
    # did not understand, or has nothing under that name (the empathy tip « Il vient de vous dire sa difficulté » was
    # shown after « non, je n'ai rien à ce nom-là » in a practice call, session 19)
    ask = "La facture ID-2025-0917 de 1 260 € est échue depuis le 12. Quand pourra-t-elle être réglée ?"
    for line in ("Écoutez, je regarde… non, je n'ai rien à ce nom-là.", "Je n'ai pas compris votre nom.",
                 "Je n'ai pas trouvé le courrier.", "Je n'ai plus rien à voir avec cette société."):
        turn = fr.score_isolated(ask, line)
        assert not turn.flags.missed_cue, line
    for line in ("Je n'ai pas d'argent en ce moment.", "On n'a plus rien.", "Je n'ai plus rien sur le compte.",
                 "On n'a pas encore été payés par notre client.", "Je n'ai pas pu payer ce mois-ci."):
        turn = fr.score_isolated(ask, line)
        assert turn.flags.missed_cue, line


def test_threats_are_violations_and_true_next_steps_are_not(fr):
    threat = fr.score_isolated("Si vous ne payez pas, on va saisir votre salaire dès le mois prochain.", "J'ai rien.")
    assert {"threat", "false_legal"} <= {v.category for v in threat.violations}
    assert threat.scores["firmness"] <= 2 and threat.flags.hostile
    v = threat.violations[0]
    assert v.rule.startswith("FR-") and v.reference and "saisir votre salaire" in threat.violations[0].text + threat.violations[-1].text
    next_steps = fr.score_isolated(
        "Sans règlement d'ici le 15, le dossier passera au service contentieux, qui pourra engager une injonction de payer.",
        "Et si je paie pas ?")
    assert next_steps.violations == [] and next_steps.scores["firmness"] >= 4
    denied = fr.score_isolated("Non, nous n'allons pas saisir vos biens : une saisie n'est possible qu'après un jugement.",
                               "Vous allez saisir mes meubles ?")
    assert denied.violations == []


def test_required_disclosures_are_due_at_the_opening(fr):
    anonymous = fr.score_isolated("Bon, vous savez pourquoi j'appelle. Vous payez quand ?", "")
    assert [v.rule for v in anonymous.violations if v.category == "disclosure_missing"]
    introduced = fr.score_isolated("Bonjour, je suis Paul Girard, du service relance de Rénov'Plus, au sujet de la "
                                   "facture F-7781 de 2 350 €.", "Allô ?")
    assert introduced.violations == []
    mid_call = fr.score_isolated("Vous pouvez payer quand ?", "Je vois, oui, cette facture-là.")
    assert mid_call.violations == []  # an excerpt: the disclosures were made earlier in the call


def test_in_a_call_the_identification_is_due_once(fr):
    session = fr.session()
    session.hear("Oui, allô ?")
    first = session.score("Madame Lefèvre ? C'est pour la facture de 2 350 €.")
    assert [v.rule for v in first.violations] == ["FR-ID"]
    session.hear("Oui ?")
    assert session.score("Vous pouvez régler la facture quand ?").violations == []


def test_a_debtor_asking_who_calls_or_how_much_makes_a_disclosure_due_again(fr):
    session = fr.session(disclosed=True)
    session.hear("Je n'ai pas l'argent ce mois-ci.")
    assert not session.disclosures_due()
    session.score("Je comprends. Quand pourriez-vous régler ?")
    for asks in ("C'est qui ?", "Vous êtes de quelle boîte ?", "Vous représentez qui, au juste ?",
                 "Vous m'appelez pour quoi ?", "Je dois combien exactement ?", "C'est quoi le montant, alors ?"):
        session.hear(asks)
        assert session.disclosures_due(), asks
        # the phrase rules are unchanged by it: a disclosure made earlier is not reported again
        assert session.score("Vous pouvez régler quand ?").violations == [], asks
    session.hear("D'accord.")
    assert not session.disclosures_due()
    # the first words of a call, a business answering: due in an excerpt too
    for opening in ("Oui, Garage Morin, j'écoute.", "Bonjour, Garage Thibault.", "Ici la comptabilité, je vous écoute.",
                    "Bonjour, Mme Aubert à l'appareil.", "Bonjour, vous êtes bien chez Forges de l'Ain."):
        assert fr.isolated_session(opening).disclosures_due(), opening
    for mid_call in ("Bon, allez, je vous écoute.", "Je vois, oui, cette facture-là.", "D'accord, je vous écoute."):
        assert not fr.isolated_session(mid_call).disclosures_due(), mid_call


def test_more_ways_of_opening_a_call_or_asking_who_calls_make_a_disclosure_due(fr):
    """Rubric 1.4.0: a business answering with a comma or a longer name, a pick-up after a time note, « quel »
    (the pattern once required « quell- »), « pour le compte de qui », « je vous dois quoi », « il reste
    combien » are heard (the semantic detector may then report a missing disclosure, `disclosures_due`); « combien
    de temps » is not a question about the amount."""
    heard = {
        "Comptabilité, Sophie à l'appareil.": "opening",
        "Oui, c'est la société Picard Élec, je vous écoute.": "opening",
        "Oui, c'est la compta de Menuiserie Berthier.": "opening",
        "(21 h 45) Allô ?": "pickup",
        "Ouais allô.": "pickup",
        "Vous êtes de quel cabinet ?": "asks_who",
        "Quelle société ?": "asks_who",
        "Vous appelez pour le compte de qui ?": "asks_who",
        "Mandatée par qui, vous dites ?": "asks_who",
        "Vous êtes de chez qui, déjà ?": "asks_who",
        "Pardon, je n'ai pas compris votre nom.": "asks_who",
        "Je vous dois quoi, au juste ?": "asks_amount",
        "Attendez, il reste combien sur mon prêt au total ?": "asks_how_much",
    }
    for line, cue in heard.items():
        assert cue in fr.debtor_cues(line), line
        assert fr.isolated_session(line).disclosures_due(), line
    for line in ("Il me reste combien de temps pour contester ?", "Combien de jours il me reste ?"):
        assert "asks_how_much" not in fr.debtor_cues(line), line
        assert "asks_amount" not in fr.debtor_cues(line), line


def test_a_debtor_asking_how_much_must_get_a_figure(fr):
    """FR-AMOUNT-ASKED: "how much?" answered without any figure is a missing disclosure (CPCE R124-4) — in an
    excerpt, or in a call where the amount was not stated yet; not once the amount was stated (FR-AMOUNT made:
    the labelling guide calls a later unanswered "how much?" poor preparation, not a violation)."""
    for dodge in ("Tout. Tout ce qui est en retard, d'un coup.", "Trop.",
                  "Le montant complet, je ne peux pas le donner par téléphone. Faites déjà un premier virement."):
        turn = fr.score_isolated(dodge, "Je dois combien exactement ?")
        assert [v.rule for v in turn.violations if v.category == "disclosure_missing"] in (
            ["FR-AMOUNT-ASKED"], ["FR-AMOUNT"]), (dodge, turn.violations)
    for answer in ("1 480 €, la facture 2209 du 3 mars.", "Ben 412 et des poussières.", "Mille deux cents euros."):
        assert fr.score_isolated(answer, "Je dois combien exactement ?").violations == [], answer
    # "combien de fois": not the amount
    assert not {"asks_amount", "asks_how_much"} & set(fr.debtor_cues("Vous allez me rappeler combien de fois ?"))
    assert fr.score_isolated("Jusqu'à ce qu'on ait une date.", "Vous allez me rappeler combien de fois ?").violations == []
    # not asked for the figure (which invoice, the detail): no rule of its own
    assert fr.score_isolated("Celle de mars, avec la remise.", "Quelle facture ?").violations == []

    call = fr.session()
    call.hear("Allô ?")
    call.score("Bonjour, Paul Girard, de Rénov'Plus. Je vous appelle pour la facture 2209 du 3 mars, 1 480 €.")
    assert not call.disclosures_due()  # FR-AMOUNT-ASKED waits for its cue: it keeps nothing due meanwhile
    call.hear("Je dois combien, déjà ?")
    assert call.score("On en a parlé. Vous pouvez régler quand ?").violations == []

    call = fr.session()
    call.hear("Allô ?")
    call.score("Bonjour, Paul Girard, de Rénov'Plus.")
    call.hear("Oui, c'est pour quoi ? Je vous dois combien ?")
    assert call.disclosures_due()
    dodged = call.score("Tout ce qui est en retard, vous le savez très bien.")
    assert [v.rule for v in dodged.violations] == ["FR-AMOUNT-ASKED"]
    call.hear("Combien ?")
    assert call.score("Tout, je vous dis.").violations == []  # reported once a call


def _problems_after_editing_the_fr_pack(tmp_path, old: str, new: str) -> list[str]:
    """The loader's problems for a copy of the rubrics whose FR pack has `old` replaced by `new`."""
    import shutil

    copy = tmp_path / "rubrics"
    shutil.copytree(RUBRICS, copy)
    pack = copy / "packs" / "fr.yaml"
    text = pack.read_text(encoding="utf-8")
    assert old in text
    pack.write_text(text.replace(old, new), encoding="utf-8")
    with pytest.raises(RubricError) as exc:
        load_rubric(copy / "fr-default.yaml")
    return exc.value.problems


def test_a_rule_made_by_an_unknown_rule_is_refused(tmp_path):
    problems = _problems_after_editing_the_fr_pack(tmp_path, "made_by: [FR-AMOUNT]", "made_by: [FR-AMOUNTS]")
    assert any("FR-AMOUNT-ASKED: made_by names FR-AMOUNTS, not another required rule" in p for p in problems), problems


def test_a_rule_asked_by_an_unknown_cue_is_refused(tmp_path):
    problems = _problems_after_editing_the_fr_pack(tmp_path, "asked_by: [opening, asks_who]",
                                                   "asked_by: [opening, asks_whom]")
    assert any("FR-ID: unknown debtor cue 'asks_whom'" in p for p in problems), problems


def test_stages_and_english_rubric(fr):
    s = fr.score_isolated("Bonjour, je suis Paul de Rénov'Plus. Je vous appelle au sujet de la facture F-7781 de 2 350 €.", "Allô ?")
    assert {"identification", "purpose", "amount_stated"} <= set(s.stages) and s.stage == "amount_stated"
    us = Scorer(resolve_rubric("en-us"))
    opening = us.score_isolated("Hi, you owe us $2,350 for invoice 7781. When can you pay?", "Hello?")
    assert {v.rule for v in opening.violations} >= {"US-MINIMIRANDA", "US-RPC"}
    ok = us.score_isolated("Am I speaking with Mr. Smith? This is Paul from ABC Collections. This is an attempt to "
                           "collect a debt and any information obtained will be used for that purpose.", "Hello?")
    assert ok.violations == []
    tip = us.score_isolated("Whenever you can, no rush.", "I'll pay when I can.")
    assert tip.tips["firmness"].startswith(("Avoid", "Ask", "State", "Firmness"))  # English tips for English calls


def test_scored_turn_json_has_the_shared_shape(fr):
    data = fr.score_isolated("Vous êtes un escroc, payez !", "Non.").to_json()
    assert set(data) >= {"rubric", "scores", "rules", "evidence", "tips", "violations", "stage", "judge"}
    assert data["rubric"] == "fr-default@1.4.0" and set(data["scores"]) == {"empathy", "firmness", "clarity"}
    assert set(data["rules"]) == {"empathy", "firmness", "clarity"}  # the rules' own scores, beside the calibrated ones
    assert set(data["violations"][0]) >= {"rule", "category", "start", "end", "text", "reference"}
    assert json.loads(json.dumps(data)) == data


def test_signals_for_the_debtor_engine(fr):
    insult = fr.score_isolated("Espèce de menteur, payez vos 2 000 € vendredi.", "Je n'ai pas l'argent.")
    sig = to_signals(insult, "Espèce de menteur, payez vos 2 000 € vendredi.", date(2024, 11, 4))
    assert sig.hostile and "insult" in sig.violations
    assert sig.proposal.amount == 2000 and sig.proposal.date == date(2024, 11, 8)
    quiet = fr.score_isolated("Vous payez quand ?", "")
    sig = to_signals(quiet, "Vous payez quand ?", date(2024, 11, 4))
    assert sig.violations == ["disclosure_missing"] and not sig.hostile  # fails the call, does not offend
    reform = fr.score_isolated("Si je comprends bien, vous attendez le paiement de votre client ?", "J'attends mon client.")
    assert to_signals(reform, "x", date(2024, 11, 4)).reformulation


# --- scorecard ------------------------------------------------------------------------------------
def test_scorecard_means_trend_and_critical_errors(fr):
    session = fr.session()
    lines = [("Oui, allô ?", "Bonjour, je suis Paul de Rénov'Plus, au sujet de la facture F-7781 de 2 350 €."),
             ("C'est compliqué, mon client m'a payé en retard.", "Je comprends, ça doit être difficile. Si je comprends bien, votre trésorerie est tendue ?"),
             ("Oui.", "Pouvez-vous verser 1 500 € vendredi, puis le reste en trois fois ?")]
    scored = []
    for i, (debtor, agent) in enumerate(lines):
        session.hear(debtor)
        scored.append((2 * i + 1, session.score(agent)))
    card = build_scorecard(fr.rubric, scored, outcome="PLAN")
    assert card.turns_scored == 3 and card.passed and card.critical_errors == []
    assert card.means["empathy"] == round(sum(s.scores["empathy"] for _, s in scored) / 3, 2)
    from simulator.rubric.scorecard import slope

    assert card.series["firmness"] == [s.scores["firmness"] for _, s in scored]
    assert card.trend["firmness"] == round(slope(card.series["firmness"]), 3) and card.trend["firmness"] > 0
    assert {"identification", "amount_stated", "proposal"} <= set(card.stages_covered)
    session.hear("Non.")
    scored.append((7, session.score("Vous allez le regretter, j'envoie l'huissier demain.")))
    failed = build_scorecard(fr.rubric, scored, outcome="HUNG_UP")
    assert not failed.passed and failed.overall >= failed.pass_mark - 1  # fails on the critical error itself
    assert failed.critical_errors[0].turn == 7 and failed.critical_errors[0].category == "threat"
    data = failed.to_json()
    assert set(data) >= {"rubric_id", "rubric_version", "means", "trend", "stages_covered", "outcome", "critical_errors",
                         "overall", "pass_mark", "passed", "turns_scored"}


def test_calibration_statistics():
    assert quadratic_kappa([1, 2, 3, 4, 5], [1, 2, 3, 4, 5]) == 1.0
    assert quadratic_kappa([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]) < 0
    assert spearman([1, 2, 3], [10, 20, 30]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
