"""Scenario self-tests: play each scripted trainee path and check the outcome it reaches."""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field

from .runtime import Simulator


@dataclass
class PathResult:
    scenario_id: str
    path: str
    expected: str
    max_miss_rate: float
    runs: int = 0
    outcomes: Counter = field(default_factory=Counter)
    replies: int = 0
    fallbacks: int = 0
    guard_events: Counter = field(default_factory=Counter)
    sample: list[tuple[str, str]] = field(default_factory=list)
    reply_ms: list[int] = field(default_factory=list)

    @property
    def median_reply_ms(self) -> int | None:
        return int(statistics.median(self.reply_ms)) if self.reply_ms else None

    @property
    def hit_rate(self) -> float:
        return self.outcomes[self.expected] / self.runs if self.runs else 0.0

    @property
    def passed(self) -> bool:
        return 1 - self.hit_rate <= self.max_miss_rate + 1e-9

    @property
    def fallback_rate(self) -> float:
        return self.fallbacks / self.replies if self.replies else 0.0


async def run_path(sim: Simulator, scenario_id: str, path, runs: int) -> PathResult:
    result = PathResult(scenario_id, path.name, path.expect, path.max_miss_rate)
    for run in range(runs):
        call = await sim.start_call(scenario_id, mode="selftest")
        for line in path.turns:
            if not call.active:
                break
            async for update in call.say(line):
                if update.done:
                    result.replies += 1
                    for event in update.guard_events:
                        result.guard_events[event.kind] += 1
                        result.fallbacks += event.action == "fallback"
        result.reply_ms += [t.total_ms for t in sim.store.turns(call.id) if t.speaker == "debtor" and t.total_ms]
        outcome = call.outcome
        await sim.end_call(call.id, reason="selftest_done")
        result.runs += 1
        result.outcomes[outcome] += 1
        if run == 0:
            result.sample = [(line.speaker, line.text) for line in call.history]
    return result


async def run_selftests(sim: Simulator, scenario_ids: list[str], runs: int = 1) -> list[PathResult]:
    results = []
    for sid in scenario_ids:
        scenario = sim.scenarios.scenarios[sid].scenario
        for path in scenario.selftest:
            results.append(await run_path(sim, sid, path, runs))
    return results


def format_results(results: list[PathResult]) -> str:
    lines = [f"{'scenario':22} {'path':22} {'expect':13} {'hit':>6} {'fallback':>9} {'reply':>7}  outcomes / guard events"]
    for r in results:
        outcomes = ", ".join(f"{k}:{v}" for k, v in r.outcomes.most_common())
        guards = ", ".join(f"{k}:{v}" for k, v in r.guard_events.most_common()) or "-"
        mark = "ok  " if r.passed else "FAIL"
        median = f"{r.median_reply_ms / 1000:.1f}s" if r.median_reply_ms is not None else "-"
        lines.append(f"{r.scenario_id:22} {r.path:22} {r.expected:13} {r.hit_rate:6.0%} {r.fallback_rate:9.0%} {median:>7}  "
                     f"{mark} {outcomes} | {guards}")
    return "\n".join(lines)
