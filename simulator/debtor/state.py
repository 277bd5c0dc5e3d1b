"""The debtor's state and the rules that move it after each trainee turn.

Pure functions, no I/O: a turn's signals and the scenario's sensitivities in,
a new state out. Difficulty is made of these numbers, not of a label.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

Outcome = Literal["PTP", "PLAN", "DISPUTE", "REFUSAL", "HUNG_UP", "CALLBACK", "NO_COMMITMENT",
                  "HARDSHIP", "WRONG_PARTY", "THIRD_PARTY_MESSAGE", "INSOLVENCY"]
QUIET_VIOLATIONS: tuple[str, ...] = ("disclosure_missing",)
OUTCOMES: tuple[str, ...] = ("PTP", "PLAN", "DISPUTE", "REFUSAL", "HUNG_UP", "CALLBACK", "NO_COMMITMENT",
                             "HARDSHIP", "WRONG_PARTY", "THIRD_PARTY_MESSAGE", "INSOLVENCY")


class DebtorState(BaseModel):
    model_config = {"extra": "forbid"}  # a misspelt key in a scenario's `state.initial` is an error, not ignored
    trust: float = Field(0.3, ge=0, le=1, description="How much the debtor trusts the collector.")
    irritation: float = Field(0.2, ge=0, le=1, description="How annoyed they are; at the hang-up threshold they hang up.")
    willingness: float = Field(0.3, ge=0, le=1, description="How ready they are to commit to a payment.")


class Sensitivity(BaseModel):
    model_config = {"extra": "forbid"}
    empathy: float = Field(1.0, ge=0, le=5, description="How much listening and reformulation raise trust.")
    firmness: float = Field(1.0, ge=0, le=5, description="How much clear, firm requests raise willingness.")
    hostility: float = Field(1.0, ge=0, le=5, description="How much insults, threats and pressure raise irritation.")


def _clamp(x: float) -> float:
    return max(0.0, min(1.0, x))


def update_state(state: DebtorState, signals, sensitivity: Sensitivity) -> DebtorState:
    """Move the state by one trainee turn (`signals` is a TurnSignals)."""
    empathy = (signals.empathy - 3) / 2  # -1 … +1
    firmness = (signals.firmness - 3) / 2
    clarity = (signals.clarity - 3) / 2
    # a missing disclosure (who is calling, the amount) fails the call but does not offend the debtor
    hostile = signals.hostile or any(v not in QUIET_VIOLATIONS for v in signals.violations)

    trust = state.trust + 0.12 * empathy * sensitivity.empathy + (0.08 * sensitivity.empathy if signals.reformulation else 0)
    irritation = state.irritation - 0.03  # calms down a little every civil turn
    irritation -= 0.05 * max(empathy, 0) * sensitivity.empathy
    willingness = state.willingness + 0.10 * firmness * sensitivity.firmness + 0.04 * clarity
    if empathy > 0 and firmness > 0:
        willingness += 0.04  # empathic and firm: the combination the seeds teach
    if signals.firmness >= 4 and signals.empathy <= 2:
        irritation += 0.06 * sensitivity.hostility  # pressure without listening
    if hostile:
        irritation += 0.30 * sensitivity.hostility + 0.03  # never calms down on a hostile turn
        trust -= 0.20 * sensitivity.hostility
        willingness -= 0.10 * sensitivity.hostility
    return DebtorState(trust=_clamp(trust), irritation=_clamp(irritation), willingness=_clamp(willingness))
