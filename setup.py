"""The build: pyproject.toml says everything, except the scorer's compiled modules, set up here.

`pip install -e .` (what `make install` runs) compiles the lexical scorer's hot modules (`HOT` in
simulator/rubric/native.py) to C extensions with mypyc, beside their `.py` files. The `.py` files are the
source and the fallback: without mypy, without a C compiler, when a build step fails, or with
`SIMULATOR_NO_COMPILE=1`, the install goes on with pure Python and says so; the scores are the same.
See docs/scorer-speed.md.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).resolve().parent
RUBRIC = ROOT / "simulator" / "rubric"


def _log(message: str) -> None:
    # pip shows a build's output with -v only; stderr lines also land in its log
    print(f"collector-simulator: {message}", file=sys.stderr, flush=True)


def _native():
    """simulator/rubric/native.py alone (standard library only: the build does not import the package)."""
    spec = importlib.util.spec_from_file_location("_simulator_native", RUBRIC / "native.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


NATIVE = _native()
PATHS = [str((RUBRIC / f"{name}.py").relative_to(ROOT)) for name in NATIVE.HOT]


def _write_stamp(path: Path) -> None:
    """The hashes of the sources compiled: at import, a stale build (a source edited since) is ignored."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(NATIVE.source_hashes(), indent=1, sort_keys=True) + "\n", encoding="utf-8")


def _ext_modules() -> list:
    if os.environ.get("SIMULATOR_NO_COMPILE"):
        _log("SIMULATOR_NO_COMPILE is set: the scorer stays pure Python")
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        _log("mypy (mypyc) is not installed: the scorer stays pure Python (same scores, slower)")
        return []
    cwd = os.getcwd()
    try:
        os.chdir(ROOT)  # mypyc takes paths relative to the project and writes its C files in build/
        return mypycify(["--config-file", str(ROOT / "pyproject.toml"), *PATHS], opt_level="3",
                        group_name="simulator.rubric._compiled")
    except (Exception, SystemExit) as error:  # noqa: BLE001 - a failed compile must not fail the install
        _log(f"mypyc could not compile the scorer ({error}): it stays pure Python (same scores, slower)")
        return []
    finally:
        os.chdir(cwd)


class OptionalBuildExt(build_ext):
    """build_ext that keeps the install going (pure Python) when the C compiler is missing or fails."""

    def run(self) -> None:
        if not self.extensions:
            return
        try:
            super().run()
        except Exception as error:  # noqa: BLE001 - CompileError, LinkError, no compiler (DistutilsPlatformError)
            self._remove_outputs()
            _log(f"the C build of the scorer failed ({error}): it stays pure Python (same scores, slower)")
            return
        # beside the extensions: the source tree (editable install, --inplace) or the tree packed in the wheel
        stamp = NATIVE.STAMP.relative_to(ROOT)
        _write_stamp(ROOT / stamp if self.inplace else Path(self.build_lib) / stamp)
        _log("scorer compiled with mypyc: " + ", ".join(NATIVE.HOT))

    def _remove_outputs(self) -> None:
        """No half build: a compiled module without its shared library would fail to import."""
        for ext in self.extensions:
            for path in {self.get_ext_fullpath(ext.name),
                         str(ROOT / self.get_ext_filename(ext.name))}:
                try:
                    os.remove(path)
                except OSError:
                    pass
        try:
            NATIVE.STAMP.unlink()
        except OSError:
            pass


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": OptionalBuildExt})
