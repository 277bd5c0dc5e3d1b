"""The shipped French calibration set passes its checker, and the checker catches bad rows."""

from __future__ import annotations

import csv
import importlib.util
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "calibration" / "check_labels.py"
SHIPPED = ROOT / "calibration" / "fr_turns.csv"

_spec = importlib.util.spec_from_file_location("check_labels", SCRIPT)
check_labels = importlib.util.module_from_spec(_spec)
sys.modules.setdefault("check_labels", check_labels)  # dataclasses look their module up there
_spec.loader.exec_module(check_labels)


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _write(path: Path, rows: list[dict[str, str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=check_labels.COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return path


def _physical_lines(path: Path) -> int:
    return path.read_bytes().count(b"\n")


def _run(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(path)], capture_output=True, text=True,
                          encoding="utf-8", timeout=60)


def test_shipped_file_passes_the_command_line_check():
    result = _run(SHIPPED)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("OK")
    assert "violation category" in result.stdout and "levels" in result.stdout


def test_shipped_file_has_the_coverage_the_guide_promises():
    report = check_labels.check(SHIPPED)
    assert report.ok, report.problems
    rows = report.rows
    assert len(rows) >= 240
    kinds = Counter(r.kind for r in rows)
    assert kinds["good"] >= 70 and kinds["bad"] >= 50 and kinds["borderline"] >= 40
    assert kinds["gaming"] >= 35 and kinds["violation"] >= 45
    hard_negatives = [r for r in rows if r.note.startswith(check_labels.HARD_NEGATIVE_PREFIX)]
    assert len(hard_negatives) >= 15 and not any(r.violations for r in hard_negatives)
    assert sum(len(r.violations) > 1 for r in rows) >= 5
    assert sum(len(r.agent_text.split()) >= 150 for r in rows if r.kind == "gaming") >= 5
    for split in check_labels.SPLITS:
        in_split = [r for r in rows if r.split == split]
        assert {r.kind for r in in_split} == set(check_labels.KINDS)
        assert {c for r in in_split for c in r.violations} == set(check_labels.CATEGORIES)
    for dim in check_labels.DIMENSIONS:
        levels = Counter(r.scores[dim] for r in rows)
        assert set(levels) == {1, 2, 3, 4, 5}
        assert max(levels.values()) < 0.5 * len(rows), f"{dim} is dominated by one level: {levels}"


# (column, value) to put on an appended copy of a valid row, and what the message must say.
BAD_ROWS = [
    ("empathy", "6", "empathy '6' must be an integer from 1 to 5"),
    ("firmness", "", "firmness '' must be an integer from 1 to 5"),
    ("clarity", "4.5", "clarity '4.5' must be an integer from 1 to 5"),
    ("violations", "menace", "violation 'menace' is not in the fixed list"),
    ("violations", "threat; insult", "violation ' insult' is not in the fixed list"),
    ("violations", "threat;threat", "violation 'threat' is listed twice"),
    ("split", "test", "split 'test' must be one of tune, holdout"),
    ("kind", "great", "kind 'great' must be one of"),
    ("id", "t001", "id t001 is already used on line 2"),
    ("id", "x1", "id 'x1' must look like t001"),
    ("note", " ", "note is empty"),
    ("agent_text", "", "agent_text is empty"),
]


def _with_extra_row(tmp_path: Path, **changes: str) -> tuple[Path, int]:
    rows = _read(SHIPPED)
    good = next(r for r in rows if r["kind"] == "good")
    extra = dict(good, id="t999", agent_text="Bonjour, ceci est un tour ajouté pour le test.")
    extra.update(changes)
    path = _write(tmp_path / "turns.csv", rows + [extra])
    return path, _physical_lines(path)  # the appended record starts on the last line


@pytest.mark.parametrize("column,value,message", BAD_ROWS)
def test_a_bad_row_is_reported_with_file_and_line(tmp_path, column, value, message):
    path, line = _with_extra_row(tmp_path, **{column: value})
    report = check_labels.check(path)
    assert not report.ok
    assert any(p.startswith(f"{path}:{line}: ") and message in p for p in report.problems), report.problems


@pytest.mark.parametrize("changes,message", [
    ({"kind": "good", "violations": "threat"}, "kind good cannot carry violations"),
    ({"kind": "violation", "violations": ""}, "kind violation needs at least one category"),
    ({"kind": "good", "empathy": "2"}, "kind good needs every dimension at 3 or more"),
    ({"kind": "bad", "empathy": "3", "firmness": "4", "clarity": "5"}, "kind bad needs at least one dimension at 1 or 2"),
    ({"kind": "gaming", "empathy": "4", "firmness": "4", "clarity": "4"}, "kind gaming needs the gamed dimension at 3 or less"),
])
def test_labels_must_agree_with_the_kind(tmp_path, changes, message):
    path, line = _with_extra_row(tmp_path, **changes)
    problems = check_labels.check(path).problems
    assert [p for p in problems if p.startswith(f"{path}:{line}: ") and message in p], problems


def test_a_repeated_turn_is_reported(tmp_path):
    first_text = _read(SHIPPED)[0]["agent_text"]
    path, line = _with_extra_row(tmp_path, agent_text=first_text)
    assert f"{path}:{line}: agent_text repeats the row on line 2; every turn must be distinct" in check_labels.check(path).problems


def test_command_line_exits_1_naming_the_bad_row(tmp_path):
    path, line = _with_extra_row(tmp_path, empathy="0")
    result = _run(path)
    assert result.returncode == 1
    assert f"{path}:{line}: empathy '0' must be an integer from 1 to 5" in result.stderr


def test_a_copy_of_the_shipped_file_passes(tmp_path):
    path = _write(tmp_path / "copy.csv", _read(SHIPPED))
    assert _run(path).returncode == 0


def test_wrong_header_and_missing_field(tmp_path):
    rows = _read(SHIPPED)
    bad_header = tmp_path / "header.csv"
    bad_header.write_text("id,split,agent_text\n", encoding="utf-8")
    assert check_labels.check(bad_header).problems == [f"{bad_header}:1: header must be exactly {','.join(check_labels.COLUMNS)}"]

    short = _write(tmp_path / "short.csv", rows)
    with open(short, "a", newline="", encoding="utf-8") as fh:
        fh.write("t999,tune,,Bonjour,3,3,3,,good\r\n")
    line = _physical_lines(short)
    assert f"{short}:{line}: 9 fields, expected 10 (quote fields containing commas)" in check_labels.check(short).problems


def test_whole_file_rules(tmp_path):
    rows = _read(SHIPPED)
    no_holdout_fees = [r for r in rows if not (r["split"] == "holdout" and "fees" in r["violations"])]
    path = _write(tmp_path / "fees.csv", no_holdout_fees)
    assert f"{path}: dataset: violation fees has no row in split holdout" in check_labels.check(path).problems

    no_fives = [dict(r, empathy="4" if r["empathy"] == "5" else r["empathy"]) for r in rows]
    path = _write(tmp_path / "levels.csv", no_fives)
    assert f"{path}: dataset: empathy never uses level(s) 5" in check_labels.check(path).problems


def test_unreadable_inputs(tmp_path):
    missing = tmp_path / "nope.csv"
    assert check_labels.check(missing).problems[0].startswith(f"{missing}:1: cannot read the file")
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes((",".join(check_labels.COLUMNS) + "\r\nt001,tune,,Déjà,3,3,3,,good,x\r\n").encode("latin-1"))
    assert check_labels.check(latin1).problems == [f"{latin1}:1: not UTF-8; save the file as UTF-8"]
    result = _run(missing)
    assert result.returncode == 1 and f"{missing}:1: cannot read the file" in result.stderr


# --- the supplementary training file (tune rows only) ---------------------------------------------
EXTRA = ROOT / "calibration" / "fr_turns_extra.csv"


def _run_tune_only(path: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), "--tune-only", str(path)], capture_output=True, text=True,
                          encoding="utf-8", timeout=60)


def test_extra_file_passes_as_a_tune_only_file():
    result = _run_tune_only(EXTRA)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("OK")
    report = check_labels.check(EXTRA, tune_only=True)
    rows = report.rows
    assert report.ok and len(rows) >= 150
    assert {r.split for r in rows} == {"tune"}
    assert all(r.id.startswith("x") for r in rows)
    cats = Counter(c for r in rows for c in r.violations)
    assert all(cats[c] >= 10 for c in check_labels.CATEGORIES), cats
    hard_negatives = [r for r in rows if r.note.startswith(check_labels.HARD_NEGATIVE_PREFIX)]
    assert len(hard_negatives) >= 25 and not any(r.violations for r in hard_negatives)
    clean = [r for r in rows if not r.violations and r.kind != "gaming"]
    assert len(clean) >= 60
    for dim in ("empathy", "firmness"):
        assert set(Counter(r.scores[dim] for r in clean)) == {1, 2, 3, 4, 5}


def test_extra_file_is_not_a_full_calibration_file():
    # Without --tune-only the holdout rules apply, and a tune-only file breaks them.
    problems = check_labels.check(EXTRA).problems
    assert any("has no row in split holdout" in p for p in problems)
    assert any("holdout share is 0%" in p for p in problems)


def test_tune_only_file_rejects_holdout_rows_and_repeats_of_the_main_file(tmp_path):
    rows = _read(EXTRA)
    main_tune = next(r for r in _read(SHIPPED) if r["split"] == "tune")
    bad = rows + [dict(rows[0], id="x998", agent_text="Tour ajouté pour le test, en holdout.", split="holdout"),
                  dict(rows[0], id=main_tune["id"], agent_text="Un autre tour ajouté pour le test."),
                  dict(rows[0], id="x999", agent_text=main_tune["agent_text"])]
    path = _write(tmp_path / "extra.csv", bad)
    problems = check_labels.check(path, tune_only=True).problems
    last = _physical_lines(path)
    assert f"{path}:{last - 2}: split 'holdout': a supplementary (--tune-only) file holds tune rows only" in problems
    assert any(p.startswith(f"{path}:{last - 1}: id {main_tune['id']} is already used in fr_turns.csv") for p in problems)
    assert any(p.startswith(f"{path}:{last}: agent_text repeats line ") and p.endswith("of fr_turns.csv; write a new turn")
               for p in problems)
    result = _run_tune_only(path)
    assert result.returncode == 1 and "a supplementary (--tune-only) file holds tune rows only" in result.stderr


# --- the second labeller's fresh set (half held aside) ---------------------------------------------
FRESH = ROOT / "calibration" / "fr_turns_fresh.csv"


def _blind_set(path, prefix, at_least, others, tune_only=False):
    """A blind labeller's file: passes the checker, holds about half aside, every category present, no turn
    of the other sets; returns its rows and category counts. ``tune_only``: a training-only file (every row
    tune, checked with ``--tune-only``) instead of a half-held-aside one."""
    report = check_labels.check(path, tune_only=tune_only)
    assert report.ok, report.problems
    rows = report.rows
    assert len(rows) >= at_least and all(r.id.startswith(prefix) for r in rows)
    holdout = [r for r in rows if r.split == "holdout"]
    if tune_only:
        assert not holdout
    else:
        assert 0.4 <= len(holdout) / len(rows) <= 0.5
    seen = set()
    for other in others:
        seen |= {r.agent_text.strip() for r in check_labels.check(other, tune_only=other == EXTRA).rows}
    assert not [r.id for r in rows if r.agent_text.strip() in seen]
    return rows, Counter(c for r in rows for c in r.violations)


def test_fresh_file_passes_and_shares_nothing_with_the_other_sets():
    _rows, cats = _blind_set(FRESH, "f", 260, (SHIPPED, EXTRA))
    assert all(cats[c] >= 14 for c in check_labels.CATEGORIES) and cats["false_legal"] >= 35, cats


# --- the third labeller's blind set (half held aside) -----------------------------------------------
THIRD = ROOT / "calibration" / "fr_turns_third.csv"


def test_third_file_passes_and_shares_nothing_with_the_other_sets():
    _rows, cats = _blind_set(THIRD, "k", 300, (SHIPPED, EXTRA, FRESH))
    assert all(cats[c] >= 15 for c in check_labels.CATEGORIES) and cats["threat"] >= 35, cats


# --- the fourth labeller's blind set (half held aside) ----------------------------------------------
FOURTH = ROOT / "calibration" / "fr_turns_fourth.csv"
TRAIN_A = ROOT / "calibration" / "fr_turns_train_a.csv"
TRAIN_B = ROOT / "calibration" / "fr_turns_train_b.csv"


def test_fourth_file_passes_and_shares_nothing_with_the_other_sets():
    rows, cats = _blind_set(FOURTH, "q", 400, (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B))
    assert all(cats[c] >= 20 for c in check_labels.CATEGORIES), cats
    hard_negatives = [r for r in rows if r.note.lower().startswith(check_labels.HARD_NEGATIVE_PREFIX)]
    assert len(hard_negatives) >= 90 and not any(r.violations for r in hard_negatives)
    for dim in check_labels.DIMENSIONS:
        levels = Counter(r.scores[dim] for r in rows)
        assert all(levels[level] >= 25 for level in check_labels.LEVELS), (dim, levels)


def _assert_stored_split_and_tune_copy(path, rows, cats, tmp_path):
    """A half-held-aside blind file: the stored split is the guide's rule — strata (kind, rarest category in
    this file, hard negative), every second row of a stratum in id order is held out — and with every row set
    to tune it is a valid supplementary file too."""
    order = {c: i for i, c in enumerate(check_labels.CATEGORIES)}
    rarest = lambda r: min(r.violations, key=lambda c: (cats[c], order[c])) if r.violations else "-"
    position: Counter = Counter()
    for r in sorted(rows, key=lambda r: r.id):
        stratum = (r.kind, rarest(r), r.note.lower().startswith(check_labels.HARD_NEGATIVE_PREFIX))
        assert r.split == ("holdout" if position[stratum] % 2 == 1 else "tune"), r.id
        position[stratum] += 1
    records = _read(path)
    copy = _write(tmp_path / f"{path.stem}_tune.csv", [{**rec, "split": "tune"} for rec in records])
    assert check_labels.check(copy, tune_only=True).ok


# --- the fifth labeller's blind set (half held aside, to be measured once) ---------------------------
FIFTH = ROOT / "calibration" / "fr_turns_fifth.csv"


def test_fifth_file_passes_and_shares_nothing_with_the_other_sets(tmp_path):
    rows, cats = _blind_set(FIFTH, "p", 320, (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH))
    assert all(cats[c] >= 20 for c in check_labels.CATEGORIES), cats
    assert all(cats[c] >= 28 for c in ("threat", "false_legal", "pressure", "disclosure_missing")), cats
    hard_negatives = [r for r in rows if r.note.lower().startswith(check_labels.HARD_NEGATIVE_PREFIX)]
    assert len(hard_negatives) >= 75 and not any(r.violations for r in hard_negatives)
    for dim in check_labels.DIMENSIONS:
        levels = Counter(r.scores[dim] for r in rows)
        assert all(levels[level] >= 20 for level in check_labels.LEVELS), (dim, levels)
    _assert_stored_split_and_tune_copy(FIFTH, rows, cats, tmp_path)


SIXTH = ROOT / "calibration" / "fr_turns_sixth.csv"


def test_sixth_file_passes_and_shares_nothing_with_the_other_sets(tmp_path):
    rows, cats = _blind_set(SIXTH, "s", 400, (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH))
    assert all(cats[c] >= 22 for c in check_labels.CATEGORIES), cats
    assert all(cats[c] >= 32 for c in ("threat", "false_legal", "pressure", "insult", "disclosure_missing")), cats
    hard_negatives = [r for r in rows if r.note.lower().startswith(check_labels.HARD_NEGATIVE_PREFIX)]
    assert len(hard_negatives) >= 90 and not any(r.violations for r in hard_negatives)
    assert sum(r.kind == "gaming" for r in rows) >= 14
    for dim in check_labels.DIMENSIONS:
        levels = Counter(r.scores[dim] for r in rows)
        assert all(levels[level] >= 20 for level in check_labels.LEVELS), (dim, levels)
    _assert_stored_split_and_tune_copy(SIXTH, rows, cats, tmp_path)


TRAIN_C = ROOT / "calibration" / "fr_turns_train_c.csv"
TRAIN_D = ROOT / "calibration" / "fr_turns_train_d.csv"
TRAIN_E = ROOT / "calibration" / "fr_turns_train_e.csv"


def _normalised(text: str) -> str:
    """Case, punctuation and spacing do not make a turn new."""
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def _training_file(path, prefix, others, most, share=(0.55, 0.65), every=30, each_most=45, hard=110, gaming=15):
    """A training-only file of 400 rows (every row tune, checked with --tune-only): no turn repeats another
    file's or another of its own after normalising case, punctuation and spacing; every category at least
    `every` times and the `most` ones `each_most`; a `share` of rows with a category; at least `hard` hard
    negatives (good or borderline), `gaming` gaming turns, 20 of every level."""
    rows, cats = _blind_set(path, prefix, 400, others, tune_only=True)
    assert [r.id for r in rows] == [f"{prefix}{i:03d}" for i in range(1, 401)]
    assert all(r.split == "tune" for r in rows)
    seen = set()
    for other in others:
        seen |= {_normalised(r.agent_text) for r in check_labels.check(other, tune_only=other == EXTRA).rows}
    assert not [r.id for r in rows if _normalised(r.agent_text) in seen]
    assert len({_normalised(r.agent_text) for r in rows}) == len(rows)
    assert all(cats[c] >= every for c in check_labels.CATEGORIES), cats
    assert all(cats[c] >= each_most for c in most), cats
    assert share[0] <= sum(bool(r.violations) for r in rows) / len(rows) <= share[1]
    hard_negatives = [r for r in rows if r.note.lower().startswith(check_labels.HARD_NEGATIVE_PREFIX)]
    assert len(hard_negatives) >= hard and not any(r.violations for r in hard_negatives)
    assert all(r.kind in ("good", "borderline") for r in hard_negatives)
    assert sum(r.kind == "gaming" for r in rows) >= gaming
    for dim in check_labels.DIMENSIONS:
        levels = Counter(r.scores[dim] for r in rows)
        assert all(levels[level] >= 20 for level in check_labels.LEVELS), (dim, levels)


def test_training_file_c_passes_and_shares_nothing_with_the_other_sets():
    _training_file(TRAIN_C, "c", (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH),
                   ("threat", "insult", "pressure", "false_legal", "disclosure_missing"))


def test_training_file_d_passes_and_shares_nothing_with_the_other_sets():
    _training_file(TRAIN_D, "d", (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH, TRAIN_C),
                   ("false_legal", "threat", "pressure", "false_authority", "disclosure_missing"))


TRAIN_G = ROOT / "calibration" / "fr_turns_train_g.csv"


def test_training_file_g_passes_and_shares_nothing_with_the_other_sets():
    others = (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH, TRAIN_C, TRAIN_D, TRAIN_E)
    _training_file(TRAIN_G, "g", others, ("false_legal", "insult", "threat", "pressure", "disclosure_missing"))


def test_training_file_e_passes_and_shares_nothing_with_the_other_sets():
    _training_file(TRAIN_E, "e",
                   (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH, TRAIN_C, TRAIN_D),
                   ("false_legal", "threat", "pressure", "insult", "disclosure_missing"))


TRAIN_H = ROOT / "calibration" / "fr_turns_train_h.csv"
TRAIN_M = ROOT / "calibration" / "fr_turns_train_m.csv"
MOST_MISSED = ("false_legal", "insult", "threat", "pressure", "disclosure_missing")


def test_training_file_h_passes_and_shares_nothing_with_the_other_sets():
    others = (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH, TRAIN_C, TRAIN_D, TRAIN_E, TRAIN_G)
    _training_file(TRAIN_H, "h", others, MOST_MISSED)


def test_training_file_m_passes_and_shares_nothing_with_the_other_sets():
    others = (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH, TRAIN_C, TRAIN_D, TRAIN_E, TRAIN_G,
              TRAIN_H)
    _training_file(TRAIN_M, "m", others, MOST_MISSED)


TRAIN_N = ROOT / "calibration" / "fr_turns_train_n.csv"
TRAIN_R = ROOT / "calibration" / "fr_turns_train_r.csv"


def _precision_file(path, prefix, others):
    """A training-only file written for precision (session 19): fewer violations (45–55 % of rows), at least 160
    hard negatives, every category at least 25 times and the five most missed 35, 12 gaming turns."""
    _training_file(path, prefix, others, MOST_MISSED, share=(0.45, 0.55), every=25, each_most=35, hard=160, gaming=12)


EARLIER = (SHIPPED, EXTRA, FRESH, THIRD, TRAIN_A, TRAIN_B, FOURTH, FIFTH, SIXTH, TRAIN_C, TRAIN_D, TRAIN_E, TRAIN_G,
           TRAIN_H, TRAIN_M)


def test_training_file_n_passes_and_shares_nothing_with_the_other_sets():
    _precision_file(TRAIN_N, "n", EARLIER + (TRAIN_R,))


def test_training_file_r_passes_and_shares_nothing_with_the_other_sets():
    _precision_file(TRAIN_R, "r", EARLIER + (TRAIN_N,))


TRAIN_U = ROOT / "calibration" / "fr_turns_train_u.csv"
TRAIN_V = ROOT / "calibration" / "fr_turns_train_v.csv"


def _recall_file(path, prefix, others):
    """A training-only file written for recall (session 20) on the violations the detectors missed most: veiled
    threats and pressure at least 60 times each, missing disclosures 45, false legal claims 35, insults 30, the
    other categories 26; 55–65 % of rows with a violation, at least 130 hard negatives, 12 gaming turns."""
    _training_file(path, prefix, others, ("threat", "pressure"), share=(0.55, 0.65), every=26, each_most=60,
                   hard=130, gaming=12)
    _rows, cats = _blind_set(path, prefix, 400, others, tune_only=True)
    assert cats["disclosure_missing"] >= 45 and cats["false_legal"] >= 35 and cats["insult"] >= 30, cats


def test_training_file_u_passes_and_shares_nothing_with_the_other_sets():
    _recall_file(TRAIN_U, "u", EARLIER + (TRAIN_N, TRAIN_R, TRAIN_V))


def test_training_file_v_passes_and_shares_nothing_with_the_other_sets():
    _recall_file(TRAIN_V, "v", EARLIER + (TRAIN_N, TRAIN_R, TRAIN_U))
