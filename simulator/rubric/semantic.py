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

Beside the regressions the file keeps the labelled turns themselves, as points (`Neighbours`): the ten
labelled turns nearest a turn's vector vote, each by its labels, weighted by how near it is. A line cannot
follow every way a writer says a harm; nearby turns of other writers who said much the same thing can.
Measured leaving one writer out, the mean of the three (regressions, votes, lexical detector) gave 3 to 4
points more precision at the same recall than the mean of two (docs/rubrics.md).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..errors import SimulatorError
from .embedder import Embedder, EmbedderSpec, join_turns, prompted_texts
from .learned import LEARNABLE, read_model

log = logging.getLogger(__name__)

FORMAT = 1
KIND = "semantic-violations"
# what the semantic model is trained for: the lexical detector's categories, and a missing disclosure (who
# calls, for which creditor, the amount and its basis), which it reads alone, and only on a turn of a call
# where a required disclosure is still due (`apply_to_turn`)
CATEGORIES = (*LEARNABLE, "disclosure_missing")
DUE_ONLY = frozenset({"disclosure_missing"})


# the nearest labelled turns (`Neighbours`): how many vote, how sharply nearness weighs (softmax temperature
# of the cosine similarities), and the principal axes of the labelled vectors kept to find them (256 of
# 1,536: measured leave one writer out, the same precision and recall as all of them, a sixth of the file)
NEIGHBOURS = 10
TEMPERATURE = 0.05
NEIGHBOUR_AXES = 256


def _pack(array) -> dict:
    """A numpy array in a model file: float16, little-endian, base64 (a tenth of the size of JSON numbers)."""
    import numpy

    data = numpy.ascontiguousarray(array, dtype="<f2")
    return {"dtype": "float16", "shape": list(data.shape), "base64": base64.b64encode(data.tobytes()).decode("ascii")}


def _unpack(block: Any, shape: tuple[int | None, ...], source: str, name: str):
    """The array a `_pack` block holds, as float32, checked against `shape` (None: any length)."""
    import numpy

    fix = "(train it again: python -m simulator train-semantic)"
    try:
        if block["dtype"] != "float16":
            raise ValueError(f"dtype {block['dtype']!r}")
        stored = tuple(int(n) for n in block["shape"])
        array = numpy.frombuffer(base64.b64decode(block["base64"], validate=True), dtype="<f2").reshape(stored)
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise SimulatorError(f"{source}: neighbours.{name}: not a packed array ({exc}) {fix}") from None
    if len(stored) != len(shape) or any(want is not None and want != got for want, got in zip(shape, stored)):
        raise SimulatorError(f"{source}: neighbours.{name}: shape {list(stored)}, expected "
                             f"{['any' if n is None else n for n in shape]} {fix}")
    return array.astype(numpy.float32)


class Neighbours:
    """The labelled turns a model was trained on, as points: the `k` nearest a turn's vector vote for each
    category by their labels, weighted by a softmax of their cosine similarity (`temperature`). The vectors
    are centred and projected on the training vectors' first principal axes, then set to unit length."""

    def __init__(self, data: dict, dim: int, source: str = "") -> None:
        import numpy

        try:
            self.categories: tuple[str, ...] = tuple(data["categories"])
            self.k = int(data["k"])
            self.temperature = float(data["temperature"])
            labels = [int(mask) for mask in data["labels"]]
        except (KeyError, TypeError, ValueError) as exc:
            raise SimulatorError(f"{source}: neighbours: missing or wrong field ({exc}) "
                                 "(train it again: python -m simulator train-semantic)") from None
        if self.k < 1 or self.temperature <= 0:
            raise SimulatorError(f"{source}: neighbours: k must be ≥ 1 and temperature > 0 "
                                 "(train it again: python -m simulator train-semantic)")
        self.centre = _unpack(data.get("centre"), (dim,), source, "centre")
        self.axes = _unpack(data.get("axes"), (None, dim), source, "axes")
        self.vectors = _unpack(data.get("vectors"), (len(labels), self.axes.shape[0]), source, "vectors")
        bits = numpy.asarray(labels, dtype=numpy.int64)[:, None] >> numpy.arange(len(self.categories))
        self.labels = (bits & 1).astype(numpy.float32)

    def votes(self, vector: Sequence[float]) -> list[float]:
        """Per category (`categories`), the weighted share of the nearest labelled turns that commit it."""
        import numpy

        point = self.axes @ (numpy.asarray(vector, dtype=numpy.float32) - self.centre)
        point /= float(numpy.linalg.norm(point)) or 1.0
        similarity = self.vectors @ point
        k = min(self.k, len(similarity))
        nearest = numpy.argpartition(-similarity, k - 1)[:k]
        weights = numpy.exp((similarity[nearest] - similarity[nearest].max()) / self.temperature)
        return (weights @ self.labels[nearest] / weights.sum()).tolist()


def fit_neighbours(rows: Sequence["SemanticRow"], categories: Iterable[str] = CATEGORIES, k: int = NEIGHBOURS,
                   axes: int = NEIGHBOUR_AXES, temperature: float = TEMPERATURE) -> dict:
    """The `neighbours` block of a model file: the rows' first pieces centred, projected on their `axes` first
    principal axes and set to unit length, with each row's categories as a bit mask."""
    import numpy

    cats = list(categories)
    x = numpy.asarray([r.pieces[0] for r in rows], dtype=numpy.float64)
    centre = x.mean(axis=0)
    _u, _s, vt = numpy.linalg.svd(x - centre, full_matrices=False)
    kept = vt[:min(axes, len(vt))]
    points = (x - centre) @ kept.T
    points /= numpy.maximum(numpy.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    masks = [sum(1 << i for i, c in enumerate(cats) if c in r.violations) for r in rows]
    return {"k": k, "temperature": temperature, "categories": cats, "labels": masks,
            "centre": _pack(centre), "axes": _pack(kept), "vectors": _pack(points)}


class SemanticModel:
    """The weights of one trained semantic detector (and the labelled turns that vote beside them)."""

    def __init__(self, data: dict, source: str = "", sha256: str = "") -> None:
        if data.get("kind") != KIND or data.get("format") != FORMAT:
            raise SimulatorError(f"{source}: not a semantic-detector file of format {FORMAT} "
                                 "(train it again: python -m simulator train-semantic)")
        self.source = source
        self.sha256 = sha256
        self.language: str = data["language"]
        try:
            self.spec = EmbedderSpec.from_dict(data["embedder"])
        except (KeyError, TypeError, ValueError, SimulatorError) as exc:
            raise SimulatorError(f"{source}: embedder: missing or wrong field ({exc}) "
                                 "(train it again: python -m simulator train-semantic)") from None
        self.categories: tuple[str, ...] = tuple(data["categories"])
        self.bias: tuple[float, ...] = tuple(float(b) for b in data["bias"])
        # on the mean of this model's and the lexical detector's probabilities, or the stacked one (`apply_to_turn`)
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
        self.neighbours = Neighbours(data["neighbours"], self.dim, source) if data.get("neighbours") else None
        self.stack = Stack(data["stack"], source) if data.get("stack") else None
        self.rule_check = RuleCheck(data["rule_check"], source) if data.get("rule_check") else None

    def doubted(self, semantic: dict[str, float], lexical: dict[str, float],
                votes: dict[str, float] | None) -> frozenset[str]:
        """The categories in which a phrase rule's hit would only be a review flag (`RuleCheck`); none without
        a rule check."""
        return self.rule_check.doubted(semantic, lexical, votes) if self.rule_check is not None else frozenset()

    def reading(self, scorer, text: str, debtor_folded: str, semantic: dict[str, float],
                votes: dict[str, float] | None) -> "TurnReading":
        """A turn's readings (`read`'s, and the lexical detector's) with what the rule check doubts: what the
        rules are told before they score the turn (`ScoringSession.score`), then `apply`."""
        lexical = lexical_probabilities(scorer, text, debtor_folded)
        return TurnReading(semantic, votes, lexical, self.doubted(semantic, lexical, votes))

    def apply(self, scorer, turn, text: str, debtor_folded: str, reading: "TurnReading",
              disclosures_due: bool = True):
        """`apply_to_turn` with this model's thresholds and stack, on a turn the rules scored with
        `reading.doubted`."""
        return apply_to_turn(scorer, turn, text, debtor_folded, reading.semantic, self.review_at, self.critical_at,
                             disclosures_due, reading.votes, self.stack, reading.lexical, reading.doubted)

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

    def turn_votes(self, pieces: Iterable[Sequence[float]]) -> dict[str, float] | None:
        """Per category, the nearest labelled turns' highest vote over the pieces of a turn; None when the model
        keeps no labelled turns."""
        if self.neighbours is None:
            return None
        best = [0.0] * len(self.neighbours.categories)
        for vector in pieces:
            best = [max(b, v) for b, v in zip(best, self.neighbours.votes(vector))]
        return dict(zip(self.neighbours.categories, best))

    def read(self, pieces: Sequence[Sequence[float]]) -> tuple[dict[str, float], dict[str, float] | None]:
        """The regressions' probabilities and the nearest labelled turns' votes (None if the model keeps no
        turns) for the pieces of one turn."""
        return self.turn_probabilities(pieces), self.turn_votes(pieces)


@dataclass
class TurnReading:
    """A turn as the detectors read it, before the rules score it (`SemanticModel.reading`)."""

    semantic: dict[str, float]
    votes: dict[str, float] | None
    lexical: dict[str, float]
    doubted: frozenset[str]


class Stack:
    """How the detectors' readings of a category are weighed together (session 20): per category, a logistic
    regression over the regression's and the lexical detector's log-odds and the nearest turns' vote, trained on
    readings of turns the detectors were not trained on (`train_semantic.out_of_file`). Measured leaving one
    writer out, it finds 0.7 points more violations than their plain mean at the same precision: each category
    learns which reading to trust (docs/rubrics.md). A category without weights keeps the mean."""

    PARTS = ("semantic", "lexical", "votes")

    def __init__(self, data: dict, source: str = "") -> None:
        fix = "(train it again: python -m simulator train-semantic)"
        self.weights: dict[str, tuple[tuple[float, ...], float]] = {}
        try:
            if data.get("parts") != list(self.PARTS):
                raise ValueError(f"parts must be {list(self.PARTS)}, not {data.get('parts')!r}")
            for category, entry in data["categories"].items():
                weights = tuple(float(w) for w in entry["weights"])
                if len(weights) != len(self.PARTS):
                    raise ValueError(f"{category}: {len(weights)} weights, {len(self.PARTS)} expected")
                self.weights[category] = (weights, float(entry["bias"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise SimulatorError(f"{source}: stack: missing or wrong field ({exc}) {fix}") from None

    @staticmethod
    def inputs(semantic: float, lexical: float, vote: float) -> tuple[float, float, float]:
        """What the weights multiply, in `PARTS` order (training uses it too: `train_semantic.fit_stack`)."""
        return log_odds(semantic), log_odds(lexical), vote

    def probability(self, category: str, semantic: float, lexical: float, vote: float) -> float | None:
        """The stacked probability of `category`, or None when it has no weights (the mean applies)."""
        entry = self.weights.get(category)
        if entry is None:
            return None
        weights, bias = entry
        return _sigmoid(bias + sum(w * x for w, x in zip(weights, self.inputs(semantic, lexical, vote))))


class RuleCheck(Stack):
    """Whether a phrase rule's hit is believed (session 22): per category, a logistic regression over the same
    three readings as the `Stack` (a category the lexical detector or the votes do not read counts them as 0.5
    and 0), trained on the turns where a rule of that category fired, on readings of turns the detectors were
    not trained on. A hit whose probability is below `below` is a flag for a reviewer instead of a critical
    error (`ScoringSession.score`'s `doubted`). Measured leaving one writer out at `below` 0.3: 31 of the 236
    hits it doubted were violations; the rules' and detectors' critical errors went from precision 0.817 / recall
    0.877 to 0.827 / 0.881 (with the critical threshold 0.24 instead of 0.3, docs/rubrics.md)."""

    def __init__(self, data: dict, source: str = "") -> None:
        super().__init__(data, source)
        try:
            self.below = float(data["below"])
            if not 0.0 <= self.below <= 1.0:
                raise ValueError(f"below must be between 0 and 1, not {self.below}")
        except (KeyError, TypeError, ValueError) as exc:
            raise SimulatorError(f"{source}: rule_check: missing or wrong field ({exc}) "
                                 "(train it again: python -m simulator train-semantic)") from None

    def believed(self, category: str, semantic: dict[str, float], lexical: dict[str, float],
                 votes: dict[str, float] | None) -> float | None:
        """The probability that a rule's hit in `category` is a violation, or None (no weights, no reading)."""
        if category not in semantic:
            return None
        return self.probability(category, semantic[category], lexical.get(category, 0.5),
                                (votes or {}).get(category, 0.0))

    def doubted(self, semantic: dict[str, float], lexical: dict[str, float],
                votes: dict[str, float] | None) -> frozenset[str]:
        out = set()
        for category in self.weights:
            p = self.believed(category, semantic, lexical, votes)
            if p is not None and p < self.below:
                out.add(category)
        return frozenset(out)


def log_odds(p: float) -> float:
    """The log-odds of a probability, clipped to ±9.2 (1e-4) so that 0 and 1 stay finite."""
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


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

    def read(self, text: str, debtor: str = "") -> tuple[dict[str, float], dict[str, float] | None]:
        """Per category, the regressions' probability that the turn commits it and the nearest labelled turns'
        vote (None if the model keeps no turns), from one embedding of the text (and of the debtor's line before
        it with the prompted vector; about a second on two cores)."""
        return self.model.read(self.embedder.embed_pieces([text], debtors=[debtor])[0])


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
        self.parts: list[VectorCache] = []
        self.key = ""  # the embedder spec's key (`for_embedder`)
        self.vectors: dict[str, list[list[float]]] = {}
        if path.is_file():
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    item = json.loads(line)
                    self.vectors[item["k"]] = item["v"]
                except (ValueError, KeyError):
                    continue  # a line cut by a crash: computed again

    @classmethod
    def for_embedder(cls, cache_dir: Path, spec: EmbedderSpec) -> "VectorCache":
        """The cache of `spec`'s vectors in `cache_dir`; a composite (several depths, a prompted vector) is built
        from one cache per part (the vectors of a depth serve every combination that has it; the prompted
        vectors are kept by prompted text: debtor line and turn)."""
        cache = cls(cache_dir / f"vectors-{spec.key()}.jsonl")
        cache.key = spec.key()
        if spec.composite:
            cache.parts = [cls.for_embedder(cache_dir, part) for part in spec.parts()]
        return cache

    def get(self, embedder: Embedder, texts: Sequence[str], progress=None,
            debtors: Sequence[str] | None = None) -> list[list[list[float]]]:
        """Per text, its pieces' vectors (`Embedder.embed_pieces`), computed only when not kept yet. `debtors`:
        the debtor's line before each text (read by a prompted vector)."""
        if self.parts:
            if [p.spec.key() for p in embedder.parts] != [p.key for p in self.parts]:
                raise SimulatorError(f"{self.path}: a cache of other parts than the embedder's "
                                     f"({embedder.spec.key()})")
            prompts = prompted_texts(texts, debtors)
            means = [cache.get(part, texts, progress)
                     for cache, part in zip(self.parts, embedder.parts) if part.spec.pooling == "mean"]
            prompted = self.parts[-1].get(embedder.parts[-1], prompts, progress) if embedder.spec.prompted else None
            return join_turns(means, prompted)
        missing = [t for t in dict.fromkeys(texts) if text_key(t) not in self.vectors]
        if missing:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="utf-8") as out:
                for done, text in enumerate(missing, 1):
                    vectors = embedder.embed_pieces([text])[0]  # pooling last: the text in one piece
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
           critical_at: dict[str, float], info: dict[str, Any], neighbours: dict | None = None,
           stack: dict | None = None, rule_check: dict | None = None) -> dict:
    """The model file: weights divided by the spread, the bias shifted by the mean (one dot product a turn), and
    the labelled turns that vote (`fit_neighbours`), if any."""
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
        **({"neighbours": neighbours} if neighbours else {}),
        **({"stack": stack} if stack else {}),
        **({"rule_check": rule_check} if rule_check else {}),
        "weights": weights,
    }


# --- in a scored turn ----------------------------------------------------------------------------------------

def combined_probabilities(semantic: dict[str, float], lexical: dict[str, float],
                           votes: dict[str, float] | None = None, stack: "Stack | None" = None) -> dict[str, float]:
    """The mean of the detectors' probabilities per category (the semantic model's categories): the regressions
    over the turn's vector, the lexical detector, and the nearest labelled turns' votes when the model keeps
    them. Models that read a turn differently (its meaning, its words, the turns most like it) agree on what
    they all hear; measured leave one writer out, the mean finds more at the same precision than any one alone
    (docs/rubrics.md). A category the lexical detector (or the votes) have no column for is the mean of the
    others (`disclosure_missing`: the semantic model alone when the votes do not cover it). With a `stack`, a
    category it has weights for (and the three readings of) is its stacked probability instead."""
    out = {}
    for c, p in semantic.items():
        if stack is not None and c in lexical:
            stacked = stack.probability(c, p, lexical[c], (votes or {}).get(c, 0.0))
            if stacked is not None:
                out[c] = stacked
                continue
        parts = [p, *([lexical[c]] if c in lexical else []), *([votes[c]] if votes and c in votes else [])]
        out[c] = sum(parts) / len(parts)
    return out


def lexical_probabilities(scorer, text: str, debtor_folded: str) -> dict[str, float]:
    """The lexical detector's probabilities for a turn (none when the rubric's scorer has no learned model)."""
    from .text import fold

    model = scorer.learned_model
    return dict(zip(model.categories, model.probabilities(fold(text), debtor_folded))) if model is not None else {}


def apply_to_turn(scorer, turn, text: str, debtor_folded: str, semantic: dict[str, float], review_at: dict[str, float],
                  critical_at: dict[str, float], disclosures_due: bool = True, votes: dict[str, float] | None = None,
                  stack: Stack | None = None, lexical: dict[str, float] | None = None,
                  doubted: frozenset[str] = frozenset()):
    """The turn scored by the rules, with the detectors' verdict in the categories no rule flagged: a mean (or
    stacked) probability from `critical_at` is a violation (a critical error, with the rubric's caps for its category),
    from `review_at` a flag for a reviewer; the lexical detector's own flags are replaced by this verdict.
    `scorer`: the rubric's compiled Scorer (its learned rules say how a category is reported).
    `disclosures_due`: a required disclosure was still due before this turn (`ScoringSession.disclosures_due`);
    if not, a missing disclosure is not heard (a later turn need not repeat the amount or who calls).
    `votes`: the nearest labelled turns' (`SemanticModel.turn_votes`), in the mean when given. `stack`: the
    model's `Stack`, if it has one (`combined_probabilities`). `lexical`: the lexical detector's probabilities
    when the caller has them (`lexical_probabilities`). `doubted`: the categories the turn was scored with
    (`SemanticModel.doubted`): a phrase rule's hit there is already a review flag, which stays, and the
    detectors add nothing in its category."""
    from .results import Cap, Violation
    from .text import fold

    model = scorer.learned_model
    folded = fold(text)
    if lexical is None:
        lexical = lexical_probabilities(scorer, text, debtor_folded)
    mean = combined_probabilities(semantic, lexical, votes, stack)
    rules = {**scorer.semantic_only, **{learned.category: learned for learned in scorer.learned}}
    detector_ids = {learned.id for learned in rules.values()}
    # the rules' doubted hits (review flags with a phrase rule's id), kept; the lexical detector's are replaced
    doubted_hits = [v for v in turn.review if v.category in doubted and v.rule not in detector_ids] if doubted else []
    have = {v.category for v in turn.violations} | {v.category for v in doubted_hits}
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

    update: dict = {"review": [*doubted_hits, *(violation(c) for c in review_cats)]}
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
            "notes": [*turn.notes, *(f"{v.category}: heard by {_heard_by(v.category, lexical, votes)} "
                                     f"(p {mean[v.category]:.2f})" for v in added)],
        })
    return turn.model_copy(update=update)


def _heard_by(category: str, lexical: dict[str, float], votes: dict[str, float] | None) -> str:
    """Who decided a category (the note of a violation): the semantic detector, alone or in the mean with the
    lexical detector and the nearest labelled turns."""
    others = [*(["the lexical detector"] if category in lexical else []),
              *(["the nearest labelled turns"] if votes and category in votes else [])]
    return f"the semantic detector with {' and '.join(others)}" if others else "the semantic detector"


def write_semantic(data: dict, path: Path) -> None:
    """The model file: compact JSON, each category's weights on a line of their own, the labelled turns' packed
    arrays each on theirs."""
    from .learned import write_model

    write_model(data, Path(path), tables=("neighbours", "weights"))
