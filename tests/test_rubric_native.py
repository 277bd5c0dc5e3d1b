"""The compiled scorer (mypyc, built by `pip install -e .`) and its pure-Python fallback.

Which one runs is reported (`native.variant()`, the benchmark prints it); both score the same; a build
older than its sources is not used; the build goes on in pure Python when it cannot compile.
"""

from __future__ import annotations

import importlib.machinery
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from simulator.rubric import native
from simulator.rubric import scorer as scorer_module
from simulator.rubric.loader import resolve_rubric
from tests import rubric_golden

ROOT = Path(__file__).resolve().parents[1]


def _is_extension(module) -> bool:
    return module.__file__.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES))


def test_the_variant_in_use_is_reported():
    modules = native.compiled_modules()
    assert set(modules) == set(native.HOT)
    for name, compiled in modules.items():
        assert compiled == _is_extension(sys.modules[f"simulator.rubric.{name}"]), name
    assert native.is_compiled() == _is_extension(scorer_module)
    variant = native.variant()
    if native.is_compiled():
        assert variant == "compiled (mypyc)"
    else:
        assert variant.startswith("pure Python")
        if native.available():  # built, but not used here: the report says why
            assert "SIMULATOR_RUBRIC_PURE" in variant or "stale" in variant


@pytest.mark.skipif(os.environ.get("SIMULATOR_EXPECT_COMPILED") != "1",
                    reason="only `make test` (SIMULATOR_EXPECT_COMPILED=1) requires the compiled build")
def test_make_test_runs_the_compiled_scorer():
    """`make test` installs with a C compiler at hand (llama.cpp needs one): a module that stopped compiling
    (a type error after a merge, a new gcc warning) must fail CI, not fall back to pure Python unseen."""
    assert native.is_compiled(), f"the lexical scorer is {native.variant()}; run `pip install -e . -v` to see why"


def test_pure_python_can_be_forced():
    """`SIMULATOR_RUBRIC_PURE=1` runs the sources even when compiled modules are there."""
    code = ("from simulator.rubric import native, scorer; "
            "print(native.is_compiled(), scorer.__file__.endswith('.py'), native.variant())")
    env = {**os.environ, native.PURE_ENV: "1"}
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120, check=True).stdout.split(maxsplit=2)
    assert out[:2] == ["False", "True"]
    assert out[2].startswith("pure Python")


def _sample_outputs(scorer_cls, rubric) -> list:
    """Outputs on a sample of the golden corpus: turns alone (with the debtor's line), b2c, debtor cues, and
    one whole call."""
    turns = rubric_golden.load_inputs()["turns"]
    pairs = [pair for group, step in (("fr", 5), ("en", 3), ("weird", 1), ("long_fr", 4), ("long_en", 4),
                                      ("synthetic_fr", 9), ("synthetic_en", 9)) for pair in turns[group][::step]]
    scorer = scorer_cls(rubric)
    out: list = []
    for i, (debtor, agent) in enumerate(pairs):
        out.append(scorer.score_isolated(agent, debtor).to_json())
        if i % 4 == 0:
            out.append(scorer.score_isolated(agent, debtor, segment="b2c").to_json())
        out.append(scorer.debtor_cues(debtor))
    session = scorer.session()
    for debtor, agent in pairs[:40]:
        session.hear(debtor)
        out.append(session.score(agent).to_json())
    return out


def _differences(got: list, expected: list) -> list[str]:
    """Where two output lists differ: item numbers and field names only (the corpus holds held-out texts,
    which a failure must not print)."""
    if len(got) != len(expected):
        return [f"{len(got)} outputs instead of {len(expected)}"]
    found = []
    for i, (a, b) in enumerate(zip(got, expected)):
        if json.dumps(a, ensure_ascii=False) != json.dumps(b, ensure_ascii=False):
            fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k)) if isinstance(a, dict) else ["cues"]
            found.append(f"output {i}: {', '.join(fields) or 'key order'}")
    return found


def test_the_compiled_scorer_scores_like_the_pure_one():
    """The scorer in use (compiled when built) and the plain-Python one loaded beside it give the same JSON
    (the golden test checks the whole corpus with whichever variant is installed)."""
    pure = native.pure_module("scorer")
    assert pure.__file__.endswith("scorer.py") and not _is_extension(pure)
    assert native.pure_module("gate").__file__.endswith("gate.py")
    for rubric_id in ("fr-default", "en-us"):
        expected = _sample_outputs(pure.Scorer, native.pure_module("loader").resolve_rubric(rubric_id))
        got = _sample_outputs(scorer_module.Scorer, resolve_rubric(rubric_id))
        assert len(expected) > 300
        differences = _differences(got, expected)
        if differences:
            pytest.fail(f"{native.variant()} scorer differs from the pure one ({rubric_id}): "
                        + "; ".join(differences[:10]), pytrace=False)


def test_a_stale_build_is_not_used(tmp_path, monkeypatch):
    """The build stamp holds the hashes of the sources compiled; a source edited since makes the build stale."""
    stamp = tmp_path / "_compiled.json"
    monkeypatch.setattr(native, "STAMP", stamp)
    assert native.stale() == list(native.HOT)  # no stamp: nothing is known to be current
    hashes = native.source_hashes()
    stamp.write_text(json.dumps(hashes), encoding="utf-8")
    assert native.stale() == []
    stamp.write_text(json.dumps({**hashes, "gate": "0" * 64}), encoding="utf-8")
    assert native.stale() == ["gate"]
    # a stale build present: `choose` makes the process import the sources — also a build that predates a hot
    # module added since (its stamp does not name it, and that module has no compiled file)
    stamp.write_text(json.dumps({k: v for k, v in hashes.items() if k != "linear"}), encoding="utf-8")
    assert native.stale() == ["linear"]
    monkeypatch.setattr(native, "built_any", lambda: True)
    monkeypatch.setattr(native, "available", lambda: False)
    monkeypatch.delenv(native.PURE_ENV, raising=False)
    before = list(sys.meta_path)
    sys.meta_path[:] = [f for f in before if not isinstance(f, native._SourceFinder)]  # (SIMULATOR_RUBRIC_PURE)
    try:
        native.choose()
        finder = sys.meta_path[0]
        assert isinstance(finder, native._SourceFinder)
        spec = finder.find_spec("simulator.rubric.gate")
        assert spec is not None and spec.origin.endswith("gate.py")
        assert finder.find_spec("simulator.rubric.loader") is None  # only the hot modules
    finally:
        sys.meta_path[:] = before


@pytest.mark.parametrize("why", ["SIMULATOR_NO_COMPILE", "no mypy"])
def test_the_build_falls_back_to_pure_python(tmp_path, why):
    """`setup.py` without mypy (or told not to compile) builds nothing and says so; the install goes on."""
    project = tmp_path / "project"
    project.mkdir()
    for name in ("setup.py", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, project / name)
    shutil.copytree(ROOT / "simulator", project / "simulator",
                    ignore=shutil.ignore_patterns("*.so", "*.pyd", "__pycache__", "_compiled.json"))
    env = {**os.environ}
    if why == "SIMULATOR_NO_COMPILE":
        env["SIMULATOR_NO_COMPILE"] = "1"
        expected = "SIMULATOR_NO_COMPILE is set"
    else:
        blocker = tmp_path / "no_mypy"  # a `mypyc` package that fails to import, ahead of any installed one
        (blocker / "mypyc").mkdir(parents=True)
        (blocker / "mypyc" / "__init__.py").write_text("raise ImportError('no mypy here')\n", encoding="utf-8")
        env["PYTHONPATH"] = str(blocker)
        expected = "mypy (mypyc) is not installed"
    result = subprocess.run([sys.executable, "setup.py", "build_ext", "--inplace"], cwd=project, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert expected in result.stderr
    assert not list((project / "simulator").rglob("*.so"))


def test_differences_name_fields_not_texts():
    a = [{"scores": {"empathy": 3}, "notes": ["x"]}, ["cue"]]
    b = [{"scores": {"empathy": 4}, "notes": ["x"]}, ["other"]]
    assert _differences(a, a) == []
    assert _differences(a, b) == ["output 0: scores", "output 1: cues"]
    assert _differences(a, a[:1]) == ["2 outputs instead of 1"]


@pytest.mark.skipif(not native.is_compiled(), reason="the scorer in use is pure Python: the golden test runs it")
def test_the_pure_scorer_passes_the_golden_test_too():
    """`make test` runs the golden test with the compiled scorer; the pure-Python fallback must pass it too."""
    env = {**os.environ, native.PURE_ENV: "1"}
    result = subprocess.run([sys.executable, "-m", "pytest", "tests/test_rubric_golden.py", "-q", "--tb=no",
                             "-p", "no:cacheprovider"], cwd=ROOT, env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stdout[-1500:]  # --tb=no: field names only, no held-out text
    assert " passed" in result.stdout
