"""Rubric files: what a trainee turn is scored on, and how.

A rubric is a YAML file validated by these models (JSON Schema published in
`schemas/rubric.schema.json` for editors). Field descriptions double as the
documentation trainers read and as the LLM judge's instructions.

Patterns are Python regular expressions matched on the *folded* turn (lower
case, no accents, apostrophes and hyphens as spaces) with a word boundary at
each end; write them as plain phrases ("je comprends", "ça doit être (dur|difficile)").
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .text import fold_pattern

RUBRIC_SCHEMA_VERSION = 1

Lang = Literal["fr", "en"]
LANGS: tuple[str, ...] = ("fr", "en")
DimensionId = Literal["empathy", "firmness", "clarity"]
DIMENSIONS: tuple[str, ...] = ("empathy", "firmness", "clarity")
Category = Literal[
    "threat", "insult", "harassment", "third_party", "false_authority", "false_legal", "fees", "pressure",
    "disclosure_missing",
]
CATEGORIES: tuple[str, ...] = (
    "threat", "insult", "harassment", "third_party", "false_authority", "false_legal", "fees", "pressure",
    "disclosure_missing",
)
StageId = Literal["identification", "purpose", "amount_stated", "exploration", "proposal", "commitment", "recap"]
STAGES: tuple[str, ...] = ("identification", "purpose", "amount_stated", "exploration", "proposal", "commitment", "recap")
Detector = Literal["amount", "date", "invoice_ref", "instalments", "question", "echo"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(StrictModel):
    """The same text in French and English."""

    fr: str = Field(min_length=1, description="French text.")
    en: str = Field(min_length=1, description="English text.")

    def get(self, lang: str) -> str:
        return self.fr if lang == "fr" else self.en


PatternsByLang = dict[Lang, list[str]]


def _check_patterns(value: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
    for lang, patterns in (value or {}).items():
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"{lang}[{i}] {pattern!r} is not a valid regular expression: {exc} "
                    r"(escape ( ) [ ] ? + * . with a backslash when you mean the character)"
                ) from None
            try:
                re.compile(fold_pattern(pattern))  # what the scorer runs: a space matches any run of spaces
            except re.error as exc:
                raise ValueError(
                    f"{lang}[{i}] {pattern!r} is not valid once folded (a space matches any run of spaces): {exc} "
                    r"(inside a look-behind write \s instead of a space: (?<!se\s))"
                ) from None
    return value


class Tip(StrictModel):
    """A concrete piece of advice for a weak dimension, chosen by what the turn lacks or did."""

    text: Localized = Field(description="The tip, in both languages, addressed to the trainee.")
    missing: list[str] = Field(
        default_factory=list, description="Shown when none of these indicator ids fired in the turn."
    )
    fired: list[str] = Field(default_factory=list, description="Shown when any of these indicator ids fired.")
    flags: list[str] = Field(
        default_factory=list,
        description="Shown when any of these flags is set (shouting, long_turn, repeated, stuffing, violation, "
        "missed_cue, many_questions, long_sentences).",
    )


class Dimension(StrictModel):
    """One scored dimension (empathy, firmness or clarity)."""

    weight: float = Field(gt=0, le=10, description="Weight in the overall score.")
    name: Localized
    description: Localized = Field(description="What this dimension measures.")
    levels: dict[int, Localized] = Field(description="Level descriptors 1 (poor) … 5 (excellent), both languages.")
    base: float = Field(3.0, ge=1, le=5, description="Score of a neutral turn before any indicator.")
    max_gain: float = Field(
        2.0, gt=0, le=4,
        description="Most points positive indicators can add; they add with diminishing returns "
        "(gain = max_gain × (1 − e^(−points / max_gain))).",
    )
    weak_below: int = Field(3, ge=2, le=5, description="A score below this is weak: the turn gets a tip.")
    tips: list[Tip] = Field(default_factory=list, description="Tips, first matching one wins; the last should match always.")

    @field_validator("levels")
    @classmethod
    def _five_levels(cls, levels: dict[int, Localized]) -> dict[int, Localized]:
        if sorted(levels) != [1, 2, 3, 4, 5]:
            raise ValueError(f"give exactly the levels 1, 2, 3, 4 and 5 (got {sorted(levels)})")
        return levels


class Context(StrictModel):
    """When an indicator counts fully: right after the debtor voiced a cue (e.g. a difficulty)."""

    debtor_cue: str | list[str] = Field(
        description="Name of a cue in `debtor_cues` (or a list: any of them) heard in the debtor's last turn."
    )
    in_context: float = Field(1.0, ge=0, le=5, description="Weight multiplier when the cue was heard.")
    out_of_context: float = Field(0.5, ge=0, le=5, description="Weight multiplier otherwise.")

    @property
    def cues(self) -> list[str]:
        return [self.debtor_cue] if isinstance(self.debtor_cue, str) else list(self.debtor_cue)


class Indicator(StrictModel):
    """A phrase or pattern that is evidence for (or against) one dimension."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Stable identifier, shown as evidence.")
    dimension: DimensionId
    polarity: Literal["positive", "negative"]
    weight: float = Field(gt=0, le=5, description="Points this indicator adds (positive) or removes (negative).")
    patterns: PatternsByLang = Field(default_factory=dict, description="Patterns per language (fr, en).")
    detector: Detector | None = Field(
        None, description="A built-in detector instead of (or besides) patterns: amount, date, invoice_ref, "
        "instalments, question, echo (the turn takes up words the debtor just said).",
    )
    context: Context | None = Field(None, description="Count fully only after a debtor cue.")
    per_hit: int = Field(
        1, ge=1, le=5, description="Count each occurrence, up to this many (fillers, hedges: the more, the worse)."
    )
    repeatable: bool = Field(
        False, description="Keeps its weight when used again in the next turns (calm repetition of a request); "
        "otherwise a formula already used in the last turns counts less.",
    )
    signal: Literal["reformulation", "callback", "dispute_logged"] | None = Field(
        None, description="Also sets this signal for the debtor engine when it fires."
    )
    description: str = Field("", description="What it detects, for the trainer.")

    @field_validator("patterns")
    @classmethod
    def _patterns_ok(cls, value):
        return _check_patterns(value)

    @model_validator(mode="after")
    def _something_to_match(self) -> "Indicator":
        if not self.detector and not any(self.patterns.values()):
            raise ValueError("give `patterns` (per language) or a `detector`")
        return self


class MissedCue(StrictModel):
    """A debtor cue the trainee should react to; ignoring it costs points."""

    debtor_cue: str = Field(description="Name of a cue in `debtor_cues`.")
    dimension: DimensionId = "empathy"
    penalty: float = Field(gt=0, le=4, description="Points removed when no positive indicator of the dimension fired.")


class Stage(StrictModel):
    """A call stage and what shows the trainee is in it."""

    id: StageId
    name: Localized
    patterns: PatternsByLang = Field(default_factory=dict)
    detector: Detector | None = Field(None, description="A built-in detector that also shows the stage.")
    requires_detector: bool = Field(
        False, description="Only detected when the detector fires (patterns alone are not enough)."
    )

    @field_validator("patterns")
    @classmethod
    def _patterns_ok(cls, value):
        return _check_patterns(value)


class Rule(StrictModel):
    """One compliance rule; breaking it is a critical error that fails the call."""

    id: str = Field(pattern=r"^[A-Z]{2}-[A-Z0-9-]+$", description="Rule id, e.g. FR-THREAT.")
    category: Category
    kind: Literal["prohibited", "required"] = Field(
        "prohibited",
        description="prohibited: a turn matching `patterns` breaks it. required: the call must contain "
        "`patterns` before (or in) the first turn matching `trigger`.",
    )
    reference: str = Field(min_length=1, description="Where the rule comes from (article, regulation).")
    description: Localized
    patterns: PatternsByLang = Field(description="prohibited: what breaks the rule; required: what satisfies it.")
    trigger: PatternsByLang = Field(
        default_factory=dict, description="required rules: the turn from which the disclosure is due."
    )
    trigger_detector: Detector | None = Field(None, description="required rules: a detector that also triggers it.")
    satisfy_detector: Detector | None = Field(None, description="required rules: a detector that also satisfies it.")
    unless: PatternsByLang = Field(
        default_factory=dict, description="Not a violation when one of these appears in the same sentence."
    )
    near: list[PatternsByLang] = Field(
        default_factory=list,
        description="prohibited rules: groups of patterns that must each match in the same sentence as the "
        "pattern, in any order (a verb family near its object: \"prévenir\" … \"votre employeur\"). A language "
        "a group gives no pattern for is not constrained by that group.",
    )
    negatable: bool = Field(
        True, description="A match negated in its clause (\"nous n'allons pas saisir…\") is not a violation."
    )
    debtor_cue: str | list[str] | None = Field(
        None, description="Only after the debtor voiced this cue (or one of these), e.g. third_party."
    )
    segment: Literal["b2b", "b2c"] | None = Field(
        None, description="Only for this segment; a rule with a segment is skipped when the call's segment is unknown."
    )

    @property
    def cues(self) -> list[str]:
        if self.debtor_cue is None:
            return []
        return [self.debtor_cue] if isinstance(self.debtor_cue, str) else list(self.debtor_cue)
    fix: Localized | None = Field(None, description="What to say instead, shown with the violation.")
    satisfied_by_cue: list[str] = Field(
        default_factory=list,
        description="required rules: debtor cues that satisfy it too (the debtor confirmed who they are: \"yes, speaking\").",
    )
    excused_by: list[Category] = Field(
        default_factory=list,
        description="required rules: not reported in a turn that already breaks a rule of one of these categories "
        "(the turn speaks to a third party, or poses as a court or bailiff: that is the violation); the disclosure "
        "stays due in the next turns.",
    )
    excerpt_due_after: list[str] = Field(
        default_factory=lambda: ["pickup"],
        description="required rules, for a turn scored out of its call (a labelled row, one line): the disclosure "
        "counts as not yet made only after these debtor cues (or when no debtor line precedes); otherwise it is "
        "assumed made earlier in the call.",
    )
    asked_by: list[str] = Field(
        default_factory=list,
        description="required rules: debtor cues after which the next agent turn should make this disclosure even "
        "if it was made before (the call opens: \"Garage Morin, j'écoute\"; the debtor asks: \"C'est qui ?\", "
        "\"Je dois combien ?\"). The semantic violation detector hears a missing disclosure only in a turn where "
        "one is due (`ScoringSession.disclosures_due`); the phrase rules are not changed by it.",
    )

    made_by: list[str] = Field(
        default_factory=list,
        description="required rules: ids of other required rules of the rubric whose disclosure makes this one "
        "too (the amount stated earlier in the call: a later \"how much?\" left unanswered is poor preparation, "
        "not a missing disclosure).",
    )

    @field_validator("patterns", "trigger", "unless")
    @classmethod
    def _patterns_ok(cls, value):
        return _check_patterns(value)

    @field_validator("near")
    @classmethod
    def _near_ok(cls, value):
        for group in value:
            _check_patterns(group)
        return value

    @model_validator(mode="after")
    def _required_has_trigger(self) -> "Rule":
        if self.kind == "required" and not (any(self.trigger.values()) or self.trigger_detector):
            raise ValueError("a required rule needs a `trigger` (patterns) or a `trigger_detector`")
        return self


LearnedCategory = Literal["threat", "insult", "harassment", "third_party", "false_authority", "false_legal", "fees",
                          "pressure", "disclosure_missing"]


class LearnedRule(StrictModel):
    """How a category flagged by the learned detector is reported (a category the lexical model has no column
    for, such as `disclosure_missing`, is read by the semantic detector alone: the section needs `semantic`)."""

    id: str = Field(pattern=r"^[A-Z]{2}-[A-Z0-9-]+$", description="Rule id of the flag, e.g. FR-LEARNED-THREAT.")
    category: LearnedCategory
    reference: str = Field(min_length=1, description="Where the rule comes from (article, regulation).")
    description: Localized
    fix: Localized | None = Field(None, description="What to say instead, shown with the violation.")
    threshold: float | None = Field(
        None, gt=0, lt=1, description="Probability from which the category is flagged (default: the model file's)."
    )


class LearnedDetector(StrictModel):
    """A trained model (`python -m simulator train-violations`) that flags violations the phrase rules miss.
    A category is reported only in a turn where no rule of that category fired."""

    model: str = Field(
        min_length=1, description="The model file, relative to the rubrics folder (e.g. models/fr-violations.json)."
    )
    language: Lang = Field(description="The language the model was trained on; calls in another language skip it.")
    rules: list[LearnedRule] = Field(min_length=1, description="One per category the model may flag.")
    semantic: str | None = Field(
        None,  # read by the scoring service, not by the rules: left out of the rubric's digest (scorer.py)
        description="The semantic detector's model file (python -m simulator train-semantic), relative to the "
        "rubrics folder: it reads the meaning of a turn with the embedded model, and the mean of its and this "
        "model's probabilities decides (setting SIMULATOR_SEMANTIC).")

    @model_validator(mode="after")
    def _one_rule_per_category(self) -> "LearnedDetector":
        cats = [r.category for r in self.rules]
        dupes = sorted({c for c in cats if cats.count(c) > 1})
        if dupes:
            raise ValueError(f"one learned rule per category: {', '.join(dupes)} appear twice")
        return self


class ScoreCalibration(StrictModel):
    """Dimension scores calibrated on human labels (`python -m simulator train-scores`): a model reads what the
    rules measured and the turn's words, and gives the 1–5 scores; evidence, tips, violations and every cap stay
    with the rules."""

    model: str = Field(
        min_length=1, description="The model file, relative to the rubrics folder (e.g. models/fr-scores.json)."
    )
    language: Lang = Field(description="The language the model was trained on; calls in another language skip it.")


class Pack(StrictModel):
    """A compliance rule pack (FR, US, UK…)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra={"title": "Compliance pack"})

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    title: Localized
    jurisdiction: str = Field(min_length=2, description="Country or regime, e.g. FR, US, UK.")
    note: str = Field(
        "Training aid, not legal advice.", description="Shown with violations: the pack's limits."
    )
    rules: list[Rule] = Field(min_length=1)
    learned: LearnedDetector | None = Field(
        None, description="A learned violation detector beside the rules (docs/rubrics.md, \"Learned detector\")."
    )


class ViolationCap(StrictModel):
    """Highest score a dimension may get in a turn with a violation of this category."""

    empathy: int | None = Field(None, ge=1, le=5)
    firmness: int | None = Field(None, ge=1, le=5)
    clarity: int | None = Field(None, ge=1, le=5)


class ClarityParams(StrictModel):
    """Measured parts of clarity, added to the base with the clarity indicators."""

    short_sentence_words: float = Field(14, gt=0, description="Mean sentence length (words) at or below which clarity gains.")
    long_sentence_words: float = Field(24, gt=0, description="Mean sentence length above which clarity loses.")
    very_long_sentence_words: float = Field(35, gt=0, description="Mean sentence length above which clarity loses more.")
    short_sentence_bonus: float = Field(0.4, ge=0, le=2)
    long_sentence_penalty: float = Field(0.6, ge=0, le=3)
    very_long_sentence_penalty: float = Field(1.2, ge=0, le=4)
    question_penalties: list[float] = Field(
        default_factory=lambda: [0.0, 0.0, 0.5, 1.3, 2.2],
        description="Points lost for 0, 1, 2, 3… questions in one turn (the last value holds for more): one at a time.",
    )
    options_penalty: float = Field(
        0.8, ge=0, le=3, description="Points lost when one question offers three options or more (\"ou… ou…\")."
    )
    stacked_penalty: float = Field(
        1.0, ge=0, le=3, description="Points lost when one question stacks three question words (\"quand, combien et comment ?\")."
    )
    long_turn_words: int = Field(70, ge=10, description="A turn longer than this loses clarity.")
    long_turn_penalty: float = Field(0.8, ge=0, le=3)
    readability: dict[Lang, Literal["kandel_moles", "rix", "flesch"]] = Field(
        default_factory=lambda: {"fr": "kandel_moles", "en": "flesch"},
        description="Readability measure per language: kandel_moles (French Flesch), rix, flesch.",
    )
    readability_min_words: int = Field(10, ge=1, description="Shorter turns are not measured for readability.")
    readability_easy: float = Field(0.7, ge=0, le=1, description="Normalised ease at or above which clarity gains.")
    readability_hard: float = Field(0.35, ge=0, le=1, description="Normalised ease below which clarity loses.")
    readability_bonus: float = Field(0.3, ge=0, le=2)
    readability_penalty: float = Field(0.6, ge=0, le=3)


class GamingParams(StrictModel):
    """Defences against turns written to please the scorer rather than the debtor."""

    max_turn_words: int = Field(
        150, ge=20, description="Above this many words every dimension is capped at `long_turn_cap` (clarity one lower)."
    )
    long_turn_cap: int = Field(3, ge=1, le=5)
    repeat_window: int = Field(3, ge=0, description="Agent turns looked back at for repeated formulas.")
    repeat_decay: float = Field(
        0.35, ge=0, le=1, description="Weight multiplier of a non-repeatable formula per earlier use in the window."
    )
    same_turn_similarity: float = Field(
        0.8, gt=0, le=1, description="Word overlap (Jaccard) with an earlier agent turn that counts as the same turn."
    )
    same_turn_cap: int = Field(3, ge=1, le=5, description="Cap on empathy and clarity for a turn said again.")
    formula_repeats: int = Field(
        3, ge=2, description="The same indicator this many times in one turn is a repeated formula."
    )
    formula_repeat_cap: int = Field(2, ge=1, le=5, description="Cap on the dimension of a repeated formula.")
    bare_cues: int = Field(
        3, ge=2, description="This many cues of one dimension said bare (a cue alone between commas or stops: "
        "\"j'entends, je comprends, je note\") is a keyword list: capped at `stuffing_cap`.",
    )
    stuffing_hits: int = Field(4, ge=2, description="Positive hits of one dimension from which density is checked.")
    stuffing_coverage: float = Field(
        0.55, gt=0, le=1, description="Share of the turn's words inside indicator matches above which it is stuffing."
    )
    stuffing_cap: int = Field(3, ge=1, le=5)
    shouting_upper_ratio: float = Field(0.6, gt=0, le=1, description="Upper-case share of letters that counts as shouting.")
    shouting_min_letters: int = Field(12, ge=1)
    shouting_exclamations: int = Field(3, ge=1, description="This many '!' in one turn also counts as shouting.")
    shouting_excused_by: list[str] = Field(
        default_factory=list, description="Debtor cues after which capitals are not shouting (a bad line: \"ça coupe\")."
    )
    shouting_caps: ViolationCap = Field(
        default_factory=lambda: ViolationCap(empathy=1, firmness=2, clarity=3),
        description="Caps on a shouted turn: shouting is never professional firmness.",
    )


class Rubric(StrictModel):
    """How trainee turns are scored: dimensions, indicators, stages, compliance packs, pass mark."""

    model_config = ConfigDict(
        extra="forbid", frozen=True,
        json_schema_extra={"title": "Collector simulator rubric"},
    )

    schema_version: Literal[1] = Field(RUBRIC_SCHEMA_VERSION, description="Version of the rubric format.")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Stable identifier; defaults to the file name.")
    version: str = Field(
        pattern=r"^\d+\.\d+\.\d+$", description="Semantic version; bump it when scores would change."
    )
    extends: str | None = Field(
        None, description="Another rubric file this one starts from (path relative to this file); keys given here "
        "replace the parent's, mappings are merged.",
    )
    title: Localized
    language: Lang = Field(description="Language of the calls this rubric scores by default.")
    description: str = Field("", description="What this rubric is for.")
    pass_mark: float = Field(3.0, ge=1, le=5, description="Overall score (1–5) needed to pass, with no critical error.")
    dimensions: dict[DimensionId, Dimension]
    indicators: list[Indicator] = Field(min_length=1)
    debtor_cues: dict[str, PatternsByLang] = Field(
        default_factory=dict,
        description="What the debtor may voice (difficulty, dispute, refusal…), for indicator contexts and rules.",
    )
    missed_cues: list[MissedCue] = Field(default_factory=list)
    stages: list[Stage] = Field(description="Call stages in their usual order.")
    compliance: list[str | Pack] = Field(
        default_factory=list, description="Compliance packs: file paths relative to this rubric, or inline packs."
    )
    violation_caps: dict[Category, ViolationCap] = Field(
        default_factory=dict, description="Caps on a turn's scores per violation category (threats are never firmness)."
    )
    clarity: ClarityParams = Field(default_factory=ClarityParams)
    gaming: GamingParams = Field(default_factory=GamingParams)
    calibration: ScoreCalibration | None = Field(
        None, description="Scores calibrated on human labels by a trained model (docs/rubrics.md, \"Calibrated "
        "scores\"); only for this rubric's own id: a rubric extending it scores with its rules alone."
    )

    @field_validator("debtor_cues")
    @classmethod
    def _cue_patterns_ok(cls, value):
        return {name: _check_patterns(patterns) for name, patterns in value.items()}

    @field_validator("dimensions")
    @classmethod
    def _all_dimensions(cls, dims: dict) -> dict:
        missing = [d for d in DIMENSIONS if d not in dims]
        if missing:
            raise ValueError(f"missing dimension(s): {', '.join(missing)}")
        return dims

    @model_validator(mode="after")
    def _references(self) -> "Rubric":
        ids = [i.id for i in self.indicators]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"indicator ids must be unique: {', '.join(dupes)}")
        cues = set(self.debtor_cues)
        for ind in self.indicators:
            for cue in ind.context.cues if ind.context else []:
                if cue not in cues:
                    raise ValueError(f"indicator {ind.id}: unknown debtor cue {cue!r} "
                                     f"(define it under debtor_cues: {', '.join(sorted(cues)) or 'none yet'})")
        for missed in self.missed_cues:
            if missed.debtor_cue not in cues:
                raise ValueError(f"missed_cues: unknown debtor cue {missed.debtor_cue!r}")
        required = {rule.id for pack in self.packs for rule in pack.rules if rule.kind == "required"}
        for pack in self.packs:
            for rule in pack.rules:
                for cue in rule.cues + (rule.excerpt_due_after + rule.satisfied_by_cue + rule.asked_by
                                          if rule.kind == "required" else []):
                    if cue not in cues:
                        raise ValueError(f"rule {rule.id}: unknown debtor cue {cue!r} (define it under debtor_cues)")
                unknown = [r for r in rule.made_by if r not in required or r == rule.id]
                if unknown:
                    raise ValueError(f"rule {rule.id}: made_by names {', '.join(unknown)}, not another required rule "
                                     f"of this rubric (required rules: {', '.join(sorted(required)) or 'none'})")
        known = set(ids)
        for dim_id, dim in self.dimensions.items():
            for tip in dim.tips:
                unknown = [i for i in tip.missing + tip.fired if i not in known]
                if unknown:
                    raise ValueError(f"dimensions.{dim_id}.tips: unknown indicator id(s) {', '.join(unknown)}")
        stage_ids = [s.id for s in self.stages]
        if len(set(stage_ids)) != len(stage_ids):
            raise ValueError("each stage may appear once")
        return self

    @property
    def packs(self) -> list[Pack]:
        return [p for p in self.compliance if isinstance(p, Pack)]

    @property
    def rules(self) -> list[Rule]:
        return [r for p in self.packs for r in p.rules]

    @property
    def learned(self) -> list[LearnedDetector]:
        return [p.learned for p in self.packs if p.learned is not None]

    @property
    def ref(self) -> str:
        return f"{self.id}@{self.version}"

