"""The scorer's complete output on a frozen corpus equals the golden file (speed work must change no result).

After an intended change of scores (rubric YAML, scoring rules), rewrite the golden file with
`python tests/rubric_golden.py --write` and read what changed (`--check` before it lists the cases).
"""

from __future__ import annotations

import json

import pytest

from simulator.rubric import matcher
from tests import rubric_golden as golden


@pytest.mark.parametrize("probe", [
    pytest.param("hyperscan", marks=pytest.mark.skipif(not matcher.available(), reason="hyperscan not installed")),
    "literal",
])
def test_scorer_output_equals_golden_file(probe, monkeypatch):
    """With the Hyperscan prefilter (compiled before the first turn) and with the literal gates alone."""
    monkeypatch.setenv(matcher.MODE_ENV, probe)
    inputs = golden.load_inputs()
    lines = golden.produce(inputs)
    expected = golden.read_golden()
    problems = golden.compare(lines, expected)
    assert not problems, (
        f"{len(problems)} of {len(expected)} golden cases differ (first: {problems[:5]}). If the rubric files or the "
        "scoring rules changed on purpose, rewrite tests/data/rubric_golden.jsonl.xz with "
        "`python tests/rubric_golden.py --write` and review the differences."
    )


def test_golden_corpus_exercises_the_rubrics():
    """The frozen corpus is worth comparing on: every rubric fires most indicators, rules and stages in it."""
    from simulator.rubric.loader import resolve_rubric

    seen: dict[str, set[str]] = {}
    for line in golden.read_golden():
        case = json.loads(line)
        rubric_tag = case["case"].split("|")[0]
        out = case["out"]
        if not isinstance(out, dict) or "evidence" not in out:
            continue
        ids = seen.setdefault(rubric_tag, set())
        ids.update(e["indicator"] for e in out["evidence"])
        ids.update(v["rule"] for v in out["violations"])
        ids.update(out["stages"])
    for rid in golden.RUBRICS:
        rubric = resolve_rubric(rid).rubric
        lang = rubric.language
        wanted = ({i.id for i in rubric.indicators if i.patterns.get(lang) or i.detector}
                  | {r.id for r in rubric.rules if r.patterns.get(lang) or r.trigger.get(lang)}
                  | {s.id for s in rubric.stages})
        covered = wanted & seen[rid]
        assert len(covered) >= 0.9 * len(wanted), (rid, sorted(wanted - covered))
