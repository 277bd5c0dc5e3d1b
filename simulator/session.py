"""One practice call: trainee turn → debtor reply (streamed, guarded) → persist.

Every turn is committed to the store as soon as it exists; a backend failure
is reported to the caller and recorded, and the transcript so far is kept.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal

from .debtor.engine import DebtorEngine, Move, fallback_for
from .debtor.guards import GuardEvent, check_reply, clean_reply, complete_for_beat, trim_long
from .debtor.prompt import money
from .debtor.prompt import PromptBuilder, TranscriptLine, pick_opener
from .llm.tokens import TokenBudget
from .errors import LLMError, LLMStreamInterrupted, SimulatorError
from .llm.base import ChatModel
from .rubric.scorecard import Scorecard, build_scorecard
from .rubric.scorer import TurnScore
from .rubric.service import TurnScorer
from .rubric.signals import to_signals
from .scenario import ScenarioFile
from .store import Store, StoredTurn, utcnow

log = logging.getLogger(__name__)

RETRY_DIRECTION = {
    "fr": "répond brièvement, avec ses propres mots, en restant le débiteur",
    "en": "answers briefly, in their own words, staying the debtor",
}
# After a repeated or echoed line, the retry asks for something new and samples more freely:
# at a lower temperature the small model says the same line again.
RETRY_NEW_DIRECTION = {
    "fr": "dit quelque chose de nouveau, sans reprendre ses phrases ni celles du chargé de relance",
    "en": "says something new, without reusing their own or the collector's sentences",
}


@dataclass
class ReplyUpdate:
    """A snapshot of the debtor's reply while it is spoken."""

    text: str
    done: bool = False
    retrying: bool = False
    error: str | None = None
    guard_events: list[GuardEvent] = field(default_factory=list)
    move: Move | None = None
    ended: bool = False  # the debtor hung up or the agreement was confirmed
    outcome: str | None = None
    score: TurnScore | None = None  # the rubric's verdict on the trainee's turn


class CallSession:
    def __init__(
        self,
        scenario: ScenarioFile,
        model: ChatModel,
        store: Store,
        *,
        backend: str,
        prompt_format: Literal["transcript", "chat"] = "transcript",
        trainee: str | None = None,
        mode: str = "practice",
        warm: bool = False,
        budget: TokenBudget | None = None,
        difficulty: str | None = None,
        scorer: TurnScorer | None = None,
    ):
        self.scenario_file = scenario
        self.scenario = scenario.scenario
        self.model = model
        self.store = store
        self.backend = backend
        self.trainee = trainee
        self.mode = mode
        self.warm = warm
        self.history: list[TranscriptLine] = []
        self.engine = DebtorEngine(self.scenario, difficulty)
        self.prompt = PromptBuilder(self.scenario, prompt_format, budget=budget, known_facts=self.engine.revealed_facts)
        if scorer is None:
            from .rubric.loader import resolve_rubric

            scorer = TurnScorer(resolve_rubric(None, self.scenario.language, currency=self.scenario.debt.currency),
                                self.scenario.language)
        self.scorer = scorer
        # Self-test paths are scored as the engine's dry run scores them: the canned replies of a scripted
        # model say nothing about this debtor, so their cues must not move the trainee's scores.
        self.scoring = scorer.session(segment=self.scenario.segment, context_known=mode != "selftest")
        self.scored: list[tuple[int, TurnScore]] = []
        self.scorecard: Scorecard | None = None
        self.id: str | None = None
        self.status: str = "new"
        self._warmup: asyncio.Task | None = None
        self._lock = asyncio.Lock()

    @property
    def language(self) -> str:
        return self.scenario.language

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def outcome(self) -> str:
        return self.engine.final_outcome()

    def _commit(self, speaker: str, text: str, **extra) -> None:
        self.store.add_turn(StoredTurn(
            session_id=self.id, idx=len(self.history), speaker=speaker, text=text, created_at=utcnow(), **extra,
        ))
        self.history.append(TranscriptLine(speaker, text))

    async def start(self) -> str:
        """Open the call: the debtor picks up with the scenario's opening line."""
        if self.status != "new":
            raise SimulatorError("this call has already started")
        self.id = self.store.create_session(
            scenario_id=self.scenario.id, scenario_sha256=self.scenario_file.sha256,
            # frozen as played: the level chosen for this call replaces the file's default
            scenario_json=self.scenario.model_copy(update={"difficulty": self.engine.level}).model_dump_json(),
            language=self.language,
            backend=self.backend, model=self.model.name, mode=self.mode, trainee=self.trainee,
        )
        rubric = self.scorer.rubric_file
        self.store.set_rubric(self.id, rubric_id=rubric.rubric.id, rubric_version=rubric.rubric.version,
                              rubric_json=rubric.frozen_json())
        self.status = "active"
        self._commit("debtor", self.scenario.opening_line)
        self.scoring.hear(self.scenario.opening_line)
        if self.warm:
            # Evaluate the persona prefix while the trainee reads the opening line,
            # so the first real reply reuses the KV cache instead of waiting 5-10 s.
            self._warmup = asyncio.create_task(self._warm())
        return self.scenario.opening_line

    async def _warm(self) -> None:
        try:
            await self.model.complete(self.prompt.warmup(self.history))
        except LLMError as exc:
            log.warning("warm-up of the debtor prompt failed: %s", exc)

    async def say(self, text: str) -> AsyncIterator[ReplyUpdate]:
        """The trainee speaks; yields snapshots of the debtor's reply, the last with done=True."""
        text = " ".join(text.split())
        if not self.active:
            raise SimulatorError("the call is not in progress: start a new call")
        if not text:
            raise SimulatorError("say something to the debtor first")
        async with self._lock:
            context = [(line.speaker, line.text) for line in self.history]
            score = await self.scorer.score(self.scoring, text, context)
            if self.mode != "selftest":  # self-tests score as the engine's dry run does, without the file
                score = self._against_file(score, text)
            move = self.engine.step(text, to_signals(score, text, self.engine.call_date))
            self.scored.append((len(self.history), score))
            self._commit("agent", text, move=move.to_dict(), score=score.to_json())
            async for update in self._reply(text, move):
                if update.done:
                    update.score = score
                if update.done and move.ends_call and not update.error:
                    await self.end(reason="hung_up" if move.beat == "hang_up" else "agreement")
                    update.ended, update.outcome = True, self.outcome
                yield update

    def _against_file(self, score: TurnScore, text: str) -> TurnScore:
        """The turn checked against the scenario's file (`rubric.facts`): a wrong amount stated as the debt."""
        from .rubric.facts import check_stated_amount

        d = self.scenario.debt
        checked = check_stated_amount(score, text, due=d.amount, currency=d.currency, language=self.language,
                                      segment=self.scenario.segment, invoice_ref=d.invoice_ref or "")
        if checked is not score and self.scoring.scores:
            self.scoring.scores[-1] = checked
        return checked

    def _known_text(self) -> str:
        s = self.scenario
        return " ".join([s.situation, s.persona.personality, *(line.text for line in self.history),
                         *self.engine.revealed_facts(), f"{s.debt.amount:.0f} {s.debt.days_overdue}"])

    async def _reply(self, agent_text: str, move: Move) -> AsyncIterator[ReplyUpdate]:
        events: list[GuardEvent] = []
        started = time.perf_counter()
        first_token_ms: int | None = None
        reply = ""
        agent_label = self.prompt.labels["agent"]
        direction_now = self.engine.direction(move)
        retry_kind: str | None = None
        earlier = [line.text for line in self.history if line.speaker == "debtor"]
        for attempt in range(2):
            temperature = 0.7
            direction = direction_now
            if attempt:
                repeated = retry_kind in ("repeat", "echo")
                extra = (RETRY_NEW_DIRECTION if repeated else RETRY_DIRECTION)[self.language]
                direction, temperature = f"{direction_now} ; {extra}", (0.95 if repeated else 0.4)
            opener = None
            if self.prompt.fmt == "transcript":  # a chat endpoint cannot be given the start of its reply
                opener = pick_opener(self.language, move.beat, earlier, len(self.history) + attempt)
            request = self.prompt.build(self.history, direction=direction, temperature=temperature, opener=opener)
            raw = opener or ""
            try:
                async for chunk in self.model.stream(request):
                    if first_token_ms is None:
                        first_token_ms = int((time.perf_counter() - started) * 1000)
                    raw += chunk
                    yield ReplyUpdate(clean_reply(raw, debtor_name=self.scenario.persona.name, agent_label=agent_label))
            except LLMStreamInterrupted as exc:
                raw = (opener or "") + exc.partial
                events.append(GuardEvent("error", str(exc), attempt, "retry" if attempt == 0 else "fallback"))
                if attempt == 0:
                    yield ReplyUpdate("…", retrying=True)
                    continue
            except LLMError as exc:
                # The backend is down: keep the transcript, tell the trainee, let them try again.
                self.store_error(str(exc))
                yield ReplyUpdate("", done=True, error=str(exc), guard_events=events)
                return
            reply = clean_reply(raw, debtor_name=self.scenario.persona.name, agent_label=agent_label)
            # Agreeing, the debtor reads the terms back: that is not an echo.
            failure = check_reply(
                reply, last_agent_line=None if move.beat == "accept" else agent_text, agent_label=agent_label,
                earlier_replies=earlier, locked_facts=self.engine.locked_facts(), known_text=self._known_text(),
                language=self.language,
            )
            if failure is None:
                trimmed = trim_long(reply)
                if trimmed:
                    events.append(GuardEvent("too_long", f"{len(reply)} characters, cut to {len(trimmed)}", attempt, "trim",
                                             rejected=reply))
                    reply = trimmed
                break
            kind, detail = failure
            retry_kind = kind
            events.append(GuardEvent(kind, detail, attempt, "retry" if attempt == 0 else "fallback", rejected=reply))
            log.info("guard %s on attempt %d: %s | %r", kind, attempt, detail, reply)
            if attempt == 0:
                yield ReplyUpdate("…", retrying=True)
            reply = ""
        if not reply:
            reply = fallback_for(self.scenario, move, len(self.history))
        else:
            terms = move.terms
            missing = complete_for_beat(
                reply, move.beat, self.language,
                terms.describe(self.language, self.scenario.debt.currency) if terms else "",
                money(terms.amount, self.scenario.debt.currency, self.language) if terms else None,
            )
            if missing:
                events.append(GuardEvent("incomplete", f"added: {missing}", 0, "complete", rejected=reply))
                reply = f"{reply} {missing}"
        total_ms = int((time.perf_counter() - started) * 1000)
        self._commit(
            "debtor", reply, first_token_ms=first_token_ms, total_ms=total_ms,
            guard_events=[e.to_dict() for e in events],
        )
        self.scoring.hear(reply)
        yield ReplyUpdate(reply, done=True, guard_events=events, move=move)

    def store_error(self, message: str) -> None:
        self.store.set_turn_error(self.id, len(self.history) - 1, message)

    async def end(self, reason: str = "agent_ended") -> None:
        if self._warmup and not self._warmup.done():
            self._warmup.cancel()
        if self.active:
            outcome = self.engine.final_outcome()
            detail = {"outcome": outcome, "difficulty": self.engine.level, "state": self.engine.state.model_dump(),
                      "agreement": self.engine.agreement.model_dump(mode="json") if self.engine.agreement else None,
                      "revealed": self.engine.revealed_facts()}
            self.store.end_session(self.id, status="ended", reason=reason, outcome=outcome, outcome_detail=detail)
            self.scorecard = build_scorecard(self.scorer.rubric, self.scored, outcome=outcome, language=self.language)
            self.store.set_scorecard(self.id, self.scorecard.to_json())
            self.status = "ended"
