"""Difficulty levels: how forgiving the engine is around a persona.

A scenario file's numbers (initial mood, sensitivities, thresholds, hang-up
point) describe its debtor at the **medium** level. A level is a profile
applied to those numbers when a call starts:

- easy: listening and firmness count for more, hostility hurts a little less,
  the debtor starts calmer, hangs up later, and agrees, confides or settles at
  lower trust and willingness;
- hard: the reverse.

The file's `difficulty` is the default level; a trainee may pick another one
for the same debtor. Everything is pure and deterministic: `tune(scenario,
level)` gives the effective numbers the engine uses.
"""

from __future__ import annotations

from dataclasses import dataclass

from .debtor.state import DebtorState, Sensitivity
from .scenario import Level, Scenario, Thresholds

LEVELS: tuple[Level, ...] = ("easy", "medium", "hard")


@dataclass(frozen=True)
class Profile:
    """How one level changes a persona's numbers."""

    empathy: float  # multiplies sensitivity.empathy (how much listening raises trust)
    firmness: float  # multiplies sensitivity.firmness (how much clear requests raise willingness)
    hostility: float  # multiplies sensitivity.hostility (how much pressure and insults raise irritation)
    irritation: float  # added to the initial irritation
    patience: float  # added to the hang-up threshold
    bar: float  # added to every trust / willingness threshold (agreeing, confiding, settling), taken from irritation_below


PROFILES: dict[str, Profile] = {
    "easy": Profile(empathy=1.25, firmness=1.25, hostility=0.9, irritation=-0.05, patience=0.03, bar=-0.05),
    "medium": Profile(empathy=1.0, firmness=1.0, hostility=1.0, irritation=0.0, patience=0.0, bar=0.0),
    "hard": Profile(empathy=0.8, firmness=0.8, hostility=1.15, irritation=0.05, patience=-0.05, bar=0.05),
}

# A hidden fact also unlocks when the trainee asks about one of its topics, from this trust up (medium level).
TOPIC_TRUST = 0.3


def _clamp(x: float, low: float = 0.0, high: float = 1.0) -> float:
    return max(low, min(high, x))


@dataclass(frozen=True)
class Tuning:
    """The effective numbers of one scenario at one level."""

    level: Level
    initial: DebtorState
    sensitivity: Sensitivity
    hang_up: float
    requires: Thresholds  # concessions.requires
    unlocks: tuple[Thresholds, ...]  # one per hidden fact
    topic_trust: float
    resolutions: tuple[Thresholds, ...]  # one per scenario resolution


def shift(th: Thresholds, bar: float) -> Thresholds:
    """Raise (bar > 0) or lower (bar < 0) a set of conditions on the state."""
    return Thresholds(
        trust=None if th.trust is None else _clamp(th.trust + bar),
        willingness=None if th.willingness is None else _clamp(th.willingness + bar),
        irritation_below=None if th.irritation_below is None else _clamp(th.irritation_below - bar, 0.05),
    )


def tune(scenario: Scenario, level: Level | None = None) -> Tuning:
    """The numbers the engine plays `scenario` with at `level` (default: the file's difficulty)."""
    level = level or scenario.difficulty
    if level not in PROFILES:
        raise ValueError(f"unknown difficulty {level!r}: use one of {', '.join(LEVELS)}")
    p = PROFILES[level]
    base = scenario.state
    sens = base.sensitivity
    return Tuning(
        level=level,
        initial=DebtorState(
            trust=base.initial.trust, willingness=base.initial.willingness,
            irritation=_clamp(base.initial.irritation + p.irritation),
        ),
        sensitivity=Sensitivity(
            empathy=_clamp(sens.empathy * p.empathy, 0, 5), firmness=_clamp(sens.firmness * p.firmness, 0, 5),
            hostility=_clamp(sens.hostility * p.hostility, 0, 5),
        ),
        hang_up=_clamp(scenario.hang_up.irritation + p.patience, 0.05),
        requires=shift(scenario.concessions.requires, p.bar),
        unlocks=tuple(shift(f.unlock, p.bar) for f in scenario.hidden_facts),
        topic_trust=_clamp(TOPIC_TRUST + p.bar),
        resolutions=tuple(shift(r.requires, p.bar) for r in scenario.resolutions),
    )
