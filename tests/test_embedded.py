"""The embedded default model for real: assembled from its PyPI parts, served by llama.cpp."""

import hashlib
import os
import signal

import pytest

from simulator.debtor.guards import check_reply
from simulator.llm import GenerationRequest
from simulator.llm.embedded import EMBEDDED_MODEL, EmbeddedModel, LlamaServer, assemble_model, part_paths
from simulator.runtime import Simulator
from simulator.settings import Settings

from .conftest import REAL_DATA_DIR, SCENARIOS

pytestmark = pytest.mark.embedded


@pytest.fixture(scope="module")
def gguf():
    return assemble_model(REAL_DATA_DIR / "models", progress=None)


def test_parts_are_installed_in_order():
    paths = part_paths()
    assert len(paths) == 22
    assert [p.name for p in paths][:2] == ["part01.bin", "part02.bin"]
    assert sum(p.stat().st_size for p in paths) == EMBEDDED_MODEL.size


def test_assembly_verifies_the_hash(tmp_path):
    progress = []
    path = assemble_model(tmp_path, progress=lambda done, total: progress.append((done, total)))
    assert path.stat().st_size == EMBEDDED_MODEL.size
    assert progress[-1] == (EMBEDDED_MODEL.size, EMBEDDED_MODEL.size)
    assert (tmp_path / (EMBEDDED_MODEL.filename + ".sha256")).read_text().strip() == EMBEDDED_MODEL.sha256
    # a cached, verified file is reused without reassembly
    progress.clear()
    assert assemble_model(tmp_path, progress=lambda d, t: progress.append(d)) == path
    assert progress == []
    path.unlink()  # 1 GiB: do not leave it in pytest's kept temp folders


def test_a_corrupt_part_is_refused(tmp_path):
    from dataclasses import replace

    from simulator.errors import ModelAssemblyError

    wrong = replace(EMBEDDED_MODEL, sha256=hashlib.sha256(b"other").hexdigest())
    with pytest.raises(ModelAssemblyError, match="sha256"):
        assemble_model(tmp_path, spec=wrong, progress=None)
    assert list(tmp_path.iterdir()) == []  # neither the file nor its partial copy is kept


async def test_two_turn_call_in_french(gguf, tmp_path):
    settings = Settings(backend="embedded", model_path=gguf, data_dir=tmp_path / "data", scenarios_dir=SCENARIOS)
    sim = Simulator(settings)
    try:
        call = await sim.start_call("difficulte-passagere")
        replies = []
        for line in ("Bonjour Monsieur Moreau, je suis Claire Martin, du service relance de Bois et Compagnie. "
                     "Je vous appelle au sujet de la facture FA-2024-0312 de 4 800 euros.",
                     "Je comprends. Qu'est-ce qui vous empêche de la régler en ce moment ?"):
            updates = [u async for u in call.say(line)]
            final = updates[-1]
            assert final.done and not final.error
            replies.append(final.text)
            # in character: whatever the model said passed the guards, or the neutral line was used
            assert check_reply(final.text, last_agent_line=line, agent_label="Chargé de relance") is None
        assert all(r.strip() for r in replies)
        turns = sim.store.turns(call.id)
        assert [t.speaker for t in turns] == ["debtor", "agent", "debtor", "agent", "debtor"]
        assert turns[2].first_token_ms is not None
    finally:
        await sim.aclose()
    assert not sim.model.server.running()


async def test_server_is_restarted_when_it_dies(gguf, tmp_path):
    server = LlamaServer(gguf, n_ctx=1024, log_path=tmp_path / "llama.log")
    model = EmbeddedModel(server, timeout=60)
    try:
        await model.start()
        first_pid = server.process.pid
        os.kill(first_pid, signal.SIGKILL)
        server.process.wait()
        text = await model.complete(GenerationRequest(prompt="Bonjour, je m'appelle", max_tokens=5, temperature=0))
        assert text.strip()
        assert server.running() and server.process.pid != first_pid and server.restarts == 1
    finally:
        await model.aclose()


def test_the_budget_counts_with_the_models_own_tokenizer(gguf):
    from simulator.llm.factory import token_budget
    from simulator.llm.tokens import LlamaVocabCounter

    settings = Settings(backend="embedded", model_path=gguf, embedded_ctx=2048)
    model = EmbeddedModel(LlamaServer(gguf, n_ctx=2048))  # not started: counting needs the vocabulary only
    budget = token_budget(settings, model)
    assert isinstance(budget.counter, LlamaVocabCounter) and budget.context_tokens == 2048
    text = "Bonjour Monsieur Moreau, je vous appelle au sujet de la facture FA-2024-0312 de 4 800 €."
    tokens = budget.counter.count(text)
    assert 2.0 <= len(text) / tokens <= 4.5  # French: about 3.3 characters per Qwen token
    assert budget.counter.count(text + " " + text) > tokens
