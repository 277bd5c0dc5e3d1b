"""`python -m simulator.llm.llama_server ARGS`: llama-cpp-python's OpenAI-compatible server (`python -m
llama_cpp.server ARGS`), with llama.cpp's repacked weight buffers set first (`llama_cpu.apply`: off on CPUs with
Intel AMX, where they crash the server on its first reply)."""

from __future__ import annotations

from . import llama_cpu


def main() -> None:
    llama_cpu.apply()
    from llama_cpp.server.__main__ import main as serve

    serve()


if __name__ == "__main__":
    main()
