"""llama.cpp's repacked weights are left out on CPUs with Intel AMX, where llama.cpp's AMX code crashes
(`simulator/llm/llama_cpu.py`): the CPU check, the setting, the defaults llama-cpp-python loads models with,
and the server's launcher."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from simulator.llm import llama_cpu
from simulator.llm.embedded import LlamaServer
from simulator.settings import Settings

AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f amx_bf16 avx512_fp16 amx_tile amx_int8\n"
NO_AMX = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma f16c\nbugs\t\t: amx_tile_fake\n"


@pytest.fixture
def cpuinfo(tmp_path):
    def write(text: str) -> Path:
        path = tmp_path / "cpuinfo"
        path.write_text(text)
        return path
    return write


def test_the_cpu_check_reads_the_flags_line(cpuinfo, tmp_path):
    assert llama_cpu.cpu_has_amx(cpuinfo(AMX))
    assert not llama_cpu.cpu_has_amx(cpuinfo(NO_AMX))  # a word on another line is not a flag
    assert not llama_cpu.cpu_has_amx(tmp_path / "missing")


def test_auto_leaves_the_repacked_weights_out_on_amx_only(cpuinfo):
    amx = cpuinfo(AMX)
    assert llama_cpu.repack_wanted("auto", amx) is False
    plain = amx.with_name("plain")
    plain.write_text(NO_AMX)
    assert llama_cpu.repack_wanted("auto", plain) is True
    assert llama_cpu.repack_wanted("on", amx) is True
    assert llama_cpu.repack_wanted("off", plain) is False


def test_a_bad_choice_names_the_variable_and_the_choices(monkeypatch):
    with pytest.raises(ValueError, match="SIMULATOR_LLAMA_REPACK='sometimes'.*auto, on, off"):
        llama_cpu.repack_wanted("sometimes")
    monkeypatch.setenv("SIMULATOR_LLAMA_REPACK", "sometimes")
    with pytest.raises(ValidationError, match="llama_repack"):
        Settings()
    monkeypatch.setenv("SIMULATOR_LLAMA_REPACK", "off")
    assert llama_cpu.setting() == "off" and llama_cpu.repack_wanted() is False


def test_apply_sets_the_defaults_models_are_loaded_with():
    low_level = pytest.importorskip("llama_cpp.llama_cpp")
    before = llama_cpu.repack_wanted()
    try:
        assert llama_cpu.apply(False) is False
        assert low_level.llama_model_default_params().use_extra_bufts is False
        assert llama_cpu.apply(False) is False  # again: not wrapped twice
        assert low_level.llama_model_default_params().use_extra_bufts is False
        assert llama_cpu.apply(True) is True
        params = low_level.llama_model_default_params()
        assert params.use_extra_bufts is True
        assert params.vocab_only is False and params.check_tensors is False  # llama.cpp's other defaults kept
    finally:
        llama_cpu.apply(before)


def test_the_chat_server_starts_through_the_launcher(tmp_path):
    command = LlamaServer(tmp_path / "model.gguf", n_ctx=1024).command()
    assert command[1:3] == ["-m", "simulator.llm.llama_server"]
    assert command[command.index("--model") + 1] == str(tmp_path / "model.gguf")


def test_the_launcher_runs_llama_cpp_pythons_server():
    pytest.importorskip("llama_cpp.server")
    done = subprocess.run([sys.executable, "-m", "simulator.llm.llama_server", "--help"], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "--n_threads_batch" in done.stdout and "--interrupt_requests" in done.stdout
