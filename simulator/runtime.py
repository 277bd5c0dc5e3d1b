"""The running simulator: settings, store, model, scenario library and live calls.

The UI and the CLI are thin adapters over this object.
"""

from __future__ import annotations

from .auth import Access
from .errors import SimulatorError
from .llm.base import ChatModel
from .llm.factory import build_judge_model, build_model, token_budget
from .rubric.loader import resolve_rubric
from .rubric.service import TurnScorer
from .scenario import Level, LoadResult, ScenarioFile, load_scenarios
from .session import CallSession
from .settings import Settings
from .store import Store


class Simulator:
    def __init__(self, settings: Settings, *, model: ChatModel | None = None, store: Store | None = None):
        self.settings = settings
        self.store = store or Store(settings.database, heartbeat_seconds=settings.heartbeat_seconds)
        self.store.register_instance()
        # Calls left active by a process that died (this one before a crash, or another one
        # sharing the database) are shown as interrupted; the heartbeat repeats this check.
        self.store.mark_interrupted()
        self.access = Access(self.store, settings)
        self.model = model or build_model(settings)
        self.scenarios: LoadResult = load_scenarios(settings.scenarios_dir)
        self.calls: dict[str, CallSession] = {}
        self.budget = token_budget(settings, self.model)
        self.judge: ChatModel | None = None
        if settings.scoring != "lexical":
            self.judge = build_judge_model(settings) or self.model
        self._warm_up = None

    def scorer_for(self, language: str, currency: str | None = None) -> TurnScorer:
        """The rubric a call is scored with: the setting, or the default for its language and currency."""
        rubric = resolve_rubric(self.settings.rubric, language, self.settings.rubrics_dir, currency)
        semantic = None
        if self.settings.backend != "scripted":  # the scripted test double plays canned lines: rules only
            from .rubric.semantic import detector_for

            semantic = detector_for(rubric.rubric, language, self.settings)
        return TurnScorer(rubric, language, mode=self.settings.scoring, judge=self.judge, semantic=semantic)

    def warm_up(self):
        """Prepare the semantic violation detector in a background thread, once (`rubric/warmup.py`): the app
        calls it when it starts, so the first scored turn does not wait for the model. Returns the `WarmUp`."""
        if self._warm_up is None:
            from .rubric.warmup import start_warm_up

            self._warm_up = start_warm_up(self)
        return self._warm_up

    def reload_scenarios(self) -> LoadResult:
        self.scenarios = load_scenarios(self.settings.scenarios_dir)
        return self.scenarios

    async def start_call(self, scenario_id: str | ScenarioFile, *, trainee: str | None = None, mode: str = "practice",
                         difficulty: Level | None = None) -> CallSession:
        """Start a call on a library scenario (by id) or on a scenario file not saved yet (the self-test "try it")."""
        if isinstance(scenario_id, ScenarioFile):
            scenario = scenario_id
        else:
            scenario = self.scenarios.scenarios.get(scenario_id)
        if scenario is None:
            known = ", ".join(sorted(self.scenarios.scenarios)) or "none"
            raise SimulatorError(f"unknown scenario {scenario_id!r} (valid scenarios: {known})")
        call = CallSession(
            scenario, self.model, self.store, backend=self.settings.backend,
            prompt_format=self.settings.resolved_prompt_format, trainee=trainee, mode=mode,
            warm=self.settings.backend == "embedded", budget=self.budget, difficulty=difficulty,
            scorer=self.scorer_for(scenario.scenario.language, scenario.scenario.debt.currency),
        )
        await call.start()
        self.calls[call.id] = call
        return call

    async def end_call(self, call_id: str, reason: str = "agent_ended") -> None:
        call = self.calls.pop(call_id, None)
        if call is not None:
            await call.end(reason)

    async def aclose(self) -> None:
        for call_id in list(self.calls):
            await self.end_call(call_id, reason="app_stopped")
        await self.model.aclose()
        if self.judge is not None and self.judge is not self.model:
            await self.judge.aclose()
        self.store.close()
