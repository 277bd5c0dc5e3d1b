"""The debtor: prompt building, reply guards (and, later, the state engine)."""

from .guards import GuardEvent, check_reply, clean_reply, fallback_line
from .prompt import PromptBuilder, TranscriptLine

__all__ = ["GuardEvent", "PromptBuilder", "TranscriptLine", "check_reply", "clean_reply", "fallback_line"]
