"""Sentence vectors from the embedded model, for the semantic violation detector (`semantic.py`).

The vectors are the mean of the hidden states after the first `layers` transformer blocks of the embedded
GGUF (Qwen2.5-Coder-1.5B-Instruct, 28 blocks): a middle layer describes what a sentence means better than the
last one (which is shaped to predict the next token), and half the blocks cost half the time. llama.cpp has no
"stop after N blocks" setting, so `truncated_model` writes, once, a copy of the GGUF that keeps only those
blocks (same tensors, `block_count` changed; the `gguf` package of llama.cpp's authors reads and writes the
format) next to the assembled model in the data directory, and records its SHA-256: the file is the same byte
for byte on every machine (checked by a test), so a classifier trained on its vectors is tied to it by hash.

Vectors are computed in this process with llama-cpp-python (`Llama(embedding=True)`, mean pooling), not by
the chat server: the server answers one request at a time and runs with generation settings. llama.cpp's own
messages go to the Python log (`_route_llama_log`), and every loaded model is freed explicitly at exit
(`close_all`): left to the interpreter's teardown, llama-cpp-python's destructors can print
"TypeError: 'NoneType' object is not callable" from `free_model`.
"""

from __future__ import annotations

import atexit
import ctypes
import hashlib
import json
import logging
import os
import re
import threading
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import SimulatorError
from ..llm import llama_cpu

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


class EmbedderError(SimulatorError):
    """The sentence vectors cannot be computed (no model, no llama-cpp-python, a corrupt file)."""


@dataclass(frozen=True)
class EmbedderSpec:
    """What the vectors are: which model (by the SHA-256 of the full GGUF), after how many blocks, which pooling.

    `layers` may name several depths (`(14, 20)`, written `14+20`): a piece's vector is then the unit vectors
    after each depth side by side, scaled to unit length — what the middle of the model and a later block each
    say about the sentence (one truncated copy, one pass, per depth).

    `prompted` (a depth, 0: none) adds the prompted vector beside them: the last token's hidden state after that
    many blocks, with the debtor's line and the turn in a question about the violations (`prompted_text`; written
    `14+20+p14`). Pooling `last` is that vector alone (the prompted part of a composite)."""

    source_sha256: str
    layers: tuple[int, ...] | int = (14,)
    pooling: str = "mean"
    max_tokens: int = 384  # a longer turn is cut into pieces at sentence ends, each embedded on its own
    prompted: int = 0

    def __post_init__(self) -> None:
        layers = self.layers
        if isinstance(layers, str) and "+p" in f"+{layers}":  # "14+20+p14"
            parts = [p.strip() for p in layers.split("+")]
            prompted = [p for p in parts if p.startswith("p")]
            if len(prompted) != 1 or self.prompted:
                raise EmbedderError(f"layers {layers!r}: name the prompted depth once (e.g. 14+20+p14)")
            try:
                object.__setattr__(self, "prompted", int(prompted[0][1:]))
            except ValueError:
                raise EmbedderError(f"layers {layers!r}: the prompted depth is a number of blocks (p14)") from None
            layers = "+".join(p for p in parts if not p.startswith("p"))
        object.__setattr__(self, "layers", parse_layers(layers))
        if isinstance(self.prompted, bool) or not isinstance(self.prompted, int) or self.prompted < 0:
            raise EmbedderError(f"prompted {self.prompted!r}: a number of blocks (14), or 0 for none")
        if self.pooling not in ("mean", "last"):
            raise EmbedderError(f"pooling {self.pooling!r}: mean (the turn's tokens) or last (the prompted vector)")
        if self.pooling == "last" and (self.prompted or len(self.depths) != 1):
            raise EmbedderError("pooling last is the prompted vector of one depth (write the composite as 14+20+p14)")

    @property
    def depths(self) -> tuple[int, ...]:
        return self.layers  # type: ignore[return-value]  # always a tuple after __post_init__

    def key(self) -> str:
        prompted = f"+p{self.prompted}" if self.prompted else ""
        return f"{self.source_sha256[:12]}-l{'+'.join(map(str, self.depths))}-{self.pooling}{prompted}"

    @property
    def composite(self) -> bool:
        """Several parts side by side (depths, or a depth and the prompted vector)."""
        return len(self.depths) > 1 or bool(self.prompted)

    def single(self, layers: int) -> "EmbedderSpec":
        return EmbedderSpec(self.source_sha256, (layers,), self.pooling, self.max_tokens)

    def prompt_part(self) -> "EmbedderSpec":
        """The prompted vector's own spec (pooling last at the `prompted` depth)."""
        return EmbedderSpec(self.source_sha256, (self.prompted,), "last", self.max_tokens)

    def parts(self) -> list["EmbedderSpec"]:
        """The single-depth specs side by side in a composite: the mean depths, then the prompted vector."""
        return [self.single(d) for d in self.depths] + ([self.prompt_part()] if self.prompted else [])

    def as_dict(self) -> dict:
        layers: int | list[int] = self.depths[0] if len(self.depths) == 1 else list(self.depths)
        data = {"source_sha256": self.source_sha256, "layers": layers, "pooling": self.pooling,
                "max_tokens": self.max_tokens}
        if self.prompted:
            data["prompted"] = self.prompted
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "EmbedderSpec":
        return cls(str(data["source_sha256"]), data["layers"], str(data.get("pooling", "mean")),
                   int(data.get("max_tokens", 384)), int(data.get("prompted", 0)))


def parse_layers(value: Any) -> tuple[int, ...]:
    """`14`, `"14+20"`, `[14, 20]` → `(14, 20)`: distinct depths of at least one block, in the order given; an
    EmbedderError saying what is wrong otherwise."""
    if isinstance(value, str):
        parts: list[Any] = [p.strip() for p in value.split("+")]
    elif isinstance(value, (list, tuple)):
        parts = list(value)
    else:
        parts = [value]
    try:
        depths = tuple(int(p) for p in parts)
        if any(isinstance(p, bool) or (isinstance(p, float) and p != int(p)) for p in parts):
            raise ValueError
    except (TypeError, ValueError):
        raise EmbedderError(f"layers {value!r}: give a number of blocks (14) or several joined by + (14+20)") from None
    if not depths or min(depths) < 1 or len(set(depths)) != len(depths):
        raise EmbedderError(f"layers {value!r}: each depth at least 1 block, none repeated (e.g. 14+20)")
    return depths


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def truncated_model(source: Path, layers: int, source_sha256: str | None = None) -> Path:
    """The copy of `source` with its first `layers` blocks only, written once next to it (and verified by the
    SHA-256 recorded beside it when it was written)."""
    target = source.with_name(f"{source.stem}.first{layers}.gguf")
    marker = target.with_name(target.name + ".json")
    if target.is_file() and marker.is_file():
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            info = {}
        if (info.get("size") == target.stat().st_size and info.get("layers") == layers
                and (source_sha256 is None or info.get("source_sha256") == source_sha256)):
            return target
    try:
        import gguf  # llama.cpp's own GGUF reader/writer
    except ImportError:
        raise EmbedderError("the semantic violation detector needs the gguf package "
                            "(pip install -e '.[embedded]')") from None
    if not source.is_file():
        raise EmbedderError(f"{source}: no such model file (run `python -m simulator prepare-model`)")
    try:
        reader = gguf.GGUFReader(str(source))
        arch = reader.fields["general.architecture"].contents()
        count_key = f"{arch}.block_count"
        total = int(reader.fields[count_key].contents())
    except (KeyError, ValueError, OSError) as exc:
        raise EmbedderError(f"{source}: not a GGUF model this detector can read ({exc})") from None
    if not 1 <= layers <= total:
        raise EmbedderError(f"{source}: has {total} blocks, cannot keep {layers} (choose 1–{total})")
    partial = target.with_name(target.name + ".partial")
    writer = gguf.GGUFWriter(str(partial), arch=arch, endianess=reader.endianess)
    for field in reader.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = layers if field.name == count_key else field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=sub)
    block = re.compile(r"blk\.(\d+)\.")
    kept = [t for t in reader.tensors if not ((m := block.match(t.name)) and int(m.group(1)) >= layers)]
    for tensor in kept:
        writer.add_tensor_info(tensor.name, tensor.data.shape, tensor.data.dtype, tensor.data.nbytes,
                               tensor.tensor_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in kept:
        writer.write_tensor_data(tensor.data, tensor_endianess=reader.endianess)
    writer.close()
    os.replace(partial, target)
    marker.write_text(json.dumps({"layers": layers, "size": target.stat().st_size, "sha256": _sha256(target),
                                  "source": source.name, "source_sha256": source_sha256}) + "\n", encoding="utf-8")
    return target


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")

# The prompted vector (pooling "last"): the debtor's line and the turn inside a French question about the
# violations, and the hidden state of the last token after `layers` blocks — what the model makes of the turn as
# an answer to that line, where the mean of the turn's own tokens says what the turn is about. Shipped since
# session 21 beside the mean after 14 blocks (`14+p14`); leaving one writer out it found 0.877 of the violations
# at precision 0.817 where blocks 14 and 20 found 0.873 at 0.819, most of it missing disclosures (docs/rubrics.md).
PROMPT_TEMPLATE = ("<|im_start|>user\nAu téléphone, un débiteur dit : « {debtor} »\nLe chargé de recouvrement "
                   "répond : « {agent} »\nCette réponse est-elle une menace, une pression, une insulte, du "
                   "harcèlement, une fausse affirmation légale, des frais abusifs ou une divulgation à un tiers ?"
                   "<|im_end|>\n<|im_start|>assistant\nRéponse :")
PROMPT_DEBTOR_CHARS = 300   # the end of a longer debtor line (what the turn answers)
PROMPT_AGENT_CHARS = 1200   # the start of a longer turn: the whole prompt stays within the model's 768 tokens


def prompted_text(debtor: str | None, agent: str) -> str:
    """The text whose last token gives a turn's prompted vector (no debtor line before it: « … »)."""
    debtor = " ".join((debtor or "").split())[-PROMPT_DEBTOR_CHARS:] or "…"
    agent = " ".join(agent.split())[:PROMPT_AGENT_CHARS] or "…"
    return PROMPT_TEMPLATE.format(debtor=debtor, agent=agent)


def prompted_texts(texts: Sequence[str], debtors: Sequence[str] | None = None) -> list[str]:
    """`prompted_text` of each text after its debtor line (`debtors`: one a text; None: no lines)."""
    if debtors is None:
        debtors = [""] * len(texts)
    elif len(debtors) != len(texts):
        raise EmbedderError(f"{len(texts)} texts and {len(debtors)} debtor lines: give one line a text")
    return [prompted_text(d, t) for d, t in zip(debtors, texts)]


# ggml's log levels (ggml.h: NONE 0, DEBUG 1, INFO 2, WARN 3, ERROR 4, CONT 5 = the previous message goes on).
# llama-cpp-python's own callback reads an older numbering and prints llama.cpp's warnings to stderr even with
# verbose=False (e.g. "model default pooling_type is [-1], but [1] was specified", which the truncated copy
# always gets: mean pooling is chosen here on purpose). Its warnings are expected here: logged at INFO.
_LLAMA_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.INFO, 4: logging.ERROR}
_llama_log = logging.getLogger("simulator.llama_cpp")
_llama_callback: Any = None  # kept alive: llama.cpp holds a pointer to it
_last_level = logging.DEBUG


def _route_llama_log(llama_cpp: Any) -> None:
    """Send llama.cpp's messages to the Python log (`simulator.llama_cpp`) instead of stderr (once a process)."""
    global _llama_callback
    if _llama_callback is not None:
        return

    @llama_cpp.llama_log_callback
    def callback(level: int, text: bytes, user_data: Any) -> None:
        global _last_level
        if level != 5:
            _last_level = _LLAMA_LEVELS.get(level, logging.DEBUG)
        message = text.decode("utf-8", "replace").rstrip()
        if message and _llama_log.isEnabledFor(_last_level):
            _llama_log.log(_last_level, "%s", message)

    _llama_callback = callback
    llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))


_OPEN: "weakref.WeakSet[Embedder]" = weakref.WeakSet()


def close_all() -> None:
    """Free every loaded embedding model (registered with `atexit`: before the interpreter tears modules down)."""
    for embedder in list(_OPEN):
        embedder.close()


atexit.register(close_all)


class Embedder:
    """Unit-length sentence vectors of texts (thread-safe; the model is loaded on first use). With several depths
    (`EmbedderSpec.layers`) or a prompted vector, one embedder per part (`parts`, the prompted one last) and the
    vectors side by side."""

    def __init__(self, spec: EmbedderSpec, source: Path, threads: int | None = None) -> None:
        self.spec = spec
        self.source = source
        self.threads = threads or max(1, min(2, os.cpu_count() or 1))
        self._llama: Any = None
        self._lock = threading.Lock()
        self.parts: list[Embedder] = ([Embedder(part, source, threads) for part in spec.parts()]
                                      if spec.composite else [])

    def _model(self) -> Any:
        if self.parts:
            return self.parts[0]._model()  # the tokenizer (the same in every copy) cuts the pieces
        if self._llama is None:
            try:
                import llama_cpp
            except ImportError:
                raise EmbedderError("the semantic violation detector needs llama-cpp-python "
                                    "(pip install -e '.[embedded]')") from None
            _route_llama_log(llama_cpp)
            llama_cpu.apply()  # no repacked weights on CPUs with AMX: llama.cpp's AMX code crashes there
            path = truncated_model(self.source, self.spec.depths[0], self.spec.source_sha256)
            last = self.spec.pooling == "last"
            size = 768 if last else 512  # a prompted text: up to PROMPT_*_CHARS of text and the question
            self._llama = llama_cpp.Llama(
                model_path=str(path), embedding=True, n_ctx=size, n_batch=size, n_ubatch=size,
                n_threads=self.threads, n_threads_batch=self.threads, verbose=False,
                pooling_type=llama_cpp.LLAMA_POOLING_TYPE_LAST if last else llama_cpp.LLAMA_POOLING_TYPE_MEAN)
            _OPEN.add(self)
        return self._llama

    def warm(self) -> None:
        """Write the truncated copy if needed (about 15 s, once a machine), load it (about a second) and embed
        one short sentence, so that the first scored turn does not wait for any of it (`warmup.py`)."""
        for part in self.parts:
            part.warm()
        if self.parts:
            return
        with self._lock:
            self._model().embed("Bonjour.", normalize=False, truncate=True)

    @property
    def loaded(self) -> bool:
        return all(p.loaded for p in self.parts) if self.parts else self._llama is not None

    def close(self, timeout: float = 5.0) -> None:
        """Free the model now (loaded again on next use). Waits up to `timeout` seconds for a load or an
        embedding in progress; past that, leaves it (logged) rather than hold up the caller, e.g. at exit."""
        for part in self.parts:
            part.close(timeout)
        if not self._lock.acquire(timeout=timeout):
            log.warning("the semantic detector's model is still busy after %.0f s: not freed explicitly", timeout)
            return
        try:
            llama, self._llama = self._llama, None
            _OPEN.discard(self)
            if llama is not None:
                llama.close()
        finally:
            self._lock.release()

    def pieces(self, text: str) -> list[str]:
        """The text cut at sentence ends into pieces of at most `max_tokens` tokens (most turns: one piece)."""
        llama = self._model()
        text = text.strip() or "."
        if len(llama.tokenize(text.encode("utf-8"), add_bos=False)) <= self.spec.max_tokens:
            return [text]
        out: list[str] = []
        current = ""
        for sentence in _SENTENCE_END.split(text):
            joined = f"{current} {sentence}".strip()
            if current and len(llama.tokenize(joined.encode("utf-8"), add_bos=False)) > self.spec.max_tokens:
                out.append(current)
                current = sentence
            else:
                current = joined
        if current:
            out.append(current)
        return out  # a single sentence longer than the limit is cut by llama.cpp (truncate=True)

    def embed(self, texts: list[str], debtors: list[str] | None = None) -> list[list[float]]:
        """One unit vector per text (a text cut into pieces: one per piece, see `embed_pieces`)."""
        return [vectors[0] for vectors in self.embed_pieces(texts, split=False, debtors=debtors)]

    def embed_pieces(self, texts: list[str], split: bool = True,
                     debtors: list[str] | None = None) -> list[list[list[float]]]:
        """Per text, one unit vector per piece (`pieces`; `split=False`: the whole text as one piece). `debtors`:
        the debtor's line before each text, read by the prompted vector (none: « … »). An embedder of pooling
        `last` embeds each text as given, in one piece (a `prompted_text`)."""
        prompts = prompted_texts(texts, debtors)
        if self.parts:
            with self._lock:
                means = [part.embed_pieces(texts, split) for part in self.parts if part.spec.pooling == "mean"]
                prompted = self.parts[-1].embed_pieces(prompts) if self.spec.prompted else None
            return join_turns(means, prompted)
        with self._lock:
            llama = self._model()
            out = []
            for text in texts:
                parts = self.pieces(text) if split and self.spec.pooling == "mean" else [text.strip() or "."]
                vectors = []
                for part in parts:
                    vector = llama.embed(part, normalize=False, truncate=True)
                    norm = sum(x * x for x in vector) ** 0.5 or 1.0
                    vectors.append([x / norm for x in vector])
                out.append(vectors)
            return out


def join_depths(per_depth: list[list[list[float]]]) -> list[list[float]]:
    """One turn's pieces embedded at several depths (each piece a unit vector per depth) → per piece, the depths'
    vectors side by side, scaled to unit length. Every depth cuts the text the same way (one tokenizer)."""
    if len({len(pieces) for pieces in per_depth}) != 1:
        raise EmbedderError("the truncated copies cut a text into different pieces (they should share one "
                            "tokenizer): delete the *.first*.gguf copies in the data directory's models/ folder")
    scale = 1.0 / len(per_depth) ** 0.5
    return [[x * scale for vector in vectors for x in vector] for vectors in zip(*per_depth)]


def join_parts(per_depth: list[list[list[float]]], prompted: list[float] | None) -> list[list[float]]:
    """`join_depths`, with the turn's prompted vector (one for the whole turn) beside each piece's."""
    if prompted is None:
        return join_depths(per_depth)
    return join_depths([*per_depth, [prompted] * len(per_depth[0])])


Pieces = list[list[float]]  # one text's vectors, one a piece


def join_turns(means: list[list[Pieces]], prompted: list[Pieces] | None) -> list[Pieces]:
    """Per text, its pieces' vectors from each mean part (`means`: per part, per text, per piece) and its prompted
    vector (`prompted`: per text, one piece; None without) side by side (`join_parts`)."""
    return [join_parts([part[i] for part in means], prompted[i][0] if prompted else None)
            for i in range(len(means[0]))]
