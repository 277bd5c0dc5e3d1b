"""What a scored turn looks like (stored in `turns.score_json`): `TurnScore` and its parts.

Kept apart from the scorer so that `scorer.py` can be compiled (see `docs/scorer-speed.md`): these are
pydantic and dataclass models whose JSON is the scorer's output; they stay plain Python.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel, Field


# The parts of a scored turn are plain dataclasses (the hot path builds several per turn; pydantic
# serialises them inside TurnScore all the same).
@dataclass(slots=True)
class Evidence:
    dimension: str
    start: int
    end: int
    text: str
    polarity: str
    indicator: str
    weight: float  # points counted after context, repetition and diminishing returns


@dataclass(slots=True)
class Violation:
    rule: str
    category: str
    start: int
    end: int
    text: str
    reference: str
    description: str = ""
    fix: str | None = None


@dataclass(slots=True)
class Flags:
    hostile: bool = False
    shouting: bool = False
    long_turn: bool = False
    repeated: bool = False
    formula_repeat: bool = False
    stuffing: bool = False
    missed_cue: bool = False
    many_questions: bool = False
    long_sentences: bool = False
    reformulation: bool = False
    question: bool = False
    callback: bool = False
    dispute_logged: bool = False
    violation: bool = False


@dataclass(slots=True)
class Cap:
    dimension: str
    cap: int
    reason: str


@dataclass(slots=True)
class Metrics:
    words: int
    sentences: int
    mean_sentence_words: float
    questions: int
    upper_ratio: float
    readability: dict | None = None


class TurnScore(BaseModel):
    rubric: str = Field(description="id@version of the rubric that scored the turn.")
    language: str
    scores: dict[str, int] = Field(description="1–5 per dimension.")
    raw: dict[str, float] = Field(description="Unrounded scores of the phrase rules, after caps.")
    rules: dict[str, int] | None = Field(
        None, description="The phrase rules' 1–5 scores, when the rubric's calibration model gave `scores` "
        "(docs/rubrics.md, \"Calibrated scores\"); null when the rules alone scored the turn.")
    evidence: list[Evidence] = Field(default_factory=list)
    tips: dict[str, str] = Field(default_factory=dict, description="One tip per weak dimension, in the call's language.")
    violations: list[Violation] = Field(default_factory=list)
    review: list[Violation] = Field(
        default_factory=list, description="Possible violations the learned detector heard in categories no rule "
        "flagged in the turn: to be checked by a reviewer; they do not fail the call.")
    stage: str | None = None
    stages: list[str] = Field(default_factory=list)
    debtor_cues: list[str] = Field(default_factory=list, description="Cues heard in the debtor's last turn.")
    flags: Flags = Field(default_factory=Flags)
    caps: list[Cap] = Field(default_factory=list)
    notes: list[str] = Field(default_factory=list, description="Measured parts of the score, in words.")
    metrics: Metrics | None = None
    scoring: str = "lexical"
    lexical: dict[str, int] | None = Field(None, description="The lexical scores, when a judge changed them.")
    judge: dict | None = None

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


_TURN_FIELDS = tuple(TurnScore.model_fields)
_TURN_FIELD_LIST = list(_TURN_FIELDS)
_TURN_FIELD_SET = set(_TURN_FIELDS)
_FAST_CONSTRUCT = (  # what `model_construct` does for a model with no aliases, extras or post-init, inlined
    not TurnScore.__pydantic_post_init__ and TurnScore.model_config.get("extra") != "allow"
    and all(f.alias is None and f.validation_alias is None for f in TurnScore.model_fields.values()))


def construct_score(**values) -> TurnScore:
    """`TurnScore.model_construct(**values)` given every field (3-4 times faster)."""
    if not _FAST_CONSTRUCT or len(values) != len(_TURN_FIELDS):
        return TurnScore.model_construct(**values)
    m = TurnScore.__new__(TurnScore)
    if list(values) != _TURN_FIELD_LIST:  # __dict__ in the fields' order: it is the order of the JSON keys
        values = {name: values[name] for name in _TURN_FIELDS}
    object.__setattr__(m, "__dict__", values)
    object.__setattr__(m, "__pydantic_fields_set__", _TURN_FIELD_SET.copy())
    object.__setattr__(m, "__pydantic_extra__", None)
    object.__setattr__(m, "__pydantic_private__", None)
    return m


_new_score = TurnScore.__new__
_set = object.__setattr__


def score_from(values: dict) -> TurnScore:
    """`construct_score(**values)` for a dict holding every field in the fields' order (the scorer's hot path
    builds it so: no keyword arguments to unpack, no order to check)."""
    if not _FAST_CONSTRUCT or len(values) != len(_TURN_FIELDS):  # (a field added to TurnScore and not here)
        return construct_score(**values)
    m = _new_score(TurnScore)
    _set(m, "__dict__", values)
    _set(m, "__pydantic_fields_set__", _TURN_FIELD_SET.copy())
    _set(m, "__pydantic_extra__", None)
    _set(m, "__pydantic_private__", None)
    return m
