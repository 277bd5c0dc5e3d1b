"""Train the rubric's dimension-score model (`calibrated.py`) on the `tune` rows of labelled files, and check
how it generalises to a writer it has not seen (leave one file out).

    python -m simulator train-scores 'calibration/fr_turns*.csv' --rubric fr-default --out rubrics/models/fr-scores.json
    python -m simulator train-scores 'calibration/fr_turns*.csv' --rubric fr-default --cross-check

Holdout rows are never read for training: they are counted and skipped, and the model file records which
files (and their SHA-256), how many rows, and the rubric (id, version, digest) whose rules it was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SimulatorError
from .calibrate import LabelledTurn, expand_label_paths, quadratic_kappa, read_label_files
from .calibrated import DEFAULT_STRETCH, ScoreModel, ScoreRow, calibrate_scores, context_dimensions, export_scores, fit_scores, score_numeric_features
from .learned import FeatureSpec
from .loader import RubricFile
from .models import DIMENSIONS
from .scorer import Scorer, rubric_digest
from .text import fold
from .train import trained_on

DEFAULT_SPEC = FeatureSpec(stem=5, window=2)


def score_rows(rubric_file: RubricFile, rows: list[LabelledTurn]) -> list[ScoreRow]:
    """The training rows: each labelled turn scored by the rubric's phrase rules alone (no model)."""
    if any(r.split != "tune" for r in rows):
        raise SimulatorError("a holdout row reached training (only split=tune rows may be trained on)")
    rules = Scorer(rubric_file, learned=False)
    out = []
    for r in rows:
        score = rules.score_isolated(r.agent_text, r.debtor_before)
        caps: dict[str, int] = {}
        for cap in score.caps:
            caps[cap.dimension] = min(caps.get(cap.dimension, 5), cap.cap)
        out.append(ScoreRow(r.agent_text, r.debtor_before, score_numeric_features(score), dict(r.labels),
                            dict(score.scores), caps, frozenset(context_dimensions(rubric_file.rubric, score))))
    return out


def _labelled(paths: list[str | Path]) -> tuple[list[Path], list[LabelledTurn]]:
    files = [f for f in expand_label_paths(list(paths)) if f.suffix.lower() == ".csv"]
    if not files:
        raise SimulatorError(f"{', '.join(map(str, paths))}: no labelled .csv file (scores need 1–5 labels)")
    return files, read_label_files(files)


def train_scores(paths: list[str | Path], rubric_file: RubricFile, language: str = "fr",
                 spec: FeatureSpec = DEFAULT_SPEC, alpha: float = 1.0, min_df: int = 2,
                 stretch: float = DEFAULT_STRETCH) -> dict:
    """The model file's content, trained on the tune rows of the files."""
    files, rows = _labelled(paths)
    tune = [r for r in rows if r.split == "tune"]
    if not tune:
        raise SimulatorError(f"{files[0]}: no split=tune row to train on")
    fitted = fit_scores(score_rows(rubric_file, tune), spec, alpha=alpha, min_df=min_df, stretch=stretch)
    import sklearn

    rubric = rubric_file.rubric
    info = {
        "trainer": {"sklearn": sklearn.__version__, "model": "ridge", "alpha": alpha, "min_df": min_df,
                    "stretch": stretch, "centre": {d: round(v, 6) for d, v in fitted.centre.items()}},
        "trained_on": trained_on(files, rows),
    }
    return export_scores(fitted, language, {"id": rubric.id, "version": rubric.version,
                                            "sha256": rubric_digest(rubric_file)}, info)


@dataclass
class ScoreCheck:
    file: str
    rows: int
    rules: dict[str, float] = field(default_factory=dict)  # kappa per dimension, rules alone
    model: dict[str, float] = field(default_factory=dict)  # kappa per dimension, calibrated


def cross_check(paths: list[str | Path], rubric_file: RubricFile, spec: FeatureSpec = DEFAULT_SPEC,
                alpha: float = 1.0, min_df: int = 2, stretch: float = DEFAULT_STRETCH) -> list[ScoreCheck]:
    """Leave one file out on the tune rows: quadratic-weighted kappa of the rules alone and of the model trained
    on the other files, against the held file's labels (caps applied as in scoring)."""
    files, rows = _labelled(paths)
    tune = [r for r in rows if r.split == "tune"]
    scored = score_rows(rubric_file, tune)
    out = []
    for f in files:
        held = [s for r, s in zip(tune, scored) if Path(r.source) == f]
        rest = [s for r, s in zip(tune, scored) if Path(r.source) != f]
        if not held or not rest:
            continue
        fitted = fit_scores(rest, spec, alpha=alpha, min_df=min_df, stretch=stretch)
        model = ScoreModel(export_scores(fitted, "xx", {"id": rubric_file.rubric.id}, {}), "cross-check")
        calibrated = [calibrate_scores(model, fold(s.agent_text), fold(s.debtor_before), s.numeric, s.caps, s.rules,
                                       s.in_context) for s in held]
        check = ScoreCheck(f.name, len(held))
        for d in DIMENSIONS:
            gold = [s.labels[d] for s in held]
            check.rules[d] = quadratic_kappa(gold, [s.rules[d] for s in held])
            check.model[d] = quadratic_kappa(gold, [c[d] for c in calibrated])
        out.append(check)
    return out


def format_score_check(checks: list[ScoreCheck]) -> str:
    lines = ["Leave one file out (tune rows only): quadratic-weighted kappa empathy / firmness / clarity"]
    for ch in checks:
        rules = " / ".join(f"{ch.rules[d]:.2f}" for d in DIMENSIONS)
        model = " / ".join(f"{ch.model[d]:.2f}" for d in DIMENSIONS)
        lines.append(f"  {ch.file:<28} {ch.rows:>4} turns   rules {rules}   calibrated {model}")
    return "\n".join(lines)
