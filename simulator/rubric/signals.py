"""From a scored turn to what the debtor engine reacts to (`debtor.signals.TurnSignals`)."""

from __future__ import annotations

from datetime import date

from ..debtor.proposals import parse_proposal
from ..debtor.signals import TurnSignals
from .scorer import TurnScore

HOSTILE_CATEGORIES = ("insult", "threat")


def to_signals(score: TurnScore, text: str, call_date: date) -> TurnSignals:
    """The debtor engine's view of a scored agent turn."""
    flags = score.flags
    categories = list(dict.fromkeys(v.category for v in score.violations))
    return TurnSignals(
        empathy=score.scores["empathy"], firmness=score.scores["firmness"], clarity=score.scores["clarity"],
        hostile=flags.shouting or any(c in HOSTILE_CATEGORIES for c in categories),
        violations=categories, reformulation=flags.reformulation, question=flags.question,
        callback=flags.callback, dispute_logged=flags.dispute_logged,
        proposal=parse_proposal(text, call_date), text=text,
    )


def signals_alone(text: str, language: str, call_date: date, segment: str | None = None, *,
                  debtor_before: str = "", currency: str | None = None) -> TurnSignals:
    """A turn scored out of its call (at most the debtor's line before it) with the language's default rubric."""
    from .loader import resolve_rubric
    from .service import get_scorer

    scorer = get_scorer(resolve_rubric(None, language, currency=currency), language)
    session = scorer.session(segment=segment, disclosed=True)
    if debtor_before:
        session.hear(debtor_before)
    else:
        session.context_known = False  # unknown, not silent
    return to_signals(session.score(text), text, call_date)
