"""The semantic detector's life in a process: warmed up in the background when the app starts (the page is
served at once, the first turn does not wait, a failure is logged and not raised), and its model freed at exit
(nothing printed on stderr by llama.cpp or llama-cpp-python's destructors)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

from simulator.llm.embedded import EMBEDDED_MODEL
from simulator.settings import PROJECT_ROOT

from .conftest import REAL_DATA_DIR


# --- exit ----------------------------------------------------------------------------------------------------

EXIT_SCRIPT = textwrap.dedent("""
    import logging, sys
    logging.basicConfig(stream=sys.stdout, level=logging.INFO)  # the log is not what this checks: stderr is
    from simulator.rubric.loader import resolve_rubric
    from simulator.rubric.semantic import detector_for
    from simulator.settings import Settings
    detector = detector_for(resolve_rubric("fr-default").rubric, "fr", Settings(semantic="on"))
    print("dims", len(detector.embedder.embed(["Bonjour, je vous appelle au sujet de la facture."])[0]))
""")


@pytest.mark.embedded
def test_a_process_that_used_the_real_embedder_exits_with_nothing_on_stderr():
    if not (REAL_DATA_DIR / "models" / EMBEDDED_MODEL.filename).is_file():
        pytest.skip("the embedded model is not assembled (make test runs prepare-model first)")
    env = {**os.environ, "SIMULATOR_DATA_DIR": str(REAL_DATA_DIR), "PYTHONPATH": str(PROJECT_ROOT)}
    done = subprocess.run([sys.executable, "-c", EXIT_SCRIPT], capture_output=True, text=True, env=env,
                          timeout=180)
    assert done.returncode == 0, done.stderr
    assert "dims 3072" in done.stdout  # blocks 14 and 20 side by side: both copies loaded and freed
    # no destructor error at teardown; llama.cpp's warnings went to the log (INFO), not to stderr
    assert done.stderr == ""
    assert "simulator.llama_cpp" in done.stdout


# --- warm-up -------------------------------------------------------------------------------------------------

SHIPPED = PROJECT_ROOT / "rubrics" / "models" / "fr-semantic.json"
OPENING = ("Bonjour Monsieur Moreau, je suis Claire de Bois et Compagnie, au sujet de la facture FA-2024-0312 "
           "de 4 800 €.")


class SlowEmbedder:
    """Stands for `Embedder`: `warm` holds the lock until the test opens `gate` (or fails with `error`), as the
    real one holds it while it writes and loads the model; embedding waits for the same lock."""

    def __init__(self, spec, error: Exception | None = None):
        import threading

        self.spec = spec
        self.gate = threading.Event()
        self.started = threading.Event()
        self.error = error
        self.warmed = 0
        self.embedded: list[str] = []
        self._lock = threading.Lock()

    def warm(self):
        with self._lock:
            self.warmed += 1
            self.started.set()
            assert self.gate.wait(30), "the test never opened the gate"
            if self.error:
                raise self.error

    def embed_pieces(self, texts, split=True, debtors=None):
        with self._lock:
            if self.error:
                raise self.error
            self.embedded.extend(texts)
            return [[[0.0] * (1536 * len(self.spec.parts()))] for _ in texts]


@pytest.fixture
def fake_semantic(monkeypatch):
    """`detector_for` gives a real `SemanticDetector` (the shipped weights) over a `SlowEmbedder`."""
    from simulator.rubric import semantic

    made = {}

    def install(error: Exception | None = None):
        model = semantic.load_semantic(SHIPPED)
        embedder = SlowEmbedder(model.spec, error)
        detector = semantic.SemanticDetector(model, embedder)
        asked = []

        def fake_detector_for(rubric, language, settings):
            asked.append(language)
            return detector if language == model.language else None

        monkeypatch.setattr(semantic, "detector_for", fake_detector_for)
        made.update(embedder=embedder, detector=detector, asked=asked)
        return embedder

    yield install
    if "embedder" in made:
        made["embedder"].gate.set()  # never leave a warm-up thread waiting


def _simulator(tmp_path, scenarios_dir, **settings):
    from simulator.llm.scripted import ScriptedModel
    from simulator.runtime import Simulator
    from simulator.settings import Settings

    # not the scripted backend (its calls are scored by the rules only), but a scripted debtor all the same
    values = dict(backend="openai", base_url="http://127.0.0.1:9/v1", model="debtor", data_dir=tmp_path / "data",
                  scenarios_dir=scenarios_dir) | settings
    return Simulator(Settings(**values), model=ScriptedModel(["Oui, bon… c'est compliqué en ce moment."]))


def test_the_page_is_served_while_the_detector_warms_up_and_it_warms_up_once(tmp_path, scenarios_dir,
                                                                           fake_semantic, monkeypatch):
    import urllib.request

    import gradio as gr

    from simulator.llm.embedded import free_port
    from simulator.ui.app import launch

    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    embedder = fake_semantic()
    one = tmp_path / "scenarios"  # one scenario: the scenarios tab self-tests the library when the page is built
    one.mkdir()
    (one / "difficulte-passagere.yaml").write_bytes((scenarios_dir / "difficulte-passagere.yaml").read_bytes())
    sim = _simulator(tmp_path, one, port=free_port())
    try:
        launch(sim, prevent_thread_lock=True)
        assert embedder.started.wait(10), "launch did not start the warm-up"
        # the warm-up is still running (the gate is closed): the page answers all the same
        with urllib.request.urlopen(f"http://127.0.0.1:{sim.settings.port}/", timeout=10) as response:
            assert response.status == 200 and "<html" in response.read().decode("utf-8", "replace").lower()
        assert not sim.warm_up().done.is_set()
        embedder.gate.set()
        assert sim.warm_up().wait(10) and sim.warm_up().ok
        assert sim.warm_up().detectors and embedder.warmed == 1
    finally:
        embedder.gate.set()
        gr.close_all()
        import asyncio

        asyncio.run(sim.aclose())


async def test_calls_and_turns_do_not_warm_up_again(tmp_path, scenarios_dir, fake_semantic):
    embedder = fake_semantic()
    sim = _simulator(tmp_path, scenarios_dir)
    warm = sim.warm_up()
    assert embedder.started.wait(10)
    assert sim.warm_up() is warm  # started once per app
    embedder.gate.set()
    assert warm.wait(10) and warm.ok
    for _ in range(2):
        call = await sim.start_call("difficulte-passagere")
        updates = [u async for u in call.say(OPENING)]
        assert updates[-1].score is not None
        await sim.end_call(call.id)
    assert embedder.warmed == 1 and embedder.embedded == [OPENING, OPENING]  # the turns used the warm model
    await sim.aclose()


async def test_a_failing_warm_up_is_logged_not_raised_and_turns_say_so(tmp_path, scenarios_dir, fake_semantic,
                                                                       caplog):
    import logging

    from simulator.rubric.embedder import EmbedderError

    embedder = fake_semantic(EmbedderError("model.first14.gguf: not a GGUF model this detector can read"))
    embedder.gate.set()
    sim = _simulator(tmp_path, scenarios_dir)
    with caplog.at_level(logging.ERROR, logger="simulator.rubric.warmup"):
        warm = sim.warm_up()
        assert warm.wait(10)
    assert not warm.ok and "not a GGUF model" in warm.errors[0]
    assert "warm-up failed" in caplog.text and "not a GGUF model" in caplog.text
    # later, the detector behaves as without warm-up: the turn is scored, with a note
    call = await sim.start_call("difficulte-passagere")
    updates = [u async for u in call.say(OPENING)]
    score = updates[-1].score
    assert score is not None and any("semantic detector unavailable" in n for n in score.notes)
    await sim.aclose()


def test_no_warm_up_when_the_detector_is_off_or_the_backend_scripted(tmp_path, scenarios_dir, fake_semantic):
    embedder = fake_semantic()
    for settings in ({"semantic": "off"}, {"backend": "scripted"}):
        sim = _simulator(tmp_path, scenarios_dir, **settings)
        warm = sim.warm_up()
        assert warm.wait(10) and warm.ok and warm.detectors == []
        sim.store.close()
    assert embedder.warmed == 0


def test_on_without_the_model_is_reported_at_start_up(tmp_path, scenarios_dir, caplog):
    import logging

    sim = _simulator(tmp_path, scenarios_dir, semantic="on")  # the tmp data dir holds no model
    with caplog.at_level(logging.ERROR, logger="simulator.rubric.warmup"):
        warm = sim.warm_up()
        assert warm.wait(10)
    assert not warm.ok and "not on this machine" in caplog.text and "not prepared at start-up" in caplog.text
    sim.store.close()


# --- closing -------------------------------------------------------------------------------------------------

def test_close_all_frees_every_loaded_model_and_a_busy_one_does_not_hold_up_exit(caplog):
    import logging

    from simulator.rubric import embedder as module
    from simulator.rubric.embedder import Embedder, EmbedderSpec

    class FakeLlama:
        closed = 0

        def close(self):
            FakeLlama.closed += 1

    spec = EmbedderSpec(EMBEDDED_MODEL.sha256, 14)
    a, b = Embedder(spec, PROJECT_ROOT / "none.gguf"), Embedder(spec, PROJECT_ROOT / "none.gguf")
    for e in (a, b):
        e._llama = FakeLlama()
        module._OPEN.add(e)
    b._lock.acquire()  # an embedding in progress
    try:
        with caplog.at_level(logging.WARNING):
            b.close(timeout=0.05)
        assert b.loaded and "still busy" in caplog.text
    finally:
        b._lock.release()
    module.close_all()
    assert FakeLlama.closed == 2 and not a.loaded and not b.loaded and a not in module._OPEN


def test_rubric_files_load_from_several_threads_at_once():
    """The warm-up reads rubrics while the app builds its page (and the app's handlers run in threads): one
    shared ruamel parser read by two threads at once mixed their files up ("YAML syntax" errors on valid files)."""
    from concurrent.futures import ThreadPoolExecutor

    from simulator.rubric.loader import load_rubric

    paths = [PROJECT_ROOT / "rubrics" / f"{name}.yaml" for name in ("fr-default", "en-us", "en-uk")] * 2
    with ThreadPoolExecutor(4) as pool:
        loaded = list(pool.map(load_rubric, paths))
    assert [r.rubric.id for r in loaded] == [p.stem for p in paths]
