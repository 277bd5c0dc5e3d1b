"""The deterministic (lexical) scorer: one agent turn in, scores with their evidence out.

For each dimension: the rubric's base score, plus the positive indicators'
points with diminishing returns, minus the negative ones, then caps (shouting,
violations, very long turns, keyword stuffing, repeated formulas). Clarity adds
measured parts: sentence length, questions per turn, turn length, readability.
Every point is traceable to a span of the turn or a measure in `notes`.

Pure and fast: the rubric is compiled once (`Scorer`), a call is scored turn by
turn by a `ScoringSession` that remembers what the debtor just said and which
formulas the trainee already used.
"""

from __future__ import annotations

import hashlib
import logging
import math
import operator
import re
from functools import lru_cache
from typing import Any, Final

from . import detectors
from ..errors import RubricError, SimulatorError
from .loader import RubricFile
from .models import DIMENSIONS, Rubric
from .calibrated import MAX_STEP, ScoreModel, joint_table, load_score_model
from .learned import LEARNABLE, LearnedModel, load_model, model_path
from .linear import LinearTable
from librt.vecs import vec
from mypy_extensions import i64
from .gate import (Gate, LiteralIndex, Probe, bounded, char_gate, has_literal, literal_gate, searcher,
                   substrings_pass)
from .results import Cap, Evidence, Flags, Metrics, TurnScore, Violation, score_from
from .text import fold, fold_pattern, readability, sentence_count, upper_ratio_fast, words

_log = logging.getLogger(__name__)
# compiled by mypyc (a loop over characters is then fast), or running as plain Python (then `re` is faster)
COMPILED: Final = not __file__.endswith(".py")

__all__ = ["Cap", "Evidence", "Flags", "Metrics", "Scorer", "ScoringSession", "TurnScore", "Violation", "score_turn"]


# --- the compiled rubric -----------------------------------------------------------------------------------
class _Re:
    """Alternative patterns, each with its literal gate (see `gate.py`): only patterns whose
    gate passes are run; the ungated ones are run as one alternation."""

    def __init__(self, parts: tuple[tuple[re.Pattern[str], Gate, int], ...], rest: re.Pattern[str] | None,
                 gate: frozenset[str] | None, rest_gate: Gate | None = None, rest_group: int = 0,
                 sources: tuple[str, ...] = ()) -> None:
        self.parts = parts  # (regex, gate, group of the span)
        self.rest = rest
        self.gate = gate  # of the whole (any part's first set): None when some part has no gate
        self.rest_gate = rest_gate  # substrings `rest` needs (`char_gate`)
        self.rest_group = rest_group
        self.sources = sources  # the plain patterns of the parts, then of `rest` (tests compare with them)

    def __repr__(self) -> str:
        return f"_Re({self.sources!r})"

    def spans(self, probe: Probe, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
        text = probe.text
        found: list[tuple[int, int]]
        if start == 0 and (end is None or end == len(text)):
            # the whole turn: the probe ran the eager parts already; others run now, once per turn
            known = probe.found.get(id(self))
            if known is None:
                if id(self) in probe.index.eager:
                    found = []
                else:
                    found = probe.found[id(self)] = self._run(probe, 0, len(text))
            else:
                found = known
            if self.rest is not None and substrings_pass(self.rest_gate, text):
                found = [*found, *_bounded(self.rest, text, 0, len(text), self.rest_group)]
        else:
            end = len(text) if end is None else end
            found = self._run(probe, start, end)
            if self.rest is not None and substrings_pass(self.rest_gate, text):
                found.extend(_bounded(self.rest, text, start, end, self.rest_group))
        if len(found) > 1:
            found = sorted(found)
            # overlapping matches of different phrases: keep the first, longest
            kept = [found[0]]
            for s, e in found[1:]:
                if s >= kept[-1][1]:
                    kept.append((s, e))
                elif e > kept[-1][1] and s == kept[-1][0]:
                    kept[-1] = (s, e)
            return kept
        return list(found)

    def _run(self, probe: Probe, start: int, end: int) -> list[tuple[int, int]]:
        """The parts that may match (`Probe.runnable`: reported by the prefilter, or whose whole gate passes),
        run on text[start:end]."""
        found: list[tuple[int, int]] = []
        parts = self.parts
        for k in probe.runnable(id(self)):
            regex, _gate, group = parts[k]
            found.extend(_bounded(regex, probe.text, start, end, group))
        return found

    def search(self, probe: Probe, start: int = 0, end: int | None = None) -> tuple[int, int] | None:
        spans = self.spans(probe, start, end)
        return spans[0] if spans else None


def _wrapped(body: str) -> str:
    # No leading (?<!\w): a look-behind at the start stops `re` from jumping to the pattern's literal
    # prefix (10-20 times slower); `_bounded` checks the left word boundary instead.
    return rf"(?:{body})(?!\w)"


def _wrap(body: str) -> tuple[re.Pattern, int]:
    # `searcher` rewrites a pattern `re` would try at every position (see gate.py): (compiled, group of the span);
    # `_bounded` keeps the matches at a word start only, so the rewrite may skip the others
    return searcher(_wrapped(body), word_start=True)


def _bounded(regex: re.Pattern, text: str, start: int, end: int, group: int = 0) -> list[tuple[int, int]]:
    return bounded(regex, text, start, end, group=group)


@lru_cache(maxsize=2048)
def _compile(patterns: tuple[str, ...]) -> _Re | None:
    if not patterns:
        return None
    parts: list[tuple[re.Pattern[str], Gate, int]] = []
    rest: list[str] = []
    kept: list[str] = []
    for folded in (fold_pattern(p) for p in patterns):
        if not has_literal(folded):  # the ungated patterns, run as one alternation (see gate.has_literal)
            rest.append(folded)
        else:
            kept.append(folded)
            regex, group = _wrap(folded)
            gate = literal_gate(folded) or literal_gate(folded, extended=False)
            assert gate is not None  # has_literal: the first version's gate holds a literal
            parts.append((regex, gate, group))
    whole = None if rest else frozenset().union(*(g[0] for _, g, _ in parts))
    joined = "|".join(f"(?:{p})" for p in rest)
    rest_regex, rest_group = _wrap(joined) if rest else (None, 0)
    sources = tuple(_wrapped(p) for p in kept) + ((_wrapped(joined),) if rest else ())
    return _Re(tuple(parts), rest_regex, whole, char_gate(joined) if rest else None, rest_group, sources)


class _Ind:
    def __init__(self, spec: Any, regex: _Re | None, sign: int) -> None:
        self.spec = spec  # the rubric's Indicator
        self.regex = regex
        self.sign = sign
        # computed once, read in every turn
        self.always: bool = spec.detector is not None or self.rest is not None  # looked at in every turn
        self.key: int = id(regex) if regex is not None else 0  # the probe's key of its patterns
        self.context_cues: tuple[str, ...] | None = tuple(spec.context.cues) if spec.context else None
        # the spec's fields read in every turn, as plain attributes (a pydantic attribute costs more)
        self.id: str = spec.id
        self.dimension: str = spec.dimension
        self.polarity: str = spec.polarity
        self.detector: str | None = spec.detector
        self.weight: Any = spec.weight
        self.repeatable: bool = spec.repeatable
        self.per_hit: Any = spec.per_hit
        self.signal: str | None = spec.signal
        self.in_context: Any = spec.context.in_context if spec.context else None
        self.out_of_context: Any = spec.context.out_of_context if spec.context else None

    @property
    def rest(self) -> re.Pattern[str] | None:
        return self.regex.rest if self.regex is not None else None


class _Rule:
    def __init__(self, spec: Any, regex: _Re | None, trigger: _Re | None, unless: _Re | None,
                 near: tuple[_Re, ...] = (), lang: str = "fr") -> None:
        self.spec = spec  # the rubric's Rule
        self.regex = regex
        self.trigger = trigger
        self.unless = unless
        self.near = near  # each must also match in the sentence of the pattern's match
        self.cues: tuple[str, ...] = tuple(spec.cues)
        # the spec's fields read in every turn, as plain attributes; texts in the scorer's language
        self.id: str = spec.id
        self.category: str = spec.category
        self.reference: Any = spec.reference
        self.segment: str | None = spec.segment
        self.debtor_cue: Any = spec.debtor_cue
        self.negatable: bool = spec.negatable
        self.satisfy_detector: str | None = spec.satisfy_detector
        self.trigger_detector: str | None = spec.trigger_detector
        self.satisfied_by_cue: frozenset[str] = frozenset(spec.satisfied_by_cue)
        self.excused_by: frozenset[str] = frozenset(spec.excused_by)
        self.made_by: frozenset[str] = frozenset(spec.made_by)
        self.description: Any = spec.description.get(lang)
        self.fix: Any = spec.fix.get(lang) if spec.fix else None

    def still_open(self, satisfied: set[str], reported: set[str]) -> bool:
        """A required rule not made in this call (nor by a rule of its `made_by`) and not reported missing yet."""
        return (self.id not in satisfied and self.id not in reported
                and (not self.made_by or self.made_by.isdisjoint(satisfied)))


class _Learned:
    """A learned rule of the rubric's pack, bound to its category's column in the model."""

    def __init__(self, spec: Any, index: int, threshold: float, lang: str) -> None:
        self.id: str = spec.id
        self.category: str = spec.category
        self.index = index
        self.threshold = threshold
        self.cut: float = math.log(threshold / (1.0 - threshold))  # the decision value at that probability
        self.reference: Any = spec.reference
        self.description: Any = spec.description.get(lang)
        self.fix: Any = spec.fix.get(lang) if spec.fix else None


class _Stage:
    def __init__(self, spec: Any, regex: _Re | None) -> None:
        self.spec = spec  # the rubric's Stage
        self.regex = regex


class _Gaming:
    """The rubric's gaming parameters, read in every turn, as plain attributes (a pydantic attribute costs more);
    the values are the rubric's own objects (an int stays an int in notes and caps)."""

    def __init__(self, spec: Any) -> None:
        self.max_turn_words: Any = spec.max_turn_words
        self.long_turn_cap: Any = spec.long_turn_cap
        self.repeat_window: Any = spec.repeat_window
        self.repeat_decay: Any = spec.repeat_decay
        self.same_turn_similarity: Any = spec.same_turn_similarity
        self.same_turn_cap: Any = spec.same_turn_cap
        self.formula_repeats: Any = spec.formula_repeats
        self.formula_repeat_cap: Any = spec.formula_repeat_cap
        self.bare_cues: Any = spec.bare_cues
        self.stuffing_hits: Any = spec.stuffing_hits
        self.stuffing_coverage: Any = spec.stuffing_coverage
        self.stuffing_cap: Any = spec.stuffing_cap
        self.shouting_upper_ratio: Any = spec.shouting_upper_ratio
        self.shouting_min_letters: Any = spec.shouting_min_letters
        self.shouting_exclamations: Any = spec.shouting_exclamations
        self.shouting_excused_by: tuple[str, ...] = tuple(spec.shouting_excused_by)
        # (dimension, cap) of each dimension a shouted turn is capped on, in the dimensions' order
        self.shouting_caps: list[tuple[str, Any]] = _caps_of(spec.shouting_caps)


class _Clarity:
    """The rubric's clarity parameters (see `_Gaming`), with the readability measure of the scorer's language."""

    def __init__(self, spec: Any, lang: str) -> None:
        self.short_sentence_words: Any = spec.short_sentence_words
        self.long_sentence_words: Any = spec.long_sentence_words
        self.very_long_sentence_words: Any = spec.very_long_sentence_words
        self.short_sentence_bonus: Any = spec.short_sentence_bonus
        self.long_sentence_penalty: Any = spec.long_sentence_penalty
        self.very_long_sentence_penalty: Any = spec.very_long_sentence_penalty
        self.question_penalties: Any = spec.question_penalties
        self.options_penalty: Any = spec.options_penalty
        self.stacked_penalty: Any = spec.stacked_penalty
        self.long_turn_words: Any = spec.long_turn_words
        self.long_turn_penalty: Any = spec.long_turn_penalty
        self.readability: Any = spec.readability.get(lang)  # the method, or None
        self.readability_min_words: Any = spec.readability_min_words
        self.readability_easy: Any = spec.readability_easy
        self.readability_hard: Any = spec.readability_hard
        self.readability_bonus: Any = spec.readability_bonus
        self.readability_penalty: Any = spec.readability_penalty
        # the notes' fixed beginnings, written once (`score_turn` adds the turn's figure: the same text as the
        # f-strings of the first version, which the compiled scorer formats through `str.format`, far slower)
        self.short_note: str = f"clarity +{self.short_sentence_bonus}: short sentences ("
        self.very_long_note: str = f"clarity −{self.very_long_sentence_penalty}: very long sentences ("
        self.long_note: str = f"clarity −{self.long_sentence_penalty}: long sentences ("
        self.easy_note: str = f"clarity +{self.readability_bonus}: easy to read ("
        self.hard_note: str = f"clarity −{self.readability_penalty}: hard to read ("


class _Tip:
    def __init__(self, spec: Any, lang: str) -> None:
        self.missing: tuple[str, ...] = tuple(spec.missing)
        self.fired: tuple[str, ...] = tuple(spec.fired)
        self.flags: tuple[str, ...] = tuple(spec.flags)
        self.text: Any = spec.text.get(lang)


class _Dim:
    """A dimension's figures read in every turn (see `_Gaming`)."""

    def __init__(self, spec: Any, lang: str) -> None:
        self.base: Any = spec.base
        self.max_gain: Any = spec.max_gain
        self.weak_below: Any = spec.weak_below
        self.tips: list[_Tip] = [_Tip(t, lang) for t in spec.tips]


def _caps_of(cap_spec: Any) -> list[tuple[str, Any]]:
    """(dimension, cap) of each capped dimension of a `ViolationCap`, in the dimensions' order."""
    out: list[tuple[str, Any]] = []
    for d in DIMENSIONS:
        cap = getattr(cap_spec, d)
        if cap is not None:
            out.append((d, cap))
    return out


_NEGATION: Final = {
    "fr": re.compile(r"(?<!\w)(?:ne|n|pas|jamais|aucun|aucune|nullement|aucunement)(?!\w)"),
    "en": re.compile(r"(?<!\w)(?:not|never|no|nobody|nothing|cannot|(?:won|don|doesn|isn|aren|can|wouldn|shouldn|didn|haven) t)(?!\w)"),
}
# Words that look like a negation but do not negate what follows: "n'oubliez pas d'ajouter les frais",
# "n'hésitez pas à", "on ne vous demande que 50 €" (restriction), "sans oublier".
_NOT_NEGATING: Final = re.compile(
    r"(?<!\w)(?:ne|n)\s+(?:oubliez|oublie|oublions|hesitez|hesite|manquez|manque|tardez|omettez|negligez)\s+(?:pas|surtout\s+pas)(?!\w)"
    r"|(?<!\w)sans\s+oublier(?!\w)"
    r"|(?<!\w)(?:rien\s+)?(?:ne|n)\s+(?:nous\s+|vous\s+|m\s+|me\s+)?empechen?t?\s+pas(?!\w)|(?<!\w)rien\s+ne\s+(?:nous\s+|vous\s+|m\s+)?empeche(?!\w)"
    r"|(?<!\w)(?:ne|n)\s+(?:\w+\s+){0,3}?que(?!\w)(?!.*(?<!\w)(?:pas|jamais|plus|rien)(?!\w))"
    r"|(?<!\w)don\s+t\s+forget(?!\w)")
_CLAUSE_BREAK: Final = re.compile(r"[,;:.!?\n]|(?<!\w)(?:sinon|mais|alors|donc|or|otherwise|but|then|else)(?!\w)")
_CONDITION: Final = re.compile(r"(?<!\w)(?:si|s\s+il|s\s+ils|tant\s+que|a\s+moins|if|unless|as\s+long\s+as)(?!\w)")
# the same, searched faster (`_negated`; same matches: gate.searcher)
_BREAK_SIGNS: Final = ",;:.!?\n"
_BREAK_WORDS: Final = r"(?<!\w)(?:sinon|mais|alors|donc|or|otherwise|but|then|else)(?!\w)"
assert _CLAUSE_BREAK.pattern == f"[{_BREAK_SIGNS}]|{_BREAK_WORDS}".replace("\n", "\\n"), "keep the parts in step"
_BREAK_WORD_SEARCH: Final = searcher(_BREAK_WORDS)
_CONDITION_SEARCH: Final = searcher(_CONDITION.pattern)
# every match of `_NOT_NEGATING` holds one of these (each alternative names one: "oubliez", "hesite",
# "empeche", "que", "forget"…)
_NOT_NEGATING_HINTS: Final = ("oubli", "hesit", "manqu", "tard", "omett", "neglig", "empech", "que", "forget")
_SENTENCE_BOUNDARY: Final = re.compile(r"[.!?\n]")
_SENTENCE_SIGNS: Final = ".!?\n"  # (the characters of `_SENTENCE_BOUNDARY`)
_START_END: Final = operator.attrgetter("start", "end")  # (an evidence's sort key)
_HOSTILE_CATEGORIES: Final = ("threat", "insult")


_ROUNDED: Final[dict[float, float]] = {}


def _round2(x: float) -> float:
    """`round(x, 2)`, remembered per value (a turn's weights and raw scores take few distinct values). Zero
    is not remembered (0.0 and -0.0 are one key but round apart), nor NaN (never found again)."""
    if x == 0.0 or x != x:
        return round(x, 2)
    known = _ROUNDED.get(x)
    if known is None:
        known = round(x, 2)
        if len(_ROUNDED) < 100_000:
            _ROUNDED[x] = known
    return known


def _round(x: float) -> int:
    return max(1, min(5, int(math.floor(x + 0.5))))


def _score_model(rubric_file: RubricFile, name: str) -> ScoreModel | None:
    """The rubric's calibration model, if it was trained for this rubric; a missing or broken file, or one
    trained for another rubric (a rubric extending this one), leaves the rules alone to score."""
    ref = rubric_file.rubric.ref
    try:
        model = load_score_model(model_path(name))
    except SimulatorError as exc:
        _log.warning("%s — scoring %s with its phrase rules alone (no calibrated scores)", exc, ref)
        return None
    if model.rubric != rubric_file.rubric.id:
        return None
    if model.rubric_sha256 and model.rubric_sha256 != rubric_digest(rubric_file):
        _log.warning("%s was trained on another version of rubric %s: retrain it (python -m simulator train-scores "
                     "--rubric %s --out …) so its scores follow the rules as they are now", model.source, ref,
                     rubric_file.rubric.id)
    return model


def rubric_digest(rubric_file: RubricFile) -> str:
    """SHA-256 of the rubric as frozen with a session (packs inlined, the calibration section and the learned
    detectors' semantic model left out: the rules a score model was trained on)."""
    known = _DIGESTS.get(rubric_file.sha256)
    if known is None:
        dumped = rubric_file.rubric.model_dump_json(
            exclude={"extends": True, "calibration": True, "compliance": {"__all__": {"learned": {"semantic"}}}})
        known = _DIGESTS[rubric_file.sha256] = hashlib.sha256(dumped.encode("utf-8")).hexdigest()
    return known


_DIGESTS: dict[str, str] = {}


class Scorer:
    """A rubric compiled for one language."""

    def __init__(self, rubric_file: RubricFile, language: str | None = None, learned: bool = True,
                 calibrated: bool | None = None):
        """`learned=False`: without the pack's learned violation detector; `calibrated=False`: the rules' own
        scores, without the rubric's score model (default: as `learned`; both False: the phrase rules alone)."""
        self.file = rubric_file
        self.rubric: Rubric = rubric_file.rubric
        self.language = language or self.rubric.language
        lang = self.language
        self.indicators = [
            _Ind(i, _compile(tuple(i.patterns.get(lang, []))), 1 if i.polarity == "positive" else -1)
            for i in self.rubric.indicators
        ]
        self.indicators = [i for i in self.indicators if i.regex is not None or i.spec.detector]
        # which indicators a turn can fire: those looked at always, and those whose patterns the probe found
        self._always = [(n, i) for n, i in enumerate(self.indicators) if i.always]
        self._by_key: dict[int, list[tuple[int, _Ind]]] = {}
        for n, i in enumerate(self.indicators):
            if not i.always:
                self._by_key.setdefault(i.key, []).append((n, i))
        self.cues = {name: _compile(tuple(p.get(lang, []))) for name, p in self.rubric.debtor_cues.items()}
        self.rules = [
            _Rule(r, _compile(tuple(r.patterns.get(lang, []))), _compile(tuple(r.trigger.get(lang, []))),
                  _compile(tuple(r.unless.get(lang, []))),
                  tuple(c for c in (_compile(tuple(g.get(lang, []))) for g in r.near) if c is not None), lang)
            for r in self.rubric.rules
        ]
        self.rules = [r for r in self.rules if r.regex is not None or r.spec.satisfy_detector]
        self.prohibited = [r for r in self.rules if r.spec.kind == "prohibited"]
        # the prohibited rules a turn can break: those whose patterns the probe found, or with ungated ones
        self._prohibited_always = [(n, r) for n, r in enumerate(self.prohibited)
                                   if r.regex is not None and r.regex.rest is not None]
        self._prohibited_by_key: dict[int, list[tuple[int, _Rule]]] = {}
        for n, r in enumerate(self.prohibited):
            if r.regex is not None and r.regex.rest is None:
                self._prohibited_by_key.setdefault(id(r.regex), []).append((n, r))
        self.required = [r for r in self.rules if r.spec.kind == "required"]
        self._required_ids: frozenset[str] = frozenset(r.id for r in self.required)
        # debtor cues after which a disclosure is due again (the call opens, the debtor asks who calls or how much)
        self._asked_by: frozenset[str] = frozenset(c for r in self.required for c in r.spec.asked_by)
        self.learned_model: LearnedModel | None = None
        self.learned_table: LinearTable | None = None  # the model's tables (`linear.py`), read every turn
        self.learned: list[_Learned] = []
        # rules for categories only the semantic detector (semantic.py) reads: no column in the lexical model
        self.semantic_only: dict[str, _Learned] = {}
        for detector in (self.rubric.learned if learned else []):
            if detector.language != lang:
                continue
            try:
                model = load_model(model_path(detector.model))
            except RubricError:
                raise
            except SimulatorError as exc:  # a missing or broken model file must not stop scoring: rules only
                _log.warning("%s — scoring %s without its learned detector (no review flags)", exc, self.rubric.ref)
                break
            for spec in detector.rules:
                if spec.category not in LEARNABLE and detector.semantic:  # no lexical column by design
                    self.semantic_only[spec.category] = _Learned(spec, -1, spec.threshold or 0.5, lang)
                    continue
                if spec.category not in model.categories and spec.category not in LEARNABLE:
                    raise RubricError([f"{self.rubric.ref}: learned rule {spec.id}: only the semantic detector reads "
                                       f"{spec.category!r}: give the section a `semantic` model, or remove the rule"])
                if spec.category not in model.categories:
                    raise RubricError([f"{self.rubric.ref}: learned rule {spec.id}: the model {detector.model} has no "
                                       f"{spec.category!r} column (train it with that category, or remove the rule)"])
                index = model.categories.index(spec.category)
                threshold = spec.threshold if spec.threshold is not None else model.thresholds[index]
                self.learned.append(_Learned(spec, index, threshold, lang))
            self.learned_model = model
            self.learned_table = model.table
            break  # one learned detector per language
        self.score_model: ScoreModel | None = None
        calibration = self.rubric.calibration if (learned if calibrated is None else calibrated) else None
        if calibration is not None and calibration.language == lang:
            self.score_model = _score_model(rubric_file, calibration.model)
        self.calibration: _Calibration | None = _Calibration(self.score_model) if self.score_model is not None else None
        # the detector and the score model read the same word features: one table finds them once a turn for
        # both (`calibrated.joint_table`; each model's values are the same as from its own table)
        self.joint: LinearTable | None = None
        if self.learned_model is not None and self.score_model is not None:
            self.joint = joint_table(self.learned_model, self.score_model)
            if self.joint is not None:
                self.learned_table = self.joint  # its first model is the detector (evidence too)
        self.stages = [_Stage(s, _compile(tuple(s.patterns.get(lang, [])))) for s in self.rubric.stages]
        self.stage_order = {s.id: i for i, s in enumerate(self.rubric.stages)}
        self._stage_plan = [(st.spec.id, st.spec.detector, st.spec.requires_detector, st.regex,
                             id(st.regex) if st.regex is not None else 0,
                             st.regex is not None and st.regex.rest is not None) for st in self.stages]
        self.negation = _NEGATION.get(lang, _NEGATION["en"])
        self.negation_search: tuple[re.Pattern[str], int] = searcher(self.negation.pattern)
        self.builtin: dict[str, _Re] = {}
        for name, patterns in (("date", detectors.DATE_PATTERNS), ("instalments", detectors.INSTALMENT_PATTERNS)):
            compiled_builtin = _compile(patterns)
            assert compiled_builtin is not None
            self.builtin[name] = compiled_builtin
        # what the agent's turn is matched on; the parts of `eager` ones run as the turn is probed
        used = {i.spec.detector for i in self.indicators} | {s.spec.detector for s in self.stages}
        eager = ([i.regex for i in self.indicators] + [s.regex for s in self.stages]
                 + [r.regex for r in self.prohibited] + [b for name, b in self.builtin.items() if name in used])
        compiled = list(self.builtin.values()) + [i.regex for i in self.indicators] + [s.regex for s in self.stages] + [
            x for r in self.rules for x in (r.regex, r.trigger, r.unless, *r.near)]
        self.literals = LiteralIndex(compiled, eager={id(c) for c in eager if c is not None}, hints=detectors.HINTS)
        # what the debtor's line is matched on: the cues
        self.cue_literals = LiteralIndex(self.cues.values(), eager={id(c) for c in self.cues.values() if c is not None})
        self._cue_items = [(name, regex) for name, regex in self.cues.items() if regex is not None]
        self._cues_always = [(n, name, regex) for n, (name, regex) in enumerate(self._cue_items)
                             if regex.rest is not None]
        self._ref: str = self.rubric.ref  # id@version (a property of the frozen rubric, read every turn)
        # the rubric's figures read in every turn, as plain attributes
        self.gaming = _Gaming(self.rubric.gaming)
        self.clarity = _Clarity(self.rubric.clarity, lang)
        self.dims: dict[str, _Dim] = {d: _Dim(self.rubric.dimensions[d], lang) for d in DIMENSIONS}
        self.violation_caps: dict[str, list[tuple[str, Any]]] = {
            category: _caps_of(cap_spec) for category, cap_spec in self.rubric.violation_caps.items()}
        self._cues_by_key: dict[int, list[tuple[int, str, _Re]]] = {}
        for n, (name, regex) in enumerate(self._cue_items):
            if regex.rest is None:
                self._cues_by_key.setdefault(id(regex), []).append((n, name, regex))

    def probe(self, text: str) -> Probe:
        """An agent turn, folded and probed (see `gate.py`)."""
        return self.literals.probe(fold(text))

    def probe_debtor(self, text: str) -> Probe:
        return self.cue_literals.probe(fold(text))

    @property
    def ref(self) -> str:
        return self._ref

    def session(self, *, segment: str | None = None, disclosed: bool | set[str] = False,
                context_known: bool = True) -> "ScoringSession":
        """Score a call turn by turn. `disclosed`: the required disclosures (all, or these rule ids) were
        already made before the first turn scored (a mid-call excerpt). `context_known=False`: what the
        debtor said is unknown (not: they said nothing)."""
        return ScoringSession(self, segment=segment, disclosed=disclosed, context_known=context_known)

    def score_isolated(self, agent_text: str, debtor_before: str = "", *, segment: str | None = None) -> TurnScore:
        """One turn out of its call (a labelled row, a single line). A required disclosure counts as already
        made unless the debtor's line shows it is still due (a pick-up: "Allô ?"; see `excerpt_due_after`)
        or no debtor line precedes (the agent opens the call)."""
        return self.isolated_session(debtor_before, segment=segment).score(agent_text)

    def isolated_session(self, debtor_before: str = "", *, segment: str | None = None) -> "ScoringSession":
        """The session `score_isolated` scores its turn in: the debtor's line heard, the disclosures made."""
        cues = set(self.debtor_cues(debtor_before)) if debtor_before.strip() else None
        made = {r.spec.id for r in self.required
                if cues is not None and not cues.intersection(r.spec.excerpt_due_after)}
        session = self.session(segment=segment, disclosed=made)
        if debtor_before.strip():
            session.hear(debtor_before)
        return session

    def hears(self, debtor_text: str, cue: str) -> bool:
        regex = self.cues.get(cue)
        return bool(regex and regex.search(self.probe_debtor(debtor_text)))

    def debtor_cues(self, debtor_text: str) -> list[str]:
        return self._cues_of(self.probe_debtor(debtor_text))

    def _cues_of(self, probe: Probe) -> list[str]:
        """The cues heard, in the rubric's order: those whose patterns the probe found (or with ungated ones)."""
        by_key = self._cues_by_key
        todo = self._cues_always + [x for key in probe.found if key in by_key for x in by_key[key]]
        if len(todo) > 1:
            todo.sort(key=_first_item)
        return [name for _n, name, regex in todo if regex.spans(probe)]


class _Turn:
    """What a later turn of the call compares itself with: the indicators fired, the phrases said, the words
    (their set in lower case, made when a later turn first asks: a turn scored alone never needs it)."""

    def __init__(self, indicators: set[str], phrases: set[str], said: list[str],
                 words: frozenset[str] | None = None) -> None:
        self.indicators = indicators
        self.phrases = phrases
        self.said = said
        self._words = words

    @property
    def words(self) -> frozenset[str]:
        if self._words is None:
            self._words = frozenset(map(str.lower, self.said))
        return self._words


class ScoringSession:
    """A call being scored (`Scorer.session`). A plain class with its own `__init__`, not a dataclass: compiled,
    creating one is a C function (a dataclass's generated `__init__` stays interpreted)."""

    def __init__(self, scorer: Scorer, segment: str | None = None, disclosed: bool | set[str] = False,
                 context_known: bool = True, cues: list[str] | None = None, debtor_folded: str = "",
                 history: list[_Turn] | None = None, satisfied: set[str] | None = None,
                 reported: set[str] | None = None, stages_covered: list[str] | None = None,
                 scores: list[TurnScore] | None = None) -> None:
        self.scorer = scorer
        self.segment = segment
        self.disclosed = disclosed
        # False when what the debtor said is unknown (a line scored with no call around it): context-dependent
        # indicators then count as in context instead of being discounted
        self.context_known = context_known
        self.cues: list[str] = [] if cues is None else cues
        self.debtor_folded = debtor_folded
        self.history: list[_Turn] = [] if history is None else history
        self.satisfied: set[str] = set() if satisfied is None else satisfied
        self.reported: set[str] = set() if reported is None else reported
        self.stages_covered: list[str] = [] if stages_covered is None else stages_covered
        self.scores: list[TurnScore] = [] if scores is None else scores
        if disclosed is True:
            self.satisfied = set(scorer._required_ids)
        elif disclosed:
            self.satisfied = set(disclosed)

    def __repr__(self) -> str:
        return (f"ScoringSession(scorer={self.scorer!r}, segment={self.segment!r}, disclosed={self.disclosed!r}, "
                f"context_known={self.context_known!r}, turns={len(self.scores)})")

    def hear(self, debtor_text: str) -> list[str]:
        """The debtor spoke: remember the cues (and the words) of their last turn."""
        if not self.context_known:
            return []  # what the debtor says does not count here (self-test paths on canned replies)
        probe = self.scorer.probe_debtor(debtor_text)
        self.cues = self.scorer._cues_of(probe)
        self.debtor_folded = probe.text
        for rule in self.scorer.required:
            if not rule.satisfied_by_cue.isdisjoint(self.cues):
                self.satisfied.add(rule.id)
        return self.cues

    def disclosures_due(self) -> bool:
        """A required disclosure (who calls, for which creditor, the amount) is neither made nor already
        reported missing in this call, or the debtor's last line calls for it (a rule's `asked_by` cue: the call
        opens, they ask who calls or how much): a turn now may be the one that should contain it. A rule heard
        only after a debtor cue (`debtor_cue`: the debtor asked how much) is due only after that cue."""
        if self.cues and not self.scorer._asked_by.isdisjoint(self.cues):
            return True
        return any(not rule.debtor_cue and rule.still_open(self.satisfied, self.reported)
                   for rule in self.scorer.required)

    def score(self, text: str, doubted: frozenset[str] = frozenset()) -> TurnScore:
        """Score the agent's turn. `doubted`: categories in which a phrase rule's hit is only a flag for a
        reviewer (no critical error, no cap): the semantic detector's rule check found it unlikely
        (`semantic.RuleCheck`)."""
        result = score_turn(self.scorer, text, self, doubted)
        self.scores.append(result)
        for stage in result.stages:
            if stage not in self.stages_covered:
                self.stages_covered.append(stage)
        self.cues = []
        self.debtor_folded = ""
        return result


# --- scoring ---------------------------------------------------------------------------------------------
def _negated_plain(folded: str, start: int, negation: re.Pattern) -> bool:
    """Whether a negation governs the match starting at `start` (the first version: `_negated` gives the same
    answer faster; tests/test_rubric_fastpaths.py compares them)."""
    window_start = max(0, start - 45)
    window = folded[window_start:start]
    if window_start and folded[window_start - 1].isalnum():
        window = window.partition(" ")[2]  # the window cut a word ("o|n va voir"): drop its tail, not a negation
    breaks = list(_CLAUSE_BREAK.finditer(window))
    if breaks:
        window = window[breaks[-1].end():]
    if _CONDITION.search(window):
        return False  # "si vous ne payez pas, …": the negation belongs to the condition
    if "n" in window:  # cheap pre-check before removing the words that only look like negations
        window = _NOT_NEGATING.sub(" ", window)
    return bool(negation.search(window))


def _negated(folded: str, start: int, negation: tuple[re.Pattern, int]) -> bool:
    """`_negated_plain` with `negation` as `searcher` rewrites it, and the same steps done faster:
    - the last clause break: `_CLAUSE_BREAK`'s possible matches never overlap (a sign, or a whole word between
      two non-word characters), so `finditer` finds every one and the last ends furthest: the last sign by
      `rfind`, then the last break word after it;
    - `_CONDITION` and the negation searched in their rewritten form (same match or none: `searcher`);
    - `_NOT_NEGATING` run only when the window holds one of the words every match of it holds."""
    window_start = max(0, start - 45)
    window = folded[window_start:start]
    if window_start and folded[window_start - 1].isalnum():
        window = window.partition(" ")[2]  # the window cut a word ("o|n va voir"): drop its tail, not a negation
    cut = 0
    for sign in _BREAK_SIGNS:
        at = window.rfind(sign) + 1
        if at > cut:
            cut = at
    regex, group = _BREAK_WORD_SEARCH
    m = regex.search(window, cut)
    while m is not None:
        cut = m.end(group)
        m = regex.search(window, cut)
    if cut:
        window = window[cut:]
    if _CONDITION_SEARCH[0].search(window) is not None:
        return False  # "si vous ne payez pas, …": the negation belongs to the condition
    if "n" in window:  # cheap pre-check before removing the words that only look like negations
        for hint in _NOT_NEGATING_HINTS:
            if hint in window:
                window = _NOT_NEGATING.sub(" ", window)
                break
    return negation[0].search(window) is not None


def _sentence_of_plain(folded: str, start: int, end: int) -> tuple[int, int]:
    """The sentence around folded[start:end] (the first version: `_sentence_of` gives the same, faster)."""
    left = max((m.end() for m in _SENTENCE_BOUNDARY.finditer(folded, 0, start)), default=0)
    m = _SENTENCE_BOUNDARY.search(folded, end)
    return left, (m.start() if m else len(folded))


def _sentence_of(folded: str, start: int, end: int) -> tuple[int, int]:
    """`_sentence_of_plain`: a boundary is one character, so the last one before `start` is found by `rfind`."""
    left = 0
    for sign in _SENTENCE_SIGNS:
        at = folded.rfind(sign, 0, start) + 1
        if at > left:
            left = at
    m = _SENTENCE_BOUNDARY.search(folded, end)
    return left, (m.start() if m else len(folded))


def _at_least(search: tuple[re.Pattern[str], int], text: str, n: int) -> bool:
    """Whether `finditer_spans(search, text)` (the matches of the pattern `searcher` rewrote) has `n` or more."""
    regex, group = search
    found = 0
    m = regex.search(text)
    while m is not None:
        found += 1
        if found >= n:
            return True
        e = m.end(group)
        m = regex.search(text, e if e > m.start(group) else e + 1)
    return False


_SMALL_COUNT: Final = re.compile(r"\b[01]\b")
_OPTION: Final = re.compile(r"(?<!\w)(?:ou|or)(?!\w)")
_ASKWORD: Final = re.compile(r"(?<!\w)(?:quand|combien|comment|pourquoi|quel|quelle|when|how|why|which|what)(?!\w)")
_OPTION_SEARCH: Final = searcher(_OPTION.pattern)  # (same matches, found faster: gate.searcher)
_ASKWORD_SEARCH: Final = searcher(_ASKWORD.pattern)
_FRAGMENT_EDGE: Final = set(",;:.!?\n")


_DETERMINERS: Final = ("le", "la", "l", "les", "un", "une", "des", "votre", "vos", "mon", "ma", "notre", "the", "a", "an", "your")
_ADVERBS: Final = re.compile(r"\b(vraiment|sincerement|tellement|tout a fait|bien|tres|parfaitement|encore|si|donc|alors|"
                      r"et|mais|oh|ah|bon|really|truly|so|very|again|and|but)\b\s*")


def _most_repeated(folded: str, spans: list[tuple[int, int]]) -> int:
    """How often the most frequent phrase of the spans is said (adverbs aside): `max(Counter(...).values())`."""
    counts: dict[str, int] = {}
    for s, e in spans:
        core = _core(folded[s:e])
        counts[core] = counts.get(core, 0) + 1
    return max(counts.values())


def _core(phrase: str) -> str:
    """A phrase without its adverbs: "je suis vraiment désolée" repeats "je suis désolée"."""
    return " ".join(_ADVERBS.sub("", phrase).split())


def _is_bare(folded: str, start: int, end: int) -> bool:
    """A short cue (three words at most) said alone between punctuation ("j'entends, je comprends, je
    note.", "date précise ? montant ?"): an item of a keyword list, not a sentence."""
    j, n = end, len(folded)  # what follows first: most cues go on with a word, not a bare cue
    while j < n and folded[j] == " ":
        j += 1
    if j < n and folded[j] not in _FRAGMENT_EDGE:
        return False
    if len(folded[start:end].split()) > 3:
        return False
    i = start - 1
    while i >= 0 and folded[i] == " ":
        i -= 1
    while i >= 0 and folded[i].isalpha():  # skip a determiner: "le montant, la date précise, l'engagement"
        j = i
        while j >= 0 and folded[j].isalpha():
            j -= 1
        if folded[j + 1:i + 1] not in _DETERMINERS:
            break
        i = j
        while i >= 0 and folded[i] == " ":
            i -= 1
    return i < 0 or folded[i] in _FRAGMENT_EDGE


_CONTENT_WORD: Final = re.compile(r"[a-z0-9]{4,}|[0-9]+")
_STOP: Final = frozenset("""
vous nous elle elles sont suis etes avez avons fait faire faut peux peut pouvez pouvons veux voulez cette
cela comme mais donc alors avec pour dans sans tout tous toute toutes plus moins tres bien aussi encore
quoi quand comment parce votre notre leur leurs mes mon mais moment juste meme deja rien chose choses
oui non bonjour merci madame monsieur ecoutez voila enfin bref hein euh facture factures
that this with have your what when will would could there their about just been from they them
""".split())


def _stem(word: str) -> str:
    return word[:5]


# `echo_spans` first checks that one of the debtor's stems occurs in the turn at all: true of every stem
# that is a part of its word, as the first letters are. Set it to False if `_stem` ever changes that.
_STEM_IN_WORD: Final = True


def echo_spans(folded: str, debtor_folded: str) -> list[tuple[int, int]]:
    """Spans of the turn that take up the debtor's own content words (a faithful reformulation)."""
    said = {_stem(w) for w in set(_CONTENT_WORD.findall(debtor_folded)) - _STOP}
    if not said:
        return []
    if _STEM_IN_WORD and not any(stem in folded for stem in said):
        return []  # no word of the turn can hold one of the stems
    if COMPILED:
        return _echo_by_char(folded, said)
    return [m.span() for m in _CONTENT_WORD.finditer(folded) if m.group() not in _STOP and _stem(m.group()) in said]


def _az09(c: int) -> bool:
    return 97 <= c <= 122 or 48 <= c <= 57


def _echo_by_char(folded: str, said: set[str]) -> list[tuple[int, int]]:
    """The spans `echo_spans` keeps, its words (`_CONTENT_WORD`: a run of four `[a-z0-9]` or more, else a
    run of digits) read character by character (compiled: faster than `finditer`). A run of `[a-z0-9]`
    shorter than four holds no long word; only its digit runs are words."""
    out: list[tuple[int, int]] = []
    n = len(folded)
    i = 0
    while i < n:
        if not _az09(ord(folded[i])):
            i += 1
            continue
        j = i + 1
        while j < n and _az09(ord(folded[j])):
            j += 1
        if j - i >= 4:
            _echo_word(folded, i, j, said, out)
        else:
            k = i
            while k < j:
                c = ord(folded[k])
                if 48 <= c <= 57:
                    e = k + 1
                    while e < j and 48 <= ord(folded[e]) <= 57:
                        e += 1
                    _echo_word(folded, k, e, said, out)
                    k = e
                else:
                    k += 1
        i = j
    return out


def _echo_word(folded: str, start: int, end: int, said: set[str], out: list[tuple[int, int]]) -> None:
    word = folded[start:end]
    if _stem(word) in said and word not in _STOP:
        out.append((start, end))




def _detect(scorer: Scorer, name: str, text: str, probe: Probe, cache: dict) -> list[tuple[int, int]]:
    """A built-in detector's spans, computed once per turn."""
    found = cache.get(name)
    if found is None:
        # (a turn the prefilter found no hint of cannot hold the detector's finds: see detectors.HINTS)
        if name == "amount":
            no_digit, no_currency = probe.lacks(detectors.HINT_DIGIT), probe.lacks(detectors.HINT_CURRENCY)
            found = [] if no_digit and no_currency else detectors.amounts(probe.text, not no_digit, not no_currency)
        elif name == "date":
            found = scorer.builtin["date"].spans(probe)
        elif name == "instalments":  # "en 1 fois" is not a plan
            found = [sp for sp in scorer.builtin["instalments"].spans(probe)
                     if not _SMALL_COUNT.search(probe.text, sp[0], sp[1])]
        elif name == "invoice_ref":
            found = ([] if probe.lacks(detectors.HINT_DIGIT) or probe.lacks(detectors.HINT_INVOICE)
                     else detectors.invoice_refs(text))
        elif name == "question":
            found = detectors.questions(text)
        elif name == "echo":
            echoed = echo_spans(probe.text, cache.get("_debtor", ""))
            found = echoed[:1] if len(echoed) >= 2 else []  # two shared words at least; one span as evidence
        else:
            raise ValueError(f"unknown detector {name!r}")
        cache[name] = found
    return found


def _first_item(item: tuple) -> int:
    return item[0]


def _candidate_rules(scorer: Scorer, probe: Probe) -> list[_Rule]:
    """The prohibited rules, in order, that the turn may break: the probe found their patterns (or they have
    ungated ones). The others cannot match: skipping them changes nothing."""
    by_key = scorer._prohibited_by_key
    todo = scorer._prohibited_always + [x for key in probe.found if key in by_key for x in by_key[key]]
    if len(todo) > 1:
        todo.sort(key=_first_item)
    return [rule for _n, rule in todo]


def _violations(scorer: Scorer, session: ScoringSession, text: str, probe: Probe, det: dict) -> list[Violation]:
    lang = scorer.language
    folded = probe.text
    found: list[Violation] = []
    if scorer.prohibited:
        for rule in _candidate_rules(scorer, probe):
            if rule.regex is None or (rule.regex.rest is None and id(rule.regex) not in probe.found):
                continue
            if rule.segment and rule.segment != session.segment:
                continue
            if rule.debtor_cue and not any(c in session.cues for c in rule.cues):
                continue
            for start, end in rule.regex.spans(probe):
                if rule.negatable and _negated(folded, start, scorer.negation_search):
                    continue
                if rule.unless is not None or rule.near:
                    s, e = _sentence_of(folded, start, end)
                    if rule.unless is not None and rule.unless.search(probe, s, e):
                        continue
                    if not all(group.search(probe, s, e) for group in rule.near):
                        continue
                found.append(Violation(
                    rule=rule.id, category=rule.category, start=start, end=end, text=text[start:end],
                    reference=rule.reference, description=rule.description, fix=rule.fix))
                break
    for rule in scorer.required:
        if not rule.still_open(session.satisfied, session.reported):
            continue
        if rule.debtor_cue and not any(c in session.cues for c in rule.cues):
            continue
        if rule.segment and rule.segment != session.segment:
            continue
        if rule.excused_by and any(v.category in rule.excused_by for v in found):
            continue
        satisfied = bool(rule.regex and rule.regex.search(probe)) or bool(
            rule.satisfy_detector and _detect(scorer, rule.satisfy_detector, text, probe, det))
        if satisfied:
            session.satisfied.add(rule.id)
            continue
        span = None
        if rule.trigger is not None and (m := rule.trigger.search(probe)):
            span = m
        elif rule.trigger_detector and (spans := _detect(scorer, rule.trigger_detector, text, probe, det)):
            span = spans[0]
        if span is not None:
            session.reported.add(rule.id)
            found.append(Violation(
                rule=rule.id, category=rule.category, start=span[0], end=span[1], text=text[span[0]:span[1]],
                reference=rule.reference, description=rule.description, fix=rule.fix))
    return found


def _review(scorer: Scorer, session: ScoringSession, text: str, folded: str, violations: list[Violation],
            decisions: list[float] | None = None) -> list[Violation]:
    """What the learned detector hears in categories no rule flagged in this turn, with the sentence weighing
    most for each as evidence: flags for a reviewer, not critical errors (docs/rubrics.md). `decisions`: its
    values for the turn, when the caller has them (`Scorer.joint`)."""
    table = scorer.learned_table
    if table is None:
        return []
    if decisions is None:
        decisions = table.decisions(folded, session.debtor_folded)
    heard = [learned for learned in scorer.learned if decisions[learned.index] >= learned.cut]
    if not heard:
        return []
    if violations:
        have = {v.category for v in violations}
        heard = [learned for learned in heard if learned.category not in have]
        if not heard:
            return []
    spans = table.evidence(folded, [learned.index for learned in heard])  # each sentence scored once for all
    out: list[Violation] = []
    for learned, (start, end) in zip(heard, spans):
        out.append(Violation(
            rule=learned.id, category=learned.category, start=start, end=end, text=text[start:end],
            reference=learned.reference, description=learned.description, fix=learned.fix))
    return out


class _Calibration:
    """The rubric's score model (`calibrated.ScoreModel`) as the compiled scorer reads it: what
    `numeric_features` would put in its dictionary goes straight into the three sums, in the dictionary's order
    (the same float additions, so the same values to the last bit), without building the dictionary or a
    string per feature. `calibrated.py` stays the reference (training reads it; the tests compare).

    The weights are one packed array of floats (C doubles when compiled: a few cache lines, not some forty
    boxed numbers), three per feature slot: the rule score 1-5 of each dimension (slots 0-14, in DIMENSIONS'
    order, as numeric_features writes them), the raw score of each (15-17), the measures (18-22, `_MEASURES`),
    then the flags the model weighs, in `Flags.__slots__` order; `present` says which slots the model has."""

    def __init__(self, model: ScoreModel) -> None:
        self.model = model
        self.table: LinearTable = model.table
        dims = tuple(model.dimensions)
        assert len(dims) == 3  # ScoreModel checks that they are DIMENSIONS, in some order
        self.dims: tuple[str, str, str] = (dims[0], dims[1], dims[2])
        self.order: tuple[str, str, str] = (DIMENSIONS[0], DIMENSIONS[1], DIMENSIONS[2])
        # the three weights of each feature as ScoreModel.predict adds them (its dimensions' order)
        self.bias: list[float] = [float(b) for b in model.bias]
        weights: dict[str, tuple[float, ...]] = model._numeric
        names = [f"{d}={level}" for d in DIMENSIONS for level in range(1, 6)]
        names += [f"raw:{d}" for d in DIMENSIONS] + list(_MEASURES)
        # the flags the model weighs, in `Flags.__slots__` order (the order numeric_features lists them in)
        self.flags: list[str] = [name for name in Flags.__slots__ if "flag:" + name in weights]
        names += ["flag:" + name for name in self.flags]
        packed: list[float] = []
        present: list[int] = []
        for name in names:
            row = _row3(weights.get(name))
            packed += row
            present.append(1 if name in weights else 0)
        self.weights = vec[float](packed)
        self.present = vec[i64](present)

    def predict(self, folded: str, debtor_folded: str, scores: dict[str, int], raw: dict[str, float],
                words: int, sentences: int, mean_sentence_words: float, questions: int,
                readability: float | None, flags: Flags, words_part: list[float] | None = None) -> tuple[float, float, float]:
        """`ScoreModel.predict(folded, debtor_folded, numeric_features(...))`, unrolled (`words_part`: the word
        features' values, when the caller has them: `Scorer.joint`)."""
        w = self.weights
        present = self.present
        a = self.bias[0]
        b = self.bias[1]
        c = self.bias[2]
        for k in range(3):
            d = self.order[k]
            level = scores[d]
            if 1 <= level <= 5:
                slot: i64 = k * 5 + level - 1
                if present[slot]:
                    a += w[3 * slot] * 1.0
                    b += w[3 * slot + 1] * 1.0
                    c += w[3 * slot + 2] * 1.0
            slot = 15 + k
            if present[slot]:
                value: float = raw[d] / 5
                a += w[3 * slot] * value
                b += w[3 * slot + 1] * value
                c += w[3 * slot + 2] * value
        measures: list[float] = [
            math.log1p(words) / 5,
            min(sentences, 10) / 10,
            min(mean_sentence_words, 40.0) / 40,
            min(questions, 4) / 4,
            (50.0 if readability is None else readability) / 100,
        ]
        for k in range(5):
            slot = 18 + k
            if present[slot]:
                value = measures[k]
                a += w[3 * slot] * value
                b += w[3 * slot + 1] * value
                c += w[3 * slot + 2] * value
        slot = 23
        for name in self.flags:
            if getattr(flags, name):
                a += w[3 * slot] * 1.0
                b += w[3 * slot + 1] * 1.0
                c += w[3 * slot + 2] * 1.0
            slot += 1
        if words_part is None:
            words_part = self.table.decisions(folded, debtor_folded)
        a += words_part[0]
        b += words_part[1]
        c += words_part[2]
        return a, b, c


# numeric_features' measures after the dimensions' scores, in its order
_MEASURES: Final = ("words", "sentences", "sentence_words", "questions", "readability")


def _row3(row: Any) -> list[float]:
    if row is None:
        return [0.0, 0.0, 0.0]
    return [float(row[0]), float(row[1]), float(row[2])]


def _calibrated(calibration: _Calibration, folded: str, debtor_folded: str, scores: dict[str, int],
                raw: dict[str, float], caps: list[Cap], flags: Flags, n_words: int, sents: int, asl: float, n_q: int,
                readability: float | None, notes: list[str], in_context: set[str],
                words_part: list[float] | None = None) -> dict[str, int]:
    """The rubric's score model's 1–5 scores for a turn the rules scored `scores`, under the same caps, at most
    one level from them and never below them where the rules credited the context; a note per moved dimension
    (`calibrated.calibrate_scores` on `numeric_features`, computed without them: `_Calibration`)."""
    capped: dict[str, Any] = {}
    for cap in caps:
        capped[cap.dimension] = min(capped.get(cap.dimension, 5), cap.cap)
    values = calibration.predict(folded, debtor_folded, scores, raw, n_words, sents, asl, n_q, readability, flags,
                                 words_part)
    out: dict[str, Any] = {}
    for k in range(3):
        d = calibration.dims[k]
        score = max(1, min(5, int(math.floor(values[k] + 0.5))))
        rule = scores[d]
        low = rule if d in in_context else rule - MAX_STEP
        score = max(low, min(rule + MAX_STEP, score))
        out[d] = min(score, capped.get(d, 5))
    for d in DIMENSIONS:
        if out[d] != scores[d]:
            rule = scores[d]  # (= f"{d} {rule} → {out[d]}: …", without `str.format`)
            notes.append(d + " " + str(rule) + " → " + str(out[d]) + ": calibrated on human labels (learned model; rules "
                         "gave " + str(rule) + ")")
    return out


def score_turn(scorer: Scorer, text: str, session: ScoringSession, doubted: frozenset[str] = frozenset()) -> TurnScore:
    rubric = scorer.rubric
    gaming = scorer.gaming
    dims = scorer.dims
    lang = scorer.language
    probe = scorer.probe(text)
    folded = probe.text
    det: dict = {"_debtor": session.debtor_folded}
    ws = words(text)
    n_words = len(ws)
    sents = sentence_count(text)
    n_sent = max(1, sents)
    flags = Flags()
    notes: list[str] = []
    caps: list[Cap] = []
    evidence: list[Evidence] = []

    # how often each phrase ("formula") was already said in the last turns
    window = session.history[-gaming.repeat_window:] if gaming.repeat_window else []
    used_before: dict[str, int] = {}
    for turn in window:
        for phrase in turn.phrases:
            used_before[phrase] = used_before.get(phrase, 0) + 1

    # every indicator's spans, then drop a hit nested in a longer hit of the same dimension
    # ("si je comprends bien" is a reformulation, not also an acknowledgement)
    found: list[tuple[_Ind, list[tuple[int, int]]]] = []
    matched = probe.found
    todo = scorer._always
    by_key = scorer._by_key
    more = [x for key in matched if key in by_key for x in by_key[key]]
    if more:
        todo = sorted(todo + more)  # in the rubric's order (numbers are unique)
    for _n, ind in todo:
        spans = ind.regex.spans(probe) if ind.regex is not None else []
        detector = ind.detector
        if detector:
            spans = spans + (det[detector] if detector in det else _detect(scorer, detector, text, probe, det))
        if spans:
            found.append((ind, spans))
    # (a hit can only be nested in another indicator's hit of its dimension)
    if len(found) > 1 and _shares_dimension(found):
        by_dim: dict[str, list[tuple[int, int, str]]] = {}
        for ind, spans in found:
            if ind.detector is None:
                by_dim.setdefault(ind.dimension, []).extend((s, e, ind.id) for s, e in spans)
        kept = []
        for ind, spans in found:
            if ind.detector is None:
                others = by_dim[ind.dimension]
                ind_id = ind.id
                spans = [(s, e) for s, e in spans
                         if not any(o_id != ind_id and os <= s and e <= oe and (oe - os) > (e - s)
                                    for os, oe, o_id in others)]
            if spans:
                kept.append((ind, spans))
        found = kept

    pos = dict.fromkeys(DIMENSIONS, 0.0)
    neg = dict.fromkeys(DIMENSIONS, 0.0)
    pos_hits = dict.fromkeys(DIMENSIONS, 0)
    covered = dict.fromkeys(DIMENSIONS, 0)
    bare = dict.fromkeys(DIMENSIONS, 0)
    fired: set[str] = set()
    phrases: set[str] = set()
    cues = session.cues
    in_context: set[str] = set()  # dimensions credited for answering a cue the debtor voiced (calibration keeps them)
    for ind, spans in found:
        fired.add(ind.id)
        weight = ind.weight
        if ind.context_cues is not None:
            voiced = any(cue in cues for cue in ind.context_cues)
            if voiced and ind.sign > 0:
                in_context.add(ind.dimension)
            heard = not session.context_known or voiced
            weight *= ind.in_context if heard else ind.out_of_context
        if ind.sign > 0 and not ind.repeatable:
            said = [" ".join(folded[s:e].split()) for s, e in spans]
            phrases.update(said)
            uses = max(used_before.get(p, 0) for p in said) if used_before else 0
            if uses:
                weight *= gaming.repeat_decay ** uses
        # (fewer hits than `formula_repeats` cannot repeat a formula that often: not counted)
        repeats = _most_repeated(folded, spans) if len(spans) >= gaming.formula_repeats else 1
        if repeats >= gaming.formula_repeats and not ind.detector:
            flags.formula_repeat = True
            # a repeated formula says nothing new: not clear either (a tuple, not a set: the order of the caps is output)
            for dim_id in (ind.dimension, "clarity") if ind.dimension != "clarity" else ("clarity",):
                caps.append(Cap(dimension=dim_id, cap=gaming.formula_repeat_cap,
                                                reason=f"formula repeated: {ind.id} ×{repeats}"))
        d = ind.dimension
        if ind.per_hit > 1:
            weight *= min(len(spans), ind.per_hit)
        if ind.sign > 0:
            pos[d] += weight
            if not ind.detector:  # figures and dates are content, not keywords
                pos_hits[d] += 1
                if len(spans) == 1:
                    s, e = spans[0]
                    covered[d] += folded.count(" ", s, e) + 1
                    bare[d] += _is_bare(folded, s, e)
                else:
                    covered[d] += sum(folded.count(" ", s, e) + 1 for s, e in spans[:3])
                    bare[d] += sum(_is_bare(folded, s, e) for s, e in spans)
        else:
            neg[d] += weight
        if ind.signal:
            setattr(flags, ind.signal, True)
        shown = _round2(weight * ind.sign)
        polarity, ind_id = ind.polarity, ind.id
        for s, e in spans[:3]:
            evidence.append(Evidence(d, s, e, text[s:e], polarity, ind_id, shown))

    # clarity: measured parts
    c = scorer.clarity
    asl = n_words / n_sent
    questions = det["question"] if "question" in det else _detect(scorer, "question", text, probe, det)
    n_q = len(questions)
    flags.question = n_q > 0
    if n_words >= 4 and asl <= c.short_sentence_words:
        pos["clarity"] += c.short_sentence_bonus
        notes.append(c.short_note + format(asl, ".0f") + " words on average)")  # (= f"…({asl:.0f} words…")
    elif asl > c.very_long_sentence_words:
        neg["clarity"] += c.very_long_sentence_penalty
        flags.long_sentences = True
        notes.append(c.very_long_note + format(asl, ".0f") + " words on average)")
    elif asl > c.long_sentence_words:
        neg["clarity"] += c.long_sentence_penalty
        flags.long_sentences = True
        notes.append(c.long_note + format(asl, ".0f") + " words on average)")
    penalties = c.question_penalties
    penalty = penalties[min(n_q, len(penalties) - 1)] if penalties else 0.0
    if penalty:
        neg["clarity"] += penalty
        flags.many_questions = True
        notes.append(f"clarity −{penalty:g}: {n_q} questions in one turn (ask one at a time)")
    for qs, qe in questions:
        question = folded[qs:qe]
        if c.options_penalty and _at_least(_OPTION_SEARCH, question, 2):  # (= len(_OPTION.findall(question)) >= 2)
            neg["clarity"] += c.options_penalty
            flags.many_questions = True
            notes.append(f"clarity −{c.options_penalty:g}: three options or more in one question")
            break
        if c.stacked_penalty and _at_least(_ASKWORD_SEARCH, question, 3):
            neg["clarity"] += c.stacked_penalty
            flags.many_questions = True
            notes.append(f"clarity −{c.stacked_penalty:g}: several questions stacked in one")
            break
    if n_words > c.long_turn_words:
        neg["clarity"] += c.long_turn_penalty
        notes.append(f"clarity −{c.long_turn_penalty}: long turn ({n_words} words)")
    read = None
    method = c.readability
    if method and n_words >= c.readability_min_words:
        read = readability(text, method, lang, ws, n_sent)
        if read is not None:
            if read.ease >= c.readability_easy:
                pos["clarity"] += c.readability_bonus
                notes.append(c.easy_note + read.method + " " + str(read.value) + ")")
            elif read.ease < c.readability_hard:
                neg["clarity"] += c.readability_penalty
                notes.append(c.hard_note + read.method + " " + str(read.value) + ")")

    # a cue the trainee should have reacted to
    worst: dict[str, tuple[float, str]] = {}
    for missed in rubric.missed_cues if session.cues else ():
        if missed.debtor_cue in session.cues and pos[missed.dimension] <= 0.3:
            if missed.penalty > worst.get(missed.dimension, (0.0, ""))[0]:
                worst[missed.dimension] = (missed.penalty, missed.debtor_cue)
    for dim_id, (penalty, cue) in worst.items():  # one penalty per dimension: the heaviest cue ignored
        neg[dim_id] += penalty
        flags.missed_cue = True
        notes.append(f"{dim_id} −{penalty}: the debtor voiced «{cue}» and the turn ignores it")

    raw: dict[str, float] = {}
    for d in DIMENSIONS:
        dim = dims[d]
        gain = dim.max_gain * (1 - math.exp(-pos[d] / dim.max_gain)) if pos[d] > 0 else 0.0
        raw[d] = dim.base + gain - neg[d]

    # gaming defences and compliance caps
    ratio, letters = upper_ratio_fast(text, ws)
    excused = bool(session.cues) and any(c in session.cues for c in gaming.shouting_excused_by)
    if not excused and ((letters >= gaming.shouting_min_letters and ratio >= gaming.shouting_upper_ratio)
                        or text.count("!") >= gaming.shouting_exclamations):
        flags.shouting = True
        for d, cap in gaming.shouting_caps:
            caps.append(Cap(dimension=d, cap=cap, reason="shouting"))
    if n_words > gaming.max_turn_words:
        flags.long_turn = True
        for d in DIMENSIONS:
            cap = gaming.long_turn_cap - (1 if d == "clarity" else 0)
            caps.append(Cap(dimension=d, cap=max(1, cap), reason=f"very long turn ({n_words} words)"))
    total_words = max(n_words, 1)
    for d in DIMENSIONS:
        stuffed = pos_hits[d] >= 2 * gaming.stuffing_hits or (
            pos_hits[d] >= gaming.stuffing_hits and covered[d] / total_words >= gaming.stuffing_coverage)
        if stuffed or bare[d] >= gaming.bare_cues:
            flags.stuffing = True
            reason = (f"keyword list ({bare[d]} bare {d} cues)" if bare[d] >= gaming.bare_cues
                      else f"keyword stuffing ({pos_hits[d]} {d} cues in {n_words} words)")
            caps.append(Cap(dimension=d, cap=gaming.stuffing_cap, reason=reason))
            if d != "clarity":  # a list of keywords is not a clear message either
                caps.append(Cap(dimension="clarity", cap=gaming.stuffing_cap, reason=reason))
    # (the same turn said again: only a call with earlier turns can tell)
    word_set = frozenset(map(str.lower, ws)) if session.history else None
    if word_set is not None and len(word_set) >= 3:
        for turn in session.history:
            union = word_set | turn.words
            if union and len(word_set & turn.words) / len(union) >= gaming.same_turn_similarity:
                flags.repeated = True
                for d in ("empathy", "clarity"):
                    caps.append(Cap(dimension=d, cap=gaming.same_turn_cap, reason="the same turn said again"))
                break

    violations = _violations(scorer, session, text, probe, det)
    doubted_hits: list[Violation] = []
    if doubted and violations:  # the rule check's doubt: a flag for a reviewer instead of a critical error
        doubted_hits = [v for v in violations if v.category in doubted]
        if doubted_hits:
            violations = [v for v in violations if v.category not in doubted]
    # the word features' values of the learned detector and the score model, found once for both
    word_values = scorer.joint.decisions_all(folded, session.debtor_folded) if scorer.joint is not None else None
    review = (_review(scorer, session, text, folded, violations, word_values[0] if word_values is not None else None)
              if scorer.learned_table is not None else [])
    if doubted_hits:
        flagged = {v.category for v in doubted_hits}
        review = doubted_hits + [v for v in review if v.category not in flagged]
        for v in doubted_hits:
            notes.append(str(v.category) + " (" + str(v.rule) + "): the phrase rule's hit is doubted by the semantic "
                         "detector's rule check: a flag for a reviewer, not a critical error")
    if violations:
        flags.violation = True
        violation_caps = scorer.violation_caps
        for v in violations:
            capped = violation_caps.get(v.category)
            if capped is None:
                continue
            for d, cap in capped:
                caps.append(Cap(dimension=d, cap=cap, reason=str(v.category) + " (" + str(v.rule) + ")"))
    flags.hostile = flags.shouting or bool(violations) and any(v.category in _HOSTILE_CATEGORIES for v in violations)

    for cap in caps:
        raw[cap.dimension] = min(raw[cap.dimension], cap.cap)
    scores = {d: _round(raw[d]) for d in DIMENSIONS}
    raw_out = {d: _round2(raw[d]) for d in DIMENSIONS}
    mean_words = round(asl, 1)  # (the calibration's measure and the metrics' figure)
    rules_scores: dict[str, int] | None = None
    if scorer.calibration is not None:  # scores calibrated on human labels; the caps still hold (calibrated.py)
        rules_scores = scores
        scores = _calibrated(scorer.calibration, folded, session.debtor_folded, scores, raw_out, caps, flags,
                             n_words, sents, mean_words, n_q, read.value if read is not None else None, notes,
                             in_context, word_values[1] if word_values is not None else None)

    # stage
    stages = []
    for stage_id, detector, requires_detector, regex, key, ungated in scorer._stage_plan:
        by_detector = bool(detector and (det[detector] if detector in det else
                                         _detect(scorer, detector, text, probe, det)))
        if requires_detector and not by_detector:
            continue
        # (its gated parts ran in the probe: no match there and no ungated part, no match)
        by_pattern = bool(regex and (key in matched or ungated) and regex.search(probe))
        if (by_pattern and by_detector) if requires_detector else (by_pattern or by_detector):
            stages.append(stage_id)
    stage = max(stages, key=lambda s: scorer.stage_order[s]) if stages else None

    # tips for weak dimensions
    tips: dict[str, str] = {}
    flag_values = None
    for d in DIMENSIONS:
        dim = dims[d]
        if scores[d] >= dim.weak_below:
            continue
        if flag_values is None:
            flag_values = {name: getattr(flags, name) for name in Flags.__slots__}
        for tip in dim.tips:
            conditions = []
            if tip.missing:
                conditions.append(not any(i in fired for i in tip.missing))
            if tip.fired:
                conditions.append(any(i in fired for i in tip.fired))
            if tip.flags:
                conditions.append(any(flag_values.get(f) for f in tip.flags))
            if all(conditions):
                tips[d] = tip.text
                break

    session.history.append(_Turn(fired, phrases, ws, word_set))
    if len(evidence) > 1:
        evidence.sort(key=_START_END)
    # every part was built and checked above: skip pydantic's re-validation (the scorer's hot path); the keys
    # in TurnScore's field order (the order of the JSON)
    return score_from({
        "rubric": scorer.ref, "language": lang, "scores": scores, "raw": raw_out, "rules": rules_scores,
        "evidence": evidence, "tips": tips, "violations": violations, "review": review, "stage": stage, "stages": stages,
        "debtor_cues": list(session.cues), "flags": flags, "caps": caps, "notes": notes,
        "metrics": Metrics(n_words, sents, mean_words, n_q, round(ratio, 2),
                           {"method": read.method, "value": read.value} if read else None),
        "scoring": "lexical", "lexical": None, "judge": None,
    })


def _shares_dimension(found: list[tuple[_Ind, list[tuple[int, int]]]]) -> bool:
    """Two pattern indicators of one dimension fired (else no hit can be nested in another's)."""
    seen = set()
    for ind, _spans in found:
        if ind.detector is None:
            if ind.dimension in seen:
                return True
            seen.add(ind.dimension)
    return False
