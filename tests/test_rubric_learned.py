"""The learned violation detector: exact scoring from its JSON weights, training on tune rows only, the
shipped model reproducible from the shipped labels, and its flags in the scorer."""

import csv
import json
import math
import subprocess
import sys

import pytest

from simulator.errors import RubricError, SimulatorError
from simulator.rubric.calibrate import read_label_files
from simulator.rubric import linear, native
from simulator.rubric.learned import (SCALE, FeatureSpec, LearnedModel, agent_features, debtor_features, export,
                                      features, fit, load_model, model_path, sha256_of)
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorer import Scorer
from simulator.rubric.text import fold
from simulator.rubric.train import as_training, parse_thresholds, train
from simulator.settings import PROJECT_ROOT

CALIBRATION = PROJECT_ROOT / "calibration"
COLUMNS = ["id", "split", "debtor_before", "agent_text", "empathy", "firmness", "clarity", "violations", "kind", "note"]
SHIPPED = model_path("models/fr-violations.json")


def tune_rows(limit=None):
    rows = [r for r in read_label_files([CALIBRATION / "fr_turns.csv", CALIBRATION / "fr_turns_extra.csv"])
            if r.split == "tune"]
    return rows[:limit] if limit else rows


def test_scoring_from_the_json_weights_equals_scikit_learn():
    rows = as_training(tune_rows())
    spec = FeatureSpec(stem=5, window=2, debtor=True)
    vectoriser, models = fit(rows, spec, c=5.0)
    model = LearnedModel(export(vectoriser, models, spec, "fr", {"*": 0.5}, {}), "test")
    sample = rows[::7]
    x = vectoriser.transform(sample)
    for k, cat in enumerate(model.categories):
        expected = models[cat].decision_function(x)
        for row, want in zip(sample, expected):
            got = model.decisions(fold(row.agent_text), fold(row.debtor_before))[k]
            assert got == pytest.approx(want, abs=1e-4), (cat, row.agent_text)
    # the features the scorer computes from folded texts are those training computed from the raw ones
    row = rows[3]
    assert sorted(features(row.agent_text, row.debtor_before, spec)) == sorted(
        agent_features(fold(row.agent_text), spec) + debtor_features(fold(row.debtor_before), spec))


# --- the run-time tables (`linear.py`) against the plain feature strings -----------------------------------
def reference_decisions(data, folded, debtor_folded):
    """The decision values computed the plain way: the feature strings training builds, looked up in the file's
    vocabulary, TF-IDF with L2 norm in floats."""
    spec = FeatureSpec(**data["features"])
    present = set(agent_features(folded, spec)) | set(debtor_features(debtor_folded, spec))
    rows = [data["vocabulary"][f] for f in sorted(present) if f in data["vocabulary"]]
    if not rows:
        return list(data["bias"])
    norm = math.sqrt(sum((r[0] / data["scale"]) ** 2 for r in rows))
    return [b + sum(r[0] * r[1 + k] for r in rows) / data["scale"] ** 2 / norm for k, b in enumerate(data["bias"])]


def reference_rows(data, folded, debtor_folded):
    spec = FeatureSpec(**data["features"])
    index = {f: i for i, f in enumerate(data["vocabulary"])}
    present = set(agent_features(folded, spec)) | set(debtor_features(debtor_folded, spec))
    return sorted(index[f] for f in present if f in index)


def tables(data):
    """The model's tables in every route this process can run: the module in use (compiled or not) and its
    plain-Python source, each with the packed and the plain route."""
    modules = [linear] + ([native.pure_module("linear")] if linear.COMPILED else [])
    spec = data["features"]
    return {f"{'compiled' if m.COMPILED else 'python'}/{'packed' if packed else 'plain'}":
            m.LinearTable(data["vocabulary"], data["bias"], spec["stem"], spec["window"], spec["debtor"],
                          data["scale"], packed=packed)
            for m in modules for packed in (True, False)}


def corpus_pairs():
    texts = [(fold(r.agent_text), fold(r.debtor_before)) for r in tune_rows()[::3]]
    # odd texts: nothing, digits, one-letter words, long words, non-ASCII letters, punctuation only
    texts += [("", ""), ("a", "b"), ("12 000 a b c", "d 3"), ("anticonstitutionnellement x", "y"),
              ("ﬁne çava ünïcode ß ok", "ø"), ("...!!!", ""), ("vous vous vous vous", "vous")]
    return texts


@pytest.fixture(scope="module")
def shipped_data():
    return json.loads(SHIPPED.read_text(encoding="utf-8"))


def test_table_rows_are_the_features_training_builds(shipped_data):
    routes = tables(shipped_data)
    assert len(routes) >= 2 and any(t.packed for t in routes.values()) and any(not t.packed for t in routes.values())
    for folded, debtor in corpus_pairs():
        want = reference_rows(shipped_data, folded, debtor)
        for name, table in routes.items():
            assert table.rows(folded, debtor) == want, (name, folded)
        # a sentence of the turn: its own features (pairs do not cross its edges)
        cut = folded.find(".")
        if cut > 0:
            for name, table in routes.items():
                assert table.rows(folded, "", 0, cut) == reference_rows(shipped_data, folded[:cut], ""), name


def test_decisions_are_exact_sums_the_same_in_every_route(shipped_data):
    """Whole millionths summed exactly: every route (compiled or not, packed or plain) gives the same values to
    the last bit, and they equal the plain float computation to rounding."""
    routes = tables(shipped_data)
    for folded, debtor in corpus_pairs():
        values = {name: table.decisions(folded, debtor) for name, table in routes.items()}
        first = next(iter(values.values()))
        assert all(v == first for v in values.values()), (folded, values)
        assert first == pytest.approx(reference_decisions(shipped_data, folded, debtor), rel=1e-12, abs=1e-12)
        # (the order the features are found in does not matter: the values of the rows given ascending)
        table = next(iter(routes.values()))
        assert table.values(table.rows(folded, debtor)) == first


def test_long_stems_and_no_pairs_or_debtor_take_the_plain_route(shipped_data):
    """A model whose stems are longer than a number can hold (13 letters) is scored from its strings; one
    without pairs or debtor features ignores them."""
    vocabulary = {"anticonstitut": [2_000_000, 1_500_000], "anticonstitut_x": [3_000_000, -500_000],
                  "d:yes": [1_000_000, 250_000], "vous": [1_500_000, 100_000]}
    for window, debtor in ((1, True), (0, False)):
        data = {"features": {"stem": 13, "window": window, "debtor": debtor}, "vocabulary": vocabulary,
                "bias": [-1.0], "scale": SCALE}
        for name, table in tables(data).items():
            assert not table.packed, name
            for folded, debtor_folded in (("anticonstitutionnellement x vous", "yes"), ("rien", "")):
                assert table.rows(folded, debtor_folded) == reference_rows(data, folded, debtor_folded)
                assert table.decisions(folded, debtor_folded) == pytest.approx(
                    reference_decisions(data, folded, debtor_folded), rel=1e-12)


def test_the_packed_tables_find_every_key_and_only_those():
    items = {k * 37 + 5: (k, -k) for k in range(1, 3000)}  # keys that crowd the same slots
    table = linear.IntTable(items, 2)
    assert all(table.get(key) == a and table.slots[table.find(key) + 1] == b for key, (a, b) in items.items())
    assert all(table.get(key) == -1 and table.find(key) == -1 for key in range(1, 200_000, 7) if key not in items)
    for bad in ({0: (1, 1)}, {2 ** 62: (1, 1)}, {5: (1,)}):
        with pytest.raises(ValueError, match="out of range"):
            linear.IntTable(bad, 2)


def write_labels(path, rows):
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def test_holdout_rows_are_never_trained_on(tmp_path):
    rows = []
    for r in tune_rows(120):
        rows.append({"id": r.id, "split": "tune", "debtor_before": r.debtor_before, "agent_text": r.agent_text,
                     **{d: r.labels[d] for d in ("empathy", "firmness", "clarity")},
                     "violations": ";".join(sorted(r.violations)), "kind": r.kind, "note": r.note})
    # a held-aside threat made of words no tune row has: training must not see it
    secret = "Zorglubez votre quinquavirement ou zorglubez la brouchtafe, zorglubez vite."
    for i in range(3):
        rows.append({"id": f"h{i:03d}", "split": "holdout", "debtor_before": "", "agent_text": f"{secret} {i}",
                     "empathy": 1, "firmness": 1, "clarity": 2, "violations": "threat", "kind": "violation", "note": "x"})
    path = tmp_path / "labels.csv"
    write_labels(path, rows)
    data = train([path])
    assert not [f for f in data["vocabulary"] if "zorgl" in f or "quinq" in f or "broucht" in f]
    assert data["trained_on"] == [{"file": "labels.csv", "sha256": sha256_of(path), "tune_rows": 120,
                                   "holdout_rows_skipped": 3}]
    held = [r for r in read_label_files([path]) if r.split == "holdout"]
    with pytest.raises(SimulatorError, match="holdout row reached training"):
        as_training(held)


def test_the_shipped_model_is_trained_on_the_shipped_labels_and_reproducible():
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    files = [PROJECT_ROOT / f["file"] for f in shipped["trained_on"]]
    for entry, path in zip(shipped["trained_on"], files):
        assert path.exists(), f"{entry['file']} is gone: retrain (docs/rubrics.md, 'The learned detector')"
        assert sha256_of(path) == entry["sha256"], (
            f"{entry['file']} changed since the model was trained: retrain it with python -m simulator "
            "train-violations (docs/rubrics.md)")
    names = {f["file"] for f in shipped["trained_on"]}
    # every labelled file is trained on (its tune rows): a new label file must not be forgotten
    assert {f"calibration/{p.name}" for p in CALIBRATION.glob("fr_turns*.csv")} <= names
    trainer = shipped["trainer"]
    again = train(files, spec=FeatureSpec(**shipped["features"]), c=trainer["C"], min_df=trainer["min_df"],
                  thresholds=dict(zip(shipped["categories"], shipped["thresholds"])))
    assert again["categories"] == shipped["categories"]
    assert again["thresholds"] == shipped["thresholds"]
    assert set(again["vocabulary"]) == set(shipped["vocabulary"])
    a, b = LearnedModel(again, "again"), LearnedModel(shipped, "shipped")
    for row in tune_rows()[::5]:
        folded, debtor = fold(row.agent_text), fold(row.debtor_before)
        assert a.decisions(folded, debtor) == pytest.approx(b.decisions(folded, debtor), abs=1e-3)
    # no holdout row was trained on, and every holdout row was counted as skipped
    assert sum(f["holdout_rows_skipped"] for f in shipped["trained_on"]) == sum(
        1 for r in read_label_files([f for f in files if f.suffix == ".csv"]) if r.split == "holdout")


@pytest.fixture(scope="module")
def scorers():
    rubric = resolve_rubric("fr-default")
    # without the violation detector, the same (calibrated) scores: review flags must change none of them
    return Scorer(rubric), Scorer(rubric, learned=False, calibrated=True)


def test_the_scorer_reports_what_only_the_model_hears(scorers):
    with_model, rules_only = scorers
    assert with_model.learned and not rules_only.learned
    found = None
    for row in tune_rows():
        learned = with_model.score_isolated(row.agent_text, row.debtor_before).review
        if learned and any(v.category in row.violations for v in learned):
            found = (row, learned)
            break
    assert found, "the model flags no labelled violation the rules miss"
    row, learned = found
    for v in learned:
        assert v.text == row.agent_text[v.start:v.end] and v.text.strip()
        assert v.description.startswith("Le modèle appris entend")
        assert v.reference and v.fix
        # the rules alone did not flag that category in this turn
        assert v.category not in {x.category for x in rules_only.score_isolated(row.agent_text, row.debtor_before).violations}
    alone = rules_only.score_isolated(row.agent_text, row.debtor_before)
    assert not alone.review
    # a review flag is not a critical error: the rules' violations and the scores are the same with or without it
    both = with_model.score_isolated(row.agent_text, row.debtor_before)
    assert both.violations == alone.violations and both.scores == alone.scores
    assert all(v.rule.startswith("FR-LEARNED-") for v in both.review)


def test_a_category_a_rule_flagged_is_not_reported_twice(scorers):
    with_model, _ = scorers
    text = "Si vous ne payez pas, je préviens votre employeur et tous vos voisins, vous allez le regretter."
    model = with_model.learned_model
    k = model.categories.index("threat")
    assert model.probabilities(fold(text), fold("Je ne paierai pas."))[k] >= model.thresholds[k]  # it hears it too
    scored = with_model.score_isolated(text, "Je ne paierai pas.")
    assert [v for v in scored.violations if v.category == "threat"]
    assert not [v for v in scored.review if v.category == "threat"]


def test_review_flags_are_listed_on_the_scorecard_and_do_not_fail_the_call(scorers):
    from simulator.rubric.scorecard import build_scorecard

    with_model, _ = scorers
    session = with_model.session(disclosed=True)
    session.hear("Je ne peux pas payer ce mois-ci.")
    turns = []
    for row in tune_rows():
        s = with_model.score_isolated(row.agent_text, row.debtor_before)
        if s.review and not s.violations:
            turns.append((1, s))
            break
    assert turns, "no labelled turn gets only a review flag"
    card = build_scorecard(with_model.rubric, turns, outcome="PTP")
    assert card.review_flags and not card.critical_errors
    assert card.review_flags[0].rule.startswith("FR-LEARNED-")
    assert card.passed == (card.overall >= card.pass_mark)


def test_calls_in_another_language_do_not_use_the_french_model():
    assert not Scorer(resolve_rubric("en-us")).learned
    assert not Scorer(resolve_rubric("fr-default"), language="en").learned


def test_evidence_is_the_sentence_weighing_most():
    model = load_model(SHIPPED)
    threat = model.categories.index("threat")
    text = fold("Bonjour Madame. On va prévenir vos clients et votre banque de vos impayés. Bonne journée.")
    s, e = model.evidence(text, threat)
    assert text[s:e] == fold("On va prévenir vos clients et votre banque de vos impayés")


def test_bad_model_files_say_which_file_and_the_fix(tmp_path):
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    for name, change in (("decimals.json", {"vocabulary": {"vous": [1.5] + [0.25] * len(shipped["categories"])}}),
                         ("short.json", {"vocabulary": {"vous": [1_500_000, 3]}}),
                         ("zero.json", {"vocabulary": {"vous": [0] * (1 + len(shipped["categories"]))}})):
        path = tmp_path / name
        path.write_text(json.dumps({**shipped, **change}), encoding="utf-8")
        with pytest.raises(SimulatorError, match=rf"{path}: not a learned-model file .*'vous'"):
            load_model(path)
    unscaled = tmp_path / "unscaled.json"
    unscaled.write_text(json.dumps({k: v for k, v in shipped.items() if k != "scale"}), encoding="utf-8")
    with pytest.raises(SimulatorError, match=rf"{unscaled}: model scale None is not 1000000 .*train-violations"):
        load_model(unscaled)
    with pytest.raises(SimulatorError, match=r"no such learned-model file .*train-violations"):
        load_model(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(SimulatorError, match=rf"{bad}: not a learned-model file"):
        load_model(bad)
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"format": 99}), encoding="utf-8")
    with pytest.raises(SimulatorError, match="model format 99"):
        load_model(old)


def test_a_learned_rule_without_its_column_is_a_rubric_error(tmp_path):
    shipped = json.loads(SHIPPED.read_text(encoding="utf-8"))
    keep = [i for i, c in enumerate(shipped["categories"]) if c != "fees"]
    shipped["categories"] = [shipped["categories"][i] for i in keep]
    shipped["bias"] = [shipped["bias"][i] for i in keep]
    shipped["thresholds"] = [shipped["thresholds"][i] for i in keep]
    shipped["vocabulary"] = {f: [row[0]] + [row[1 + i] for i in keep] for f, row in shipped["vocabulary"].items()}
    (tmp_path / "m.json").write_text(json.dumps(shipped), encoding="utf-8")
    pack = (PROJECT_ROOT / "rubrics" / "packs" / "fr.yaml").read_text(encoding="utf-8")
    pack = pack.replace("model: models/fr-violations.json", f"model: {tmp_path / 'm.json'}")
    (tmp_path / "fr.yaml").write_text(pack, encoding="utf-8")
    rubric = (PROJECT_ROOT / "rubrics" / "fr-default.yaml").read_text(encoding="utf-8")
    rubric = rubric.replace("packs/fr.yaml", str(tmp_path / "fr.yaml"))
    (tmp_path / "r.yaml").write_text(rubric, encoding="utf-8")
    with pytest.raises(RubricError, match="learned rule FR-LEARNED-FEES: the model .* has no 'fees' column"):
        Scorer(resolve_rubric(str(tmp_path / "r.yaml")))


def test_a_semantic_only_rule_needs_the_semantic_model(tmp_path):
    """`disclosure_missing` has no lexical column by design: without the section's semantic model, its rule is
    an error naming the fix."""
    pack = (PROJECT_ROOT / "rubrics" / "packs" / "fr.yaml").read_text(encoding="utf-8")
    assert "  semantic: models/fr-semantic.json\n" in pack
    pack = pack.replace("  semantic: models/fr-semantic.json\n", "")
    pack = pack.replace("model: models/fr-violations.json", f"model: {SHIPPED}")
    (tmp_path / "fr.yaml").write_text(pack, encoding="utf-8")
    rubric = (PROJECT_ROOT / "rubrics" / "fr-default.yaml").read_text(encoding="utf-8")
    (tmp_path / "r.yaml").write_text(rubric.replace("packs/fr.yaml", str(tmp_path / "fr.yaml")), encoding="utf-8")
    with pytest.raises(RubricError, match="FR-LEARNED-DISCLOSURE: only the semantic detector reads "
                                          "'disclosure_missing': give the section a `semantic` model"):
        Scorer(resolve_rubric(str(tmp_path / "r.yaml")))
    assert "disclosure_missing" in Scorer(resolve_rubric("fr-default")).semantic_only


def test_thresholds_on_the_command_line():
    assert parse_thresholds(["0.4", "threat=0.3"]) == {"*": 0.4, "threat": 0.3}
    with pytest.raises(SimulatorError, match="unknown category 'menace'"):
        parse_thresholds(["menace=0.3"])
    with pytest.raises(SimulatorError, match="between 0 and 1"):
        parse_thresholds(["1.5"])


def run(*args):
    return subprocess.run([sys.executable, "-m", "simulator", *args], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          timeout=300)


def test_train_violations_command(tmp_path):
    out = tmp_path / "model.json"
    done = run("train-violations", "calibration/fr_turns.csv", "--out", str(out), "--threshold", "0.45")
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout and "holdout rows skipped" in done.stdout
    model = load_model(out)
    assert set(model.thresholds) == {0.45}
    checked = run("train-violations", "calibration/fr_turns.csv", "calibration/fr_turns_extra.csv", "--cross-check")
    assert checked.returncode == 0, checked.stderr
    assert "== fr_turns_extra.csv (341 turns)" in checked.stdout and "model alone" in checked.stdout
    nothing = run("train-violations", "calibration/fr_turns.csv")
    assert nothing.returncode == 2 and "--out" in nothing.stderr
    bad = run("train-violations", "calibration/nope.csv", "--out", str(out))
    assert bad.returncode == 1 and "calibration/nope.csv" in bad.stderr


def test_review_flags_are_shown_to_the_trainee_as_to_check_not_as_critical_errors(scorers):
    from simulator.rubric.scorecard import build_scorecard
    from simulator.ui.scoring import scorecard_panel, turn_badges

    with_model, _ = scorers
    score = next(s for s in (with_model.score_isolated(r.agent_text, r.debtor_before) for r in tune_rows())
                 if s.review and not s.violations)
    html = turn_badges(score, "fr")
    assert "class='review-flag'" in html and "À vérifier — possible" in html and "Erreur critique" not in html
    card = build_scorecard(with_model.rubric, [(1, score)], outcome="PTP")
    panel = scorecard_panel(card, "en")
    assert "class='review-flags'" in panel and "To check — possible" in panel
    assert "class='critical'" not in panel


def test_a_missing_model_file_leaves_the_rules_working(tmp_path, caplog):
    pack = (PROJECT_ROOT / "rubrics" / "packs" / "fr.yaml").read_text(encoding="utf-8")
    (tmp_path / "fr.yaml").write_text(pack.replace("model: models/fr-violations.json",
                                                   f"model: {tmp_path / 'gone.json'}"), encoding="utf-8")
    rubric = (PROJECT_ROOT / "rubrics" / "fr-default.yaml").read_text(encoding="utf-8")
    (tmp_path / "r.yaml").write_text(rubric.replace("packs/fr.yaml", str(tmp_path / "fr.yaml")), encoding="utf-8")
    with caplog.at_level("WARNING"):
        scorer = Scorer(resolve_rubric(str(tmp_path / "r.yaml")))
    assert scorer.learned_model is None and not scorer.learned
    assert "gone.json" in caplog.text and "without its learned detector" in caplog.text
    scored = scorer.score_isolated("Si vous ne payez pas, je préviens votre employeur.", "Je ne paierai pas.")
    assert {v.category for v in scored.violations} == {"threat"} and scored.review == []
