"""Load rubric files: `extends`, compliance packs, and `file:line: field: message (fix)` errors.

ruamel.yaml keeps the line of every key, so a validation error points at the
line to fix, in the file that holds it (the rubric, its parent, or a pack).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import MarkedYAMLError

from ..errors import RubricError
from ..scenario import _FIX_HINTS, _line_of, _plain
from ..settings import PROJECT_ROOT
from .models import Pack, Rubric

RUBRICS_DIR = PROJECT_ROOT / "rubrics"
DEFAULT_BY_LANGUAGE = {"fr": "fr-default", "en": "en-us"}
# an English call in pounds is a UK call
DEFAULT_BY_CURRENCY = {("en", "GBP"): "en-uk", ("en", "USD"): "en-us"}


def default_rubric_id(language: str, currency: str | None = None) -> str:
    return DEFAULT_BY_CURRENCY.get((language, currency or ""), DEFAULT_BY_LANGUAGE.get(language, "fr-default"))

_yaml = YAML(typ="rt")
_yaml_lock = threading.Lock()  # a ruamel YAML object keeps its parser's state: one load at a time (threads:
# the app's handlers, the semantic detector's warm-up at start-up)


@dataclass(frozen=True)
class RubricFile:
    """A validated rubric and where it came from (the rubric itself is self-contained: packs inlined)."""

    rubric: Rubric
    path: Path | None
    sha256: str

    @property
    def id(self) -> str:
        return self.rubric.id

    def frozen_json(self) -> str:
        """The whole rubric, packs included, as stored with a session."""
        return self.rubric.model_dump_json(exclude={"extends"})


@dataclass
class _Source:
    """One YAML file read, kept for locating errors."""

    path: Path
    tree: Any


def _read_yaml(path: Path) -> _Source:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RubricError([f"{path}:1: (file): cannot read the file ({exc})"]) from None
    try:
        with _yaml_lock:
            tree = _yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise RubricError([f"{path}:{line}: YAML syntax: {problem} (check indentation, colons and quotes)"]) from None
    if not isinstance(tree, CommentedMap):
        raise RubricError([f"{path}:1: (file): expected a mapping of `key: value` lines, not {type(tree).__name__}"])
    return _Source(path, tree)


def _merge(parent: Any, child: Any) -> Any:
    if isinstance(parent, dict) and isinstance(child, dict):
        merged = dict(parent)
        for key, value in child.items():
            merged[key] = _merge(parent[key], value) if key in parent else value
        return merged
    return child


def _format(path: Path, tree: Any, loc: tuple, err: dict) -> str:
    field_name = ".".join(str(p) for p in loc) or "(file)"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    hint = None if err["type"] in ("literal_error", "value_error") else _FIX_HINTS.get(err["type"])
    text = f"{path}:{_line_of(tree, loc)}: {field_name}: {msg}"
    return f"{text} ({hint})" if hint else text


def _locate(loc: tuple, sources: list[_Source], packs: dict[int, _Source]) -> tuple[Path, Any, tuple]:
    """Which file holds the value at `loc`: a pack file, the rubric, or one of its parents."""
    if len(loc) >= 2 and loc[0] == "compliance" and isinstance(loc[1], int) and loc[1] in packs:
        src = packs[loc[1]]
        return src.path, src.tree, tuple(loc[2:])
    for src in sources:  # the child first: its keys replace the parent's
        node = src.tree
        found = True
        for part in loc[:1]:
            if not (isinstance(node, dict) and part in node):
                found = False
        if found:
            return src.path, src.tree, loc
    return sources[0].path, sources[0].tree, loc


def _load_chain(path: Path, seen: tuple[Path, ...] = ()) -> tuple[dict, list[_Source]]:
    path = path.resolve()
    if path in seen:
        chain = " -> ".join(str(p) for p in (*seen, path))
        raise RubricError([f"{path}:1: extends: circular `extends` ({chain}) (make one rubric the base)"])
    src = _read_yaml(path)
    data = _plain(dict(src.tree))
    # compliance pack paths are relative to the file that names them
    if isinstance(data.get("compliance"), list):
        data["compliance"] = [str((path.parent / p).resolve()) if isinstance(p, str) else p for p in data["compliance"]]
    parent_ref = data.get("extends")
    if not parent_ref:
        return data, [src]
    if not isinstance(parent_ref, str):
        line = src.tree.lc.key("extends")[0] + 1
        raise RubricError([f"{path}:{line}: extends: write the parent rubric's file name, e.g. fr-default.yaml"])
    parent_path = (path.parent / parent_ref)
    if not parent_path.exists():
        line = src.tree.lc.key("extends")[0] + 1
        raise RubricError([f"{path}:{line}: extends: no such file {parent_path} (give a path relative to {path.parent})"])
    parent_data, parent_sources = _load_chain(parent_path, (*seen, path))
    parent_data.pop("id", None)
    parent_data.pop("version", None)
    return _merge(parent_data, data), [src, *parent_sources]


def _load_packs(data: dict, sources: list[_Source]) -> dict[int, _Source]:
    packs: dict[int, _Source] = {}
    problems = []
    items = data.get("compliance")
    if not isinstance(items, list):
        return packs
    for i, item in enumerate(items):
        if not isinstance(item, str):
            continue
        pack_path = Path(item)
        if not pack_path.exists():
            owner = next((s for s in sources if "compliance" in s.tree), sources[0])
            line = _line_of(owner.tree, ("compliance", i))
            problems.append(f"{owner.path}:{line}: compliance.{i}: no such pack file {pack_path} "
                            "(give a path relative to the rubric, e.g. packs/fr.yaml)")
            continue
        try:
            src = _read_yaml(pack_path)
        except RubricError as exc:
            problems.extend(exc.problems)
            continue
        packs[i] = src
        pack_data = _plain(dict(src.tree))
        pack_data.setdefault("id", re.sub(r"[^a-z0-9_-]", "-", pack_path.stem.lower()))
        items[i] = pack_data
    if problems:
        raise RubricError(problems)
    return packs


def load_rubric(path: Path) -> RubricFile:
    """Validate one rubric file (with its parents and packs); raise RubricError listing every problem."""
    path = Path(path)
    data, sources = _load_chain(path)
    data.setdefault("id", re.sub(r"[^a-z0-9_-]", "-", path.stem.lower()))
    packs = _load_packs(data, sources)
    try:
        rubric = Rubric.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            # pydantic tries `str | Pack` for compliance items: report the Pack branch
            if len(loc) >= 3 and loc[0] == "compliance" and loc[2] == "str":
                continue
            loc = tuple(p for p in loc if p != "Pack")
            where, tree, inner = _locate(loc, sources, packs)
            problems.append(_format(where, tree, inner, err))
        raise RubricError(problems or [f"{path}:1: (file): invalid rubric"]) from None
    digest = hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode("utf-8")).hexdigest()
    return RubricFile(rubric, path, digest)


def load_pack(path: Path) -> Pack:
    src = _read_yaml(Path(path))
    data = _plain(dict(src.tree))
    data.setdefault("id", re.sub(r"[^a-z0-9_-]", "-", Path(path).stem.lower()))
    try:
        return Pack.model_validate(data)
    except ValidationError as exc:
        raise RubricError([_format(src.path, src.tree, tuple(e["loc"]), e) for e in exc.errors()]) from None


def rubric_from_json(text: str) -> RubricFile:
    """A rubric frozen with a session (packs inlined)."""
    rubric = Rubric.model_validate_json(text)
    return RubricFile(rubric, None, hashlib.sha256(text.encode("utf-8")).hexdigest())


def rubric_paths(directory: Path = RUBRICS_DIR) -> list[Path]:
    return sorted(p for p in directory.glob("*.y*ml") if p.suffix in (".yaml", ".yml"))


def resolve_rubric(ref: str | Path | None, language: str = "fr", directory: Path = RUBRICS_DIR,
                   currency: str | None = None) -> RubricFile:
    """A rubric by path, by id (file name in the rubrics folder), or the default for the language
    (and currency: an English call in GBP is scored with en-uk)."""
    if ref is None or ref == "":
        ref = default_rubric_id(language, currency)
    candidate = Path(ref).expanduser()
    if candidate.suffix in (".yaml", ".yml") or candidate.exists():
        if not candidate.exists():
            raise RubricError([f"{candidate}:1: (file): no such rubric file (give a path or a rubric id)"])
        return _cached(candidate.resolve())
    rid = str(ref)
    for p in rubric_paths(directory):
        if p.stem == rid:
            return _cached(p.resolve())
    known = ", ".join(p.stem for p in rubric_paths(directory)) or "none"
    raise RubricError([f"{directory}:1: (folder): unknown rubric {rid!r} (known: {known}; or give a file path)"])


_CACHE: dict[tuple[Path, float], RubricFile] = {}


def _cached(path: Path) -> RubricFile:
    """Parse each file once per modification (a session start must not re-read YAML)."""
    stamp = max(p.stat().st_mtime for p in [path, *path.parent.glob("packs/*.y*ml"), *path.parent.glob("*.y*ml")])
    key = (path, stamp)
    if key not in _CACHE:
        _CACHE[key] = load_rubric(path)
    return _CACHE[key]
