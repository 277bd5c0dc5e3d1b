"""llama.cpp's repacked weights, and the CPUs where they crash (Intel AMX).

llama.cpp copies some weights into "extra" buffers at load (`use_extra_bufts`, on by default): a layout its
matrix code reads faster — on CPUs with Intel AMX (Sapphire Rapids and later Xeons), the AMX buffer. On such a
machine (a virtual one here: the 2-core Xeon of 2026-11-23) the AMX matrix code crashes the process with a
segmentation fault on the first evaluation, both for the embedded debtor's server and for the semantic
detector's vectors (llama.cpp issue 20824, "segfault in ggml_backend_amx_mul_mat"; pull request 26954: worker
threads need the kernel's permission for AMX tile data, which only the main thread asks for). The weights in
the ordinary buffers give the same model (measured on that machine: a turn's vector in 0.15 s, a chat reply in
0.5 s, no crash).

So llama.cpp loads without the extra buffers when the CPU has AMX (setting `llama_repack`: `auto`), or always
(`off`), or never (`on`: with a llama.cpp that has the fix). `apply` sets llama-cpp-python's model defaults for
this process (the embedder calls it before loading); the chat server, a child process, runs through
`python -m simulator.llm.llama_server`, which calls it before llama-cpp-python's own server starts.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "SIMULATOR_LLAMA_REPACK"
CHOICES = ("auto", "on", "off")
_AMX_FLAGS = frozenset({"amx_tile", "amx_int8", "amx_bf16"})
_lock = threading.Lock()
_applied: bool | None = None  # what `apply` set in this process: True (kept), False (turned off), None (not yet)


def cpu_has_amx(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether the CPU reports an AMX feature (the `flags` lines of /proc/cpuinfo; False where there is none)."""
    try:
        text = cpuinfo.read_text(errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            if _AMX_FLAGS & set(line.split(":", 1)[1].split()):
                return True
    return False


def setting() -> str:
    """The `llama_repack` setting (`SIMULATOR_LLAMA_REPACK`, or the `.env` file): auto, on or off."""
    from ..settings import Settings

    return Settings().llama_repack


def repack_wanted(choice: str | None = None, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether llama.cpp may load weights into its extra (repacked) buffers here."""
    choice = setting() if choice is None else choice
    if choice not in CHOICES:
        raise ValueError(f"{ENV}={choice!r}: expected one of {', '.join(CHOICES)}")
    if choice == "auto":
        return not cpu_has_amx(cpuinfo)
    return choice == "on"


def apply(repack: bool | None = None) -> bool:
    """Make llama-cpp-python load models of this process with (True) or without (False) the extra buffers;
    `repack` None: as `repack_wanted()` says. Returns what was set. Idempotent; before any model is loaded."""
    global _applied
    if repack is None:
        repack = repack_wanted()
    with _lock:
        if _applied is repack:
            return repack
        from llama_cpp import llama_cpp as low_level

        # llama-cpp-python's own function (its `__wrapped__` is the typed stub, which returns None)
        original = getattr(low_level.llama_model_default_params, "_simulator_original",
                           low_level.llama_model_default_params)

        def model_default_params():  # what `Llama.__init__` starts from
            params = original()
            params.use_extra_bufts = repack
            return params

        model_default_params._simulator_original = original  # type: ignore[attr-defined]
        low_level.llama_model_default_params = model_default_params
        if not repack:
            log.info("llama.cpp loads without repacked weight buffers (setting llama_repack=%s; AMX CPU: %s)",
                     setting(), cpu_has_amx())
        _applied = repack
        return repack
