"""The semantic violation detector's cost per turn, measured in the same `make bench` run as the lexical scorer.

A sample of real labelled turns (every n-th row of `calibration/fr_turns.csv`), each scored as a call scores
it: the semantic detector reads it (`SemanticDetector.read`: the embedded model's vectors of the turn, the
logistic models and the nearest labelled turns' votes; `SemanticModel.reading`: the lexical detector and the
rule check), the rules score it (lexical), then `SemanticModel.apply` weighs the readings.
The model is loaded and warmed up first (`Embedder.warm`, timed apart): the app does that at start-up. The
embedder runs on the threads it uses in the app (not pinned to one core as the lexical rounds are).
At most `BUDGET_S` seconds are spent on the turns (at least `MIN_TURNS` are measured): on a loaded machine a
turn can take seconds, and `make bench` must stay short. When the embedded model is not on this machine, the
result says so and the bench goes on.
"""

from __future__ import annotations

import csv
import os
import statistics
import time

from simulator.errors import SimulatorError
from simulator.settings import PROJECT_ROOT, Settings

LABELS = PROJECT_ROOT / "calibration" / "fr_turns.csv"
SAMPLE = 40
BUDGET_S = 60.0
MIN_TURNS = 10


def sample(n: int = SAMPLE) -> list[tuple[str, str]]:
    """(debtor line, agent turn) of `n` labelled turns spread evenly over the file."""
    with LABELS.open(encoding="utf-8", newline="") as handle:
        rows = [(row["debtor_before"], row["agent_text"]) for row in csv.DictReader(handle)]
    step = max(1, len(rows) // n)
    return rows[::step][:n]


def run_semantic(cpus: set[int] | None = None, n: int = SAMPLE, budget_s: float = BUDGET_S) -> dict:
    """Per-turn times of the semantic detector on `n` labelled turns; {"missing": reason} without the model."""
    from simulator.rubric.loader import resolve_rubric
    from simulator.rubric.semantic import detector_for
    from simulator.rubric.service import get_scorer

    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)  # the lexical rounds pinned the process to one core
    rubric = resolve_rubric("fr-default")
    try:
        detector = detector_for(rubric.rubric, "fr", Settings(semantic="on"))
        if detector is None:
            return {"missing": "fr-default has no semantic detector"}
        start = time.perf_counter()
        detector.embedder.warm()
        warm_s = time.perf_counter() - start
    except SimulatorError as exc:  # no model here (or no llama-cpp-python): the bench says so and goes on
        return {"missing": str(exc)}
    except Exception as exc:  # noqa: BLE001 — e.g. llama.cpp cannot load the file
        return {"missing": f"the embedded model could not be loaded ({exc})"}
    scorer = get_scorer(rubric, "fr")
    model = detector.model
    semantic_ms, total_ms, lexical_ms, first_depth_ms = [], [], [], []
    first = detector.embedder.parts[0] if detector.embedder.parts else None  # one depth alone: the baseline
    deadline = time.perf_counter() + budget_s
    turns = sample(n)
    for debtor, agent in turns:
        if len(semantic_ms) >= MIN_TURNS and time.perf_counter() > deadline:
            break
        session = scorer.session(disclosed=True)
        if debtor:
            session.hear(debtor)
        debtor_folded = session.debtor_folded
        t0 = time.perf_counter()  # as in a call: the detectors read, the rules score (told the rule check's doubts)
        reading = model.reading(scorer, agent, debtor_folded, *detector.read(agent, debtor))
        t1 = time.perf_counter()
        turn = session.score(agent, reading.doubted)
        t2 = time.perf_counter()
        turn = model.apply(scorer, turn, agent, debtor_folded, reading)
        t3 = time.perf_counter()
        if first is not None:  # the same turn embedded by the first depth's copy alone (session 18's detector)
            first.embed_pieces([agent])
            first_depth_ms.append((time.perf_counter() - t3) * 1000)
        lexical_ms.append((t2 - t1) * 1000)
        semantic_ms.append(((t1 - t0) + (t3 - t2)) * 1000)
        total_ms.append((t3 - t0) * 1000)
    ordered = sorted(semantic_ms)
    return {
        "turns": len(semantic_ms), "sampled": len(turns), "threads": detector.embedder.threads, "warm_s": warm_s,
        "semantic_ms": statistics.median(semantic_ms), "semantic_p90_ms": ordered[int(0.9 * (len(ordered) - 1))],
        "semantic_max_ms": ordered[-1], "total_ms": statistics.median(total_ms),
        "lexical_ms_here": statistics.median(lexical_ms), "depths": _parts(model.spec),
        "first_depth_ms": statistics.median(first_depth_ms) if first_depth_ms else None,
    }


def _parts(spec) -> str:
    """`14+20`, or `14+20+p14` with the prompted vector."""
    return "+".join([*map(str, spec.depths), *([f"p{spec.prompted}"] if spec.prompted else [])])


def render_rows(s: dict | None, lexical_us: float) -> str:
    """The rows of the benchmark table for the semantic detector (`s`: `run_semantic`'s result or None: skipped)."""
    if s is None:
        return "\n| semantic violation detector | not measured (`--no-semantic`) | | |"
    if "missing" in s:
        reason = s["missing"].replace("|", "\\|")
        return f"\n| semantic violation detector | not measured: {reason} | | |"
    ratio = s["semantic_ms"] * 1000 / lexical_us
    turns = (f"{s['turns']} of {s['sampled']} sampled labelled turns, {BUDGET_S:.0f} s budget"
             if s["turns"] < s["sampled"] else f"{s['turns']} labelled turns")
    return (f"\n| semantic violation detector: embed + score one turn ({turns}, `fr_turns.csv`; "
            f"llama.cpp on {s['threads']} threads; model loaded and warmed up beforehand in {s['warm_s']:.1f} s) "
            f"| **{s['semantic_ms']:,.0f} ms** (p90 {s['semantic_p90_ms']:,.0f} ms, max {s['semantic_max_ms']:,.0f} ms; "
            f"whole turn with the rules {s['total_ms']:,.0f} ms) | | |"
            f"\n| ratio semantic detector ÷ lexical scorer (its median above, same run) | **{ratio:,.0f}×** | | |"
            + _depth_rows(s))


def _depth_rows(s: dict) -> str:
    """With vectors from several depths: the first depth's copy alone on the same turns, and the ratio."""
    if not s.get("first_depth_ms"):
        return ""
    first = s["depths"].split("+")[0]
    return (f"\n| baseline: the same turns embedded after {first} blocks only (one copy, as before session 19) "
            f"| {s['first_depth_ms']:,.0f} ms | | |"
            f"\n| ratio blocks {s['depths']} ÷ blocks {first} alone (embed + score ÷ embed, same turns) "
            f"| **{s['semantic_ms'] / s['first_depth_ms']:.2f}×** | | |")
