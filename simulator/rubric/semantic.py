"""The semantic violation detector: a linear model over the embedded model's sentence vectors (`embedder.py`).

The phrase rules and the learned detector read words; a writer who says the same harm in other words
("on a les moyens de vous pourrir la vie") escapes both. This detector reads what a sentence means: one
logistic regression per category over the vector of the turn, trained on the tune rows of the labelled files
(`python -m simulator train-semantic`), the model file tied to the vectors it was trained on by the SHA-256
of the embedded model and the number of blocks kept. A turn longer than the embedder's limit is cut into
pieces; a category is flagged when a piece reaches its threshold.

Weights are stored already divided by the training vectors' spread (and the bias shifted by their mean), so
a turn's decision is one dot product. Training (scikit-learn) and the vectors of the labelled turns (cached
on disk by text, since computing them takes about a second a turn) live here too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import SimulatorError
from .embedder import Embedder, EmbedderSpec
from .learned import LEARNABLE, read_model

log = logging.getLogger(__name__)

FORMAT = 1
KIND = "semantic-violations"
# what the semantic model is trained for: the lexical detector's categories, and a missing disclosure (who
# calls, for which creditor, the amount and its basis), which it reads alone, and only on a turn of a call
# where a required disclosure is still due (`apply_to_turn`)
CATEGORIES = (*LEARNABLE, "disclosure_missing")
DUE_ONLY = frozenset({"disclosure_missing"})


class SemanticModel:
    """The weights of one trained semantic detector."""

    def __init__(self, data: dict, source: str = "", sha256: str = "") -> None:
        if data.get("kind") != KIND or data.get("format") != FORMAT:
            raise SimulatorError(f"{source}: not a semantic-detector file of format {FORMAT} "
                                 "(train it again: python -m simulator train-semantic)")
        self.source = source
        self.sha256 = sha256
        self.language: str = data["language"]
        self.spec = EmbedderSpec.from_dict(data["embedder"])
        self.categories: tuple[str, ...] = tuple(data["categories"])
        self.bias: tuple[float, ...] = tuple(float(b) for b in data["bias"])
        # on the mean of this model's and the lexical detector's probabilities (`apply_to_turn`)
        self.review_at: dict[str, float] = {c: float(t) for c, t in zip(self.categories, data["thresholds"])}
        self.critical_at: dict[str, float] = {c: float(t) for c, t in zip(self.categories, data["critical"])}
        weights = data["weights"]
        self.weights: list[list[float]] = [[float(w) for w in weights[c]] for c in self.categories]
        dims = {len(w) for w in self.weights}
        if len(dims) != 1:
            raise SimulatorError(f"{source}: the categories' weights differ in length "
                                 "(train it again: python -m simulator train-semantic)")
        self.dim = dims.pop()
        self.info: dict = {k: data[k] for k in ("trained_on", "training", "trainer") if k in data}
        self._matrix: Any = None

    def decisions(self, vector: Sequence[float]) -> list[float]:
        if len(vector) != self.dim:
            raise SimulatorError(f"{self.source}: a vector of {len(vector)} numbers, the model expects {self.dim} "
                                 "(the embedder is not the one the model was trained with)")
        try:
            import numpy
        except ImportError:  # numpy comes with llama-cpp-python; plain Python works too
            return [b + math.fsum(w * x for w, x in zip(ws, vector)) for ws, b in zip(self.weights, self.bias)]
        if self._matrix is None:
            self._matrix = numpy.asarray(self.weights, dtype=numpy.float64)
        return (self._matrix @ numpy.asarray(vector, dtype=numpy.float64) + numpy.asarray(self.bias)).tolist()

    def probabilities(self, vector: Sequence[float]) -> list[float]:
        return [_sigmoid(d) for d in self.decisions(vector)]

    def turn_probabilities(self, pieces: Iterable[Sequence[float]]) -> dict[str, float]:
        """Per category, the highest probability over the pieces of a turn."""
        best = [0.0] * len(self.categories)
        for vector in pieces:
            best = [max(b, p) for b, p in zip(best, self.probabilities(vector))]
        return dict(zip(self.categories, best))


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def load_semantic(path: Path | str) -> SemanticModel:
    """Read a semantic-detector file (cached while unchanged); errors name the file and the fix."""
    return read_model(path, SemanticModel, "semantic-detector", "train-semantic", "the pack's `learned.semantic`")


class SemanticDetector:
    """A model and the embedder whose vectors it reads."""

    def __init__(self, model: SemanticModel, embedder: Embedder) -> None:
        if embedder.spec.key() != model.spec.key():
            raise SimulatorError(f"{model.source}: trained on vectors {model.spec.key()}, the embedder gives "
                                 f"{embedder.spec.key()} (train it again: python -m simulator train-semantic)")
        self.model = model
        self.embedder = embedder
        self.cache: "VectorCache | None" = None  # set by batch tools (calibrate): vectors kept on disk by text

    def probabilities(self, text: str) -> dict[str, float]:
        """Per category, the model's probability that the turn commits it (about a second on two cores)."""
        return self.model.turn_probabilities(self.embedder.embed_pieces([text])[0])


_DETECTORS: dict[tuple[str, str], SemanticDetector] = {}
_DETECTORS_LOCK = threading.Lock()


def embedded_source(data_dir: Path, sha256: str, assemble: bool = True) -> Path | None:
    """The embedded GGUF with this SHA-256 in the data directory (assembled from its PyPI parts when they are
    installed and `assemble`), or None."""
    from ..llm.embedded import EMBEDDED_MODEL, assemble_model

    if sha256 != EMBEDDED_MODEL.sha256:
        return None
    target = data_dir / "models" / EMBEDDED_MODEL.filename
    marker = target.with_name(target.name + ".sha256")
    if target.is_file() and marker.is_file() and marker.read_text().strip() == sha256:
        return target
    if not assemble:
        return None
    try:
        return assemble_model(data_dir / "models")
    except SimulatorError:
        return None


def detector_for(rubric, language: str, settings) -> SemanticDetector | None:
    """The semantic detector of the rubric's pack for calls in `language`, as the settings ask (`semantic`:
    auto, on, off); None when there is none or (`auto`) it cannot run here, with the reason logged."""
    if settings.semantic == "off":
        return None
    section = next((d for d in rubric.learned if d.language == language and d.semantic), None)
    if section is None:
        if settings.semantic == "on":
            log.info("%s has no semantic detector for %s calls", rubric.ref, language)
        return None
    from .learned import model_path

    try:
        model = load_semantic(model_path(section.semantic))
        source = embedded_source(Path(settings.data_dir), model.spec.source_sha256, assemble=False)
        if source is None:
            raise SimulatorError(f"{model.source}: the embedded model it reads (sha256 "
                                 f"{model.spec.source_sha256[:12]}…) is not on this machine (run `make install` "
                                 "and `python -m simulator prepare-model`, or set SIMULATOR_SEMANTIC=off)")
        key = (model.sha256, str(source))
        with _DETECTORS_LOCK:
            if key not in _DETECTORS:
                _DETECTORS[key] = SemanticDetector(model, Embedder(model.spec, source))
            return _DETECTORS[key]
    except SimulatorError as exc:
        if settings.semantic == "on":
            raise
        log.warning("%s — scoring without the semantic violation detector", exc)
        return None


# --- the vectors of labelled turns, cached on disk ---------------------------------------------------------

def text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]


class VectorCache:
    """Vectors by text, in a JSON-lines file per embedder (`<data dir>/cache/vectors-<key>.jsonl`)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, list[list[float]]] = {}
        if path.is_file():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    item = json.loads(line)
                    self.vectors[item["k"]] = item["v"]
                except (ValueError, KeyError):
                    continue  # a line cut by a crash: computed again

    def get(self, embedder: Embedder, texts: Sequence[str], progress=None) -> list[list[list[float]]]:
        missing = [t for t in dict.fromkeys(texts) if text_key(t) not in self.vectors]
        if missing:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                for done, text in enumerate(missing, 1):
                    vectors = embedder.embed_pieces([text])[0]
                    key = text_key(text)
                    self.vectors[key] = vectors
                    out.write(json.dumps({"k": key, "v": [[round(x, 6) for x in v] for v in vectors]}) + "\n")
                    out.flush()
                    if progress:
                        progress(done, len(missing))
        return [self.vectors[text_key(t)] for t in texts]


# --- training (scikit-learn, only here) --------------------------------------------------------------------

@dataclass(frozen=True)
class SemanticRow:
    pieces: list[list[float]]
    violations: frozenset[str]


def fit(rows: Sequence[SemanticRow], c: float, categories: Iterable[str] = CATEGORIES):
    """Standardise the vectors (of every piece) and fit one logistic regression per category on the rows'
    first piece (a labelled turn is almost always one piece). Returns (mean, scale, {category: model})."""
    import numpy
    from sklearn.linear_model import LogisticRegression

    x = numpy.asarray([r.pieces[0] for r in rows], dtype=numpy.float64)
    mean = x.mean(axis=0)
    scale = x.std(axis=0) + 1e-6
    xs = (x - mean) / scale
    models = {}
    for cat in categories:
        y = numpy.asarray([cat in r.violations for r in rows])
        if y.sum() < 3:
            continue
        models[cat] = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(xs, y)
    return mean, scale, models


def export(mean, scale, models: dict, spec: EmbedderSpec, language: str, review_at: dict[str, float],
           critical_at: dict[str, float], info: dict[str, Any]) -> dict:
    """The model file: weights divided by the spread, the bias shifted by the mean (one dot product a turn)."""
    cats = list(models)
    weights = {}
    bias = []
    for cat in cats:
        w = models[cat].coef_[0] / scale
        weights[cat] = [round(float(v), 7) for v in w]
        bias.append(round(float(models[cat].intercept_[0] - (w * mean).sum()), 7))
    return {
        "kind": KIND,
        "format": FORMAT,
        "language": language,
        "embedder": spec.as_dict(),
        "categories": cats,
        "bias": bias,
        "thresholds": [review_at.get(c, review_at.get("*", 0.4)) for c in cats],
        "critical": [critical_at.get(c, critical_at.get("*", 0.6)) for c in cats],
        **info,
        "weights": weights,
    }


# --- in a scored turn ----------------------------------------------------------------------------------------

def combined_probabilities(semantic: dict[str, float], lexical: dict[str, float]) -> dict[str, float]:
    """The mean of the two detectors' probabilities per category (the semantic model's categories): two models
    that read a turn differently (its meaning, its words) agree on what both hear; measured leave one writer
    out, the mean finds more at the same precision than either alone (docs/rubrics.md). A category the lexical
    detector has no column for (`disclosure_missing`) is the semantic model's probability alone."""
    return {c: (p + lexical[c]) / 2 if c in lexical else p for c, p in semantic.items()}


def apply_to_turn(scorer, turn, text: str, debtor_folded: str, semantic: dict[str, float], review_at: dict[str, float],
                  critical_at: dict[str, float], disclosures_due: bool = True):
    """The turn scored by the rules, with the two detectors' verdict in the categories no rule flagged: a mean
    probability from `critical_at` is a violation (a critical error, with the rubric's caps for its category),
    from `review_at` a flag for a reviewer; the lexical detector's own flags are replaced by this verdict.
    `scorer`: the rubric's compiled Scorer (its learned rules say how a category is reported).
    `disclosures_due`: a required disclosure was still due before this turn (`ScoringSession.disclosures_due`);
    if not, a missing disclosure is not heard (a later turn need not repeat the amount or who calls)."""
    from .results import Cap, Violation
    from .text import fold

    model = scorer.learned_model
    folded = fold(text)
    lexical = dict(zip(model.categories, model.probabilities(folded, debtor_folded))) if model is not None else {}
    mean = combined_probabilities(semantic, lexical)
    have = {v.category for v in turn.violations}
    rules = {**scorer.semantic_only, **{learned.category: learned for learned in scorer.learned}}
    heard = [(c, p) for c, p in mean.items() if c in rules and c not in have and p >= review_at.get(c, 1.0)
             and (disclosures_due or c not in DUE_ONLY)]
    critical = [c for c, p in heard if p >= critical_at.get(c, 1.0)]
    review_cats = [c for c, _p in heard if c not in critical]
    spans = {c: (0, len(text)) for c, _p in heard}  # the whole turn, unless the lexical tables point closer
    known = [c for c, _p in heard if model is not None and c in model.categories]
    if known:
        spans.update(zip(known, model.table.evidence(folded, [model.categories.index(c) for c in known])))

    def violation(category: str) -> Violation:
        learned = rules[category]
        start, end = spans[category]
        return Violation(rule=learned.id, category=category, start=start, end=end, text=text[start:end],
                         reference=learned.reference, description=learned.description, fix=learned.fix)

    update: dict = {"review": [violation(c) for c in review_cats]}
    if critical:
        added = [violation(c) for c in critical]
        scores = dict(turn.scores)
        caps = list(turn.caps)
        for v in added:
            for dimension, cap in scorer.violation_caps.get(v.category, []):
                caps.append(Cap(dimension=dimension, cap=cap, reason=f"{v.category} ({v.rule}, semantic)"))
                scores[dimension] = min(scores[dimension], cap)
        flags = turn.flags
        flags.violation = True
        flags.hostile = flags.hostile or any(v.category in ("threat", "insult") for v in added)
        update.update({
            "violations": sorted([*turn.violations, *added], key=lambda v: (v.start, v.end)),
            "scores": scores, "caps": caps, "flags": flags,
            "notes": [*turn.notes, *(f"{v.category}: heard by the semantic and lexical detectors together "
                                     f"(p {mean[v.category]:.2f})" if v.category in lexical else
                                     f"{v.category}: heard by the semantic detector (p {mean[v.category]:.2f})"
                                     for v in added)],
        })
    return turn.model_copy(update=update)


def write_semantic(data: dict, path: Path) -> None:
    """The model file: compact JSON, each category's weights on a line of their own."""
    from .learned import write_model

    write_model(data, Path(path), tables=("weights",))
