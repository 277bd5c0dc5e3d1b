"""Reviewer decisions on the compliance violations the rubric engine flagged.

A violation is a critical error: one fails the call. The lexical engine's
precision on them is about 0.8, so a team lead can **dismiss** a flag that is
wrong (it then no longer counts as a critical error) or **confirm** one that is
right. Decisions are kept per (call, trainee turn, rule id) in
`violation_decisions`; rows are only ever added: the latest one for a key is in
force, the earlier ones are the history. The engine's `score_json` and
`scorecard_json` are never rewritten.

The learned detector's **review flags** (`review` in a turn's score,
`review_flags` in the scorecard) are not critical errors: they ask a reviewer to
look. The same two decisions apply to them: a confirmed review flag becomes a
critical error (it fails the call like a rule's), a dismissed one is cleared.

Pure functions here; `reviews.Reviews` stores the decisions and checks who may
make them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DECISIONS = ("dismissed", "confirmed")
Decision = Literal["dismissed", "confirmed"]


@dataclass
class ViolationDecision:
    id: int
    session_id: str
    turn_idx: int
    rule: str
    decision: str
    reason: str | None
    author: str | None
    created_at: str


def in_force(decisions: list[ViolationDecision]) -> dict[tuple[int, str], ViolationDecision]:
    """The latest decision per (turn, rule): a later decision replaces an earlier one."""
    out: dict[tuple[int, str], ViolationDecision] = {}
    for d in sorted(decisions, key=lambda d: d.id):
        out[(d.turn_idx, d.rule)] = d
    return out


def _annotated(error: dict, d: ViolationDecision) -> dict:
    return {**error, "decision": d.decision, "decided_by": d.author, "decision_reason": d.reason,
            "decided_at": d.created_at}


def apply_decisions(critical: list[dict], decisions: list[ViolationDecision]) -> tuple[list[dict], list[dict]]:
    """Split the flagged critical errors into (still counting, dismissed).

    A decision covers every flag of its rule on its turn. Confirmed errors still
    count; they and the dismissed ones carry who decided, when and why
    (`decision`, `decided_by`, `decision_reason`, `decided_at`).
    """
    current = in_force(decisions)
    remaining, dismissed = [], []
    for error in critical:
        try:
            key = (int(error.get("turn")), str(error.get("rule")))
        except (TypeError, ValueError):
            remaining.append(error)
            continue
        d = current.get(key)
        if d is None:
            remaining.append(error)
        elif d.decision == "dismissed":
            dismissed.append(_annotated(error, d))
        else:
            remaining.append(_annotated(error, d))
    return remaining, dismissed


def apply_review_decisions(flags: list[dict], decisions: list[ViolationDecision]) -> tuple[list[dict], list[dict], list[dict]]:
    """Split the learned detector's review flags into (confirmed, still to check, dismissed).

    Confirmed flags are critical errors from then on; all but the pending ones
    carry the decision keys, as in `apply_decisions`.
    """
    current = in_force(decisions)
    confirmed, pending, dismissed = [], [], []
    for flag in flags:
        try:
            d = current.get((int(flag.get("turn")), str(flag.get("rule"))))
        except (TypeError, ValueError):
            d = None
        if d is None:
            pending.append(flag)
        else:
            (confirmed if d.decision == "confirmed" else dismissed).append({**_annotated(flag, d), "review": True})
    return confirmed, pending, dismissed


def flagged_violations(turn_idx: int, score: dict | None, scorecard: dict | None = None,
                       review: bool = True) -> list[dict]:
    """The violations flagged on one turn, one per rule id, in the order the engine gave them: the rules'
    critical errors, then (`review`) the learned detector's review flags, marked `"review": True`.

    From the turn's score, and from the call's scorecard for a rule it lists on
    this turn that the turn's score does not (both come from the same engine run;
    this only guards against a scorecard written by another version).
    """
    seen: dict[str, dict] = {}
    sources = [((score or {}).get("violations"), (scorecard or {}).get("critical_errors"), False)]
    if review:
        sources.append(((score or {}).get("review"), (scorecard or {}).get("review_flags"), True))
    for from_turn, from_card, is_review in sources:
        for v in from_turn or []:
            if v.get("rule") is not None:
                seen.setdefault(str(v["rule"]), {**v, "rule": str(v["rule"]), "review": is_review})
        for c in from_card or []:
            if c.get("turn") == turn_idx and c.get("rule") is not None:
                seen.setdefault(str(c["rule"]), {**c, "rule": str(c["rule"]), "review": is_review})
    return list(seen.values())
