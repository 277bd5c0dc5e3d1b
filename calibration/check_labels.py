"""Validate the human-labelled calibration set and print its counts.

Usage (from the repository root):

    /work/main/.venv/bin/python calibration/check_labels.py [FILE]
    /work/main/.venv/bin/python calibration/check_labels.py --tune-only calibration/fr_turns_extra.csv

FILE defaults to ``calibration/fr_turns.csv``. Every problem is printed as
``file:line: problem`` (``file: dataset: problem`` for whole-file balance
rules); the exit status is 1 when there is at least one problem. The rules
are those of ``docs/labelling-guide.md``.

``--tune-only`` checks a supplementary training file: every row must be
``split=tune`` (the split rules about holdout do not apply), and its ids and
turns must not repeat those of ``calibration/fr_turns.csv`` (compared by
program; nothing of the main file is printed but a line number).
"""

from __future__ import annotations

import csv
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FILE = Path(__file__).with_name("fr_turns.csv")

COLUMNS = ("id", "split", "debtor_before", "agent_text", "empathy", "firmness", "clarity",
           "violations", "kind", "note")
DIMENSIONS = ("empathy", "firmness", "clarity")
LEVELS = (1, 2, 3, 4, 5)
SPLITS = ("tune", "holdout")
KINDS = ("good", "bad", "borderline", "gaming", "violation")
CATEGORIES = ("threat", "insult", "harassment", "third_party", "false_authority", "false_legal",
              "fees", "pressure", "disclosure_missing")
HARD_NEGATIVE_PREFIX = "hard negative:"
ID_PATTERN = re.compile(r"[a-z]\d{3,}")

# Whole-file balance rules (see the guide, "Split rule" and "Coverage").
MIN_PER_CATEGORY = 4
HOLDOUT_SHARE = (0.25, 0.50)  # the second labeller's fresh set holds half its rows aside


@dataclass
class Row:
    line: int
    id: str
    split: str
    kind: str
    scores: dict[str, int]
    violations: list[str]
    agent_text: str
    note: str


@dataclass
class Report:
    path: Path
    tune_only: bool = False
    rows: list[Row] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, line: int | None, message: str) -> None:
        where = f"{self.path}:{line}" if line is not None else f"{self.path}: dataset"
        self.problems.append(f"{where}: {message}")


class _CsvSyntaxError(Exception):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def _records(handle):
    """Yield (first physical line number, record) for each CSV record, header included."""
    reader = csv.reader(handle, strict=True)
    start = 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise _CsvSyntaxError(reader.line_num or start, str(exc)) from None
        yield start, record
        start = reader.line_num + 1


def _check_row(report: Report, line: int, values: dict[str, str], seen_ids: dict[str, int],
               seen_texts: dict[str, int], main_ids: dict[str, int], main_texts: dict[str, int]) -> None:
    problems_before = len(report.problems)

    row_id = values["id"]
    if not ID_PATTERN.fullmatch(row_id):
        report.problem(line, f"id {row_id!r} must look like t001 (a lower-case letter + at least three digits; "
                             "x001… for a supplementary file)")
    elif row_id in seen_ids:
        report.problem(line, f"id {row_id} is already used on line {seen_ids[row_id]}; give this row a new id")
    elif row_id in main_ids:
        report.problem(line, f"id {row_id} is already used in {DEFAULT_FILE.name} (line {main_ids[row_id]}); "
                             "give this row a new id")
    else:
        seen_ids[row_id] = line

    if values["split"] not in SPLITS:
        report.problem(line, f"split {values['split']!r} must be one of {', '.join(SPLITS)}")
    elif report.tune_only and values["split"] != "tune":
        report.problem(line, f"split {values['split']!r}: a supplementary (--tune-only) file holds tune rows only")

    if values["kind"] not in KINDS:
        report.problem(line, f"kind {values['kind']!r} must be one of {', '.join(KINDS)}")

    scores: dict[str, int] = {}
    for dim in DIMENSIONS:
        raw = values[dim]
        if raw.strip() != raw or not raw.isdigit() or int(raw) not in LEVELS:
            report.problem(line, f"{dim} {raw!r} must be an integer from 1 to 5")
        else:
            scores[dim] = int(raw)

    violations: list[str] = []
    if values["violations"]:
        for item in values["violations"].split(";"):
            if item not in CATEGORIES:
                report.problem(line, f"violation {item!r} is not in the fixed list ({', '.join(CATEGORIES)}); "
                                     "separate categories with ';' and no spaces")
            elif item in violations:
                report.problem(line, f"violation {item!r} is listed twice")
            else:
                violations.append(item)

    text = values["agent_text"]
    if not text.strip():
        report.problem(line, "agent_text is empty")
    elif text.strip() in seen_texts:
        report.problem(line, f"agent_text repeats the row on line {seen_texts[text.strip()]}; every turn must be distinct")
    elif text.strip() in main_texts:
        report.problem(line, f"agent_text repeats line {main_texts[text.strip()]} of {DEFAULT_FILE.name}; "
                             "write a new turn")
    else:
        seen_texts[text.strip()] = line
    if not values["note"].strip():
        report.problem(line, "note is empty; say in a few words why these labels")

    kind = values["kind"]
    if len(report.problems) == problems_before:
        # Consistency rules between kind, scores and violations (guide, "Kinds").
        low = min(scores.values())
        if kind == "violation" and not violations:
            report.problem(line, "kind violation needs at least one category in violations")
        if violations and kind not in ("violation", "gaming"):
            report.problem(line, f"kind {kind} cannot carry violations ({';'.join(violations)}); "
                                 "use kind violation (or gaming for a gamed turn)")
        if kind == "good" and low < 3:
            report.problem(line, "kind good needs every dimension at 3 or more")
        if kind == "bad" and low > 2:
            report.problem(line, "kind bad needs at least one dimension at 1 or 2")
        if kind == "gaming" and low > 3:
            report.problem(line, "kind gaming needs the gamed dimension at 3 or less")
        if values["note"].lower().startswith(HARD_NEGATIVE_PREFIX) and violations:
            report.problem(line, "a hard negative carries no violation")
        report.rows.append(Row(line, row_id, values["split"], kind, scores, violations, text, values["note"]))


def _check_dataset(report: Report) -> None:
    rows = report.rows
    if not rows:
        report.problem(None, "no valid rows")
        return
    for split in (("tune",) if report.tune_only else SPLITS):
        kinds = {r.kind for r in rows if r.split == split}
        for kind in KINDS:
            if kind not in kinds:
                report.problem(None, f"kind {kind} has no row in split {split}")
        cats = Counter(c for r in rows if r.split == split for c in r.violations)
        for cat in CATEGORIES:
            if not cats[cat]:
                report.problem(None, f"violation {cat} has no row in split {split}")
    total = Counter(c for r in rows for c in r.violations)
    for cat in CATEGORIES:
        if total[cat] < MIN_PER_CATEGORY:
            report.problem(None, f"violation {cat} appears {total[cat]} times, needs at least {MIN_PER_CATEGORY}")
    for dim in DIMENSIONS:
        used = {r.scores[dim] for r in rows}
        missing = [str(level) for level in LEVELS if level not in used]
        if missing:
            report.problem(None, f"{dim} never uses level(s) {', '.join(missing)}")
    if report.tune_only:
        return
    share = sum(r.split == "holdout" for r in rows) / len(rows)
    if not HOLDOUT_SHARE[0] <= share <= HOLDOUT_SHARE[1]:
        report.problem(None, f"holdout share is {share:.0%}, expected {HOLDOUT_SHARE[0]:.0%}-{HOLDOUT_SHARE[1]:.0%}")


def _main_file_keys() -> tuple[dict[str, int], dict[str, int]]:
    """Ids and turns of the shipped file, to keep a supplementary file from repeating them."""
    ids: dict[str, int] = {}
    texts: dict[str, int] = {}
    try:
        with open(DEFAULT_FILE, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for record in reader:
                ids.setdefault(record.get("id") or "", reader.line_num)
                texts.setdefault((record.get("agent_text") or "").strip(), reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error):
        pass  # the main file is checked on its own
    ids.pop("", None)
    texts.pop("", None)
    return ids, texts


def check(path: Path | str = DEFAULT_FILE, tune_only: bool = False) -> Report:
    """Read and validate one calibration CSV; never raises on bad content.

    ``tune_only``: a supplementary training file (every row ``tune``, no holdout
    rules, no id or turn of the shipped file repeated).
    """
    report = Report(Path(path), tune_only=tune_only)
    same_as_main = report.path.resolve() == DEFAULT_FILE.resolve() if report.path.exists() else False
    main_ids, main_texts = _main_file_keys() if tune_only and not same_as_main else ({}, {})
    try:
        handle = open(report.path, newline="", encoding="utf-8")
    except OSError as exc:
        report.problem(1, f"cannot read the file ({exc.strerror})")
        return report
    seen_ids: dict[str, int] = {}
    seen_texts: dict[str, int] = {}
    with handle:
        try:
            records = _records(handle)
            first = next(records, None)
            if first is None:
                report.problem(1, "empty file; the first line must be the header " + ",".join(COLUMNS))
                return report
            if tuple(first[1]) != COLUMNS:
                report.problem(1, f"header must be exactly {','.join(COLUMNS)}")
                return report
            for line, record in records:
                if len(record) != len(COLUMNS):
                    report.problem(line, f"{len(record)} fields, expected {len(COLUMNS)} "
                                         "(quote fields containing commas)")
                    continue
                _check_row(report, line, dict(zip(COLUMNS, record)), seen_ids, seen_texts, main_ids, main_texts)
        except UnicodeDecodeError:
            report.problem(1, "not UTF-8; save the file as UTF-8")
            return report
        except _CsvSyntaxError as exc:
            report.problem(exc.line, f"CSV syntax: {exc}; quote fields that contain commas, quotes or line breaks")
            return report
    _check_dataset(report)
    return report


def _table(title: str, counts: dict[str, Counter], keys) -> list[str]:
    lines = [title, f"  {'':<20}{'tune':>7}{'holdout':>9}{'total':>7}"]
    for key in keys:
        t, h = counts["tune"][key], counts["holdout"][key]
        lines.append(f"  {key:<20}{t:>7}{h:>9}{t + h:>7}")
    return lines


def summary(report: Report) -> str:
    rows = report.rows
    by_split = {s: [r for r in rows if r.split == s] for s in SPLITS}
    out = [f"{report.path}: {len(rows)} valid rows "
           f"(tune {len(by_split['tune'])}, holdout {len(by_split['holdout'])})"]
    out += _table("kind:", {s: Counter(r.kind for r in by_split[s]) for s in SPLITS}, KINDS)
    out += _table("violation category (a row may carry two):",
                  {s: Counter(c for r in by_split[s] for c in r.violations) for s in SPLITS}, CATEGORIES)
    extra = {s: Counter() for s in SPLITS}
    for s in SPLITS:
        for r in by_split[s]:
            if r.note.lower().startswith(HARD_NEGATIVE_PREFIX):
                extra[s]["hard negatives"] += 1
            if len(r.violations) > 1:
                extra[s]["two categories"] += 1
            if len(r.agent_text.split()) >= 150:
                extra[s]["turns >= 150 words"] += 1
    out += _table("other:", extra, ("hard negatives", "two categories", "turns >= 150 words"))
    out.append("levels (count of 1/2/3/4/5):")
    for dim in DIMENSIONS:
        for s in (*SPLITS, "all"):
            subset = rows if s == "all" else by_split[s]
            c = Counter(r.scores[dim] for r in subset)
            out.append(f"  {dim:<9} {s:<8}" + " ".join(f"{c[level]:>4}" for level in LEVELS))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    tune_only = "--tune-only" in args
    args = [a for a in args if a != "--tune-only"]
    if len(args) > 1 or (args and (args[0] in ("-h", "--help") or args[0].startswith("-"))):
        print(__doc__.strip())
        return 0 if args and args[0] in ("-h", "--help") else 2
    report = check(Path(args[0]) if args else DEFAULT_FILE, tune_only=tune_only)
    if report.rows:
        print(summary(report))
    for problem in report.problems:
        print(problem, file=sys.stderr)
    if report.problems:
        print(f"{len(report.problems)} problem(s)", file=sys.stderr)
        return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
