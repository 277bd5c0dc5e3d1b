"""A Hyperscan prefilter for the probe: one scan of the turn says which pattern parts may match.

The probe (`gate.LiteralIndex.probe`) must know which of a rubric's ~1,500 pattern parts can match a turn,
then run `re` on those only. Its first way, literal gates, is exact but leaves ~20 searches a turn, most of
which find nothing, and costs ~50 µs of table work. When the `hyperscan` package is installed, every part
is also compiled, once per rubric and language, into one Hyperscan database of *supersets*: a turn is
scanned once, and only the parts Hyperscan reports are searched by `re`. `re` still finds every span, so
the output cannot change; Hyperscan only has to never miss a part that `re` would match (no false
negatives). It is not asked to understand Python's patterns: each part is rewritten here into a plain
byte pattern that matches at least what the Python pattern matches:

- **One byte per character, Python's classes evaluated by Python.** The folded turn is mapped to bytes:
  ASCII as itself, each non-ASCII character named by some pattern (`€`) to a byte of its own, any other
  non-ASCII character to one of three bytes by what `\\w` and `\\d` say of it (a letter, a digit, other).
  Every character class, `.`, `\\w`, `[^.?!]`… of a pattern becomes the set of bytes whose character (or
  any character the byte stands for) Python's own compiled class accepts. Characters in one byte are
  alike for every class a pattern can write (case-insensitive patterns are not rewritten: `re` folds
  `k` to the Kelvin sign).
- **Whitespace runs collapsed.** Each run of whitespace (what `str.split` and `\\s` split on) becomes one
  space byte, so `\\s+` between two words is a single byte and most parts become plain literals, which
  Hyperscan matches fast. A run of pattern items that only match whitespace becomes "a space" when it
  lies between two items that never do (the run is then a whole run of the text), "maybe a space"
  elsewhere; an item that matches whitespace and other characters may match nothing; a repeat of such
  items loses its lower bound.
- **Assertions dropped.** Look-arounds, anchors and word boundaries match nothing, so dropping them only
  widens a pattern; a back-reference becomes "anything".

A part that cannot be rewritten (case-insensitive, a character range too wide to list) is reported on
every turn. `tests/test_rubric_matcher.py` checks the rewrite, and the fast-path and golden tests run
with and without Hyperscan.

Building a database takes a few seconds for a large rubric (3-4 s for fr-default in French), so databases
are kept on disk (`$XDG_CACHE_HOME/collector-simulator/hyperscan`, keyed by their content) and, when one is
not there yet, compiled in a background thread while the probe uses its literal gates: same results,
only slower for the first turns. `SIMULATOR_RUBRIC_MATCHER` chooses: `auto` (that, the default),
`hyperscan` (compile before the first turn: tests and benchmarks), `literal` (never use Hyperscan).
Without the package (it ships wheels for Linux x86-64 and a few other platforms) the scorer keeps its
literal gates and scores the same.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib
import json
import logging
import os
import re
import sys
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

try:  # the prefilter is optional: without it the probe uses its literal gates (same results)
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised by the literal mode
    _hs = None

_c: Any = importlib.import_module("re._constants")
_p: Any = importlib.import_module("re._parser")
_compiler: Any = importlib.import_module("re._compiler")

MODE_ENV = "SIMULATOR_RUBRIC_MATCHER"
MODES = ("auto", "hyperscan", "literal")
CACHE_ENV = "SIMULATOR_HYPERSCAN_CACHE"  # a directory for the compiled databases (default: the user cache)
_FORMAT = "1"  # bump when the rewrite changes: cached databases of another format are not read

SPACE = 0x20  # every run of whitespace of the turn
_BUCKETS = {(True, True): 0xFD, (True, False): 0xFE, (False, False): 0xFF}  # other non-ASCII: (\w, \d)
_MAX_EXPLICIT = 0xFD - 0x80  # non-ASCII characters named by the patterns, a byte each
_MAX_RANGE = 64  # a wider non-ASCII range in a class is not listed character by character

# Every whitespace character (`str.isspace`, what `\s` and `str.split` use) is below U+3001.
_WHITESPACE = tuple(chr(c) for c in range(0x3001) if chr(c).isspace())
_WS_RUN = re.compile(r"\s{2,}|[^\S ]")  # a run of whitespace that is not a single space
_W = re.compile(r"\w")
_D = re.compile(r"\d")


class Untranslatable(Exception):
    """A part the rewrite does not handle: it is reported on every turn."""


def mode() -> str:
    value = os.environ.get(MODE_ENV, "auto").strip().lower() or "auto"
    if value not in MODES:
        log.warning("%s=%r is not one of %s: using auto", MODE_ENV, value, ", ".join(MODES))
        return "auto"
    return value


def available() -> bool:
    return _hs is not None


def library() -> str:
    """What the prefilter runs on, in words."""
    if _hs is None:
        return "hyperscan not installed"
    return f"hyperscan {getattr(_hs, '__version__', '?')}"


# --- the alphabet: one byte per folded character -------------------------------------------------------------
class Alphabet:
    """ASCII as itself; the non-ASCII characters the patterns name, a byte each from 0x80; any other
    non-ASCII character one of `_BUCKETS` by what `\\w` and `\\d` say of it. Whitespace is collapsed
    before (`encode`), so its bytes (but the space) never occur."""

    _registered: dict[tuple[str, ...], "Alphabet"] = {}
    _lock = threading.Lock()

    def __init__(self, explicit: tuple[str, ...]) -> None:
        self.explicit = {ch: 0x80 + n for n, ch in enumerate(explicit)}
        self.chars: dict[int, str] = {}  # byte -> a character it stands for (all alike for the patterns)
        for b in range(0x80):
            if not chr(b).isspace():
                self.chars[b] = chr(b)
        for ch, b in self.explicit.items():
            self.chars[b] = ch
        for (word, digit), b in _BUCKETS.items():
            rep = _representative(word, digit, self.explicit)
            if rep is not None:
                self.chars[b] = rep
        self._bytes: dict[str, bytes] = {}
        self.errors = f"collector-simulator-hs-{len(Alphabet._registered)}"
        codecs.register_error(self.errors, self._encode_error)

    @classmethod
    def of(cls, explicit: set[str]) -> "Alphabet":
        key = tuple(sorted(explicit))
        with cls._lock:
            alphabet = cls._registered.get(key)
            if alphabet is None:
                alphabet = cls._registered[key] = cls(key)
            return alphabet

    def byte(self, ch: str) -> int:
        if ord(ch) < 0x80:
            return ord(ch)
        b = self.explicit.get(ch)
        if b is None:
            b = _BUCKETS[(_W.match(ch) is not None, _D.match(ch) is not None)]
        return b

    def _encode_error(self, error: UnicodeError) -> tuple[bytes, int]:
        if not isinstance(error, UnicodeEncodeError):
            raise error
        chunk = error.object[error.start:error.end]
        cache = self._bytes
        out = []
        for ch in chunk:
            b = cache.get(ch)
            if b is None:
                b = bytes([self.byte(ch)])
                if len(cache) < 10_000:
                    cache[ch] = b
            out.append(b)
        return b"".join(out), error.end

    def encode(self, text: str) -> bytes:
        """The bytes Hyperscan scans: whitespace runs as one space, a byte per other character."""
        # (a printable text holds no whitespace but the space: `isprintable` is false for every other one)
        if not text.isprintable() or "  " in text:
            text = _WS_RUN.sub(" ", text)
        return text.encode("ascii", self.errors)


def _representative(word: bool, digit: bool, explicit: dict[str, int]) -> str | None:
    for cp in range(0x80, 0x110000):
        if 0xD800 <= cp < 0xE000:
            continue
        ch = chr(cp)
        if ch in explicit or ch.isspace():
            continue
        if (_W.match(ch) is not None, _D.match(ch) is not None) == (word, digit):
            return ch
    return None  # (\d without \w: no such character)


def _explicit_chars(items, out: set[str]) -> None:
    """The non-ASCII characters a parsed pattern names (literals, class members, narrow ranges)."""
    for op, av in items:
        if op in (_c.LITERAL, _c.NOT_LITERAL):
            if av >= 0x80:
                out.add(chr(av))
        elif op is _c.IN:
            for kind, value in av:
                if kind is _c.LITERAL and value >= 0x80:
                    out.add(chr(value))
                elif kind is _c.RANGE and value[1] >= 0x80:
                    low, high = max(value[0], 0x80), value[1]
                    if high - low < _MAX_RANGE:
                        out.update(chr(x) for x in range(low, high + 1))
        for sub in _subpatterns(op, av):
            _explicit_chars(sub.data, out)


def _subpatterns(op, av) -> list:
    if op is _c.SUBPATTERN:
        return [av[3]]
    if op is _c.BRANCH:
        return list(av[1])
    if op in _REPEATS:
        return [av[2]]
    if op in (_c.ASSERT, _c.ASSERT_NOT):
        return [av[1]]
    if op is _ATOMIC:
        return [av]
    if op is _c.GROUPREF_EXISTS:
        return [x for x in av[1:] if x is not None]
    return []


_REPEATS = tuple(x for x in (_c.MAX_REPEAT, _c.MIN_REPEAT, getattr(_c, "POSSESSIVE_REPEAT", None)) if x is not None)
_ATOMIC = getattr(_c, "ATOMIC_GROUP", object())
_ATOMS = (_c.LITERAL, _c.NOT_LITERAL, _c.IN, _c.ANY)
_ZERO_WIDTH = (_c.AT, _c.ASSERT, _c.ASSERT_NOT)


# --- the rewrite ---------------------------------------------------------------------------------------------
class _Rewriter:
    def __init__(self, alphabet: Alphabet) -> None:
        self.alphabet = alphabet
        self._atoms: dict[tuple, tuple[tuple[int, ...], bool]] = {}

    def atom(self, op, av, flags: int) -> tuple[tuple[int, ...], bool]:
        """(the non-space bytes whose characters the atom matches, whether it matches some whitespace)."""
        key = (op, repr(av), flags)
        known = self._atoms.get(key)
        if known is None:
            if flags & _c.SRE_FLAG_IGNORECASE:
                raise Untranslatable("case-insensitive")
            if op is _c.IN:
                for kind, value in av:
                    if kind is _c.RANGE and value[1] >= 0x80 and value[1] - max(value[0], 0x80) >= _MAX_RANGE:
                        raise Untranslatable("a wide non-ASCII range")
            sub = _p.SubPattern(_p.State(), [(op, av)])
            sub.state.flags = flags
            regex = _compiler.compile(sub, flags)
            chars = self.alphabet.chars
            nonspace = tuple(b for b, ch in sorted(chars.items()) if regex.fullmatch(ch))
            space = any(regex.fullmatch(ch) for ch in _WHITESPACE)
            known = self._atoms[key] = (nonspace, space)
        return known

    def kind(self, op, av, flags: int) -> str:
        """'n': matches no whitespace; 'w': whitespace only; 'm': both; '': a structure (group, branch…)."""
        if op in _ATOMS:
            nonspace, space = self.atom(op, av, flags)
            if not nonspace and not space:
                raise Untranslatable("a class matching nothing")
            return "n" if not space else ("w" if not nonspace else "m")
        if op in _REPEATS and len(av[2].data) == 1:
            return self.kind(*av[2].data[0], flags)
        return ""

    def sequence(self, items, flags: int) -> str:
        items = [(op, av) for op, av in items if op not in _ZERO_WIDTH]  # assertions dropped: a superset
        kinds = [self.kind(op, av, flags) for op, av in items]
        out = []
        i = 0
        while i < len(items):
            if kinds[i] != "w":
                out.append(self.item(*items[i], flags))
                i += 1
                continue
            # a run of whitespace-only items: one space, or none when it may be part of a longer run
            j, least = i, 0
            while j < len(items) and kinds[j] == "w":
                op, av = items[j]
                least += av[0] if op in _REPEATS else 1
                j += 1
            whole_run = (least >= 1 and i > 0 and j < len(items) and kinds[i - 1] == "n" and kinds[j] == "n"
                         and _at_least_one(items[i - 1]) and _at_least_one(items[j]))
            out.append("\\x20" if whole_run else "\\x20?")
            i = j
        return "".join(out)

    def item(self, op, av, flags: int) -> str:
        if op in _ATOMS:
            nonspace, space = self.atom(op, av, flags)
            if not space:
                return _byte_class(nonspace)
            return _byte_class((*nonspace, SPACE)) + "?"  # its whitespace may belong to a neighbour's run
        if op is _c.SUBPATTERN:
            _group, add, delete, sub = av
            return "(?:" + self.sequence(sub.data, (flags | add) & ~delete) + ")"
        if op is _c.BRANCH:
            return "(?:" + "|".join(self.sequence(branch.data, flags) for branch in av[1]) + ")"
        if op in _REPEATS:
            low, high, sub = av
            kind = self.kind(*sub.data[0], flags) if len(sub.data) == 1 else ""
            if kind == "w":
                return "\\x20?"
            if kind == "m":
                nonspace, _space = self.atom(*sub.data[0], flags)
                inner, low = _byte_class((*nonspace, SPACE)), 0  # whitespace runs shrink to one byte
            else:
                inner = "(?:" + self.sequence(sub.data, flags) + ")"
            if high == _c.MAXREPEAT:
                return inner + ("*" if low == 0 else "+" if low == 1 else "{%d,}" % low)
            if (low, high) == (1, 1):
                return inner
            if (low, high) == (0, 1):
                return inner + "?"
            return inner + "{%d,%d}" % (low, high)
        if op is _ATOMIC:
            return "(?:" + self.sequence(av.data, flags) + ")"
        if op is _c.GROUPREF:
            return "[\\x00-\\xff]*"  # the text of a group: anything
        if op is _c.GROUPREF_EXISTS:
            _group, yes, no = av
            return "(?:" + self.sequence(yes.data, flags) + "|" + (self.sequence(no.data, flags) if no else "") + ")"
        raise Untranslatable(f"unknown item {op}")


def _at_least_one(item) -> bool:
    op, av = item
    return av[0] >= 1 if op in _REPEATS else True


def _byte_class(values: Sequence[int]) -> str:
    values = sorted(set(values))
    if len(values) == 1:
        return "\\x%02x" % values[0]
    ranges = []
    start = prev = values[0]
    for v in values[1:]:
        if v == prev + 1:
            prev = v
            continue
        ranges.append((start, prev))
        start = prev = v
    ranges.append((start, prev))
    return "[" + "".join("\\x%02x" % a if a == b else "\\x%02x-\\x%02x" % (a, b) for a, b in ranges) + "]"


_PARSED: dict[str, tuple[Any, frozenset[str]]] = {}  # source -> (parsed, the non-ASCII characters it names)


def _parse(source: str) -> tuple[Any, frozenset[str]]:
    known = _PARSED.get(source)
    if known is None:
        parsed = _p.parse(source)
        named: set[str] = set()
        _explicit_chars(parsed.data, named)
        known = (parsed, frozenset(named))
        if len(_PARSED) < 100_000:
            _PARSED[source] = known
    return known


def rewrite(sources: Sequence[str]) -> tuple[Alphabet, list[str | None]]:
    """The alphabet of these patterns, and each one's Hyperscan pattern (None: report it always)."""
    explicit: set[str] = set()
    for source in sources:
        try:
            explicit |= _parse(source)[1]
        except Exception:  # noqa: BLE001 - an unparsable pattern is reported always (re rejects it anyway)
            pass
    if len(explicit) > _MAX_EXPLICIT:
        explicit = set(sorted(explicit)[:_MAX_EXPLICIT])  # parts naming the others are not rewritten
    alphabet = Alphabet.of(explicit)
    rewriter = _Rewriter(alphabet)
    out: list[str | None] = []
    for source in sources:
        try:
            parsed, named = _parse(source)
            if not named <= alphabet.explicit.keys():
                raise Untranslatable("a character without its byte")
            if parsed.state.flags & _c.SRE_FLAG_IGNORECASE:
                raise Untranslatable("case-insensitive")
            out.append(rewriter.sequence(parsed.data, parsed.state.flags))
        except Exception:  # noqa: BLE001 - whatever the rewrite cannot read (Untranslatable…) is reported always
            out.append(None)
    return alphabet, out


# --- the compiled database -----------------------------------------------------------------------------------
class Matcher:
    """A compiled database: `scan(folded, callback)` -> the numbers of the parts that may match."""

    def __init__(self, database: Any, alphabet: Alphabet, always: tuple[int, ...]) -> None:
        self.database = database  # a hyperscan Database, or None when no part could be compiled
        self.alphabet = alphabet
        self.always = always  # the parts not rewritten (or refused by Hyperscan): reported on every turn
        self._local = threading.local()  # Hyperscan's scratch space: one per thread

    def scan(self, text: str, on_match: Callable[[int, int, int, int, Any], None]) -> list[int] | None:
        """The parts that may match the folded `text` (each once, in no particular order); None when the
        scan failed (the caller then uses its literal gates)."""
        found: list[int] = []
        database = self.database
        if database is not None:
            data = self.alphabet.encode(text)
            local = self._local.__dict__
            scratch = local.get("scratch")
            if scratch is None:
                scratch = local["scratch"] = _hs.Scratch(database)
            try:
                database.scan(data, match_event_handler=on_match, context=found, scratch=scratch)
            except Exception as error:  # noqa: BLE001 - never lose a turn to the prefilter
                log.warning("hyperscan scan failed (%s): the probe uses its literal gates", error)
                return None
        if self.always:
            found.extend(self.always)
        return found


def _flags() -> int:
    return _hs.HS_FLAG_SINGLEMATCH | _hs.HS_FLAG_ALLOWEMPTY | _hs.HS_FLAG_PREFILTER


def cache_dir() -> Path:
    configured = os.environ.get(CACHE_ENV)
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "collector-simulator" / "hyperscan"


_CODE: list[str] = []  # the hash of this file: a cached database is only read by the rewrite that made it


def _key(sources: Sequence[str]) -> str:
    """A database's name: its sources, and everything that decides how they are rewritten and compiled."""
    if not _CODE:
        _CODE.append(hashlib.sha256(Path(__file__).read_bytes()).hexdigest())
    digest = hashlib.sha256()
    digest.update(f"{_FORMAT}|{_CODE[0]}|{sys.version}|{library()}|{_flags()}\n".encode())
    for source in sources:
        digest.update(source.encode("utf-8", "surrogatepass"))
        digest.update(b"\x00")
    return digest.hexdigest()


def _compile(expressions: list[str], ids: list[int]) -> Any:
    database = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    database.compile(expressions=[e.encode("ascii") for e in expressions], ids=ids, flags=[_flags()] * len(ids))
    return database


# A cached database: one JSON line (the alphabet's characters, the parts reported always), then the
# serialized database (`hyperscan.dumpb`).
def _load(path: Path) -> Matcher | None:
    try:
        data = path.read_bytes()
    except OSError:
        return None
    try:
        header, _, blob = data.partition(b"\n")
        meta = json.loads(header)
        database = _hs.loadb(blob, _hs.HS_MODE_BLOCK) if meta["compiled"] else None
        return Matcher(database, Alphabet.of(set(meta["explicit"])), tuple(meta["always"]))
    except Exception as error:  # noqa: BLE001 - another CPU, a damaged file: compile again
        log.info("cached hyperscan database %s not usable (%s): compiling again", path.name, error)
        return None


def _store(path: Path, matcher: Matcher) -> None:
    meta = {"explicit": sorted(matcher.alphabet.explicit), "always": list(matcher.always),
            "compiled": matcher.database is not None}
    try:
        blob = _hs.dumpb(matcher.database) if matcher.database is not None else b""
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=".tmp-", delete=False) as handle:
            handle.write(json.dumps(meta).encode() + b"\n" + blob)
        os.replace(handle.name, path)
        _prune(path.parent, keep=path)
    except OSError as error:
        log.info("could not cache the hyperscan database (%s)", error)


_CACHE_FILES = 48  # databases kept on disk (a rubric edit or an upgrade leaves the old ones behind)


def _prune(directory: Path, keep: Path) -> None:
    """Remove the least recently written databases beyond `_CACHE_FILES`."""
    files = sorted(directory.glob("*.hsdb"), key=lambda f: f.stat().st_mtime, reverse=True)
    for old in files[_CACHE_FILES:]:
        if old != keep:
            try:
                old.unlink()
            except OSError:
                pass


def _make(sources: Sequence[str]) -> Matcher:
    """Rewrite and compile (a part Hyperscan refuses is reported always)."""
    alphabet, expressions = rewrite(sources)
    ids = [n for n, e in enumerate(expressions) if e is not None]
    always = {n for n, e in enumerate(expressions) if e is None}
    database = None
    if ids:
        try:
            database = _compile([expressions[n] for n in ids], ids)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - find the parts it refuses
            refused = set()
            for n in ids:
                try:
                    _compile([expressions[n]], [n])  # type: ignore[list-item]
                except Exception:  # noqa: BLE001
                    refused.add(n)
            always |= refused
            ids = [n for n in ids if n not in refused]
            database = _compile([expressions[n] for n in ids], ids) if ids else None  # type: ignore[misc]
    return Matcher(database, alphabet, tuple(sorted(always)))


def build(sources: Sequence[str]) -> Matcher | None:
    """A matcher of these patterns (numbered in order), read from the disk cache or built now and cached;
    None without the hyperscan package."""
    if _hs is None:
        return None
    path = cache_dir() / f"{_key(sources)}.hsdb"
    matcher = _load(path)
    if matcher is None:
        matcher = _make(sources)
        _store(path, matcher)
    return matcher


class _Build:
    """One matcher being built (shared by the indexes of the same patterns in this process)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.matcher: Matcher | None = None
        self.error: str | None = None

    def run(self, sources: Sequence[str]) -> None:
        try:
            self.matcher = build(sources)
        except Exception as error:  # noqa: BLE001 - the literal gates stay: same results
            self.error = f"{type(error).__name__}: {error}"
            log.warning("hyperscan prefilter not built (%s): the probe keeps its literal gates", self.error)
        finally:
            self.done.set()


_BUILDS: dict[str, _Build] = {}
_BUILDS_LOCK = threading.Lock()


def attach(index: Any, sources: Sequence[str]) -> None:
    """Give `index` (a `gate.LiteralIndex`) a matcher for its parts (`sources`, numbered in order): now,
    read from the disk cache or compiled (`hyperscan` mode), or when a background compile ends (`auto`; the
    index adopts it at its next probe, `adopt`)."""
    index.matcher = None
    index.pending = None
    chosen = mode()
    if chosen == "literal":
        index.matcher_state = f"literal gates ({MODE_ENV}=literal)"
        return
    if _hs is None:
        index.matcher_state = "literal gates (hyperscan not installed)"
        return
    if not sources:
        index.matcher_state = "literal gates (no pattern)"
        return
    sources = list(sources)
    key = _key(sources)
    with _BUILDS_LOCK:
        pending = _BUILDS.get(key)
        fresh = pending is None
        if pending is None:
            pending = _BUILDS[key] = _Build()
    if fresh:
        if chosen == "hyperscan" or (cache_dir() / f"{key}.hsdb").exists():
            pending.run(sources)  # read from the disk cache, or compiled now
        else:
            threading.Thread(target=pending.run, args=(sources,), daemon=True, name="hyperscan-compile").start()
    elif chosen == "hyperscan":
        pending.done.wait()
    index.matcher_state = "literal gates (hyperscan database compiling)"
    index.pending = pending
    adopt(index)


def adopt(index: Any) -> Any:
    """The index's matcher, taken from its build once the build is done (None until then, or if it failed)."""
    pending = index.pending
    if pending is None or not pending.done.is_set():
        return index.matcher
    index.pending = None
    if pending.matcher is not None:
        index.matcher = pending.matcher
        index.matcher_state = f"{library()} prefilter"
    else:
        index.matcher_state = f"literal gates (hyperscan: {pending.error})"
    return index.matcher


def wait(index: Any, timeout: float | None = None) -> bool:
    """Wait until `index`'s matcher is built (or given up); True when the index now uses Hyperscan."""
    pending = index.pending
    if pending is not None:
        pending.done.wait(timeout)
    adopt(index)
    return index.matcher is not None
