"""Scoring a call or a transcript: the compiled rubric, the scoring mode and the judge model together."""

from __future__ import annotations

from typing import Literal

from ..llm.base import ChatModel
from .judge import combine, judge_turn
from .loader import RubricFile
from .scorer import Scorer, ScoringSession, TurnScore

Mode = Literal["lexical", "judge", "blend"]

_SCORERS: dict[tuple[str, str], Scorer] = {}


def get_scorer(rubric_file: RubricFile, language: str | None = None) -> Scorer:
    """A compiled scorer, built once per rubric content and language."""
    lang = language or rubric_file.rubric.language
    key = (rubric_file.sha256, lang)
    if key not in _SCORERS:
        _SCORERS[key] = Scorer(rubric_file, lang)
    return _SCORERS[key]


class TurnScorer:
    """Scores agent turns the way the settings ask: lexical, judge, or a blend of both."""

    def __init__(self, rubric_file: RubricFile, language: str | None = None, *, mode: Mode = "lexical",
                 judge: ChatModel | None = None):
        self.rubric_file = rubric_file
        self.scorer = get_scorer(rubric_file, language)
        self.mode: Mode = mode if judge is not None else "lexical"
        self.judge = judge

    @property
    def rubric(self):
        return self.rubric_file.rubric

    @property
    def language(self) -> str:
        return self.scorer.language

    def session(self, **kwargs) -> ScoringSession:
        return self.scorer.session(**kwargs)

    async def score(self, session: ScoringSession, text: str, context: list[tuple[str, str]] = ()) -> TurnScore:
        """Score one agent turn; `context`: the (speaker, text) lines before it, for the judge."""
        lexical = session.score(text)
        if self.mode == "lexical" or self.judge is None:
            return lexical
        result = await judge_turn(self.judge, self.rubric, self.language, list(context), text)
        combined = combine(lexical, result, self.mode, self.rubric)
        session.scores[-1] = combined
        return combined
