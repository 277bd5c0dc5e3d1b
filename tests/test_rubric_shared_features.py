"""The scorer's run-time shortcuts for its two trained models (docs/scorer-speed.md, branch `speed5`):

- one table for the word features of the learned violation detector and of the score model
  (`calibrated.joint_table`, `LinearTable(..., others=...)`): each model's values from it are its own table's
  values to the last bit, in every route (compiled or not, packed or plain), and the detector's evidence too;
- the calibrated scores computed without `numeric_features`' dictionary (`scorer._Calibration`): the same three
  sums, to the last bit, as `ScoreModel.predict` on that dictionary, and the same scores as `calibrate_scores`.
"""

from __future__ import annotations

import importlib
import itertools
import json
import math

import pytest

from simulator.rubric import linear, native
from simulator.rubric import scorer as scorer_module
from simulator.rubric.calibrate import read_label_files
from simulator.rubric.calibrated import (ScoreModel, calibrate_scores, joint_table, load_score_model,
                                         numeric_features, score_numeric_features)
from simulator.rubric.learned import SCALE, load_model, model_path
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.models import DIMENSIONS
from simulator.rubric.results import Flags
from simulator.rubric.scorer import Scorer
from simulator.rubric.text import fold
from simulator.settings import PROJECT_ROOT

CALIBRATION = PROJECT_ROOT / "calibration"
VIOLATIONS = model_path("models/fr-violations.json")
SCORES = model_path("models/fr-scores.json")


def turns(step: int = 3) -> list[tuple[str, str]]:
    """(agent turn, debtor's line) pairs as written: labelled rows, and odd texts."""
    rows = read_label_files(sorted(CALIBRATION.glob("fr_turns*.csv")))
    out = [(r.agent_text, r.debtor_before) for r in rows[::step]]
    out += [("", ""), ("a", "b"), ("12 000 a b c", "d 3"), ("anticonstitutionnellement x", "y"),
            ("ﬁne çava ünïcode ß ok", "ø"), ("...!!!", ""), ("vous vous vous vous", "vous"),
            ("PAYEZ. MAINTENANT. TOUT DE SUITE !!!", "Non."), ("Bon. Euh. Voilà.", "")]
    return out


def modules(name: str) -> list:
    """The module in use (compiled or not) and, when it is compiled, its plain-Python source."""
    module = importlib.import_module(f"simulator.rubric.{name}")
    return [module] + ([native.pure_module(name)] if native.is_compiled() else [])


# --- one table for both models' word features ---------------------------------------------------------------
def scaled_scores(data: dict) -> dict[str, list[int]]:
    n = len(data["dimensions"])
    return {f: [round(float(row[0]) * SCALE)] + [round(float(w) * SCALE) for w in row[1:1 + n]]
            for f, row in data["vocabulary"].items()}


def routes(first: dict, first_bias: list[float], second: dict, second_bias: list[float], spec: dict) -> dict:
    """(joint table, first model's own, second model's own) in every route this process can run."""
    out = {}
    for m in modules("linear"):
        for packed in (True, False):
            args = (spec["stem"], spec["window"], spec["debtor"], SCALE)
            out[f"{'compiled' if m.COMPILED else 'python'}/{'packed' if packed else 'plain'}"] = (
                m.LinearTable(first, first_bias, *args, packed=packed, others=[(second, second_bias)]),
                m.LinearTable(first, first_bias, *args, packed=packed),
                m.LinearTable(second, second_bias, *args, packed=packed))
    return out


def test_the_joint_table_gives_each_shipped_model_its_own_values_to_the_last_bit():
    violations = json.loads(VIOLATIONS.read_text(encoding="utf-8"))
    scores = json.loads(SCORES.read_text(encoding="utf-8"))
    assert violations["features"] == scores["features"]  # what lets the scorer share them
    n = len(scores["dimensions"])
    tables = routes(violations["vocabulary"], violations["bias"], scaled_scores(scores), [0.0] * n,
                    violations["features"])
    assert any(j.packed for j, _a, _b in tables.values()) and any(not j.packed for j, _a, _b in tables.values())
    flagged = list(range(len(violations["categories"])))
    for agent, debtor in turns():
        folded, debtor_folded = fold(agent), fold(debtor)
        for name, (joint, first, second) in tables.items():
            assert joint.decisions_all(folded, debtor_folded) == [
                first.decisions(folded, debtor_folded), second.decisions(folded, debtor_folded)], (name, agent)
            assert joint.decisions(folded, debtor_folded) == first.decisions(folded, debtor_folded)
            assert joint.evidence(folded, flagged) == first.evidence(folded, flagged), (name, agent)
            rows = joint.rows(folded, debtor_folded)
            assert joint.values(rows, 1) == second.decisions(folded, debtor_folded)


def test_features_only_one_model_knows_add_nothing_to_the_other():
    """A model lacking every feature of a text scores it its bias (as its own table, which finds no row),
    whatever the other model finds there; a feature in both counts in both."""
    first = {"vous": [1_500_000, 200_000], "payez": [2_000_000, 900_000], "vous_payez": [3_000_000, 1_100_000]}
    second = {"merci": [1_200_000, 400_000, -300_000], "vous": [1_700_000, -50_000, 60_000],
              "d:non": [2_500_000, 10_000, 20_000]}
    spec = {"stem": 5, "window": 2, "debtor": True}
    for name, (joint, own_first, own_second) in routes(first, [-1.5], second, [0.25, -0.5], spec).items():
        for folded, debtor in (("merci", "non"), ("payez", ""), ("vous payez merci", "non"), ("rien", "rien"),
                               ("", "")):
            assert joint.decisions_all(folded, debtor) == [own_first.decisions(folded, debtor),
                                                          own_second.decisions(folded, debtor)], (name, folded)
        assert joint.decisions_all("merci", "non")[0] == [-1.5]
        assert joint.decisions_all("payez", "")[1] == [0.25, -0.5]
        assert joint.evidence("merci. payez vite. merci", [0]) == own_first.evidence("merci. payez vite. merci", [0])
    with pytest.raises(ValueError, match="expected 3 whole numbers"):
        linear.LinearTable(first, [0.0], 5, 2, True, SCALE, others=[({"x": [1_000_000, 5]}, [0.0, 0.0])])


def test_the_scorer_shares_the_word_features_when_both_models_read_the_same():
    fr = resolve_rubric("fr-default")
    scorer = Scorer(fr)
    assert scorer.joint is not None and scorer.learned_table is scorer.joint
    assert Scorer(fr).joint is scorer.joint  # built once per process
    assert Scorer(fr, calibrated=False).joint is None and Scorer(fr, learned=False).joint is None
    learned, model = load_model(VIOLATIONS), load_score_model(SCORES)
    # another window: the models read different features, each keeps its own table
    data = json.loads(SCORES.read_text(encoding="utf-8"))
    data["features"]["window"] = 1
    assert joint_table(learned, ScoreModel(data, str(SCORES), model.sha256)) is None
    # a model not read from its file as it is now: no joint table (nothing to build it from)
    assert joint_table(learned, ScoreModel(json.loads(SCORES.read_text(encoding="utf-8")), "elsewhere.json",
                                           "0" * 64)) is None


def test_with_or_without_the_joint_table_the_scorer_gives_the_same_output():
    fr = resolve_rubric("fr-default")
    shared, alone = Scorer(fr), Scorer(fr)
    alone.joint = None
    alone.learned_table = alone.learned_model.table
    flagged = 0
    for agent, debtor in turns(step=2):
        a, b = shared.score_isolated(agent, debtor), alone.score_isolated(agent, debtor)
        assert a.to_json() == b.to_json(), agent
        flagged += bool(a.review)
    assert flagged, "no turn flagged by the learned detector: its evidence was not compared"


# --- the calibrated scores without numeric_features' dictionary --------------------------------------------
def calibrations() -> list:
    """`_Calibration` of the shipped model in the scorer module in use and in its plain-Python source."""
    out = []
    for m in modules("scorer"):
        calibrated = importlib.import_module(m.__name__.rpartition(".")[0] + ".calibrated")
        out.append((m, m._Calibration(calibrated.load_score_model(SCORES))))
    return out


def cases():
    """What the rules measure in a turn, as the scorer hands it to the calibration: from scored turns, then
    odd combinations (every score level, every flag, no readability, long turns)."""
    scorer = Scorer(resolve_rubric("fr-default"), calibrated=False)
    for agent, debtor in turns(step=4):
        s = scorer.score_isolated(agent, debtor)
        m = s.metrics
        read = (m.readability or {}).get("value")
        yield (fold(agent), fold(debtor), dict(s.scores), dict(s.raw), m.words, m.sentences,
               m.mean_sentence_words, m.questions, read, s.flags)
    names = Flags.__slots__
    for k, (e, f, c) in enumerate(itertools.product(range(1, 6), repeat=3)):
        flags = Flags(**{name: bool((k >> i) & 1) for i, name in enumerate(names)})
        yield ("je comprends, vous payez vendredi ?", "je ne peux pas", {"empathy": e, "firmness": f, "clarity": c},
               {"empathy": e - 0.37, "firmness": f + 0.21, "clarity": float(c)}, k * 7, k % 13, k * 1.7 % 55,
               k % 6, None if k % 5 == 0 else 40.0 + k % 70 - 0.1 * k, flags)


def test_the_calibration_sums_equal_score_model_predict_to_the_last_bit():
    model = load_score_model(SCORES)
    numeric_names = set(model._numeric)
    assert {f"flag:{name}" for name in Flags.__slots__} - numeric_names  # a flag the model lacks is skipped
    compared = 0
    for case in cases():
        folded, debtor, scores, raw, n_words, sents, asl, n_q, read, flags = case
        numeric = numeric_features(scores, raw, n_words, sents, asl, n_q, read,
                                   [name for name in Flags.__slots__ if getattr(flags, name)])
        want = model.predict(folded, debtor, numeric)
        for module, calibration in calibrations():
            got = calibration.predict(folded, debtor, scores, raw, n_words, sents, asl, n_q, read, flags)
            assert list(got) == [want[d] for d in model.dimensions], (module.__name__, case)
        compared += 1
    assert compared > 200


def test_calibrated_scores_equal_calibrate_scores():
    model = load_score_model(SCORES)
    for i, case in enumerate(cases()):
        folded, debtor, scores, raw, n_words, sents, asl, n_q, read, flags = case
        caps = [scorer_module.Cap(d, 1 + (i + k) % 5, "test") for k, d in enumerate(DIMENSIONS) if (i >> k) & 1]
        in_context = {d for k, d in enumerate(DIMENSIONS) if (i >> (k + 2)) & 1}
        capped: dict[str, int] = {}
        for cap in caps:
            capped[cap.dimension] = min(capped.get(cap.dimension, 5), cap.cap)
        numeric = numeric_features(scores, raw, n_words, sents, asl, n_q, read,
                                   [name for name in Flags.__slots__ if getattr(flags, name)])
        want = calibrate_scores(model, folded, debtor, numeric, capped, scores, in_context)
        for module, calibration in calibrations():
            notes: list[str] = []
            got = module._calibrated(calibration, folded, debtor, scores, raw, caps, flags, n_words, sents, asl,
                                     n_q, read, notes, in_context)
            assert got == want and list(got) == list(want), (module.__name__, case)
            assert len(notes) == sum(got[d] != scores[d] for d in DIMENSIONS)


def test_the_shipped_model_weighs_what_numeric_features_writes():
    """`_Calibration` reads the model's numeric weights by the names `numeric_features` writes: a weight under
    another name would be silently ignored by both, so the shipped model must hold only such names."""
    model = load_score_model(SCORES)
    written = {f"{d}={level}" for d in DIMENSIONS for level in range(1, 6)} | {f"raw:{d}" for d in DIMENSIONS}
    written |= set(scorer_module._MEASURES) | {f"flag:{name}" for name in Flags.__slots__}
    assert set(model._numeric) <= written
    assert math.isfinite(sum(sum(row) for row in model._numeric.values()))
