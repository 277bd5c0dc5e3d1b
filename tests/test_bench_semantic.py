"""`make bench`'s semantic-detector line: measured in the same run as the lexical scorer, said plainly when the
embedded model is not on this machine (the bench goes on)."""

from __future__ import annotations

from benchmarks import rubric as bench
from benchmarks.semantic import render_rows, run_semantic, sample


def test_without_the_embedded_model_the_line_says_so():
    result = run_semantic()  # the test's data dir holds no model
    assert "not on this machine" in result["missing"]
    row = render_rows(result, 250.0)
    assert row.startswith("\n| semantic violation detector | not measured: ") and "prepare-model" in row


def test_the_line_quotes_the_ratio_to_the_lexical_median_of_the_same_run():
    measured = {"turns": 40, "sampled": 40, "threads": 2, "warm_s": 1.2, "semantic_ms": 500.0,
                "semantic_p90_ms": 700.0, "semantic_max_ms": 900.0, "total_ms": 501.0, "lexical_ms_here": 0.3}
    rows = render_rows(measured, 250.0)
    assert "**500 ms** (p90 700 ms" in rows and "(40 labelled turns, `fr_turns.csv`" in rows
    assert "| **2,000×** |" in rows  # 500 ms ÷ 250 µs
    cut = render_rows(measured | {"turns": 12}, 250.0)
    assert "(12 of 40 sampled labelled turns, 60 s budget" in cut
    section = bench.render({"variant": "pure Python", "cpu": 1, "turns": 10, "rounds": 1, "rubric_turns_per_s": 4000.0,
                            "baseline_turns_per_s": 2000.0, "ratio": 2.0, "rubric_us_per_turn": 250.0,
                            "scorecard_ms": 9.0, "scorecard_p90_ms": 10.0, "rubric_spread": (3900.0, 4100.0),
                            "load": ("1", "1"), "semantic": measured})
    table = [line for line in section.splitlines() if line.startswith("|")]
    assert any("semantic violation detector: embed + score" in line for line in table)
    assert len({line.count("|") for line in table}) == 1  # the rows fit the table's columns


def test_with_two_depths_the_line_quotes_the_first_depth_alone_as_the_baseline():
    measured = {"turns": 40, "sampled": 40, "threads": 2, "warm_s": 2.0, "semantic_ms": 600.0,
                "semantic_p90_ms": 800.0, "semantic_max_ms": 900.0, "total_ms": 601.0, "lexical_ms_here": 0.3,
                "depths": "14+20", "first_depth_ms": 250.0}
    rows = render_rows(measured, 250.0)
    assert "embedded after 14 blocks only" in rows and "| 250 ms |" in rows
    assert "ratio blocks 14+20 ÷ blocks 14 alone" in rows and "| **2.40×** |" in rows
    assert "blocks 14 alone" not in render_rows(measured | {"first_depth_ms": None, "depths": "14"}, 250.0)
    assert len({line.count("|") for line in rows.strip().splitlines()}) == 1


def test_the_sample_is_spread_over_the_labelled_file():
    turns = sample(40)
    assert len(turns) == 40 and len({agent for _, agent in turns}) == 40


def test_the_rewritten_section_keeps_a_blank_line_before_the_next_one(tmp_path):
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\n{bench.SECTION}\n\nold figures\n\n## Notes\n\nkept\n", encoding="utf-8")
    bench.write(f"{bench.SECTION}\n\nnew figures\n", path)
    assert path.read_text(encoding="utf-8") == f"# Benchmarks\n\n{bench.SECTION}\n\nnew figures\n\n## Notes\n\nkept\n"
