"""The session scorecard: means, trend, stages, critical errors, overall score, pass/fail.

A compliance violation is a critical error: it fails the call whatever the
scores (contact-centre QA practice). Pure functions over scored turns.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from .models import DIMENSIONS, Rubric
from .scorer import TurnScore


class CriticalError(BaseModel):
    turn: int = Field(description="Index of the agent turn in the call (0 = first line of the call).")
    rule: str
    category: str
    text: str
    reference: str = ""


class Scorecard(BaseModel):
    rubric_id: str
    rubric_version: str
    language: str
    means: dict[str, float] = Field(description="Mean 1–5 score per dimension over the scored agent turns.")
    trend: dict[str, float] = Field(description="Least-squares slope per dimension, in points per agent turn.")
    series: dict[str, list[int]] = Field(default_factory=dict, description="Each agent turn's score, in order.")
    stages_covered: list[str]
    stages_missing: list[str] = Field(default_factory=list)
    outcome: str | None
    critical_errors: list[CriticalError]
    review_flags: list[CriticalError] = Field(
        default_factory=list, description="Possible violations heard by the learned detector, for a reviewer to "
        "check; they do not fail the call.")
    overall: float = Field(description="Weighted mean of the dimension means (1–5).")
    pass_mark: float
    passed: bool
    turns_scored: int
    unscored: list[dict] = Field(default_factory=list, description="Turns the judge could not score, with the reason.")
    weakest: str | None = Field(None, description="The dimension to work on first.")

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


def slope(values: list[float]) -> float:
    n = len(values)
    if n < 2:
        return 0.0
    mean_x = (n - 1) / 2
    mean_y = sum(values) / n
    num = sum((i - mean_x) * (v - mean_y) for i, v in enumerate(values))
    den = sum((i - mean_x) ** 2 for i in range(n))
    return num / den


def build_scorecard(rubric: Rubric, turns: list[tuple[int, TurnScore]], *, outcome: str | None,
                    language: str | None = None) -> Scorecard:
    """`turns`: (index in the call, score) of every scored agent turn, in order."""
    series = {d: [score.scores[d] for _, score in turns] for d in DIMENSIONS}
    means = {d: round(sum(v) / len(v), 2) if v else 0.0 for d, v in series.items()}
    trend = {d: round(slope([float(x) for x in v]), 3) for d, v in series.items()}
    covered: list[str] = []
    for _, score in turns:
        for stage in score.stages:
            if stage not in covered:
                covered.append(stage)
    order = [s.id for s in rubric.stages]
    covered.sort(key=lambda s: order.index(s) if s in order else len(order))
    errors = [CriticalError(turn=idx, rule=v.rule, category=v.category, text=v.text, reference=v.reference)
              for idx, score in turns for v in score.violations]
    review = [CriticalError(turn=idx, rule=v.rule, category=v.category, text=v.text, reference=v.reference)
              for idx, score in turns for v in score.review]
    weights = {d: rubric.dimensions[d].weight for d in DIMENSIONS}
    overall = round(sum(weights[d] * means[d] for d in DIMENSIONS) / sum(weights.values()), 2) if turns else 0.0
    passed = bool(turns) and not errors and overall >= rubric.pass_mark
    unscored = [{"turn": idx, "reason": score.judge.get("reason", "")} for idx, score in turns
                if score.judge and not score.judge.get("scored", True)]
    weakest = min(DIMENSIONS, key=lambda d: (means[d], -weights[d])) if turns else None
    return Scorecard(
        rubric_id=rubric.id, rubric_version=rubric.version, language=language or rubric.language,
        means=means, trend=trend, series=series, stages_covered=covered,
        stages_missing=[s for s in order if s not in covered], outcome=outcome, critical_errors=errors, review_flags=review,
        overall=overall, pass_mark=rubric.pass_mark, passed=passed, turns_scored=len(turns), unscored=unscored,
        weakest=weakest,
    )
