"""Dimension scores calibrated on human labels (`simulator/rubric/calibrated.py`, `train_scores.py`): the JSON
weights score like scikit-learn, the shipped model is trained on the shipped labels and rubric, holdout rows
never reach training, every cap still holds, and a missing, broken or foreign model leaves the rules scoring."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.errors import SimulatorError
from simulator.rubric.calibrate import read_label_files
from simulator.rubric.calibrated import ScoreModel, export_scores, fit_scores, load_score_model
from simulator.rubric.learned import sha256_of
from simulator.rubric.loader import load_rubric, resolve_rubric
from simulator.rubric.models import DIMENSIONS
from simulator.rubric.scorer import Scorer, rubric_digest
from simulator.rubric.text import fold
from simulator.rubric.train_scores import score_rows, train_scores
from simulator.settings import PROJECT_ROOT

CALIBRATION = PROJECT_ROOT / "calibration"
SHIPPED = PROJECT_ROOT / "rubrics" / "models" / "fr-scores.json"


@pytest.fixture(scope="module")
def fr():
    return resolve_rubric("fr-default")


@pytest.fixture(scope="module")
def tune_rows():
    rows = read_label_files(sorted(CALIBRATION.glob("fr_turns*.csv")))
    return [r for r in rows if r.split == "tune"]


def test_scoring_from_the_json_weights_equals_scikit_learn(fr, tune_rows):
    rows = score_rows(fr, tune_rows[::4])
    fitted = fit_scores(rows[:300])
    model = ScoreModel(export_scores(fitted, "fr", {"id": "fr-default"}, {}), "test")
    expected = fitted.predict(rows)  # also rows it was not trained on
    for i, row in enumerate(rows):
        got = model.predict(fold(row.agent_text), fold(row.debtor_before), row.numeric)
        assert got == pytest.approx({d: expected[d][i] for d in DIMENSIONS}, abs=1e-3)
    # the stretch moves a prediction away from the mean label, never toward it
    flat = fit_scores(rows[:300], stretch=1.0).predict(rows[:20])
    for d in DIMENSIONS:
        for a, b in zip(flat[d], expected[d][:20]):
            assert abs(b - fitted.centre[d]) == pytest.approx(1.25 * abs(a - fitted.centre[d]), abs=1e-9)


def test_holdout_rows_never_reach_training(fr, tmp_path):
    rows = read_label_files([CALIBRATION / "fr_turns.csv"])
    holdout = next(r for r in rows if r.split == "holdout")
    with pytest.raises(SimulatorError, match="holdout row reached training"):
        score_rows(fr, [holdout])
    # a holdout row with a word nobody else says: that word is not in the trained vocabulary
    path = tmp_path / "labels.csv"
    shutil.copy(CALIBRATION / "fr_turns.csv", path)
    text = path.read_text(encoding="utf-8").replace(holdout.agent_text, holdout.agent_text + " zorglubeux zorglubeux")
    path.write_text(text, encoding="utf-8")
    data = train_scores([path], fr)
    assert not [f for f in data["vocabulary"] if "zorgl" in f]
    [entry] = data["trained_on"]
    assert entry["holdout_rows_skipped"] == sum(1 for r in rows if r.split == "holdout")
    assert entry["tune_rows"] == sum(1 for r in rows if r.split == "tune")


def test_the_shipped_model_is_trained_on_the_shipped_labels_and_rubric_and_reproducible(fr):
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    files = [PROJECT_ROOT / f["file"] for f in shipped["trained_on"]]
    for entry, path in zip(shipped["trained_on"], files):
        assert sha256_of(path) == entry["sha256"], (
            f"{entry['file']} changed since the score model was trained: retrain it with python -m simulator "
            "train-scores (docs/rubrics.md, 'Calibrated scores')")
    assert {f"calibration/{p.name}" for p in CALIBRATION.glob("fr_turns*.csv")} == {f["file"] for f in shipped["trained_on"]}
    assert shipped["rubric"] == {"id": "fr-default", "version": fr.rubric.version, "sha256": rubric_digest(fr)}, (
        "fr-default (or its pack) changed since the score model was trained: retrain it (python -m simulator "
        "train-scores --rubric fr-default --out rubrics/models/fr-scores.json)")
    trainer = shipped["trainer"]
    again = train_scores(files, fr, alpha=trainer["alpha"], min_df=trainer["min_df"], stretch=trainer["stretch"])
    assert set(again["vocabulary"]) == set(shipped["vocabulary"]) and set(again["numeric"]) == set(shipped["numeric"])
    a, b = ScoreModel(again, "again"), ScoreModel(shipped, "shipped")
    rows = score_rows(fr, [r for r in read_label_files(files) if r.split == "tune"][::7])
    for row in rows:
        args = fold(row.agent_text), fold(row.debtor_before), row.numeric
        assert a.predict(*args) == pytest.approx(b.predict(*args), abs=1e-3)


def test_the_scorer_uses_the_model_and_keeps_the_rules_scores(fr):
    calibrated, rules = Scorer(fr), Scorer(fr, calibrated=False)
    assert calibrated.score_model is not None and rules.score_model is None
    moved = 0
    for debtor, turn in [("On a perdu notre plus gros client, c'est la catastrophe.",
                          "Je comprends, perdre un client comme ça, c'est dur. Où en est votre trésorerie ?"),
                         ("Allô ?", "Bonjour, je vous appelle pour la facture."),
                         ("Je ne peux pas payer.", "Bon. Vous payez quand alors ?"),
                         ("J'ai reçu votre relance.", "Merci de me rappeler. La facture F-2024-118 de 1 250 € est "
                                                       "échue depuis le 3 mars ; pouvez-vous la régler vendredi ?")]:
        a, b = calibrated.score_isolated(turn, debtor), rules.score_isolated(turn, debtor)
        assert a.rules == b.scores and b.rules is None  # the rules' own scores are kept beside the calibrated ones
        assert a.evidence == b.evidence and a.violations == b.violations and a.raw == b.raw
        for d in DIMENSIONS:
            if a.scores[d] != b.scores[d]:
                moved += 1
                assert f"{d} {b.scores[d]} → {a.scores[d]}: calibrated on human labels" in " ".join(a.notes)
            assert (d in a.tips) == (a.scores[d] < fr.rubric.dimensions[d].weak_below)  # tips follow the final score
    assert moved, "the model moved no score on these turns"


def test_caps_still_hold_on_calibrated_scores(fr):
    scorer = Scorer(fr)
    for text in ("PAYEZ MAINTENANT, JE NE VAIS PAS RAPPELER CENT FOIS, C'EST CLAIR ?",
                 "Espèce d'escroc, vous payez vendredi ou je préviens vos clients.",
                 "Je comprends, je comprends, je vous entends, je comprends votre situation, je comprends."):
        s = scorer.score_isolated(text, "Je n'ai pas l'argent en ce moment.")
        for cap in s.caps:
            assert s.scores[cap.dimension] <= cap.cap, (text, s.scores, cap)
        assert s.caps


def test_rubrics_extending_fr_default_keep_their_rules(fr):
    # en-us extends fr-default (its calibration section too) but the model was trained on fr-default's rules
    assert Scorer(resolve_rubric("en-us")).score_model is None
    assert Scorer(resolve_rubric("en-us"), "fr").score_model is None
    assert Scorer(fr, "en").score_model is None  # the French model does not score English calls


def _rubric_with_model(tmp_path, model_path: str, edit: str = "") -> object:
    source = (PROJECT_ROOT / "rubrics" / "fr-default.yaml").read_text(encoding="utf-8")
    source = source.replace("model: models/fr-scores.json", f"model: {model_path}")
    source = source.replace("compliance:\n  - packs/fr.yaml", f"compliance:\n  - {PROJECT_ROOT}/rubrics/packs/fr.yaml")
    path = tmp_path / "fr-default.yaml"
    path.write_text(source + edit, encoding="utf-8")
    return load_rubric(path)


def test_a_missing_or_broken_model_leaves_the_rules_scoring(tmp_path, caplog):
    missing = _rubric_with_model(tmp_path, str(tmp_path / "nope.json"))
    with caplog.at_level(logging.WARNING):
        scorer = Scorer(missing)
    assert scorer.score_model is None and "nope.json: no such score-model file" in caplog.text
    assert "train-scores" in caplog.text and scorer.score_isolated("Bonjour.").rules is None
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(SimulatorError, match=r"broken\.json: not a score-model file .*train-scores"):
        load_score_model(broken)
    other = tmp_path / "violations.json"
    shutil.copy(PROJECT_ROOT / "rubrics" / "models" / "fr-violations.json", other)
    with pytest.raises(SimulatorError, match="not a dimension-score model"):
        load_score_model(other)


def test_a_rubric_changed_since_training_is_warned_about(tmp_path, caplog):
    changed = _rubric_with_model(tmp_path, str(SHIPPED), edit="\n")
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        assert Scorer(changed).score_model is not None  # same rules: no warning
    assert "trained on another version" not in caplog.text
    source = (tmp_path / "fr-default.yaml").read_text(encoding="utf-8").replace("pass_mark: 3.0", "pass_mark: 3.5")
    (tmp_path / "fr-default.yaml").write_text(source, encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        assert Scorer(load_rubric(tmp_path / "fr-default.yaml")).score_model is not None
    assert "was trained on another version of rubric fr-default" in caplog.text and "train-scores" in caplog.text


def test_train_scores_command(tmp_path):
    runner = CliRunner()
    out = tmp_path / "scores.json"
    result = runner.invoke(app, ["train-scores", str(CALIBRATION / "fr_turns.csv"), str(CALIBRATION / "fr_turns_extra.csv"),
                                 "--out", str(out), "--cross-check"])
    assert result.exit_code == 0, result.output
    assert "fr_turns_extra.csv" in result.output and "calibrated" in result.output
    assert f"wrote {out}" in result.output and "holdout rows skipped" in result.output
    assert load_score_model(out).rubric == "fr-default"
    refused = runner.invoke(app, ["train-scores", str(CALIBRATION / "fr_turns.csv")])
    assert refused.exit_code == 2 and "--out PATH" in refused.output
    no_labels = runner.invoke(app, ["train-scores", str(tmp_path / "none*.csv"), "--out", str(out)])
    assert no_labels.exit_code == 1


def test_the_badge_says_when_the_calibrated_score_differs_from_the_rules(fr):
    from simulator.ui.scoring import turn_badges

    s = Scorer(fr).score_isolated("Bon. Vous payez quand alors ?", "Je ne peux pas payer.")
    moved = [d for d in DIMENSIONS if s.scores[d] != s.rules[d]]
    assert moved
    html_fr, html_en = turn_badges(s, "fr"), turn_badges(s, "en")
    d = moved[0]
    assert f"data-dim='{d}' data-score='{s.scores[d]}' data-rules='{s.rules[d]}'" in html_fr
    assert f"les règles donnaient {s.rules[d]}" in html_fr and f"the rules gave {s.rules[d]}" in html_en
    same = [x for x in DIMENSIONS if s.scores[x] == s.rules[x]]
    for x in same:
        assert f"data-dim='{x}' data-score='{s.scores[x]}' title=" in html_fr


def test_the_calibration_moves_a_rule_score_by_one_level_at_most_and_keeps_context_credit(fr, tune_rows):
    calibrated = Scorer(fr)
    # a condolence right after a bereavement: the rules credit the context, the model alone would say 2
    s = calibrated.score_isolated("Je suis désolée pour votre associé, ça doit être très dur.",
                                  "Mon associé est décédé le mois dernier, tout est compliqué.")
    assert s.scores["empathy"] >= s.rules["empathy"] >= 4
    for row in tune_rows[::9]:
        s = calibrated.score_isolated(row.agent_text, row.debtor_before)
        assert all(abs(s.scores[d] - s.rules[d]) <= 1 for d in DIMENSIONS), (row.id, s.scores, s.rules)
