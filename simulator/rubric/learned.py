"""A learned violation detector beside the phrase rules: a linear model over word features, trained on the
`tune` rows of the labelled calibration files and shipped as JSON weights (`rubrics/models/*.json`).

Why: the compliance rules are phrase families; on wording nobody tuned them on they find about 60 % of the
violations a human labels (docs/rubrics.md). A linear model over word stems and stem pairs generalises
differently (it weighs every word of the turn), so the two together find more. The model is deterministic
and cheap (`linear.py`: packed tables, a few look-ups per word, exact sums); scikit-learn is needed only to
train it (`python -m simulator train-violations`), never to score.

Scoring a turn: the agent turn (and the debtor's line before it, prefixed `d:`) is folded like every other
text of the scorer, cut into words, each word cut to its first `stem` letters; the features are those stems
and the pairs of stems at most `window` words apart. The feature vector is scikit-learn's TF-IDF with
binary counts and L2 norm; each category has a logistic-regression weight vector and bias. A category whose
probability reaches its threshold is flagged, with the sentence that weighs most for it as evidence.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from ..errors import SimulatorError
from ..settings import PROJECT_ROOT
from .linear import LinearTable, stem_pattern
from .text import fold

RUBRICS_DIR = PROJECT_ROOT / "rubrics"

MODEL_FORMAT = 2  # 2: idf and weights as whole millionths (`SCALE`); 1 had them as decimals
SCALE = 1_000_000  # the file's idf and weights are whole numbers of 1/SCALE: a turn's sums are exact
TOKEN = re.compile(r"[a-z0-9]+")
# the categories a model may learn: those said in a turn (disclosure_missing depends on the call, not words)
LEARNABLE = ("threat", "insult", "harassment", "third_party", "false_authority", "false_legal", "fees", "pressure")


@dataclass(frozen=True)
class FeatureSpec:
    stem: int = 5  # letters kept of each word
    window: int = 1  # stem pairs at most this many words apart (0: no pairs)
    debtor: bool = True  # the debtor's line before the turn adds its stems, prefixed "d:"

    def as_dict(self) -> dict:
        return {"stem": self.stem, "window": self.window, "debtor": self.debtor}


def _stems(folded: str, n: int) -> list[str]:
    """The first `n` letters of each word (`TOKEN`), cut by `re` itself."""
    return stem_pattern(n).findall(folded)


def agent_features(folded: str, spec: FeatureSpec) -> list[str]:
    """The features of a folded agent turn (with repeats: the vectoriser counts presence)."""
    stems = _stems(folded, spec.stem)
    out = list(stems)
    join = "_".join
    for gap in range(1, spec.window + 1):
        out += map(join, zip(stems, stems[gap:]))
    return out


def debtor_features(folded: str, spec: FeatureSpec) -> list[str]:
    if not spec.debtor or not folded:
        return []
    return ["d:" + w for w in _stems(folded, spec.stem)]


def features(agent_text: str, debtor_text: str, spec: FeatureSpec) -> list[str]:
    """The features of a turn as written (training uses this; scoring starts from the folded texts)."""
    return agent_features(fold(agent_text), spec) + debtor_features(fold(debtor_text), spec)


class LearnedModel:
    """Weights of one trained model (one language), ready to score folded turns."""

    def __init__(self, data: dict, source: str = "", sha256: str = "") -> None:
        if data.get("format") != MODEL_FORMAT:
            raise SimulatorError(f"{source}: model format {data.get('format')!r} is not {MODEL_FORMAT} "
                                 "(train it again: python -m simulator train-violations)")
        self.source = source
        self.sha256 = sha256
        self.language: str = data["language"]
        self.spec = FeatureSpec(**data["features"])
        self.categories: tuple[str, ...] = tuple(data["categories"])
        self.bias: tuple[float, ...] = tuple(float(b) for b in data["bias"])
        self.thresholds: tuple[float, ...] = tuple(float(t) for t in data["thresholds"])
        self.info: dict = {k: data[k] for k in ("trained_on", "training", "trainer") if k in data}
        # one row per feature: idf², then idf × the weight of each category (a turn sums its features' rows;
        # linear.py, compiled with the scorer)
        if data.get("scale") != SCALE:
            raise SimulatorError(f"{source}: model scale {data.get('scale')!r} is not {SCALE} "
                                 "(train it again: python -m simulator train-violations)")
        self.table = LinearTable(data["vocabulary"], list(self.bias), self.spec.stem, self.spec.window,
                                 self.spec.debtor, SCALE)

    def decisions(self, folded: str, debtor_folded: str = "") -> list[float]:
        """The logistic regression's decision value per category (before the sigmoid)."""
        return self.table.decisions(folded, debtor_folded)

    def probabilities(self, folded: str, debtor_folded: str = "") -> list[float]:
        return [_sigmoid(d) for d in self.decisions(folded, debtor_folded)]

    def flagged(self, folded: str, debtor_folded: str = "") -> list[tuple[int, float]]:
        """(category index, probability) of each category at or above its threshold."""
        out = []
        for i, d in enumerate(self.decisions(folded, debtor_folded)):
            p = _sigmoid(d)
            if p >= self.thresholds[i]:
                out.append((i, p))
        return out

    def evidence(self, folded: str, index: int) -> tuple[int, int]:
        """The span of the sentence that weighs most for category `index` (the whole turn if one sentence)."""
        return self.table.evidence(folded, [index])[0]


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    z = math.exp(x)
    return z / (1.0 + z)


def model_path(name: str) -> Path:
    """A pack's `learned.model`: relative to the rubrics folder (or absolute)."""
    path = Path(name).expanduser()
    return path if path.is_absolute() else RUBRICS_DIR / path


_CACHE: dict[tuple[Any, str, float, int], Any] = {}
_LOCK = threading.Lock()


def read_model(path: Path | str, build: Callable[[dict, str, str], Any], what: str, command: str, section: str) -> Any:
    """A trained model's JSON file made into a model by `build(data, source, sha256)`, cached while the file is
    unchanged; errors name the file and the fix (`what`: the kind of file, `command`: the one that trains it,
    `section`: the rubric section naming it)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        raise SimulatorError(f"{path}: no such {what} file (train it: python -m simulator {command} "
                             f"--out PATH, or remove {section})") from None
    key = (build, str(path.resolve()), stat.st_mtime, stat.st_size)
    with _LOCK:
        cached = _CACHE.get(key)
    if cached is not None:
        return cached
    raw = path.read_bytes()
    try:
        model = build(json.loads(raw), str(path), hashlib.sha256(raw).hexdigest())
    except SimulatorError:
        raise
    except (ValueError, KeyError, TypeError) as exc:
        raise SimulatorError(f"{path}: not a {what} file ({type(exc).__name__}: {exc}) "
                             f"(train it again: python -m simulator {command})") from None
    with _LOCK:
        _CACHE[key] = model
    return model


def load_model(path: Path | str) -> LearnedModel:
    """Read a learned-model file (cached while the file is unchanged); errors name the file and the fix."""
    return read_model(path, LearnedModel, "learned-model", "train-violations", "the pack's `learned` section")


# --- training (scikit-learn, only here) --------------------------------------------------------------------

@dataclass(frozen=True)
class TrainingRow:
    agent_text: str
    debtor_before: str
    violations: frozenset[str]


def _sklearn():
    try:
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
    except ImportError:
        raise SimulatorError("training a learned model needs scikit-learn "
                             "(pip install -e '.[train]'; scoring with a trained model does not)") from None
    return TfidfVectorizer, LogisticRegression


def fit(rows: Sequence[TrainingRow], spec: FeatureSpec = FeatureSpec(), c: float = 10.0,
        categories: Iterable[str] = LEARNABLE, min_df: int = 2):
    """Fit the vectoriser and one logistic regression per category; returns (vectoriser, {category: model})."""
    TfidfVectorizer, LogisticRegression = _sklearn()
    cats = [c_ for c_ in categories if any(c_ in r.violations for r in rows)]
    vectoriser = TfidfVectorizer(analyzer=lambda r: features(r.agent_text, r.debtor_before, spec),
                                 binary=True, min_df=min_df, norm="l2", use_idf=True, smooth_idf=True)
    x = vectoriser.fit_transform(rows)
    models = {}
    for cat in cats:
        y = [cat in r.violations for r in rows]
        models[cat] = LogisticRegression(C=c, class_weight="balanced", max_iter=5000, solver="lbfgs").fit(x, y)
    return vectoriser, models


def export(vectoriser, models: dict, spec: FeatureSpec, language: str, thresholds: dict[str, float],
           info: dict[str, Any]) -> dict:
    """The model file's content: idf and weights as whole millionths (`SCALE`: the file stays small and
    diffable, and a turn's sums of them are exact, in any order), biases rounded to 6 decimals."""
    cats = list(models)
    idf = vectoriser.idf_
    vocabulary = {}
    for feature, column in sorted(vectoriser.vocabulary_.items()):
        weights = [round(float(models[c].coef_[0][column]) * SCALE) for c in cats]
        # every feature is kept, even one weighing nothing: it still counts in the L2 norm
        vocabulary[feature] = [round(float(idf[column]) * SCALE)] + weights
    return {
        "format": MODEL_FORMAT,
        "scale": SCALE,
        "language": language,
        "features": spec.as_dict(),
        "categories": cats,
        "bias": [round(float(models[c].intercept_[0]), 6) for c in cats],
        "thresholds": [thresholds.get(c, thresholds.get("*", 0.5)) for c in cats],
        **info,
        "vocabulary": vocabulary,
    }


def write_model(data: dict, path: Path, tables: Iterable[str] = ("vocabulary",)) -> None:
    """A model file: compact JSON, each entry of the `tables` on its own line (a retrained model's diff is
    readable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(data, ensure_ascii=False, indent=None, separators=(",", ":"))
    for table in tables:
        text = text.replace(f',"{table}":{{', f',\n"{table}":{{\n')
    path.write_text(text.replace('],"', '],\n"') + "\n", encoding="utf-8")


def sha256_of(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()
