"""The rubric engine's speed: turns scored per second on one core, and a 30-turn scorecard.

Measured in one run against a baseline (the first stand-in scorer, `minimal_signals`),
rounds interleaved so both see the same machine load; medians of the rounds. The
machine is shared (2 cores), so absolute figures move from run to run; the ratio
moves less. The scorer measured is the one installed (compiled by mypyc, or pure Python:
`simulator/rubric/native.py` says which); the pure-Python scorer is measured in the same
rounds too, so the gain of the compiled build is visible.
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import statistics
import subprocess
import time
from datetime import date, datetime, timezone
from pathlib import Path

from simulator.debtor.signals import minimal_signals
from simulator.rubric import native
from simulator.rubric.loader import resolve_rubric
from simulator.rubric.scorecard import build_scorecard
from simulator.rubric.scorer import Scorer
from simulator.settings import PROJECT_ROOT

from .semantic import render_rows, run_semantic

LABELS = PROJECT_ROOT / "calibration" / "fr_turns.csv"
OUT = PROJECT_ROOT / "BENCHMARKS.md"
CALL_DATE = date(2024, 11, 4)
GOAL_TURNS_PER_S = 5000
GOAL_SCORECARD_MS = 20.0
SECTION = "## Rubric engine"


def corpus() -> list[tuple[str, str]]:
    """(debtor line, agent turn) pairs: the labelled French turns (texts only, labels unused)."""
    with LABELS.open(encoding="utf-8", newline="") as handle:
        return [(row["debtor_before"], row["agent_text"]) for row in csv.DictReader(handle)]


def pin_one_core() -> int | None:
    if not hasattr(os, "sched_setaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    cpu = cpus[-1]
    os.sched_setaffinity(0, {cpu})
    return cpu


def rubric_pass(scorer: Scorer, pairs) -> float:
    start = time.perf_counter()
    for debtor, agent in pairs:
        session = scorer.session(disclosed=True)
        if debtor:
            session.hear(debtor)
        session.score(agent)
    return time.perf_counter() - start


def baseline_pass(pairs) -> float:
    start = time.perf_counter()
    for _, agent in pairs:
        minimal_signals(agent, CALL_DATE)
    return time.perf_counter() - start


def scorecard_once(scorer: Scorer, call: list[tuple[str, str]]) -> float:
    start = time.perf_counter()
    session = scorer.session()
    scored = []
    for i, (debtor, agent) in enumerate(call):
        session.hear(debtor)
        scored.append((2 * i + 1, session.score(agent)))
    build_scorecard(scorer.rubric, scored, outcome="PTP")
    return time.perf_counter() - start


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in Path("/proc/meminfo").read_text().splitlines() if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1024 / 1024:.0f} GiB"
    except (OSError, StopIteration, ValueError):
        pass
    return f"{model}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.machine()}, Python {platform.python_version()}"


def commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=PROJECT_ROOT, capture_output=True,
                              text=True, timeout=10).stdout.strip() or "?"
    except OSError:
        return "?"


def load() -> str:
    """The machine's 1, 5 and 15-minute load averages (what `uptime` shows): other work shares the cores."""
    try:
        return " / ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def pure_scorer():
    """The plain-Python scorer, loaded beside the one in use (`native.pure_module`); None when the scorer in
    use is already pure Python (the same code: measuring it twice would say nothing)."""
    if not native.is_compiled():
        return None
    return native.pure_module("scorer").Scorer(native.pure_module("loader").resolve_rubric("fr-default"))


def ready_matchers(scorer) -> None:
    """Wait for the scorer's prefilter databases (`matcher.py`: a background compile in `auto` mode)."""
    from importlib import import_module

    matcher = import_module(type(scorer).__module__.rpartition(".")[0] + ".matcher")
    for index in (scorer.literals, scorer.cue_literals):
        matcher.wait(index)


def run(rounds: int = 7, repeat: int = 4, cards: int = 41) -> dict:
    load_before = load()
    cpu = pin_one_core()
    pairs = corpus() * repeat
    scorer = Scorer(resolve_rubric("fr-default"))
    pure = pure_scorer()
    for s in (scorer, pure):  # the Hyperscan prefilter, when installed: compiled (or read from its cache) first
        if s is not None:
            ready_matchers(s)
    rubric_pass(scorer, pairs[:50])  # warm-up: compiled patterns, caches
    if pure is not None:
        rubric_pass(pure, pairs[:50])
    baseline_pass(pairs[:50])
    rubric_rates, baseline_rates, pure_rates = [], [], []
    for _ in range(rounds):  # interleaved: all see the same load
        rubric_rates.append(len(pairs) / rubric_pass(scorer, pairs))
        if pure is not None:
            pure_rates.append(len(pairs) / rubric_pass(pure, pairs))
        baseline_rates.append(len(pairs) / baseline_pass(pairs))
    base = corpus()
    call = [base[(7 * i) % len(base)] for i in range(30)]
    card_ms = sorted(scorecard_once(scorer, call) * 1000 for _ in range(cards))
    rubric_rate = statistics.median(rubric_rates)
    baseline_rate = statistics.median(baseline_rates)
    pure_rate = statistics.median(pure_rates) if pure_rates else None
    return {
        "variant": native.variant(), "pure_turns_per_s": pure_rate, "matcher": scorer.literals.matcher_state,
        "cpu": cpu, "turns": len(pairs), "rounds": rounds,
        "rubric_turns_per_s": rubric_rate, "baseline_turns_per_s": baseline_rate,
        "ratio": rubric_rate / baseline_rate,
        "rubric_us_per_turn": 1e6 / rubric_rate,
        "scorecard_ms": statistics.median(card_ms), "scorecard_p90_ms": card_ms[int(0.9 * (len(card_ms) - 1))],
        "rubric_spread": (min(rubric_rates), max(rubric_rates)),
        "load": (load_before, load()),
    }


def render(r: dict) -> str:
    ok_rate = "meets" if r["rubric_turns_per_s"] >= GOAL_TURNS_PER_S else "misses"
    ok_card = "meets" if r["scorecard_ms"] < GOAL_SCORECARD_MS else "misses"
    when = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    pure = r.get("pure_turns_per_s")
    pure_rows = (f"""
| the pure-Python scorer in the same run (same code, not compiled) | {pure:,.0f} turns/s ({1e6 / pure:.0f} µs/turn) | | |
| ratio compiled ÷ pure Python | **{r['rubric_turns_per_s'] / pure:.2f}×** | | |""" if pure else "")
    return f"""{SECTION}

Measured {when} on {machine()}; commit {commit()}; pinned to CPU {r['cpu']} (`os.sched_setaffinity`).
Load average (1 / 5 / 15 min, as `uptime` shows) {r['load'][0]} before the run, {r['load'][1]} after.
Scorer measured: **{r['variant']}** (`simulator/rubric/native.py`); its probe: **{r.get('matcher', '?')}**
(`simulator/rubric/matcher.py`).
`make bench` (= `python -m benchmarks`) rewrites this section.

| measure | median | goal | |
|---|---|---|---|
| agent turns scored per second, one core (`fr-default`, {r['turns']} turns × {r['rounds']} rounds) | **{r['rubric_turns_per_s']:,.0f}** ({r['rubric_us_per_turn']:.0f} µs/turn; rounds {r['rubric_spread'][0]:,.0f}–{r['rubric_spread'][1]:,.0f}) | ≥ {GOAL_TURNS_PER_S:,} | {ok_rate} |{pure_rows}
| baseline in the same run: `minimal_signals` (the first stand-in scorer) | {r['baseline_turns_per_s']:,.0f} turns/s | | |
| ratio rubric ÷ baseline | **{r['ratio']:.2f}×** | | |
| 30-turn call: score every agent turn + build the scorecard | **{r['scorecard_ms']:.1f} ms** (p90 {r['scorecard_p90_ms']:.1f} ms) | < {GOAL_SCORECARD_MS:.0f} ms | {ok_card} |{render_rows(r.get('semantic'), r['rubric_us_per_turn'])}

The corpus is the labelled French turns of `calibration/fr_turns.csv` (texts only), each scored with the
debtor's line before it, as a call scores it. The machine is shared with other work: absolute figures move
from run to run, the ratio against the baseline measured in the same rounds moves less. The semantic
detector (`benchmarks/semantic.py`) is measured after the lexical rounds on a sample of the same turns, on
the threads it uses in the app; it reads the turn in a thread before the rules score it (its rule check says
which rule hits count), so its time is what a turn's verdict waits for, not what the rules cost.
"""


def write(section: str, path: Path = OUT) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n\n"
    if SECTION in text:
        start = text.index(SECTION)
        nxt = text.find("\n## ", start + len(SECTION))
        text = text[:start] + section.rstrip("\n") + "\n\n" + (text[nxt + 1:] if nxt != -1 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-write", action="store_true", help="print only, leave BENCHMARKS.md alone")
    parser.add_argument("--no-semantic", action="store_true", help="skip the semantic violation detector")
    args = parser.parse_args(argv)
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    result = run(rounds=args.rounds)
    result["semantic"] = None if args.no_semantic else run_semantic(cpus)
    section = render(result)
    print(section)
    if not args.no_write:
        write(section)
        print(f"updated {OUT}")
    return 0
