"""How trainees progress: per-trainee series over time and a cohort view.

Built on `Reviews.list_sessions`, so the effective scores (with reviewer
overrides) are used and a user only sees the trainees they may see. Pure
arithmetic on summaries; the UI turns the rows into plots.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from statistics import mean
from typing import Literal

from .reviews import SessionSummary

MIN_CALLS_FOR_TREND = 3
TREND_WINDOW = 10       # the trend is the slope over a trainee's last 10 scored calls
RECENT_WINDOW = 5       # "now": the mean of the last 5 scored calls
FLAT = 0.05             # points per call under which a trend is flat
DEFAULT_PASS_MARK = 3.0

Status = Literal["improving", "declining", "stuck", "steady", "too_few"]


@dataclass
class TraineeProgress:
    trainee: str | None
    calls: int                      # every call, scored or not
    scored: int
    last_call: str | None           # ISO UTC
    recent_mean: float | None
    trend: float | None             # points per call
    status: Status
    pass_rate: float | None
    critical_errors: int
    weakest: str | None             # the dimension to work on
    dimension_means: dict[str, float] = field(default_factory=dict)
    scenarios: dict[str, int] = field(default_factory=dict)  # calls per scenario
    frequent_violation: str | None = None


@dataclass
class ScenarioDifficulty:
    scenario_id: str
    calls: int
    scored: int
    mean_overall: float | None
    pass_rate: float | None
    trainees: int
    outcomes: dict[str, int] = field(default_factory=dict)


def slope(values: list[float]) -> float | None:
    """Least-squares slope of values against their call number."""
    n = len(values)
    if n < 2:
        return None
    xs = range(n)
    mx, my = (n - 1) / 2, mean(values)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, values)) / den


def _scored(sessions: list[SessionSummary]) -> list[SessionSummary]:
    return sorted((s for s in sessions if s.scores.overall is not None), key=lambda s: s.started_at)


def status_of(trend: float | None, recent: float | None, scored: int, pass_mark: float) -> Status:
    if scored < MIN_CALLS_FOR_TREND or trend is None:
        return "too_few"
    if trend >= FLAT:
        return "improving"
    if trend <= -FLAT:
        return "declining"
    return "stuck" if recent is not None and recent < pass_mark else "steady"


def trainee_progress(trainee: str | None, sessions: list[SessionSummary]) -> TraineeProgress:
    mine = [s for s in sessions if s.trainee == trainee]
    scored = _scored(mine)
    overall = [s.scores.overall for s in scored]
    recent = scored[-RECENT_WINDOW:]
    recent_mean = mean(s.scores.overall for s in recent) if recent else None
    trend = slope(overall[-TREND_WINDOW:])
    marks = [s.scores.pass_mark for s in scored if s.scores.pass_mark is not None]
    pass_mark = marks[-1] if marks else DEFAULT_PASS_MARK
    judged = [s.scores.passed for s in mine if s.scores.passed is not None]
    dim_values: dict[str, list[float]] = {}
    for s in recent:
        for d, v in s.scores.means.items():
            dim_values.setdefault(d, []).append(v)
    dim_means = {d: mean(v) for d, v in dim_values.items()}
    violations = Counter(str(c.get("category") or c.get("rule")) for s in mine for c in s.scores.critical_errors)
    return TraineeProgress(
        trainee=trainee, calls=len(mine), scored=len(scored), last_call=max((s.started_at for s in mine), default=None),
        recent_mean=recent_mean, trend=trend, status=status_of(trend, recent_mean, len(scored), pass_mark),
        pass_rate=(sum(judged) / len(judged)) if judged else None,
        critical_errors=sum(len(s.scores.critical_errors) for s in mine),
        weakest=min(dim_means, key=dim_means.get) if dim_means else None, dimension_means=dim_means,
        scenarios=dict(Counter(s.scenario_id for s in mine)),
        frequent_violation=violations.most_common(1)[0][0] if violations else None,
    )


def cohort(sessions: list[SessionSummary]) -> list[TraineeProgress]:
    trainees = sorted({s.trainee for s in sessions}, key=lambda t: (t is None, t or ""))
    return [trainee_progress(t, sessions) for t in trainees]


def scenario_difficulty(sessions: list[SessionSummary]) -> list[ScenarioDifficulty]:
    """Scenarios from hardest (lowest mean overall) to easiest; unscored ones last."""
    out = []
    for sid in sorted({s.scenario_id for s in sessions}):
        mine = [s for s in sessions if s.scenario_id == sid]
        scored = [s.scores.overall for s in mine if s.scores.overall is not None]
        judged = [s.scores.passed for s in mine if s.scores.passed is not None]
        out.append(ScenarioDifficulty(
            scenario_id=sid, calls=len(mine), scored=len(scored), mean_overall=mean(scored) if scored else None,
            pass_rate=(sum(judged) / len(judged)) if judged else None, trainees=len({s.trainee for s in mine}),
            outcomes=dict(Counter(s.outcome or "–" for s in mine))))
    return sorted(out, key=lambda d: (d.mean_overall is None, d.mean_overall if d.mean_overall is not None else 0))


def series_rows(sessions: list[SessionSummary], tz, *, overall_label: str,
                dim_label=lambda d: d) -> list[dict]:
    """Points for the per-trainee plot: one per scored call and dimension, plus the overall."""
    rows = []
    for s in _scored(sessions):
        when = datetime.fromisoformat(s.started_at).astimezone(tz).replace(tzinfo=None)
        rows.append({"date": when, "score": round(s.scores.overall, 2), "series": overall_label, "scenario": s.scenario_id})
        for d, v in s.scores.means.items():
            rows.append({"date": when, "score": round(v, 2), "series": dim_label(d), "scenario": s.scenario_id})
    return rows
