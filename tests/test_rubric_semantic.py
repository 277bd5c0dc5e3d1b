"""The semantic violation detector (`simulator/rubric/semantic.py`, `embedder.py`, `train_semantic.py`): the JSON
weights decide like scikit-learn, the mean of both detectors decides review flags and critical errors in a
scored call (with the rubric's caps), a failing embedder loses nothing, the settings choose it, and on the real
embedded model the vectors are the ones the shipped model was trained on."""

from __future__ import annotations

import copy
import json
import logging

import pytest
from typer.testing import CliRunner

from simulator.cli import app
from simulator.errors import SimulatorError
from simulator.llm.embedded import EMBEDDED_MODEL
from simulator.rubric.embedder import (PROMPT_AGENT_CHARS, PROMPT_DEBTOR_CHARS, Embedder, EmbedderError, EmbedderSpec,
                                       join_depths, prompted_text)
from simulator.rubric.learned import LEARNABLE, sha256_of
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorecard import build_scorecard
from simulator.rubric.semantic import (Neighbours, RuleCheck, SemanticModel, SemanticRow, Stack, VectorCache,
                                       combined_probabilities, detector_for, export, fit, fit_neighbours, load_semantic,
                                       log_odds, text_key, write_semantic)
from simulator.rubric.service import TurnScorer
from simulator.rubric.text import fold
from simulator.settings import PROJECT_ROOT, Settings

from .conftest import REAL_DATA_DIR

SHIPPED = PROJECT_ROOT / "rubrics" / "models" / "fr-semantic.json"
SPEC = EmbedderSpec(EMBEDDED_MODEL.sha256, 14)
SHIPPED_SPEC = EmbedderSpec(EMBEDDED_MODEL.sha256, "14+p14")
THREAT = "Réfléchissez bien à ce que vous avez à perdre, Monsieur. Je ne le dirai pas deux fois."
POLITE = "Je comprends. Pouvez-vous me dire quand vous pourriez régler les 1 240 euros ?"


def _rows(n=120, dim=12):
    import random

    rng = random.Random(7)
    rows = []
    for i in range(n):
        cats = frozenset({"threat"} if i % 3 == 0 else {"insult"} if i % 5 == 0 else ())
        v = [rng.gauss(0, 1) for _ in range(dim)]
        if "threat" in cats:
            v[0] += 3
        if "insult" in cats:
            v[1] += 3
        rows.append(SemanticRow([v], cats))
    return rows


def test_the_json_weights_decide_like_scikit_learn():
    import numpy

    rows = _rows()
    mean, scale, models = fit(rows[:90], c=0.5)
    model = SemanticModel(export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"threat": 0.7}, {}), "test")
    assert set(model.categories) == {"threat", "insult"}
    assert model.review_at == {"threat": 0.4, "insult": 0.4}
    assert model.critical_at == {"threat": 0.7, "insult": 0.6}
    for row in rows[90:]:  # rows it was not trained on
        x = (numpy.asarray(row.pieces[0]) - mean) / scale
        expected = {c: float(models[c].predict_proba([x])[0, 1]) for c in models}
        assert model.turn_probabilities(row.pieces) == pytest.approx(expected, abs=1e-5)
    # a turn in several pieces: the highest probability of its pieces
    a, b = rows[0].pieces[0], rows[1].pieces[0]
    both = model.turn_probabilities([a, b])
    for c in model.categories:
        assert both[c] == pytest.approx(max(model.turn_probabilities([a])[c], model.turn_probabilities([b])[c]))
    with pytest.raises(SimulatorError, match="expects 12"):
        model.decisions([0.0] * 5)


def test_the_shipped_model_is_trained_on_the_shipped_labels():
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    assert data["embedder"]["source_sha256"] == EMBEDDED_MODEL.sha256
    assert set(data["categories"]) == set(LEARNABLE) | {"disclosure_missing"}
    files = {f["file"]: f for f in data["trained_on"]}
    labelled = sorted(p.relative_to(PROJECT_ROOT).as_posix() for p in (PROJECT_ROOT / "calibration").glob("fr_turns*.csv"))
    assert sorted(f for f in files if f.startswith("calibration/")) == labelled
    for name, f in files.items():  # a label file edited since: train the model again (rubrics/packs/fr.yaml)
        assert sha256_of(PROJECT_ROOT / name) == f["sha256"], f"{name} changed since fr-semantic.json was trained"
    model = load_semantic(SHIPPED)
    # the mean vector after 14 blocks and the prompted vector side by side (chosen leaving one writer out over
    # 14+20 and 14+20+p14, docs/rubrics.md)
    assert model.dim == 2 * 1536 and model.spec.key() == SHIPPED_SPEC.key()
    assert all(model.review_at[c] <= model.critical_at[c] for c in model.categories)
    # read alone (no lexical column): a higher bar, chosen leaving one writer out (docs/rubrics.md)
    assert model.critical_at["disclosure_missing"] == 0.7 and model.review_at["disclosure_missing"] == 0.5
    # it keeps every tune turn it was trained on, whose ten nearest vote in the lexical detector's categories
    # (a missing disclosure depends on where in the call a turn is, which a neighbour's label does not say)
    assert model.neighbours is not None and model.neighbours.k == 10
    assert model.neighbours.categories == tuple(LEARNABLE)
    assert len(model.neighbours.labels) == sum(f["tune_rows"] for f in data["trained_on"])
    # the stacked probability from 0.24 (0.2: a review flag), with the rule check doubting a phrase rule's hit
    # below 0.3: chosen together leaving one writer out (docs/rubrics.md, session 22)
    assert all(model.critical_at[c] == 0.24 and model.review_at[c] == 0.2 for c in LEARNABLE)  # on the stack
    assert model.stack is not None and set(model.stack.weights) == set(LEARNABLE)
    assert data["trainer"]["stack"] is True and data["trainer"]["rule_check"] is True
    assert model.rule_check is not None and model.rule_check.below == 0.3
    assert set(model.rule_check.weights) == set(LEARNABLE) | {"disclosure_missing"}
    assert resolve_rubric("fr-default").rubric.learned[0].semantic == "models/fr-semantic.json"


class _FakeEmbedder:
    spec = SPEC


class _FakeDetector:
    """The shipped model's thresholds, with probabilities given by the test (no embedded model needed)."""

    cache = None

    def __init__(self, probabilities=None, error=None, votes=None, stack=False):
        self.model = copy.copy(load_semantic(SHIPPED))  # the loaded model is cached: not changed in place
        if not stack:
            self.model.stack = None  # the plain mean of the detectors (the tests written for it)
        self.embedder = _FakeEmbedder()
        self._p = probabilities or {}
        self._votes = votes
        self._error = error
        self.texts = []
        self.debtors = []

    def read(self, text, debtor=""):
        self.texts.append(text)
        self.debtors.append(debtor)
        if self._error:
            raise self._error
        return dict(self._p), None if self._votes is None else dict(self._votes)


def _lexical(scorer, text, debtor=""):
    model = scorer.scorer.learned_model
    return dict(zip(model.categories, model.probabilities(fold(text), fold(debtor))))


async def _score(detector, text, debtor="Je n'ai pas l'argent."):
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr", semantic=detector)
    session = scorer.session(disclosed=True)  # identification done earlier in the call
    session.hear(debtor)
    turn = await scorer.score(session, text)
    return scorer, session, turn


def _target(scorer_probe, text, category, mean, debtor="Je n'ai pas l'argent."):
    """The semantic probability that puts the mean of both detectors at `mean` for `category`."""
    lexical = _lexical(scorer_probe, text, debtor).get(category, 0.0)
    value = 2 * mean - lexical
    assert 0.0 <= value <= 1.0, "pick another turn: the lexical detector alone is too sure"
    return value


async def test_the_mean_of_both_detectors_decides_critical_errors_and_review_flags():
    probe = TurnScorer(resolve_rubric("fr-default"), "fr")
    model = load_semantic(SHIPPED)
    critical, review = model.critical_at["threat"], model.review_at["threat"]
    plain, _, rules_turn = await _score(None, POLITE)
    assert not rules_turn.violations and not rules_turn.review

    # from the critical threshold: a critical error with the learned rule's id, evidence, caps; the call fails
    p = _target(probe, POLITE, "threat", critical + 0.01)
    scorer, session, turn = await _score(_FakeDetector({"threat": p}), POLITE)
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-THREAT"]
    v = turn.violations[0]
    assert v.text == POLITE[v.start:v.end] and v.description and v.fix
    assert turn.flags.violation and turn.flags.hostile
    caps = dict(scorer.scorer.violation_caps)["threat"]
    for dimension, cap in caps:
        assert turn.scores[dimension] <= cap
        assert any(c.dimension == dimension and "semantic" in c.reason for c in turn.caps)
    assert any("semantic" in n for n in turn.notes)
    assert session.scores[-1] is turn  # what the scorecard and the store read
    card = build_scorecard(scorer.rubric, [(1, turn)], outcome=None)
    assert card.critical_errors and not card.passed

    # between the two thresholds: a review flag only
    p = _target(probe, POLITE, "threat", (critical + review) / 2)
    _, _, turn = await _score(_FakeDetector({"threat": p}), POLITE)
    assert not turn.violations and [v.category for v in turn.review] == ["threat"]

    # below: nothing, whatever the lexical detector alone would have flagged
    p = _target(probe, POLITE, "threat", review - 0.05)
    _, _, turn = await _score(_FakeDetector({"threat": p}), POLITE)
    assert not turn.violations and not turn.review


# an agency that names itself and the sum, not the creditor nor the basis (a tune row of the fourth file)
AGENCY = ("Bonjour Monsieur Ledoux, ici Karim, Cabinet Recouvrix, recouvrement amiable. Vous avez une somme de 640 € "
          "impayée, on aimerait savoir quand vous comptez la régler.")


async def _call(detector, turns, *, disclosed=False, debtor="Oui, c'est bien moi."):
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr", semantic=detector)
    session = scorer.session(disclosed=disclosed)
    out = []
    for text in turns:
        session.hear(debtor)
        out.append(await scorer.score(session, text))
    return scorer, session, out


async def test_a_missing_disclosure_is_read_by_the_semantic_model_alone_while_one_is_due():
    model = load_semantic(SHIPPED)
    _, _, [rules_turn] = await _call(None, [AGENCY])
    assert not rules_turn.violations  # the rules see a name, a company and an amount
    # at the start of a call: from its own critical threshold, a critical error the call fails on
    p = model.critical_at["disclosure_missing"] + 0.01
    scorer, session, [turn] = await _call(_FakeDetector({"disclosure_missing": p}), [AGENCY])
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-DISCLOSURE"]
    v = turn.violations[0]
    assert v.category == "disclosure_missing" and v.description and v.fix and v.text == AGENCY[v.start:v.end]
    assert any("heard by the semantic detector (p" in n for n in turn.notes)
    assert not build_scorecard(scorer.rubric, [(1, turn)], outcome=None).passed
    # …reported once a call, as the rules do: the next turn is not the one that should disclose any more
    _, _, turns = await _call(_FakeDetector({"disclosure_missing": 0.99}), [AGENCY, POLITE])
    assert [v.rule for v in turns[0].violations] == ["FR-LEARNED-DISCLOSURE"]
    assert not turns[1].violations and not turns[1].review
    # between its review and critical thresholds: a flag for the reviewer
    p = (model.critical_at["disclosure_missing"] + model.review_at["disclosure_missing"]) / 2
    _, _, [turn] = await _call(_FakeDetector({"disclosure_missing": p}), [AGENCY])
    assert not turn.violations and [v.category for v in turn.review] == ["disclosure_missing"]
    # disclosures made earlier in the call: a later turn need not repeat them, nothing is heard
    _, _, [turn] = await _call(_FakeDetector({"disclosure_missing": 0.99}), [POLITE], disclosed=True)
    assert not turn.violations and not turn.review
    # a turn the rules already report is not reported twice
    bare = "Bonjour, c'est pour la facture impayée, vous réglez quand ?"
    _, _, [rules_turn] = await _call(None, [bare], debtor="Allô ?")
    assert "disclosure_missing" in {v.category for v in rules_turn.violations}
    _, _, [turn] = await _call(_FakeDetector({"disclosure_missing": 0.99}), [bare], debtor="Allô ?")
    assert [v.rule for v in turn.violations] == [v.rule for v in rules_turn.violations]
    assert not turn.review


def test_calibration_hears_a_missing_disclosure_only_where_the_row_shows_one_is_due():
    from simulator.rubric.calibrate import LabelledTurn, score_rows
    from simulator.rubric.scorer import Scorer

    scorer = Scorer(resolve_rubric("fr-default"))
    row = dict(id="x", split="tune", agent_text=AGENCY, labels={}, violations=frozenset(), kind="violation",
               note="", source="t.csv", line=2)
    rows = [LabelledTurn(debtor_before="Oui, c'est bien moi.", **row),  # right party on the line: due
            LabelledTurn(debtor_before="Je n'ai pas l'argent ce mois-ci.", **row)]  # mid-call: made earlier
    turns = score_rows(scorer, rows, semantic=_FakeDetector({"disclosure_missing": 0.99}))
    assert [[v.category for v in t.violations] for t in turns] == [["disclosure_missing"], []]


async def test_a_disclosure_the_debtor_asks_for_is_due_again_for_the_semantic_model():
    evasive = "Ça n'a pas d'importance pour l'instant. Dites-moi juste quand vous comptez payer."
    # made earlier in the call: a turn after an ordinary line is not heard…
    _, _, [turn] = await _call(_FakeDetector({"disclosure_missing": 0.99}), [evasive], disclosed=True,
                               debtor="Je n'ai pas l'argent ce mois-ci.")
    assert not turn.violations and not turn.review
    # …but after the debtor asks who calls, or how much, the answer should say it (rule asked_by)
    for debtor in ("Vous êtes de quelle société ?", "Vous travaillez pour qui, au juste ?", "Je vous dois combien exactement ?"):
        _, _, [turn] = await _call(_FakeDetector({"disclosure_missing": 0.99}), [evasive], disclosed=True,
                                   debtor=debtor)
        assert [v.rule for v in turn.violations] == ["FR-LEARNED-DISCLOSURE"], debtor
    # a low probability stays unheard after a question too: the detectors decide, the cue only opens the gate
    _, _, [turn] = await _call(_FakeDetector({"disclosure_missing": 0.05}), [evasive], disclosed=True,
                               debtor="Vous êtes de quelle société ?")
    assert not turn.violations and not turn.review


def test_calibration_hears_a_missing_disclosure_after_a_business_pick_up():
    from simulator.rubric.calibrate import LabelledTurn, score_rows
    from simulator.rubric.scorer import Scorer

    scorer = Scorer(resolve_rubric("fr-default"))
    row = dict(id="x", split="tune", agent_text="Bonjour, c'est Julie, pour le truc en retard. Vous pouvez voir ça ?",
               labels={}, violations=frozenset(), kind="violation", note="", source="t.csv", line=2)
    rows = [LabelledTurn(debtor_before=d, **row) for d in (
        "Oui, Garage Morin, j'écoute.", "Bonjour, Hôtel du Parc, réception.", "C'est qui ?",  # the call opens
        "D'accord, je note.")]  # mid-call
    turns = score_rows(scorer, rows, semantic=_FakeDetector({"disclosure_missing": 0.99}))
    assert ["disclosure_missing" in {v.category for v in t.violations} for t in turns] == [True, True, True, False]


async def test_a_category_the_rules_flagged_is_not_reported_twice():
    text = "Si vous ne payez pas, vous irez en prison, je vous le garantis."
    _, _, rules_turn = await _score(None, text)
    flagged = {v.category for v in rules_turn.violations}
    assert "false_legal" in flagged
    _, _, turn = await _score(_FakeDetector({"false_legal": 1.0}), text)
    assert [v.category for v in turn.violations].count("false_legal") == [v.category for v in rules_turn.violations].count("false_legal")
    assert "false_legal" not in {v.category for v in turn.review}


async def test_a_failing_embedder_keeps_the_turn_and_says_so(caplog):
    detector = _FakeDetector(error=RuntimeError("llama_decode returned -3"))
    with caplog.at_level(logging.WARNING):
        _, session, turn = await _score(detector, POLITE)
    _, _, plain = await _score(None, POLITE)
    assert turn.scores == plain.scores and turn.violations == plain.violations
    assert any("semantic detector unavailable" in n for n in turn.notes)
    assert "semantic violation detector failed" in caplog.text
    assert session.scores[-1] is turn


async def test_calls_in_another_language_skip_it():
    scorer = TurnScorer(resolve_rubric("en-us"), "en", semantic=_FakeDetector({"threat": 1.0}))
    assert scorer.semantic is None


def test_the_settings_choose_the_detector(tmp_path, caplog):
    rubric = resolve_rubric("fr-default").rubric
    assert detector_for(rubric, "fr", Settings(data_dir=tmp_path, semantic="off")) is None
    with caplog.at_level(logging.WARNING):  # auto: no embedded model in this data dir, rules and lexical only
        assert detector_for(rubric, "fr", Settings(data_dir=tmp_path, semantic="auto")) is None
    assert "prepare-model" in caplog.text and "SIMULATOR_SEMANTIC=off" in caplog.text
    with pytest.raises(SimulatorError, match="not on this machine"):
        detector_for(rubric, "fr", Settings(data_dir=tmp_path, semantic="on"))
    assert detector_for(resolve_rubric("en-us").rubric, "en", Settings(data_dir=tmp_path, semantic="on")) is None


def test_combined_probabilities_are_the_mean():
    # a category the lexical detector has no column for is the semantic model's alone
    assert combined_probabilities({"threat": 0.9, "disclosure_missing": 0.2}, {"threat": 0.3, "fees": 0.8}) == \
        pytest.approx({"threat": 0.6, "disclosure_missing": 0.2})
    # with the nearest labelled turns' votes: the mean of the three where all three read the category
    assert combined_probabilities({"threat": 0.9, "insult": 0.1, "disclosure_missing": 0.2},
                                  {"threat": 0.3, "insult": 0.5}, {"threat": 0.6, "insult": 0.0}) == \
        pytest.approx({"threat": 0.6, "insult": 0.2, "disclosure_missing": 0.2})


def _votes_by_hand(rows, query, k, temperature, categories):
    """The votes computed from their definition, in float64 without the model file: centre, project on the
    principal axes, cosine, the k most similar, softmax weights, weighted labels."""
    import numpy

    x = numpy.asarray([r.pieces[0] for r in rows])
    centre = x.mean(axis=0)
    _u, _s, vt = numpy.linalg.svd(x - centre, full_matrices=False)
    points = (x - centre) @ vt.T
    points /= numpy.linalg.norm(points, axis=1, keepdims=True)
    q = (numpy.asarray(query) - centre) @ vt.T
    q /= numpy.linalg.norm(q)
    similarity = points @ q
    nearest = sorted(range(len(rows)), key=lambda i: -similarity[i])[:k]
    weights = numpy.exp(similarity[nearest] / temperature)
    weights /= weights.sum()
    return {c: float(sum(w for w, i in zip(weights, nearest) if c in rows[i].violations)) for c in categories}


def test_the_nearest_labelled_turns_vote_by_their_labels(tmp_path):
    rows = _rows(90)
    block = fit_neighbours(rows, ("threat", "insult"), k=5, axes=256, temperature=0.1)
    assert len(block["labels"]) == 90 and block["vectors"]["shape"] == [90, 12]  # 12 axes: all a 12-d vector has
    mean, scale, models = fit(rows, c=0.5)
    data = export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {}, block)
    write_semantic(data, tmp_path / "m.json")  # through the file, as shipped
    model = load_semantic(tmp_path / "m.json")
    assert model.neighbours is not None and model.neighbours.k == 5
    for row in _rows(130)[90:]:  # turns the model does not keep
        expected = _votes_by_hand(rows, row.pieces[0], 5, 0.1, ("threat", "insult"))
        assert model.turn_votes(row.pieces) == pytest.approx(expected, abs=0.02)  # float16 in the file
    # a kept turn finds itself first: with a sharp temperature its own labels decide
    sharp = Neighbours({**block, "temperature": 0.001}, 12, "sharp")
    for row in rows[:12]:
        votes = dict(zip(sharp.categories, sharp.votes(row.pieces[0])))
        assert votes == pytest.approx({c: float(c in row.violations) for c in ("threat", "insult")}, abs=1e-3)
    # a turn in several pieces: the highest vote of its pieces
    a, b = rows[0].pieces[0], rows[1].pieces[0]
    both = model.turn_votes([a, b])
    assert both == pytest.approx({c: max(model.turn_votes([a])[c], model.turn_votes([b])[c]) for c in both})
    # without the block, no votes
    assert SemanticModel(export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {}), "t").turn_votes([a]) is None


def test_a_broken_neighbours_block_names_the_file_and_the_fix():
    rows = _rows(30)
    mean, scale, models = fit(rows, c=0.5)
    good = export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {},
                  fit_neighbours(rows, ("threat", "insult"), k=3))
    broken = json.loads(json.dumps(good))
    broken["neighbours"]["labels"] = broken["neighbours"]["labels"][:-1]  # one label lost
    with pytest.raises(SimulatorError, match=r"m\.json: neighbours\.vectors: shape \[30, 12\], expected \[29, 12\].*train-semantic"):
        SemanticModel(broken, "m.json")
    broken = json.loads(json.dumps(good))
    broken["neighbours"]["axes"]["base64"] = "not base64!"
    with pytest.raises(SimulatorError, match=r"m\.json: neighbours\.axes: not a packed array"):
        SemanticModel(broken, "m.json")
    broken = json.loads(json.dumps(good))
    del broken["neighbours"]["k"]
    with pytest.raises(SimulatorError, match=r"m\.json: neighbours: missing or wrong field"):
        SemanticModel(broken, "m.json")


async def test_the_votes_join_the_mean_that_decides():
    probe = TurnScorer(resolve_rubric("fr-default"), "fr")
    model = load_semantic(SHIPPED)
    critical = model.critical_at["threat"]
    lexical = _lexical(probe, POLITE, "Je n'ai pas l'argent.")["threat"]
    # the regressions and the lexical detector alone stay below the critical threshold…
    semantic = critical - 0.05 + (critical - 0.05 - lexical)
    assert 0 <= semantic <= 1
    _, _, turn = await _score(_FakeDetector({"threat": semantic}), POLITE)
    assert not turn.violations
    # …near turns labelled as threats lift the mean of the three over it: a critical error, and the note says who
    vote = 3 * (critical + 0.01) - semantic - lexical
    assert 0 <= vote <= 1
    _, _, turn = await _score(_FakeDetector({"threat": semantic}, votes={"threat": vote}), POLITE)
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-THREAT"]
    assert any("the nearest labelled turns" in n and "lexical" in n for n in turn.notes)
    # near turns that are not threats pull it down
    sure = min(1.0, 2 * critical + 0.05 - lexical)
    assert (sure + lexical) / 2 >= critical > (sure + lexical) / 3
    _, _, turn = await _score(_FakeDetector({"threat": sure}), POLITE)
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-THREAT"]
    _, _, turn = await _score(_FakeDetector({"threat": sure}, votes={"threat": 0.0}), POLITE)
    assert not turn.violations


# --- the stack: the readings weighed per category (session 20) ----------------------------------------------

STACK = {"parts": ["semantic", "lexical", "votes"], "C": 1.0,
         "categories": {"threat": {"weights": [0.5, 0.25, 2.0], "bias": -1.0}}}


def test_the_stack_weighs_the_readings_of_the_categories_it_has_weights_for():
    import math

    stack = Stack(STACK, "m.json")
    expected = 1 / (1 + math.exp(-(-1.0 + 0.5 * log_odds(0.9) + 0.25 * log_odds(0.3) + 2.0 * 0.6)))
    assert stack.probability("threat", 0.9, 0.3, 0.6) == pytest.approx(expected)
    assert stack.probability("insult", 0.9, 0.3, 0.6) is None
    # 0 and 1 stay finite
    assert 0 < stack.probability("threat", 0.0, 0.0, 0.0) < stack.probability("threat", 1.0, 1.0, 1.0) < 1
    got = combined_probabilities({"threat": 0.9, "insult": 0.1, "disclosure_missing": 0.2},
                                 {"threat": 0.3, "insult": 0.5}, {"threat": 0.6, "insult": 0.0}, stack)
    # threat stacked; insult (no weights) and disclosure_missing (no lexical reading) keep the mean
    assert got == pytest.approx({"threat": expected, "insult": 0.2, "disclosure_missing": 0.2})


def test_a_broken_stack_block_names_the_file_and_the_fix():
    rows = _rows(30)
    mean, scale, models = fit(rows, c=0.5)
    good = export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {}, None, STACK)
    assert SemanticModel(good, "m.json").stack.weights["threat"] == ((0.5, 0.25, 2.0), -1.0)
    assert SemanticModel(export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {}), "m.json").stack is None
    for change, message in ((lambda d: d["stack"]["categories"]["threat"]["weights"].pop(), "threat: 2 weights"),
                            (lambda d: d["stack"].update(parts=["semantic", "votes"]), "parts must be"),
                            (lambda d: d["stack"]["categories"]["threat"].pop("bias"), "bias")):
        broken = json.loads(json.dumps(good))
        change(broken)
        with pytest.raises(SimulatorError, match=rf"m\.json: stack: missing or wrong field.*{message}.*train-semantic"):
            SemanticModel(broken, "m.json")


def test_the_stack_learns_which_reading_to_trust_where_the_rules_found_nothing():
    import random
    from dataclasses import replace

    from simulator.rubric.calibrate import LabelledTurn
    from simulator.rubric.train_semantic import Reading, fit_stack

    rng = random.Random(3)
    readings = []
    for i in range(400):
        label = i % 3 == 0
        votes = {c: 0.0 for c in LEARNABLE}
        votes["threat"] = min(1.0, max(0.0, (0.8 if label else 0.1) + rng.gauss(0, 0.1)))  # the vote knows
        sem = {c: 0.1 for c in LEARNABLE} | {"threat": rng.random(), "disclosure_missing": 0.1}  # noise
        lex = {c: 0.1 for c in LEARNABLE} | {"threat": rng.random()}
        row = LabelledTurn(id=f"t{i}", split="tune", debtor_before="", agent_text="x", labels={},
                           violations=frozenset({"threat"} if label else ()), kind="", note="", line=i + 2,
                           source="a.csv")
        found = {"threat"} if i < 40 and not label else set()  # rules "found" threats on 27 clean turns
        readings.append(Reading(row, sem, votes, lex, True, found))
    stack = fit_stack(readings)
    assert stack["parts"] == ["semantic", "lexical", "votes"] and set(stack["categories"]) == {"threat"}
    ws, wl, wv = stack["categories"]["threat"]["weights"]
    assert wv > 3 and abs(ws) < 0.5 and abs(wl) < 0.5
    # the turns the rules decided are not trained on: with them relabelled, the same weights
    relabelled = [Reading(replace(r.row, violations=frozenset({"threat"})) if r.rules else r.row,
                          r.semantic, r.votes, r.lexical, r.due, r.rules) for r in readings]
    assert fit_stack(relabelled) == stack
    # a model that keeps no labelled turns (no votes): no stack
    assert fit_stack([Reading(r.row, r.semantic, None, r.lexical, r.due, r.rules) for r in readings]) is None


async def test_the_shipped_stack_decides_critical_errors_in_a_call():
    model = load_semantic(SHIPPED)
    assert model.stack is not None and {"threat", "pressure"} <= set(model.stack.weights)
    probe = TurnScorer(resolve_rubric("fr-default"), "fr")
    lexical = _lexical(probe, POLITE, "Je n'ai pas l'argent.")["threat"]
    critical = model.critical_at["threat"]

    def stacked(semantic, vote):
        return model.stack.probability("threat", semantic, lexical, vote)

    # a sure regression alone: the plain mean of the three would reach the threshold, the stack does not (its
    # weights trust the words and the nearest turns more than the regression)
    assert (1.0 + lexical + 0.0) / 3 >= critical > stacked(1.0, 0.0)
    _, _, turn = await _score(_FakeDetector({"threat": 1.0}, votes={"threat": 0.0}, stack=True), POLITE)
    assert not turn.violations
    _, _, turn = await _score(_FakeDetector({"threat": 1.0}, votes={"threat": 0.0}), POLITE)  # the plain mean
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-THREAT"]
    # the nearest labelled turns agreeing lift it over: a critical error
    assert stacked(1.0, 1.0) >= critical
    _, _, turn = await _score(_FakeDetector({"threat": 1.0}, votes={"threat": 1.0}, stack=True), POLITE)
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-THREAT"]


# a phrase rule's hit that is no threat: « votre nom sur » (a name put on a list) said of a lease (session 22)
LEASE = ("Merci, je vois votre nom sur le bail comme colocataire, je peux donc vous en parler. Il reste trois loyers "
         "impayés, 921 € en tout. Pouvez-vous me dire ce qui s'est passé ?")
SEIZURE = "Si vous ne réglez pas les 412 € avant vendredi, je vous envoie l'huissier lundi pour saisir votre voiture."
CHECK = {"parts": ["semantic", "lexical", "votes"], "C": 1.0, "below": 0.3,
         "categories": {"threat": {"weights": [0.5, 0.5, 2.0], "bias": 0.5},
                        "disclosure_missing": {"weights": [1.0, 0.0, 0.0], "bias": 0.0}}}


def test_a_doubted_rule_hit_is_a_review_flag_with_no_cap():
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr").scorer

    def score(doubted=frozenset()):
        session = scorer.session(disclosed=True)
        session.hear("Je n'ai pas l'argent.")
        return session, session.score(LEASE, doubted)

    _, plain = score()
    assert [v.rule for v in plain.violations] == ["FR-THREAT"] and plain.flags.violation and plain.flags.hostile
    assert any("FR-THREAT" in c.reason for c in plain.caps)
    session, doubted = score(frozenset({"threat", "insult"}))  # (no insult rule fired: nothing to move)
    assert not doubted.violations and not doubted.flags.violation and not doubted.flags.hostile
    assert [(v.rule, v.category, v.text) for v in doubted.review] == [("FR-THREAT", "threat", "votre nom sur")]
    assert not any("FR-THREAT" in c.reason for c in doubted.caps)
    assert doubted.scores["empathy"] > plain.scores["empathy"]  # the cap of a threat no longer holds
    assert any("FR-THREAT" in n and "review" in n for n in doubted.notes)
    assert session.scores[-1] is doubted
    card = build_scorecard(resolve_rubric("fr-default").rubric, [(1, doubted)], outcome=None)
    assert not card.critical_errors
    # a doubted category where no rule fired changes nothing
    _, other = score(frozenset({"insult"}))
    assert [v.rule for v in other.violations] == ["FR-THREAT"] and other.scores == plain.scores


def test_the_rule_check_doubts_a_category_below_its_threshold():
    import math

    check = RuleCheck(CHECK, "m.json")
    believed = 1 / (1 + math.exp(-(0.5 + 0.5 * log_odds(0.1) + 0.5 * log_odds(0.2) + 2.0 * 0.0)))
    assert check.believed("threat", {"threat": 0.1}, {"threat": 0.2}, {"threat": 0.0}) == pytest.approx(believed)
    assert believed < 0.3
    assert check.doubted({"threat": 0.1}, {"threat": 0.2}, {"threat": 0.0}) == {"threat"}
    assert check.doubted({"threat": 0.1}, {"threat": 0.2}, {"threat": 1.0}) == frozenset()  # the votes believe it
    # no lexical reading or votes (a missing disclosure): 0.5 and 0, i.e. the semantic reading alone
    assert check.doubted({"disclosure_missing": 0.2}, {}, None) == {"disclosure_missing"}
    assert check.doubted({"disclosure_missing": 0.6}, {}, None) == frozenset()
    # a category with no weights or no reading is never doubted
    assert check.doubted({"insult": 0.0}, {"insult": 0.0}, {"insult": 0.0}) == frozenset()
    assert check.doubted({}, {"threat": 0.0}, None) == frozenset()


def test_a_broken_rule_check_block_names_the_file_and_the_fix():
    rows = _rows(30)
    mean, scale, models = fit(rows, c=0.5)
    good = export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {}, None, STACK, CHECK)
    model = SemanticModel(good, "m.json")
    assert model.rule_check.below == 0.3 and model.doubted({"threat": 0.1}, {"threat": 0.2}, None) == {"threat"}
    bare = SemanticModel(export(mean, scale, models, SPEC, "fr", {"*": 0.4}, {"*": 0.6}, {}, None, STACK), "m.json")
    assert bare.rule_check is None and bare.doubted({"threat": 0.0}, {"threat": 0.0}, None) == frozenset()
    for change, message in ((lambda d: d["rule_check"].pop("below"), "below"),
                            (lambda d: d["rule_check"].update(below=1.5), "between 0 and 1"),
                            (lambda d: d["rule_check"]["categories"]["threat"]["weights"].pop(), "threat: 2 weights")):
        broken = json.loads(json.dumps(good))
        change(broken)
        with pytest.raises(SimulatorError, match=rf"m\.json: (rule_check|stack): missing or wrong field.*{message}.*"
                                                 r"train-semantic"):
            SemanticModel(broken, "m.json")


def test_the_rule_check_is_trained_where_the_rules_fired():
    import random
    from dataclasses import replace

    from simulator.rubric.calibrate import LabelledTurn
    from simulator.rubric.train_semantic import Reading, doubted_by, fit_rule_check

    rng = random.Random(5)
    readings = []
    for i in range(400):
        fired = i % 2 == 0  # a rule fired on half the turns; where it did, the vote tells a true hit
        label = fired and i % 4 == 0
        votes = {c: 0.0 for c in LEARNABLE} | {"threat": min(1.0, max(0.0, (0.8 if label else 0.1) + rng.gauss(0, 0.1)))}
        sem = {c: 0.1 for c in LEARNABLE} | {"threat": rng.random(), "disclosure_missing": 0.1}
        lex = {c: 0.1 for c in LEARNABLE} | {"threat": rng.random()}
        row = LabelledTurn(id=f"t{i}", split="tune", debtor_before="", agent_text="x", labels={},
                           violations=frozenset({"threat"} if label else ()), kind="", note="", line=i + 2,
                           source="a.csv")
        readings.append(Reading(row, sem, votes, lex, True, {"threat"} if fired else set()))
    check = fit_rule_check(readings, 0.3)
    assert check["below"] == 0.3 and set(check["categories"]) == {"threat"}
    ws, wl, wv = check["categories"]["threat"]["weights"]
    assert wv > 3 and abs(ws) < 0.5 and abs(wl) < 0.5
    doubted = [r for r in readings if doubted_by(check, r)]
    assert doubted and all(r.votes["threat"] < 0.5 for r in doubted)
    assert sum("threat" in r.row.violations for r in doubted) <= 2
    # the turns where no rule fired are not trained on: relabelled, the same weights
    relabelled = [Reading(replace(r.row, violations=frozenset({"threat"})) if not r.rules else r.row,
                          r.semantic, r.votes, r.lexical, r.due, r.rules) for r in readings]
    assert fit_rule_check(relabelled, 0.3) == check
    # none asked (0), or no votes: no rule check
    assert fit_rule_check(readings, 0.0) is None and doubted_by(None, readings[0]) == frozenset()
    assert fit_rule_check([Reading(r.row, r.semantic, None, r.lexical, r.due, r.rules) for r in readings]) is None


async def test_in_a_call_the_rule_check_decides_before_the_rules_score():
    model = load_semantic(SHIPPED)
    assert model.rule_check is not None and "threat" in model.rule_check.weights
    detector = _FakeDetector({"threat": 0.01}, votes={"threat": 0.0})
    scorer, session, turn = await _score(detector, LEASE)
    assert not turn.violations and [(v.rule, v.category) for v in turn.review] == [("FR-THREAT", "threat")]
    assert turn.scores["empathy"] >= 3 and session.scores[-1] is turn
    assert not build_scorecard(scorer.rubric, [(1, turn)], outcome=None).critical_errors
    # read and believed: the rule's critical error stands
    _, _, turn = await _score(_FakeDetector({"threat": 0.95}, votes={"threat": 1.0}), LEASE)
    assert [v.rule for v in turn.violations] == ["FR-THREAT"]
    # the detectors' mean over the critical threshold in a doubted category: still only the rule's review flag
    # (the rule check and the stack read the same readings; here given apart)
    from simulator.rubric.semantic import apply_to_turn

    rules_scorer = scorer.scorer
    session = rules_scorer.session(disclosed=True)
    session.hear("Je n'ai pas l'argent.")
    doubted = session.score(LEASE, frozenset({"threat"}))
    turn = apply_to_turn(rules_scorer, doubted, LEASE, session.debtor_folded, {"threat": 1.0}, model.review_at,
                         model.critical_at, votes={"threat": 1.0}, doubted=frozenset({"threat"}))
    assert not turn.violations and [v.rule for v in turn.review] == ["FR-THREAT"]
    # without the doubt, the same readings make it a critical error of the detectors
    turn = apply_to_turn(rules_scorer, doubted, LEASE, session.debtor_folded, {"threat": 1.0}, model.review_at,
                         model.critical_at, votes={"threat": 1.0})
    assert [v.rule for v in turn.violations] == ["FR-LEARNED-THREAT"]
    # no reading (the embedder failed): the rules decide alone, nothing lost
    _, _, turn = await _score(_FakeDetector(error=EmbedderError("llama.cpp: out of memory")), LEASE)
    assert [v.rule for v in turn.violations] == ["FR-THREAT"]
    assert any("semantic detector unavailable" in n for n in turn.notes)


def test_calibration_applies_the_rule_check_as_a_call_does():
    from simulator.rubric.calibrate import LabelledTurn, score_rows

    scorer = TurnScorer(resolve_rubric("fr-default"), "fr").scorer
    row = LabelledTurn(id="x1", split="tune", debtor_before="Je n'ai pas l'argent.", agent_text=LEASE, labels={},
                       violations=frozenset(), kind="", note="", line=2, source="a.csv")
    [doubted] = score_rows(scorer, [row], _FakeDetector({"threat": 0.01}, votes={"threat": 0.0}))
    assert not doubted.violations and [v.rule for v in doubted.review] == ["FR-THREAT"]
    [believed] = score_rows(scorer, [row], _FakeDetector({"threat": 0.95}, votes={"threat": 1.0}))
    assert [v.rule for v in believed.violations] == ["FR-THREAT"]


def test_train_semantic_needs_out_or_cross_check():
    result = CliRunner().invoke(app, ["train-semantic", "calibration/fr_turns.csv"])
    assert result.exit_code == 2 and "--out" in result.output
    result = CliRunner().invoke(app, ["train-semantic", "x.csv", "--out", "m.json", "--review-at", "0.7",
                                      "--critical-at", "0.5"])
    assert result.exit_code == 2 and "--review-at" in result.output
    result = CliRunner().invoke(app, ["train-semantic", "x.csv", "--out", "m.json", "--critical-at", "0.5",
                                      "--critical-at", "disclosure_missing=0.3"])
    assert result.exit_code == 2 and "disclosure_missing" in result.output  # review 0.4 above its critical 0.3
    result = CliRunner().invoke(app, ["train-semantic", "x.csv", "--out", "m.json", "--critical-at", "menace=0.5"])
    assert result.exit_code == 2 and "unknown category 'menace'" in result.output


# --- vectors from several depths ----------------------------------------------------------------------------

def test_several_depths_are_one_spec_with_its_own_key():
    both = EmbedderSpec(EMBEDDED_MODEL.sha256, "14+20")
    assert both.depths == (14, 20) and both.key().endswith("-l14+20-mean")
    assert EmbedderSpec.from_dict(both.as_dict()) == both and both.as_dict()["layers"] == [14, 20]
    assert EmbedderSpec(EMBEDDED_MODEL.sha256, [14, 20]) == both
    # one depth is written and keyed as before (older model files and vector caches are read the same)
    assert SPEC.as_dict()["layers"] == 14 and SPEC.key().endswith("-l14-mean") and SPEC.depths == (14,)
    assert both.single(20).key().endswith("-l20-mean")
    for wrong in ("14+14", "0", "quatorze", [], "14+", 2.5, True):
        with pytest.raises(EmbedderError, match=r"14\+20"):
            EmbedderSpec(EMBEDDED_MODEL.sha256, wrong)


def test_the_depths_vectors_side_by_side_have_unit_length():
    import math

    a, b = [0.6, 0.8], [1.0, 0.0, 0.0]
    [joined] = join_depths([[a], [b]])
    assert joined == pytest.approx([x / math.sqrt(2) for x in a + b])
    assert math.fsum(x * x for x in joined) == pytest.approx(1.0)
    with pytest.raises(EmbedderError, match="different pieces"):
        join_depths([[a, a], [b]])


def test_a_cache_of_several_depths_is_built_from_one_cache_per_depth(tmp_path):
    spec = EmbedderSpec(EMBEDDED_MODEL.sha256, "14+20")
    embedder = Embedder(spec, tmp_path / "none.gguf")
    assert [p.spec.depths for p in embedder.parts] == [(14,), (20,)]
    computed = []

    def fake(depth):
        def embed_pieces(texts, split=True):
            computed.append((depth, tuple(texts)))
            return [[[1.0, 0.0]] if depth == 14 else [[0.0, 1.0]] for _ in texts]
        return embed_pieces

    for part, depth in zip(embedder.parts, (14, 20)):
        part.embed_pieces = fake(depth)
    # the vectors of depth 14 computed earlier (e.g. for a one-depth model) serve the combination
    (tmp_path / f"vectors-{spec.single(14).key()}.jsonl").write_text(
        json.dumps({"k": text_key("déjà vu"), "v": [[0.0, 1.0]]}) + "\n", encoding="utf-8")
    cache = VectorCache.for_embedder(tmp_path, spec)
    got = cache.get(embedder, ["déjà vu", "nouveau"])
    assert computed == [(14, ("nouveau",)), (20, ("déjà vu",)), (20, ("nouveau",))]
    r = 2 ** -0.5
    assert got == [[pytest.approx([0.0, r, 0.0, r])], [pytest.approx([r, 0.0, 0.0, r])]]
    # written per depth, read again without computing anything
    computed.clear()
    assert VectorCache.for_embedder(tmp_path, spec).get(embedder, ["nouveau"]) == [got[1]]
    assert computed == []
    with pytest.raises(SimulatorError, match="other parts than the embedder's"):
        cache.get(Embedder(SPEC, tmp_path / "none.gguf"), ["nouveau"])


def test_the_prompted_vector_is_a_part_of_the_spec_written_with_a_p():
    spec = EmbedderSpec(EMBEDDED_MODEL.sha256, "14+20+p14")
    assert (spec.depths, spec.prompted, spec.composite) == ((14, 20), 14, True)
    assert spec.key().endswith("-l14+20-mean+p14") and spec == EmbedderSpec(EMBEDDED_MODEL.sha256, (14, 20), prompted=14)
    assert EmbedderSpec.from_dict(spec.as_dict()) == spec and spec.as_dict()["prompted"] == 14
    assert [p.key()[13:] for p in spec.parts()] == ["l14-mean", "l20-mean", "l14-last"]
    one = EmbedderSpec(EMBEDDED_MODEL.sha256, "14+p14")
    assert one.composite and [p.key()[13:] for p in one.parts()] == ["l14-mean", "l14-last"]
    assert "prompted" not in EmbedderSpec(EMBEDDED_MODEL.sha256, "14+20").as_dict() and not SPEC.composite  # older model files: read the same
    for wrong in ("14+p", "14+p14+p20", "14+pq"):
        with pytest.raises(EmbedderError, match="p14"):
            EmbedderSpec(EMBEDDED_MODEL.sha256, wrong)
    with pytest.raises(EmbedderError, match="pooling"):
        EmbedderSpec(EMBEDDED_MODEL.sha256, "14+20", pooling="last")
    with pytest.raises(EmbedderError, match="pooling"):
        EmbedderSpec(EMBEDDED_MODEL.sha256, 14, pooling="max")


def test_the_prompted_text_holds_what_the_turn_answers_and_the_start_of_a_long_turn():
    text = prompted_text("Je ne peux pas\n payer  ce mois-ci.", "Vous avez  intérêt à payer.")
    assert "un débiteur dit : « Je ne peux pas payer ce mois-ci. »" in text
    assert "répond : « Vous avez intérêt à payer. »" in text and text.endswith("Réponse :")
    assert "un débiteur dit : « … »" in prompted_text("", "Bonjour.")  # the call's first turn
    long_debtor, long_turn = "a" * 900 + " la fin", "le début " + "b" * 5000
    text = prompted_text(long_debtor, long_turn)
    assert f"« {long_debtor[-PROMPT_DEBTOR_CHARS:]} »" in text and "la fin" in text
    assert f"« {long_turn[:PROMPT_AGENT_CHARS]} »" in text and "b" * (PROMPT_AGENT_CHARS + 1) not in text


def test_a_prompted_cache_keeps_the_vectors_by_debtor_line_and_turn(tmp_path):
    spec = EmbedderSpec(EMBEDDED_MODEL.sha256, "14+p14")
    embedder = Embedder(spec, tmp_path / "none.gguf")
    computed = []

    def mean(texts, split=True):
        computed.append(("mean", tuple(texts)))
        return [[[1.0, 0.0], [0.0, 1.0]] if "Puis" in t else [[1.0, 0.0]] for t in texts]  # two pieces, or one

    def last(texts, split=True):
        computed.append(("last", tuple(texts)))
        return [[[0.0, 0.0, 1.0]] for _ in texts]

    embedder.parts[0].embed_pieces, embedder.parts[1].embed_pieces = mean, last
    cache = VectorCache.for_embedder(tmp_path, spec)
    turn = "Payez. Puis rappelez-moi."
    got = cache.get(embedder, [turn, turn], debtors=["Je n'ai rien.", "Qui est à l'appareil ?"])
    # the turn's words once; its prompted vector once per debtor line, with the line in the text
    assert computed[0] == ("mean", (turn,))
    assert computed[1:] == [("last", (prompted_text("Je n'ai rien.", turn),)),
                            ("last", (prompted_text("Qui est à l'appareil ?", turn),))]
    r = 2 ** -0.5
    # the prompted vector (one for the turn) beside each piece's
    assert got[0] == [pytest.approx([r, 0, 0, 0, r]), pytest.approx([0, r, 0, 0, r])]
    assert (tmp_path / f"vectors-{spec.prompt_part().key()}.jsonl").is_file()
    computed.clear()
    again = VectorCache.for_embedder(tmp_path, spec).get(embedder, [turn], debtors=["Je n'ai rien."])
    assert again == [got[0]] and computed == []
    with pytest.raises(SimulatorError, match="one line a text"):
        cache.get(embedder, [turn], debtors=[])


async def test_the_detector_reads_the_debtor_line_the_turn_answers():
    detector = _FakeDetector({})
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr", semantic=detector)
    session = scorer.session(disclosed=True)
    session.hear("Je n'ai pas l'argent.")
    await scorer.score(session, POLITE, [("agent", "Bonjour."), ("debtor", "Je n'ai pas l'argent.")])
    await scorer.score(session, "Et pour la semaine prochaine ?", [("debtor", "Je n'ai pas l'argent."),
                                                                    ("agent", POLITE)])
    assert detector.debtors == ["Je n'ai pas l'argent.", ""]  # the second turn follows the trainee's own


def test_a_model_file_with_wrong_depths_names_the_file_and_the_fix(tmp_path):
    data = json.loads(SHIPPED.read_text(encoding="utf-8"))
    data["embedder"]["layers"] = "14+14"
    broken = tmp_path / "broken-semantic.json"
    broken.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(SimulatorError, match=r"broken-semantic.json: embedder: .*train-semantic"):
        load_semantic(broken)


def test_train_semantic_refuses_wrong_depths():
    result = CliRunner().invoke(app, ["train-semantic", "x.csv", "--out", "m.json", "--layers", "14+abc"])
    assert result.exit_code == 1 and "14+20" in result.output


# --- on the real embedded model ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def real_detector():
    if not (REAL_DATA_DIR / "models" / EMBEDDED_MODEL.filename).is_file():
        pytest.skip("the embedded model is not assembled (make test runs prepare-model first)")
    detector = detector_for(resolve_rubric("fr-default").rubric, "fr", Settings(data_dir=REAL_DATA_DIR, semantic="on"))
    assert detector is not None
    return detector


@pytest.mark.embedded
def test_the_embedder_gives_the_vectors_the_model_was_trained_on(real_detector):
    stored = json.loads((PROJECT_ROOT / "tests" / "data" / "semantic_vectors.json").read_text(encoding="utf-8"))
    assert {item["debtor"] for item in stored["turns"]} > {""}  # the prompted vector with and without a line
    for item in stored["turns"]:
        got = real_detector.embedder.embed([item["text"]], debtors=[item["debtor"]])[0]
        cosine = sum(a * b for a, b in zip(got, item["vector"]))
        assert cosine > 0.999, item["text"]
        # the prompted half reads the debtor's line: another line moves it (the turn's mean half stays)
        other = real_detector.embedder.embed([item["text"]], debtors=["Vous êtes qui, vous ?"])[0]
        assert other[:1536] == pytest.approx(got[:1536])
        assert 1 - sum(a * b for a, b in zip(other, item["vector"])) > 10 * (1 - cosine) + 1e-4
    source = real_detector.embedder.source
    assert [(p.spec.depths, p.spec.pooling) for p in real_detector.embedder.parts] == [((14,), "mean"), ((14,), "last")]
    marker = json.loads(source.with_name(f"{source.stem}.first14.gguf.json").read_text())
    # the same bytes on every machine
    assert marker["sha256"] == "b24378ba090066e6626bac74127668f0fe45a7f1e55b928aa61c7e5188b55e11"


@pytest.mark.embedded
async def test_the_real_detector_hears_a_threat_the_words_do_not_name(real_detector):
    # the phrase rules do not flag it; the words alone (the lexical detector, retrained in session 14 on more
    # veiled threats) at most ask a reviewer to check it; with the meaning it is a critical error
    _, _, rules_turn = await _score(None, THREAT)
    assert "threat" not in {v.category for v in rules_turn.violations}
    _, _, turn = await _score(real_detector, THREAT)
    assert "threat" in {v.category for v in turn.violations}
    _, _, polite = await _score(real_detector, POLITE)
    assert not polite.violations and not polite.review
    # a turn longer than the embedder's context is read piece by piece (no llama.cpp error); the threat alone
    # in a piece scores higher than the polite sentences alone (diluted in a long piece, the mean with the lexical
    # detector may stay under the thresholds: the phrase rules are what read very long turns)
    long_turn = " ".join([POLITE] * 40) + " " + THREAT
    assert len(real_detector.embedder.pieces(long_turn)) > 1
    p_long = real_detector.read(long_turn)[0]["threat"]
    p_polite = real_detector.read(" ".join([POLITE] * 41))[0]["threat"]
    assert p_long > p_polite


@pytest.mark.embedded
async def test_the_real_rule_check_doubts_a_rule_hit_that_is_no_threat(real_detector):
    # « votre nom sur » (a name put on a list) said of a lease: the phrase rule fires, the detectors' readings
    # do not believe it; a plain threat of seizure stays a critical error
    _, _, rules_turn = await _score(None, LEASE)
    assert [v.rule for v in rules_turn.violations] == ["FR-THREAT"]
    _, _, turn = await _score(real_detector, LEASE)
    assert not turn.violations and [v.rule for v in turn.review] == ["FR-THREAT"]
    _, _, turn = await _score(real_detector, SEIZURE)
    assert {"FR-THREAT", "FR-SEIZURE-CLAIM"} <= {v.rule for v in turn.violations}
