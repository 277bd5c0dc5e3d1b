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
    assert "dims 1536" in done.stdout
    # no destructor error at teardown; llama.cpp's warnings went to the log (INFO), not to stderr
    assert done.stderr == ""
    assert "simulator.llama_cpp" in done.stdout
