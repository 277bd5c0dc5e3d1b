"""Scoring a call or a transcript: the compiled rubric, the scoring mode and the judge model together."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

from ..llm.base import ChatModel
from .judge import combine, judge_turn
from .loader import RubricFile
from .scorer import Scorer, ScoringSession, TurnScore

if TYPE_CHECKING:
    from .semantic import SemanticDetector, TurnReading

log = logging.getLogger(__name__)

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
                 judge: ChatModel | None = None, semantic: "SemanticDetector | None" = None):
        self.rubric_file = rubric_file
        self.scorer = get_scorer(rubric_file, language)
        self.mode: Mode = mode if judge is not None else "lexical"
        self.judge = judge
        # the semantic violation detector (semantic.py), for calls in its model's language
        self.semantic = semantic if semantic is not None and semantic.model.language == self.scorer.language else None

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
        debtor_folded = session.debtor_folded  # what the debtor just said (the scorer forgets it once scored)
        due = session.disclosures_due()  # before the turn: may it be the one that should disclose?
        reading = None
        if self.semantic is not None:  # read first: its rule check decides how the rules' hits count
            debtor = context[-1][1] if context and context[-1][0] == "debtor" else ""
            reading = await self._read(text, debtor, debtor_folded)
        scored = session.score(text, frozenset() if reading is None or isinstance(reading, str) else reading.doubted)
        if self.mode != "lexical" and self.judge is not None:
            result = await judge_turn(self.judge, self.rubric, self.language, list(context), text)
            scored = combine(scored, result, self.mode, self.rubric)
            session.scores[-1] = scored
        if reading is not None:
            scored = self._apply(session, scored, text, debtor_folded, due, reading)
        return scored

    async def _read(self, text: str, debtor: str, debtor_folded: str) -> "TurnReading | str":
        """The detectors' readings of the turn (`SemanticModel.reading`), or why the embedder failed."""
        detector = self.semantic
        try:
            probabilities, votes = await asyncio.to_thread(detector.read, text, debtor)
        except Exception as exc:  # a broken model file or llama.cpp error must not lose the turn
            log.warning("semantic violation detector failed (%s): turn scored without it", exc)
            return str(exc)
        return detector.model.reading(self.scorer, text, debtor_folded, probabilities, votes)

    def _apply(self, session: ScoringSession, scored: TurnScore, text: str, debtor_folded: str, due: bool,
               reading: "TurnReading | str") -> TurnScore:
        """The semantic detector's verdict with the lexical detector's (`SemanticModel.apply`); if the embedder
        failed, the turn keeps the rules' and the lexical detector's verdict, with a note."""
        from .semantic import DUE_ONLY

        if isinstance(reading, str):
            scored = scored.model_copy(update={"notes": [*scored.notes, f"semantic detector unavailable: {reading}"]})
        else:
            scored = self.semantic.model.apply(self.scorer, scored, text, debtor_folded, reading, due)
            if any(v.category in DUE_ONLY for v in scored.violations):
                # a missing disclosure is reported once a call, as the rules do
                session.reported.update(r.id for r in self.scorer.required if r.category in DUE_ONLY)
        session.scores[-1] = scored
        return scored
