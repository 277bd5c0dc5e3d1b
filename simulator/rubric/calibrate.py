"""Measure the scorer against human labels: Spearman, quadratic-weighted kappa, violation P/R.

The labelled set (`calibration/fr_turns.csv`) has one agent turn per row with
the debtor's line before it, 1–5 labels per dimension, the violation
categories and a `split` (tune / holdout). Indicators are tuned on `tune`
rows only; `holdout` is reported, never tuned on. Several files can be read
together (`read_label_files`: e.g. the shipped set plus
`calibration/fr_turns_extra.csv`, a tune-only supplement); each split can then
also be reported file by file.
"""

from __future__ import annotations

import csv
import glob
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import SimulatorError
from .models import CATEGORIES, DIMENSIONS
from .scorer import Scorer, TurnScore

COLUMNS = ("id", "split", "debtor_before", "agent_text", "empathy", "firmness", "clarity", "violations", "kind", "note")


@dataclass(frozen=True)
class LabelledTurn:
    id: str
    split: str
    debtor_before: str
    agent_text: str
    labels: dict[str, int]
    violations: frozenset[str]
    kind: str
    note: str
    line: int
    source: str = ""  # the file the row comes from


def read_labels(path: Path) -> list[LabelledTurn]:
    """Read the labelled CSV; problems are reported as `file:line: problem (fix)`."""
    path = Path(path)
    try:
        handle = path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise SimulatorError(f"{path}:1: cannot read the labels ({exc.strerror}) (give the path of the CSV)") from None
    rows: list[LabelledTurn] = []
    problems: list[str] = []
    with handle:
        reader = csv.DictReader(handle)
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise SimulatorError(f"{path}:1: missing column(s) {', '.join(missing)} "
                                 f"(the header must be {','.join(COLUMNS)})")
        for row in reader:
            line = reader.line_num
            try:
                labels = {d: int(row[d]) for d in DIMENSIONS}
            except (TypeError, ValueError):
                problems.append(f"{path}:{line}: scores must be whole numbers 1–5 (fix the empathy/firmness/clarity cells)")
                continue
            if any(not 1 <= v <= 5 for v in labels.values()):
                problems.append(f"{path}:{line}: a score is outside 1–5 (use 1, 2, 3, 4 or 5)")
                continue
            cats = frozenset(c for c in (row["violations"] or "").split(";") if c)
            unknown = sorted(cats - set(CATEGORIES))
            if unknown:
                problems.append(f"{path}:{line}: unknown violation category {', '.join(unknown)} "
                                f"(use {', '.join(CATEGORIES)})")
                continue
            if row["split"] not in ("tune", "holdout"):
                problems.append(f"{path}:{line}: split {row['split']!r} (use tune or holdout)")
                continue
            rows.append(LabelledTurn(row["id"], row["split"], row["debtor_before"] or "", row["agent_text"] or "",
                                     labels, cats, row["kind"], row["note"] or "", line, str(path)))
    if problems:
        raise SimulatorError("\n".join(problems))
    return rows


def expand_label_paths(paths: list[Path | str]) -> list[Path]:
    """The files named, a glob pattern ("calibration/fr_turns*.csv") standing for the files it matches
    (sorted); a path named twice is read once."""
    out: list[Path] = []
    for raw in paths:
        text = str(raw)
        if any(ch in text for ch in "*?[") and not Path(text).exists():
            matched = sorted(glob.glob(text))
            if not matched:
                raise SimulatorError(f"{text}:1: no label file matches this pattern (check the path and the glob)")
            found = [Path(m) for m in matched]
        else:
            found = [Path(text)]
        for path in found:
            if all(path.resolve() != seen.resolve() for seen in out):
                out.append(path)
    return out


def read_label_files(paths: list[Path | str]) -> list[LabelledTurn]:
    """Read several labelled CSVs (or glob patterns) as one set; an id used twice is an error naming both files."""
    rows: list[LabelledTurn] = []
    problems: list[str] = []
    first: dict[str, LabelledTurn] = {}
    for path in expand_label_paths(paths):
        try:
            part = read_labels(path)
        except SimulatorError as exc:
            problems.append(str(exc))
            continue
        for row in part:
            if row.id in first:
                seen = first[row.id]
                problems.append(f"{row.source}:{row.line}: id {row.id} is already used in {seen.source}:{seen.line} "
                                "(give every row of every file its own id)")
                continue
            first[row.id] = row
            rows.append(row)
    if problems:
        raise SimulatorError("\n".join(problems))
    return rows


# --- statistics --------------------------------------------------------------------------------------
def _ranks(values: list[float]) -> list[float]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: list[float], b: list[float]) -> float:
    if len(a) < 2:
        return float("nan")
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    return cov / (va * vb) ** 0.5 if va and vb else float("nan")


def quadratic_kappa(a: list[int], b: list[int], levels: int = 5) -> float:
    """Cohen's kappa with quadratic weights on 1..levels."""
    n = len(a)
    if n == 0:
        return float("nan")
    observed = [[0.0] * levels for _ in range(levels)]
    for x, y in zip(a, b):
        observed[x - 1][y - 1] += 1
    hist_a = [sum(row) for row in observed]
    hist_b = [sum(observed[i][j] for i in range(levels)) for j in range(levels)]
    num = den = 0.0
    for i in range(levels):
        for j in range(levels):
            w = (i - j) ** 2 / (levels - 1) ** 2
            num += w * observed[i][j]
            den += w * hist_a[i] * hist_b[j] / n
    return 1 - num / den if den else float("nan")


@dataclass
class SplitReport:
    split: str
    rows: int
    spearman: dict[str, float] = field(default_factory=dict)
    kappa: dict[str, float] = field(default_factory=dict)
    exact: dict[str, float] = field(default_factory=dict)
    precision: float = float("nan")
    recall: float = float("nan")
    per_category: dict[str, dict[str, int]] = field(default_factory=dict)
    any_precision: float = float("nan")
    any_recall: float = float("nan")
    # critical errors and the learned detector's review flags together (category level)
    flagged_precision: float = float("nan")
    flagged_recall: float = float("nan")
    flagged_per_category: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}


def score_rows(scorer: Scorer, rows: list[LabelledTurn], semantic=None) -> list[TurnScore]:
    """Each row scored on its own; `semantic`: a `semantic.SemanticDetector` (its vectors through the data
    directory's cache when `semantic.cache` is set) whose verdict is applied as in a call."""
    sessions = [scorer.isolated_session(r.debtor_before) for r in rows]
    due = [s.disclosures_due() for s in sessions]
    if semantic is None:
        return [s.score(r.agent_text) for s, r in zip(sessions, rows)]
    from .text import fold

    texts = [r.agent_text for r in rows]
    model = semantic.model
    if semantic.cache is not None:
        pieces = semantic.cache.get(semantic.embedder, texts, debtors=[r.debtor_before for r in rows])
        read = [model.read(p) for p in pieces]
    else:
        read = [semantic.read(r.agent_text, r.debtor_before) for r in rows]
    out = []
    for s, r, (p, v), d in zip(sessions, rows, read, due):  # read first: the rule check decides how rules count
        debtor_folded = fold(r.debtor_before)
        reading = model.reading(scorer, r.agent_text, debtor_folded, p, v)
        scored = s.score(r.agent_text, reading.doubted)
        out.append(model.apply(scorer, scored, r.agent_text, debtor_folded, reading, d))
    return out


def _category_counts(rows: list[LabelledTurn], predicted: list[set[str]]) -> tuple[dict[str, dict[str, int]], float, float]:
    """Per category found (tp), false (fp) and missed (fn), with the precision and recall of the totals."""
    per = {c: {"tp": 0, "fp": 0, "fn": 0} for c in CATEGORIES}
    for r, found in zip(rows, predicted):
        for c in CATEGORIES:
            if c in found:
                per[c]["tp" if c in r.violations else "fp"] += 1
            elif c in r.violations:
                per[c]["fn"] += 1
    tp, fp, fn = (sum(v[k] for v in per.values()) for k in ("tp", "fp", "fn"))
    precision = round(tp / (tp + fp), 3) if tp + fp else float("nan")
    recall = round(tp / (tp + fn), 3) if tp + fn else float("nan")
    return per, precision, recall


def report(split: str, rows: list[LabelledTurn], scores: list[TurnScore]) -> SplitReport:
    rep = SplitReport(split, len(rows))
    for d in DIMENSIONS:
        human = [r.labels[d] for r in rows]
        machine = [s.scores[d] for s in scores]
        rep.spearman[d] = round(spearman(human, machine), 3)
        rep.kappa[d] = round(quadratic_kappa(human, machine), 3)
        rep.exact[d] = round(sum(h == m for h, m in zip(human, machine)) / len(rows), 3) if rows else float("nan")
    critical = [{v.category for v in s.violations} for s in scores]
    per, rep.precision, rep.recall = _category_counts(rows, critical)
    rep.per_category = per
    any_tp = sum(bool(p) and bool(r.violations) for r, p in zip(rows, critical))
    any_fp = sum(bool(p) and not r.violations for r, p in zip(rows, critical))
    any_fn = sum(not p and bool(r.violations) for r, p in zip(rows, critical))
    rep.any_precision = round(any_tp / (any_tp + any_fp), 3) if any_tp + any_fp else float("nan")
    rep.any_recall = round(any_tp / (any_tp + any_fn), 3) if any_tp + any_fn else float("nan")
    flagged = [p | {v.category for v in s.review} for p, s in zip(critical, scores)]
    rep.flagged_per_category, rep.flagged_precision, rep.flagged_recall = _category_counts(rows, flagged)
    return rep


def calibrate(scorer: Scorer, rows: list[LabelledTurn], splits: tuple[str, ...] = ("tune", "holdout", "all"),
              by_file: bool = False, semantic=None) -> list[SplitReport]:
    """One report per split (and, with `by_file` and rows from several files, one per split and file,
    named "tune · fr_turns_extra.csv"). A split with no row is left out, except when it is the only one."""
    reports = []
    sources = list(dict.fromkeys(r.source for r in rows))
    for split in splits:
        part = rows if split == "all" else [r for r in rows if r.split == split]
        if not part and len(splits) > 1:
            continue
        scores = score_rows(scorer, part, semantic)
        reports.append(report(split, part, scores))
        if by_file and len(sources) > 1:
            for source in sources:
                pairs = [(r, s) for r, s in zip(part, scores) if r.source == source]
                if pairs:
                    name = Path(source).name
                    reports.append(report(f"{split} · {name}", [r for r, _ in pairs], [s for _, s in pairs]))
    return reports


def format_reports(reports: list[SplitReport]) -> str:
    lines = []
    for rep in reports:
        lines.append(f"== {rep.split} ({rep.rows} turns)")
        lines.append(f"  {'dimension':10} {'spearman':>9} {'QW kappa':>9} {'exact':>7}")
        for d in DIMENSIONS:
            lines.append(f"  {d:10} {rep.spearman[d]:9.3f} {rep.kappa[d]:9.3f} {rep.exact[d]:7.1%}")
        lines.append(f"  violations (category level): precision {rep.precision:.3f}  recall {rep.recall:.3f}")
        lines.append(f"  violations (turn level):     precision {rep.any_precision:.3f}  recall {rep.any_recall:.3f}")
        cats = ", ".join(f"{c} {v['tp']}/{v['tp'] + v['fn']}" + (f" (+{v['fp']} false)" if v["fp"] else "")
                         for c, v in rep.per_category.items() if v["tp"] + v["fn"] + v["fp"])
        lines.append(f"  found/labelled: {cats}")
        if rep.flagged_per_category and rep.flagged_per_category != rep.per_category:
            lines.append(f"  with the learned detector's review flags (category level): precision "
                         f"{rep.flagged_precision:.3f}  recall {rep.flagged_recall:.3f}")
            cats = ", ".join(f"{c} {v['tp']}/{v['tp'] + v['fn']}" + (f" (+{v['fp']} false)" if v["fp"] else "")
                             for c, v in rep.flagged_per_category.items() if v["tp"] + v["fn"] + v["fp"])
            lines.append(f"  found/labelled with review flags: {cats}")
    return "\n".join(lines)
