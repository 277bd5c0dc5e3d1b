"""Dimension scores calibrated on human labels: a ridge regression per dimension over what the phrase rules
measured in the turn and the turn's words, trained on the `tune` rows of the labelled calibration files and
shipped as JSON weights (`rubrics/models/fr-scores.json`).

Why: the indicators are phrase families tuned by hand; on wording nobody tuned them on their 1–5 scores agree
with human reviewers less (quadratic-weighted kappa 0.45–0.59 on two blind writers, docs/rubrics.md). A
linear model that reads the rules' own outputs (their scores, unrounded points, clarity measures, flags) and
the words of the turn and of the debtor's line before it learns how human reviewers weigh them, and
generalises better to new writers (leave one writer out: `python -m simulator train-scores --cross-check`).

What stays with the rules: the evidence spans, the tips (chosen for the final score), the violations, and
every cap — gaming defences (shouting, stuffing, repeats, very long turns) and compliance caps apply to the
calibrated score too, so a turn cannot buy a higher score with words the model likes. The rules' own scores
are kept in the turn's `rules` field and a note says what moved.

The features: `numeric_features` (the rules' outputs) and the word features of the learned violation
detector (`learned.agent_features` / `debtor_features`, TF-IDF with binary counts and L2 norm). A score is
`bias + numeric · w + tfidf · w`, rounded half up, kept within 1–5, then capped. scikit-learn is needed only to
train (`python -m simulator train-scores`), never to score.
"""

from __future__ import annotations

import hashlib
import json
import math
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import SimulatorError
from .learned import SCALE, FeatureSpec, LearnedModel, features, read_model, write_model
from .linear import LinearTable
from .models import DIMENSIONS

MODEL_KIND = "dimension-scores"
MODEL_FORMAT = 1


def numeric_features(scores: dict[str, int], raw: dict[str, float], words: int, sentences: int,
                     mean_sentence_words: float, questions: int, readability: float | None,
                     flags: Iterable[str]) -> dict[str, float]:
    """What the phrase rules measured in a turn, as model inputs (the same at training and at scoring).

    `scores`: the rules' 1–5 scores; `raw`: their unrounded points after caps (rounded to 2 decimals as in a
    TurnScore); `flags`: the names of the turn's flags that are set."""
    out: dict[str, float] = {}
    for d in DIMENSIONS:
        out[f"{d}={scores[d]}"] = 1.0
        out[f"raw:{d}"] = raw[d] / 5
    out["words"] = math.log1p(words) / 5
    out["sentences"] = min(sentences, 10) / 10
    out["sentence_words"] = min(mean_sentence_words, 40.0) / 40
    out["questions"] = min(questions, 4) / 4
    out["readability"] = (50.0 if readability is None else readability) / 100
    for name in flags:
        out["flag:" + name] = 1.0
    return out


def score_numeric_features(score) -> dict[str, float]:
    """`numeric_features` of a TurnScore scored by the rules alone (training reads them this way)."""
    m = score.metrics
    read = (m.readability or {}).get("value") if m is not None else None
    flags = [name for name in type(score.flags).__slots__ if getattr(score.flags, name)]
    return numeric_features(score.scores, score.raw, m.words if m else 0, m.sentences if m else 0,
                            m.mean_sentence_words if m else 0.0, m.questions if m else 0, read, flags)


class ScoreModel:
    """Weights of one trained score model (one language, one rubric), ready to calibrate a turn's scores."""

    def __init__(self, data: dict, source: str = "", sha256: str = "") -> None:
        if data.get("kind") != MODEL_KIND or data.get("format") != MODEL_FORMAT:
            raise SimulatorError(f"{source}: not a dimension-score model of format {MODEL_FORMAT} (kind "
                                 f"{data.get('kind')!r}, format {data.get('format')!r}; train it again: "
                                 "python -m simulator train-scores)")
        self.source = source
        self.sha256 = sha256
        self.language: str = data["language"]
        self.rubric: str = data["rubric"]["id"]
        self.rubric_sha256: str = data["rubric"].get("sha256", "")
        self.spec = FeatureSpec(**data["features"])
        self.dimensions: tuple[str, ...] = tuple(data["dimensions"])
        if sorted(self.dimensions) != sorted(DIMENSIONS):
            raise SimulatorError(f"{source}: dimensions {', '.join(self.dimensions)} are not {', '.join(DIMENSIONS)}")
        self.bias: tuple[float, ...] = tuple(float(b) for b in data["bias"])
        self.info: dict = {k: data[k] for k in ("trained_on", "trainer", "rubric") if k in data}
        n = len(self.dimensions)
        self._numeric: dict[str, tuple[float, ...]] = {
            name: tuple(float(w) for w in row) for name, row in data["numeric"].items()}
        # the word features as the learned detector's packed tables (linear.py, compiled with the scorer): idf and
        # weights in whole millionths, the TF-IDF part of each dimension summed exactly
        self.table = LinearTable(_scaled(data, n), [0.0] * n, self.spec.stem, self.spec.window, self.spec.debtor, SCALE)
        if any(len(row) != n for row in self._numeric.values()):
            raise SimulatorError(f"{source}: a numeric feature has not {n} weights")

    def predict(self, folded: str, debtor_folded: str, numeric: dict[str, float]) -> dict[str, float]:
        """The unrounded calibrated score of each dimension (three: the sums are unrolled)."""
        a, b, c = self.bias
        get = self._numeric.get
        for name, value in numeric.items():
            row = get(name)
            if row is not None:
                a += row[0] * value
                b += row[1] * value
                c += row[2] * value
        ta, tb, tc = self.table.decisions(folded, debtor_folded)
        a += ta
        b += tb
        c += tc
        d0, d1, d2 = self.dimensions
        return {d0: a, d1: b, d2: c}


def _scaled(data: dict, n: int) -> dict[str, list[int]]:
    """The file's word features as the learned detector's tables read them: idf and weights in whole millionths."""
    return {feature: [round(float(row[0]) * SCALE)] + [round(float(w) * SCALE) for w in row[1:1 + n]]
            for feature, row in data["vocabulary"].items()}


_JOINT: dict[tuple[str, str, str, str], LinearTable | None] = {}


def joint_table(learned: LearnedModel, model: ScoreModel) -> LinearTable | None:
    """One table for the word features of the learned violation detector and of the score model, when both read
    the same features (stems, pairs, debtor's line): a turn's features are then found once for both
    (`LinearTable.decisions_all`: the detector's values, then the score model's — each the same, to the last bit,
    as its own table gives). Built from the two model files (read again: the models do not keep their
    vocabularies), once per process; None when the features differ or a file changed since it was loaded (then
    each model scores with its own table)."""
    if learned.spec != model.spec or learned.table.scale != model.table.scale:
        return None
    key = (learned.source, learned.sha256, model.source, model.sha256)
    with _JOINT_LOCK:
        if key in _JOINT:
            return _JOINT[key]
    table = None
    try:
        raw_learned, raw_model = Path(learned.source).read_bytes(), Path(model.source).read_bytes()
    except OSError:
        raw_learned = raw_model = b""
    if (raw_learned and hashlib.sha256(raw_learned).hexdigest() == learned.sha256
            and hashlib.sha256(raw_model).hexdigest() == model.sha256):
        first, second = json.loads(raw_learned), json.loads(raw_model)
        n = len(model.dimensions)
        spec = learned.spec
        table = LinearTable(first["vocabulary"], list(learned.bias), spec.stem, spec.window, spec.debtor, SCALE,
                            others=[(_scaled(second, n), [0.0] * n)])
    with _JOINT_LOCK:
        _JOINT[key] = table
    return table


_JOINT_LOCK = threading.Lock()

MAX_STEP = 1  # the calibration moves a rule score by at most this many levels


def calibrate_scores(model: ScoreModel, folded: str, debtor_folded: str, numeric: dict[str, float],
                     caps: dict[str, int], rules: dict[str, int] | None = None,
                     in_context: Iterable[str] = ()) -> dict[str, int]:
    """The calibrated 1–5 score of each dimension: rounded half up, within 1–5, at most `MAX_STEP` from the
    rules' score (`rules`), never below it on a dimension the rules credited for answering what the debtor
    just voiced (`in_context`: the rubric's context conditions stand), then under the turn's caps."""
    out = {}
    for d, value in model.predict(folded, debtor_folded, numeric).items():
        score = max(1, min(5, int(math.floor(value + 0.5))))
        if rules is not None:
            low = rules[d] if d in in_context else rules[d] - MAX_STEP
            score = max(low, min(rules[d] + MAX_STEP, score))
        out[d] = min(score, caps.get(d, 5))
    return out


def context_dimensions(rubric, score) -> set[str]:
    """The dimensions a TurnScore's rules credited for an indicator whose context cue the debtor voiced (what
    the scorer passes as `in_context`; training reads it this way)."""
    by_id = {i.id: i for i in rubric.indicators}
    out = set()
    heard = set(score.debtor_cues)
    for e in score.evidence:
        ind = by_id.get(e.indicator)
        if e.polarity == "positive" and ind is not None and ind.context and heard.intersection(ind.context.cues):
            out.add(e.dimension)
    return out


def load_score_model(path: Path | str) -> ScoreModel:
    """Read a score-model file (cached while the file is unchanged); errors name the file and the fix."""
    return read_model(path, ScoreModel, "score-model", "train-scores", "the rubric's `calibration` section")


# --- training (scikit-learn, only here) --------------------------------------------------------------------

NUMERIC_SCALE = 3.0  # the rules' outputs weigh this much beside the L2-normed word features (chosen on tune rows)


@dataclass(frozen=True)
class ScoreRow:
    agent_text: str
    debtor_before: str
    numeric: dict[str, float]
    labels: dict[str, int]
    rules: dict[str, int] = field(default_factory=dict)  # the rules' own scores
    caps: dict[str, int] = field(default_factory=dict)  # the turn's lowest cap per dimension
    in_context: frozenset[str] = frozenset()  # dimensions credited for answering what the debtor voiced


def _sklearn():
    try:
        from scipy.sparse import hstack
        from sklearn.feature_extraction import DictVectorizer
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import Ridge
    except ImportError:
        raise SimulatorError("training a score model needs scikit-learn "
                             "(pip install -e '.[train]'; scoring with a trained model does not)") from None
    return hstack, DictVectorizer, TfidfVectorizer, Ridge


@dataclass
class FittedScores:
    numeric: Any  # DictVectorizer
    words: Any  # TfidfVectorizer
    models: dict[str, Any]  # dimension -> Ridge
    spec: FeatureSpec
    stretch: float = 1.0  # ridge predictions shrink toward the mean: stretched back around `centre`
    centre: dict[str, float] = field(default_factory=dict)  # mean label per dimension of the training rows

    def matrix(self, rows: Sequence[ScoreRow]):
        hstack = _sklearn()[0]
        return hstack([self.numeric.transform([r.numeric for r in rows]) * NUMERIC_SCALE,
                       self.words.transform(rows)]).tocsr()

    def predict(self, rows: Sequence[ScoreRow]) -> dict[str, list[float]]:
        """Unrounded scores, stretched (what the exported model gives)."""
        x = self.matrix(rows)
        return {d: [self.centre[d] + self.stretch * (float(v) - self.centre[d]) for v in m.predict(x)]
                for d, m in self.models.items()}


# Ridge predictions are pulled toward the mean (few 1s and 5s); stretching them back by this factor raised the
# quadratic-weighted kappa on writers left out (leave one file out on the tune rows: 1.0 → 1.25 took the mean
# kappa over the three blind writers from 0.69/0.75/0.65 to 0.72/0.78/0.69) and brings the spread of the
# scores near the labels'.
DEFAULT_STRETCH = 1.25


def fit_scores(rows: Sequence[ScoreRow], spec: FeatureSpec = FeatureSpec(stem=5, window=2), alpha: float = 1.0,
               min_df: int = 2, stretch: float = DEFAULT_STRETCH) -> FittedScores:
    """Fit the vectorisers and one ridge regression per dimension."""
    hstack, DictVectorizer, TfidfVectorizer, Ridge = _sklearn()
    numeric = DictVectorizer(sort=True).fit([r.numeric for r in rows])
    words = TfidfVectorizer(analyzer=lambda r: features(r.agent_text, r.debtor_before, spec), binary=True,
                            min_df=min_df, norm="l2", use_idf=True, smooth_idf=True).fit(rows)
    centre = {d: sum(r.labels[d] for r in rows) / len(rows) for d in DIMENSIONS}
    fitted = FittedScores(numeric, words, {}, spec, stretch, centre)
    x = fitted.matrix(rows)
    for d in DIMENSIONS:
        fitted.models[d] = Ridge(alpha=alpha).fit(x, [float(r.labels[d]) for r in rows])
    return fitted


def export_scores(fitted: FittedScores, language: str, rubric: dict, info: dict[str, Any]) -> dict:
    """The model file's content: weights rounded to 6 decimals (the numeric ones carry NUMERIC_SCALE), the
    stretch folded in (a score is `centre + stretch × (ridge − centre)`: weights × stretch, bias moved)."""
    dims = list(DIMENSIONS)
    n_num = len(fitted.numeric.feature_names_)
    k = fitted.stretch
    coef = {d: fitted.models[d].coef_ * k for d in dims}
    bias = {d: fitted.centre[d] + k * (float(fitted.models[d].intercept_) - fitted.centre[d]) for d in dims}
    numeric = {name: [round(float(coef[d][j]) * NUMERIC_SCALE, 6) for d in dims]
               for j, name in enumerate(fitted.numeric.feature_names_)}
    idf = fitted.words.idf_
    vocabulary = {}
    for feature, column in sorted(fitted.words.vocabulary_.items()):
        vocabulary[feature] = [round(float(idf[column]), 6)] + [round(float(coef[d][n_num + column]), 6) for d in dims]
    return {
        "kind": MODEL_KIND,
        "format": MODEL_FORMAT,
        "language": language,
        "rubric": rubric,
        "features": fitted.spec.as_dict(),
        "dimensions": dims,
        "bias": [round(bias[d], 6) for d in dims],
        **info,
        "numeric": numeric,
        "vocabulary": vocabulary,
    }


def write_score_model(data: dict, path: Path) -> None:
    write_model(data, path, ("numeric", "vocabulary"))
