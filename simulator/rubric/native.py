"""Which lexical scorer runs: the modules compiled to C by mypyc at install time, or their plain Python.

`make install` (`pip install -e .`) compiles the scorer's hot modules (`HOT`) with mypyc when it can
(`setup.py`); the `.py` files stay the source and the fallback: without a C compiler or mypy the install
keeps them, and the scores are the same either way (`tests/test_rubric_native.py`).
`SIMULATOR_RUBRIC_PURE=1` makes a process ignore the compiled modules (to compare or debug). A build older
than its sources (a hot module edited since `make install`) is ignored too, with a warning: the process
runs the sources, and `make install` rebuilds.

`pure_module("scorer")` loads the plain-Python scorer beside the compiled one, under another package name, so that
the benchmark and the tests can run both in one process.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import logging
import os
import sys
from pathlib import Path
from types import ModuleType

PACKAGE = __name__.rpartition(".")[0]  # simulator.rubric
HERE = Path(__file__).resolve().parent
# the modules mypyc compiles (setup.py reads this list): the scorer and what it calls for every turn
HOT = ("text", "gate", "detectors", "linear", "scorer")
PURE_ENV = "SIMULATOR_RUBRIC_PURE"
STAMP = HERE / "_compiled.json"  # setup.py writes it after a build: the hashes of the sources compiled
log = logging.getLogger(__name__)
_SHADOW = PACKAGE.rpartition(".")[0] + "._rubric_pure"  # simulator._rubric_pure: the package's .py files again


def _is_extension(path: str | None) -> bool:
    return bool(path) and path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def source_hashes() -> dict[str, str]:
    """The SHA-256 of each hot module's source."""
    return {name: hashlib.sha256((HERE / f"{name}.py").read_bytes()).hexdigest() for name in HOT}


def stale() -> list[str]:
    """The hot modules edited since they were compiled (all of them when the build left no stamp)."""
    try:
        built = json.loads(STAMP.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return list(HOT)
    return [name for name, digest in source_hashes().items() if built.get(name) != digest]


def choose() -> None:
    """Called by `simulator.rubric` before it imports the hot modules: the sources instead of the compiled
    modules when `SIMULATOR_RUBRIC_PURE` is set, or when the compiled ones are stale."""
    if os.environ.get(PURE_ENV):
        force_pure()
    elif built_any() and (changed := stale()):  # (also a build older than a hot module added since)
        log.warning("the compiled scorer is older than %s: running the pure Python scorer (same scores, "
                    "slower); `make install` (pip install -e .) compiles it again", ", ".join(f"{n}.py" for n in changed))
        force_pure()


def compiled_modules() -> dict[str, bool]:
    """For each hot module, whether the one this process runs is compiled (imports them)."""
    return {name: _is_extension(getattr(importlib.import_module(f"{PACKAGE}.{name}"), "__file__", None))
            for name in HOT}


def is_compiled() -> bool:
    """Whether the scorer in use is the compiled one (all its hot modules compiled)."""
    return all(compiled_modules().values())


def available() -> bool:
    """Whether compiled modules were built for this interpreter (used or not)."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return all(any((HERE / f"{name}{suffix}").exists() for suffix in suffixes) for name in HOT)


def built_any() -> bool:
    """Whether a compiled module of the scorer is there for this interpreter (a build may predate a hot module
    added since: the stamp then says it is stale)."""
    suffixes = importlib.machinery.EXTENSION_SUFFIXES
    return any((HERE / f"{name}{suffix}").exists() for name in HOT for suffix in suffixes)


def variant() -> str:
    """What runs, in words (the benchmark and `selftest` print it)."""
    modules = compiled_modules()
    if all(modules.values()):
        return "compiled (mypyc)"
    if any(modules.values()):
        return "partly compiled: " + ", ".join(name for name, done in modules.items() if done)
    if available():
        why = f"{PURE_ENV} set" if os.environ.get(PURE_ENV) else "the compiled modules are stale"
        return f"pure Python ({why})"
    return "pure Python"


class _SourceFinder(importlib.abc.MetaPathFinder):
    """Finds the listed modules as their `.py` file in `HERE`, never as a compiled extension."""

    def __init__(self, names: dict[str, str]):
        self.names = names  # full module name -> file stem

    def find_spec(self, fullname, path=None, target=None):
        stem = self.names.get(fullname)
        if stem is None and fullname.startswith(_SHADOW + "."):
            stem = fullname[len(_SHADOW) + 1:]
            if "." in stem:
                return None
        if stem is None:
            return None
        package = HERE / stem
        if (package / "__init__.py").exists():  # none today; kept so a sub-package would still load
            return importlib.util.spec_from_file_location(
                fullname, package / "__init__.py", submodule_search_locations=[str(package)])
        source = HERE / f"{stem}.py"
        if not source.exists():
            return None
        return importlib.util.spec_from_file_location(fullname, source)


def force_pure() -> None:
    """Make this process import the hot modules from their `.py` files (call before importing them:
    `simulator.rubric` does when `SIMULATOR_RUBRIC_PURE` is set)."""
    names = {f"{PACKAGE}.{name}": name for name in HOT}
    if not any(isinstance(f, _SourceFinder) and f.names == names for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder(names))


def pure_module(name: str) -> ModuleType:
    """A module of the rubric package (`"scorer"`, `"loader"`…) loaded from its `.py` file, with the modules
    it imports from the package, under `simulator._rubric_pure`: the plain-Python scorer beside the compiled
    one. It has its own copies of the rubric models: build its `Scorer` from a rubric its own `loader` read."""
    if _SHADOW not in sys.modules:
        if not any(isinstance(f, _SourceFinder) and not f.names for f in sys.meta_path):
            sys.meta_path.insert(0, _SourceFinder({}))
        spec = importlib.machinery.ModuleSpec(_SHADOW, None, is_package=True)
        spec.submodule_search_locations = [str(HERE)]
        sys.modules[_SHADOW] = importlib.util.module_from_spec(spec)
    return importlib.import_module(f"{_SHADOW}.{name}")
