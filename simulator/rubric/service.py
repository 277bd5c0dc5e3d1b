"""Scoring a call or a transcript: the compiled rubric, the scoring mode and the judge model together."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ..llm.base import ChatModel
from .judge import combine, judge_turn
from .loader import RubricFile
from .scorer import Scorer, ScoringSession, TurnScore

if TYPE_CHECKING:
    from .semantic import SemanticDetector

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
        scored = session.score(text, reading.doubted if isinstance(reading, _Reading) else frozenset())
        if self.mode != "lexical" and self.judge is not None:
            result = await judge_turn(self.judge, self.rubric, self.language, list(context), text)
            scored = combine(scored, result, self.mode, self.rubric)
            session.scores[-1] = scored
        if reading is not None:
            scored = self._apply(session, scored, text, debtor_folded, due, reading)
        return scored

    async def _read(self, text: str, debtor: str, debtor_folded: str) -> "_Reading | str":
        """The semantic detector's and the lexical detector's readings of the turn, or why the embedder failed."""
        from .semantic import lexical_probabilities

        detector = self.semantic
        try:
            probabilities, votes = await asyncio.to_thread(detector.read, text, debtor)
        except Exception as exc:  # a broken model file or llama.cpp error must not lose the turn
            log.warning("semantic violation detector failed (%s): turn scored without it", exc)
            return str(exc)
        lexical = lexical_probabilities(self.scorer, text, debtor_folded)
        return _Reading(probabilities, votes, lexical, detector.model.doubted(probabilities, lexical, votes))

    def _apply(self, session: ScoringSession, scored: TurnScore, text: str, debtor_folded: str, due: bool,
               reading: "_Reading | str") -> TurnScore:
        """The semantic detector's verdict with the lexical detector's (`semantic.apply_to_turn`); if the
        embedder failed, the turn keeps the rules' and the lexical detector's verdict, with a note."""
        from .semantic import DUE_ONLY, apply_to_turn

        if isinstance(reading, str):
            scored = scored.model_copy(update={"notes": [*scored.notes, f"semantic detector unavailable: {reading}"]})
        else:
            model = self.semantic.model
            scored = apply_to_turn(self.scorer, scored, text, debtor_folded, reading.semantic, model.review_at,
                                   model.critical_at, due, reading.votes, model.stack, reading.lexical,
                                   reading.doubted)
            if any(v.category in DUE_ONLY for v in scored.violations):
                # a missing disclosure is reported once a call, as the rules do
                session.reported.update(r.id for r in self.scorer.required if r.category in DUE_ONLY)
        session.scores[-1] = scored
        return scored


@dataclass
class _Reading:
    """A turn as the detectors read it before it is scored (`TurnScorer._read`)."""

    semantic: dict[str, float]
    votes: dict[str, float] | None
    lexical: dict[str, float]
    doubted: frozenset[str]
