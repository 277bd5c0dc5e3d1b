"""Train the learned violation detector (`learned.py`) on the `tune` rows of labelled files, and check how it
generalises to a writer it has not seen (leave one file out).

    python -m simulator train-violations 'calibration/fr_turns*.csv' --out rubrics/models/fr-violations.json
    python -m simulator train-violations 'calibration/fr_turns*.csv' --cross-check [--rubric fr-default]

Holdout rows are never read for training: they are counted and skipped, and the model file records which
files (and their SHA-256) and how many rows it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from ..errors import SimulatorError
from ..settings import PROJECT_ROOT
from .calibrate import LabelledTurn, expand_label_paths, read_label_files
from .models import CATEGORIES
from .learned import (LEARNABLE, FeatureSpec, LearnedModel, TrainingRow, export, fit, sha256_of, write_model)
from .text import fold


@dataclass
class Counts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, predicted: set[str], labelled: frozenset[str], categories: Iterable[str]) -> None:
        for c in categories:
            if c in predicted and c in labelled:
                self.tp += 1
            elif c in predicted:
                self.fp += 1
            elif c in labelled:
                self.fn += 1

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else float("nan")

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan")

    def text(self) -> str:
        return f"P {self.precision:.3f} R {self.recall:.3f} ({self.tp} found, {self.fn} missed, {self.fp} false)"


def read_probe_lines(path: Path) -> list[LabelledTurn]:
    """A category-labelled text file (`tests/data/fr_violation_probes.txt`): one turn per line,
    `category(;category) | debtor's line | agent turn`, `-` for a compliant turn, `#` comments. Every line
    is a training row (such files have no holdout)."""
    rows = []
    problems = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split("|")]
        if len(parts) != 3:
            problems.append(f"{path}:{number}: expected 'category | debtor line | agent turn' (3 fields, got {len(parts)})")
            continue
        cats = frozenset(c for c in parts[0].split(";") if c and c != "-")
        unknown = sorted(cats - set(CATEGORIES))
        if unknown:
            problems.append(f"{path}:{number}: unknown category {', '.join(unknown)} (use {', '.join(CATEGORIES)} or -)")
            continue
        rows.append(LabelledTurn(f"{Path(path).name}:{number}", "tune", parts[1], parts[2], {}, cats, "probe", "",
                                 number, str(path)))
    if problems:
        raise SimulatorError("\n".join(problems))
    return rows


def read_training_files(paths: list[str | Path]) -> tuple[list[Path], list[LabelledTurn]]:
    """Labelled CSV files (or globs) and category-labelled `.txt` probe files, read as one set."""
    files = expand_label_paths(list(paths))
    csvs = [f for f in files if f.suffix.lower() != ".txt"]
    rows = read_label_files(csvs) if csvs else []
    for f in files:
        if f.suffix.lower() == ".txt":
            rows += read_probe_lines(f)
    return files, rows


def tune_rows(rows: list[LabelledTurn]) -> list[LabelledTurn]:
    return [r for r in rows if r.split == "tune"]


def as_training(rows: list[LabelledTurn]) -> list[TrainingRow]:
    if any(r.split != "tune" for r in rows):
        raise SimulatorError("a holdout row reached training (only split=tune rows may be trained on)")
    return [TrainingRow(r.agent_text, r.debtor_before, r.violations) for r in rows]


def train(paths: list[str | Path], language: str = "fr", spec: FeatureSpec = FeatureSpec(), c: float = 10.0,
          thresholds: dict[str, float] | None = None, min_df: int = 2) -> dict:
    """The model file's content, trained on the tune rows of the files."""
    files, rows = read_training_files(paths)
    tune = tune_rows(rows)
    if not tune:
        raise SimulatorError(f"{files[0] if files else 'labels'}: no split=tune row to train on")
    vectoriser, models = fit(as_training(tune), spec, c=c, min_df=min_df)
    import sklearn

    info = {
        "trainer": {"sklearn": sklearn.__version__, "C": c, "min_df": min_df, "class_weight": "balanced"},
        "trained_on": trained_on(files, rows),
    }
    return export(vectoriser, models, spec, language, thresholds or {"*": 0.5}, info)


def trained_on(files: list[Path], rows: list[LabelledTurn]) -> list[dict]:
    """What a model file records of its training files: each file (as `_shown`), its SHA-256, the tune rows
    trained on and the holdout rows skipped."""
    return [{"file": _shown(f), "sha256": sha256_of(f),
             "tune_rows": sum(1 for r in rows if Path(r.source) == f and r.split == "tune"),
             "holdout_rows_skipped": sum(1 for r in rows if Path(r.source) == f and r.split != "tune")}
            for f in files]


def trained_counts(data: dict) -> tuple[int, int]:
    """(tune rows trained on, holdout rows skipped) of a model file's content."""
    return (sum(f["tune_rows"] for f in data["trained_on"]),
            sum(f["holdout_rows_skipped"] for f in data["trained_on"]))


def _shown(path: Path) -> str:
    """A training file as recorded in the model: relative to the project when inside it (portable)."""
    try:
        return Path(path).resolve().relative_to(PROJECT_ROOT.resolve()).as_posix()
    except ValueError:
        return Path(path).name


def train_to(out: Path, paths: list[str | Path], **kwargs) -> dict:
    data = train(paths, **kwargs)
    write_model(data, Path(out))
    return data


@dataclass
class CrossCheck:
    """Leave one file out: train on the tune rows of the other files, predict this file's tune rows."""

    file: str
    rows: int
    model: Counts = field(default_factory=Counts)
    rules: Counts = field(default_factory=Counts)
    union: Counts = field(default_factory=Counts)


def cross_check(paths: list[str | Path], language: str = "fr", spec: FeatureSpec = FeatureSpec(), c: float = 10.0,
                thresholds: dict[str, float] | None = None, min_df: int = 2, rules_scorer=None) -> list[CrossCheck]:
    """How the detector does on a writer it was not trained on. `rules_scorer` (a Scorer without its learned
    detector) adds the rules alone and the union of both. Only tune rows are read."""
    files, rows = read_training_files(paths)
    rows = tune_rows(rows)
    out = []
    total = CrossCheck("all files", 0)
    for f in files:
        held = [r for r in rows if Path(r.source) == f]
        rest = [r for r in rows if Path(r.source) != f]
        if not held or not rest:
            continue
        data = export(*fit(as_training(rest), spec, c=c, min_df=min_df), spec, language,
                      thresholds or {"*": 0.5}, {})
        model = LearnedModel(data, "cross-check")
        check = CrossCheck(f.name, len(held))
        for r in held:
            flagged = {model.categories[i] for i, _p in model.flagged(fold(r.agent_text), fold(r.debtor_before))}
            check.model.add(flagged, r.violations, LEARNABLE)
            total.model.add(flagged, r.violations, LEARNABLE)
            if rules_scorer is not None:
                by_rules = {v.category for v in rules_scorer.score_isolated(r.agent_text, r.debtor_before).violations}
                by_rules &= set(LEARNABLE)
                check.rules.add(by_rules, r.violations, LEARNABLE)
                check.union.add(by_rules | flagged, r.violations, LEARNABLE)
                total.rules.add(by_rules, r.violations, LEARNABLE)
                total.union.add(by_rules | flagged, r.violations, LEARNABLE)
        total.rows += len(held)
        out.append(check)
    out.append(total)
    return out


def format_cross_check(checks: list[CrossCheck], with_rules: bool) -> str:
    lines = ["Leave one file out (tune rows only; categories the model can learn):"]
    for ch in checks:
        lines.append(f"== {ch.file} ({ch.rows} turns)")
        lines.append(f"  model alone      {ch.model.text()}")
        if with_rules:
            lines.append(f"  rules alone      {ch.rules.text()}  (the rules were tuned on these rows: optimistic)")
            lines.append(f"  rules or model   {ch.union.text()}")
    return "\n".join(lines)


def parse_thresholds(values: list[str] | None, option: str = "--threshold",
                     categories: tuple[str, ...] = LEARNABLE) -> dict[str, float]:
    """`0.4` (every category) or `threat=0.35` (one), repeatable."""
    out: dict[str, float] = {}
    for value in values or []:
        key, _, number = value.rpartition("=")
        key = key or "*"
        if key != "*" and key not in categories:
            raise SimulatorError(f"{option} {value}: unknown category {key!r} (use {', '.join(categories)})")
        try:
            t = float(number)
        except ValueError:
            raise SimulatorError(f"{option} {value}: {number!r} is not a number (e.g. 0.4 or threat=0.35)") from None
        if not 0 < t < 1:
            raise SimulatorError(f"{option} {value}: a probability between 0 and 1, exclusive")
        out[key] = t
    return out
