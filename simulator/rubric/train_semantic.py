"""Train the semantic violation detector (`semantic.py`) on the `tune` rows of labelled files, and check how it
generalises to a writer it has not seen (leave one file out).

    python -m simulator train-semantic 'calibration/fr_turns*.csv' tests/data/fr_violation_probes.txt \\
        --out rubrics/models/fr-semantic.json
    python -m simulator train-semantic 'calibration/fr_turns*.csv' tests/data/fr_violation_probes.txt \\
        --cross-check --rubric fr-default

The vectors of the labelled turns are computed once with the embedded model (about a second a turn on two
cores) and kept in the data directory (`cache/vectors-<embedder>.jsonl`); holdout rows are never read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ..errors import SimulatorError
from .calibrate import LabelledTurn
from .embedder import Embedder
from .learned import LEARNABLE, LearnedModel, FeatureSpec, export as export_lexical, fit as fit_lexical
from .semantic import (CATEGORIES, DUE_ONLY, NEIGHBOURS, RuleCheck, SemanticModel, SemanticRow, Stack,
                       VectorCache, combined_probabilities, export, fit, fit_neighbours)
from .text import fold
from .train import Counts, as_training, parse_thresholds, read_training_files, trained_on, tune_rows

Progress = Callable[[int, int], None]


def vectors_for(rows: list[LabelledTurn], embedder: Embedder, cache_dir: Path,
                progress: Progress | None = None) -> list[SemanticRow]:
    if any(r.split != "tune" for r in rows):
        raise SimulatorError("a holdout row reached training (only split=tune rows may be trained on)")
    cache = VectorCache.for_embedder(cache_dir, embedder.spec)
    pieces = cache.get(embedder, [r.agent_text for r in rows], progress, [r.debtor_before for r in rows])
    return [SemanticRow(p, r.violations) for p, r in zip(pieces, rows)]


Thresholds = dict[str, float]  # by category, "*" for the others (`train.parse_thresholds`)
REVIEW_AT = 0.4  # the defaults of `--review-at` and `--critical-at`
CRITICAL_AT = 0.6


def thresholds(review_values: list[str] | None, critical_values: list[str] | None) -> tuple[Thresholds, Thresholds]:
    """The `--review-at` / `--critical-at` options (`0.4` or `disclosure_missing=0.5`, repeatable) as thresholds
    by category; a review threshold above the critical one (for any category) is a SimulatorError naming them."""
    review = {"*": REVIEW_AT, **parse_thresholds(review_values, "--review-at", CATEGORIES)}
    critical = {"*": CRITICAL_AT, **parse_thresholds(critical_values, "--critical-at", CATEGORIES)}
    above = [c for c in ("*", *CATEGORIES) if _at(review, c) > _at(critical, c)]
    if above:
        raise SimulatorError(f"--review-at must not be above --critical-at ({', '.join(above)})")
    return review, critical


def _at(thresholds: Thresholds, category: str) -> float:
    return thresholds.get(category, thresholds.get("*", 0.5))


def _neighbours(rows: list[SemanticRow], k: int) -> dict | None:
    """The labelled turns that vote (`k` of them, 0: none), in the categories the lexical detector also reads: a
    missing disclosure depends on where in the call a turn is, which a neighbour's label does not say."""
    return fit_neighbours(rows, LEARNABLE, k=k) if k else None


@dataclass
class Reading:
    """One tune row as read by detectors trained on the other files' rows (`out_of_file`), and by the rules."""

    row: LabelledTurn
    semantic: dict[str, float]
    votes: dict[str, float] | None
    lexical: dict[str, float]
    due: bool  # a required disclosure was still due before the turn
    rules: set[str]  # the categories the rules found


def out_of_file(files: list[Path], rows: list[LabelledTurn], vectors: list[SemanticRow], embedder_spec, rules_scorer,
                language: str = "fr", c: float = 0.05, neighbours: int = NEIGHBOURS,
                done: Callable[[str, int], None] | None = None) -> list[Reading]:
    """Leave one file out: each labelled file's tune rows read by a semantic model, nearest turns and lexical
    detector (its shipped settings) trained on every other file's rows. Probe files (.txt) are training
    material only: their turns, written for the rules, are not read. `done(file, rows)` after each file."""
    spec = FeatureSpec(window=2)
    out = []
    for f in files:
        held = [i for i, r in enumerate(rows) if Path(r.source) == f]
        rest = [i for i, r in enumerate(rows) if Path(r.source) != f]
        if not held or not rest or f.suffix.lower() == ".txt":
            continue
        training = [vectors[i] for i in rest]
        mean, scale, models = fit(training, c)
        model = SemanticModel(export(mean, scale, models, embedder_spec, language, {}, {}, {},
                                     _neighbours(training, neighbours)), "out of file")
        lexical = LearnedModel(export_lexical(*fit_lexical(as_training([rows[i] for i in rest]), spec), spec,
                                              language, {"*": 0.4}, {}), "out of file")
        for i in held:
            r = rows[i]
            sem_p, votes = model.read(vectors[i].pieces)
            lex_p = dict(zip(lexical.categories, lexical.probabilities(fold(r.agent_text), fold(r.debtor_before))))
            session = rules_scorer.isolated_session(r.debtor_before)
            due = session.disclosures_due()
            by_rules = {v.category for v in session.score(r.agent_text).violations} & set(CATEGORIES)
            out.append(Reading(r, sem_p, votes, lex_p, due, by_rules))
        if done:
            done(f.name, len(held))
    return out


STACK_C = 1.0  # the stack's regularisation (three inputs a category: hardly any)


def fit_stack(readings: list[Reading], c: float = STACK_C) -> dict | None:
    """The `semantic.Stack` weights: per category the lexical detector reads, a logistic regression from the
    readings' log-odds (regression, lexical) and vote to the label, on the turns where the rules did not find the
    category (the stack decides only there). None without votes (a model that keeps no labelled turns)."""
    if not readings or readings[0].votes is None:
        return None
    import numpy
    from sklearn.linear_model import LogisticRegression

    categories = {}
    for cat in LEARNABLE:
        used = [r for r in readings if cat not in r.rules and cat in r.semantic and cat in r.lexical]
        y = numpy.asarray([cat in r.row.violations for r in used])
        if y.sum() < 3 or y.all():
            continue
        x = numpy.asarray([Stack.inputs(r.semantic[cat], r.lexical[cat], (r.votes or {}).get(cat, 0.0))
                           for r in used])
        m = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        categories[cat] = {"weights": [round(float(w), 6) for w in m.coef_[0]],
                           "bias": round(float(m.intercept_[0]), 6)}
    return {"parts": list(Stack.PARTS), "C": c, "categories": categories} if categories else None


RULE_CHECK_BELOW = 0.3  # the default of `--rule-check-below` (session 22's choice, docs/rubrics.md)


def fit_rule_check(readings: list[Reading], below: float = RULE_CHECK_BELOW, c: float = STACK_C) -> dict | None:
    """The `semantic.RuleCheck` weights: per category, a logistic regression from the same readings as the stack
    to the label, on the turns where a rule of that category fired (a category the lexical detector or the
    votes do not read counts 0.5 and 0, as `RuleCheck.believed` does). None when `below` is 0 or without votes."""
    if below <= 0 or not readings or readings[0].votes is None:
        return None
    import numpy
    from sklearn.linear_model import LogisticRegression

    categories = {}
    for cat in CATEGORIES:
        used = [r for r in readings if cat in r.rules and cat in r.semantic]
        y = numpy.asarray([cat in r.row.violations for r in used])
        if y.sum() < 3 or y.all():
            continue
        x = numpy.asarray([Stack.inputs(r.semantic[cat], r.lexical.get(cat, 0.5), (r.votes or {}).get(cat, 0.0))
                           for r in used])
        m = LogisticRegression(C=c, max_iter=2000).fit(x, y)
        categories[cat] = {"weights": [round(float(w), 6) for w in m.coef_[0]],
                           "bias": round(float(m.intercept_[0]), 6)}
    return {"parts": list(Stack.PARTS), "C": c, "below": below, "categories": categories} if categories else None


def doubted_by(check: "RuleCheck | dict | None", reading: Reading) -> frozenset[str]:
    """The categories a rule check (a `RuleCheck`, or `fit_rule_check`'s weights) doubts for one reading."""
    if not check:
        return frozenset()
    if isinstance(check, dict):
        check = RuleCheck(check, "rule check")
    return check.doubted(reading.semantic, reading.lexical, reading.votes)


def train(paths: list[str | Path], embedder: Embedder, cache_dir: Path, language: str = "fr", c: float = 0.05,
          review_at: Thresholds | None = None, critical_at: Thresholds | None = None,
          progress: Progress | None = None, neighbours: int = NEIGHBOURS, rules_scorer=None,
          done: Callable[[str, int], None] | None = None, rule_check_below: float = RULE_CHECK_BELOW) -> dict:
    """The model file. With `rules_scorer` (the rubric's Scorer without learned detectors), the detectors are
    also trained leaving each file out, and their readings of the left-out rows train the `semantic.Stack` and
    the `semantic.RuleCheck` (`rule_check_below`: its threshold, 0 for none)."""
    files, rows = read_training_files(paths)
    tune = tune_rows(rows)
    if not tune:
        raise SimulatorError(f"{files[0] if files else 'labels'}: no split=tune row to train on")
    vectors = vectors_for(tune, embedder, cache_dir, progress)
    mean, scale, models = fit(vectors, c)
    stack = check = None
    if rules_scorer is not None and neighbours:
        readings = out_of_file(files, tune, vectors, embedder.spec, rules_scorer, language, c, neighbours, done)
        stack = fit_stack(readings)
        check = fit_rule_check(readings, rule_check_below)
    import sklearn

    info = {
        "trainer": {"sklearn": sklearn.__version__, "C": c, "class_weight": "balanced", "standardised": True,
                    "neighbours": neighbours, "stack": bool(stack), "rule_check": bool(check)},
        "trained_on": trained_on(files, rows),
    }
    return export(mean, scale, models, embedder.spec, language, review_at or {"*": REVIEW_AT}, critical_at or {"*": CRITICAL_AT},
                  info, _neighbours(vectors, neighbours), stack, check)


@dataclass
class SemanticCheck:
    """Leave one file out, for one file (or all): the rules, each detector, and the shipped policy."""

    file: str
    rows: int
    rules: Counts = field(default_factory=Counts)
    lexical: Counts = field(default_factory=Counts)
    semantic: Counts = field(default_factory=Counts)
    votes: Counts = field(default_factory=Counts)  # the nearest labelled turns alone (0.5)
    critical: Counts = field(default_factory=Counts)  # rules, or the detectors' mean from `critical_at`
    flagged: Counts = field(default_factory=Counts)  # the same with the review flags (mean from `review_at`)


def cross_check(paths: list[str | Path], embedder: Embedder, cache_dir: Path, rules_scorer, language: str = "fr",
                c: float = 0.05, review_at: Thresholds | None = None, critical_at: Thresholds | None = None,
                progress: Progress | None = None, neighbours: int = NEIGHBOURS, stack: bool = True,
                done: Callable[[str, int], None] | None = None,
                rule_check_below: float = RULE_CHECK_BELOW) -> list[SemanticCheck]:
    """Train on the tune rows of every file but one, measure on that file's tune rows (`out_of_file`); the
    lexical detector (trained on the same rows, its shipped settings) and the rules are measured on the same
    turns. With `stack`, the policy weighs the readings with a `semantic.Stack` trained on the other files'
    readings, as `train` does, and a rule's hit its `semantic.RuleCheck` doubts is a review flag only. The rules
    were tuned on these rows: their figures (and the policy's) are optimistic here. A missing disclosure is only
    heard where the rules say one is still due, as in a call."""
    review_at = review_at or {"*": REVIEW_AT}
    critical_at = critical_at or {"*": CRITICAL_AT}
    files, rows = read_training_files(paths)
    rows = tune_rows(rows)
    all_rows = vectors_for(rows, embedder, cache_dir, progress)
    readings = out_of_file(files, rows, all_rows, embedder.spec, rules_scorer, language, c, neighbours, done)
    total = SemanticCheck("all files", 0)
    out = []
    for f in dict.fromkeys(Path(r.row.source) for r in readings):
        held = [r for r in readings if Path(r.row.source) == f]
        others = [r for r in readings if Path(r.row.source) != f]
        weights = fit_stack(others) if stack else None
        policy = Stack(weights, "cross-check") if weights else None
        check_weights = fit_rule_check(others, rule_check_below) if stack else None
        checker = RuleCheck(check_weights, "cross-check") if check_weights else None
        check = SemanticCheck(f.name, len(held))
        for r in held:
            sem_p, votes, lex_p = r.semantic, r.votes, r.lexical
            doubted = doubted_by(checker, r) & r.rules
            by_rules = r.rules - doubted  # (the rules' own line below: every hit)
            both = combined_probabilities(sem_p, lex_p, votes, policy)
            heard = {k: p for k, p in both.items() if r.due or k not in DUE_ONLY}
            decided = {k: p for k, p in heard.items() if k not in doubted}  # a doubted rule hit is only a flag
            labels = r.row.violations
            for target in (check, total):
                target.rules.add(r.rules, labels, CATEGORIES)
                target.lexical.add({k for k, p in lex_p.items() if p >= 0.4}, labels, LEARNABLE)
                target.semantic.add({k for k, p in sem_p.items() if p >= 0.5 and k in heard}, labels, CATEGORIES)
                if votes is not None:
                    target.votes.add({k for k, p in votes.items() if p >= 0.5}, labels, tuple(votes))
                target.critical.add(by_rules | {k for k, p in decided.items() if p >= _at(critical_at, k)},
                                    labels, CATEGORIES)
                target.flagged.add(r.rules | {k for k, p in decided.items() if p >= _at(review_at, k)},
                                   labels, CATEGORIES)
        total.rows += len(held)
        out.append(check)
    out.append(total)
    return out


def format_cross_check(checks: list[SemanticCheck]) -> str:
    lines = ["Leave one file out (tune rows only; the semantic model's categories, the lexical detector's own on its "
             "line; the rules were tuned on these rows, so their lines are optimistic):"]
    for ch in checks:
        lines.append(f"== {ch.file} ({ch.rows} turns)")
        lines.append(f"  rules alone                   {ch.rules.text()}")
        lines.append(f"  lexical detector alone (0.4)  {ch.lexical.text()}")
        lines.append(f"  semantic detector alone (0.5) {ch.semantic.text()}")
        if ch.votes.tp + ch.votes.fp + ch.votes.fn:
            lines.append(f"  nearest labelled turns (0.5)  {ch.votes.text()}")
        lines.append(f"  critical errors               {ch.critical.text()}")
        lines.append(f"  with review flags             {ch.flagged.text()}")
    return "\n".join(lines)
