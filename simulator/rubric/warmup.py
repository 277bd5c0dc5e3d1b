"""Preparing the semantic violation detector when the app starts, in a background thread.

Without it, the first scored turn of the first call after install waits for the truncated model copy to be
written (about 15 s, once a machine) and loaded (about a second), and every later start for the load. Here the
app finds the detectors its calls will use (the same choice as `Simulator.scorer_for`: one per language and
currency of the scenario library), then writes the copy if it is missing, loads the model and embeds one short
sentence (`Embedder.warm`), while the page is already served. A turn scored before the warm-up ends waits for
it (the embedder's lock) instead of loading the model a second time.

A failure is logged, not raised: the detector then behaves as without warm-up (each turn tries the model again
and, when it still fails, keeps the rules' and the lexical detector's verdict with a note).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..runtime import Simulator
    from .semantic import SemanticDetector

log = logging.getLogger(__name__)


class WarmUp:
    """One warm-up of a simulator's semantic detectors (`Simulator.warm_up` starts it once)."""

    def __init__(self) -> None:
        self.detectors: list["SemanticDetector"] = []
        self.errors: list[str] = []
        self.seconds: float | None = None
        self.done = threading.Event()
        self.thread: threading.Thread | None = None

    def wait(self, timeout: float | None = None) -> bool:
        """True once the warm-up has ended (done or failed)."""
        return self.done.wait(timeout)

    @property
    def ok(self) -> bool:
        return self.done.is_set() and not self.errors


def detectors_in_use(sim: "Simulator") -> list["SemanticDetector"]:
    """The semantic detectors the calls of `sim` will be scored with (none with `SIMULATOR_SEMANTIC=off` or the
    scripted backend). Raises what `scorer_for` raises (e.g. `SIMULATOR_SEMANTIC=on` without the model)."""
    if sim.settings.semantic == "off" or sim.settings.backend == "scripted":
        return []
    keys = sorted({(sf.scenario.language, sf.scenario.debt.currency) for sf in sim.scenarios.scenarios.values()},
                  key=lambda k: (k[0], k[1] or ""))
    found: dict[int, "SemanticDetector"] = {}
    for language, currency in keys or [(sim.settings.language, None)]:
        detector = sim.scorer_for(language, currency).semantic
        if detector is not None:
            found.setdefault(id(detector), detector)
    return list(found.values())


def _run(sim: "Simulator", state: WarmUp) -> None:
    start = time.perf_counter()
    try:
        try:
            state.detectors = detectors_in_use(sim)
        except Exception as exc:  # noqa: BLE001 — e.g. SIMULATOR_SEMANTIC=on and no model: calls will say so too
            state.errors.append(str(exc))
            log.error("semantic violation detector: not prepared at start-up (%s); each scored turn will try "
                      "again and, while it fails, say so in its notes", exc)
            return
        for detector in state.detectors:
            try:
                detector.embedder.warm()
            except Exception as exc:  # noqa: BLE001 — a failing embedder must not stop the app
                state.errors.append(f"{detector.model.source}: {exc}")
                log.error("semantic violation detector (%s): warm-up failed (%s); turns are scored without it "
                          "until it works (each such turn says so in its notes)", detector.model.source, exc)
        state.seconds = time.perf_counter() - start
        if state.detectors and not state.errors:
            log.info("semantic violation detector ready in %.1f s (%s)", state.seconds,
                     ", ".join(d.model.source for d in state.detectors))
    finally:
        state.done.set()


def start_warm_up(sim: "Simulator") -> WarmUp:
    """Start the warm-up in a daemon thread and return at once."""
    state = WarmUp()
    state.thread = threading.Thread(target=_run, args=(sim, state), name="semantic-warm-up", daemon=True)
    state.thread.start()
    return state
