"""Scenario files: the debtor personas trainers write.

A scenario is a YAML file validated by pydantic. The loader reports every
problem as `file:line: field: message (fix)` and keeps loading the other files,
so one broken file never stops the app.
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError

from .debtor.cues import CueName
from .debtor.state import DebtorState, Outcome, Sensitivity
from .errors import ScenarioError

SCHEMA_VERSION = 2

Level = Literal["easy", "medium", "hard"]


class StrictModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Persona(StrictModel):
    name: str = Field(min_length=1, description="Full name of the debtor, as they introduce themselves.")
    role: str = Field(min_length=1, description="Their job or position (e.g. gérante, comptable, particulier).")
    company: str = Field(min_length=1, description="Company name, or a short household description for a consumer.")
    personality: str = Field(min_length=1, description="How they speak and react, in a few sentences.")


class Debt(StrictModel):
    amount: float = Field(gt=0, description="Amount due, in `currency`.")
    currency: str = Field("EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. EUR, GBP, USD.")
    invoice_ref: str = Field(min_length=1, description="Invoice number the collector will quote.")
    due_date: date = Field(description="Date the invoice was due (YYYY-MM-DD).")
    days_overdue: int = Field(ge=0, description="Days past the due date on the day of the call.")


class Thresholds(StrictModel):
    """Conditions on the debtor's state; all those given must hold."""

    trust: float | None = Field(None, ge=0, le=1, description="Trust at least this.")
    willingness: float | None = Field(None, ge=0, le=1, description="Willingness at least this.")
    irritation_below: float | None = Field(None, ge=0, le=1, description="Irritation below this.")

    def met(self, state: DebtorState) -> bool:
        return (
            (self.trust is None or state.trust >= self.trust)
            and (self.willingness is None or state.willingness >= self.willingness)
            and (self.irritation_below is None or state.irritation < self.irritation_below)
        )


class HiddenFact(StrictModel):
    text: str = Field(min_length=1, description="What the debtor knows and may say once unlocked.")
    say: str | None = Field(
        None, min_length=1,
        description="How the debtor says it, in the first person (the reveal line when the model's reply is "
        "rejected); empty: the text as written.",
    )
    unlock: Thresholds = Field(default_factory=lambda: Thresholds(trust=0.6), description="State that unlocks it.")
    topics: list[str] = Field(
        default_factory=list,
        description="Words that, when the trainee asks about them (with trust at least 0.3), unlock it too.",
    )


class StateSpec(StrictModel):
    initial: DebtorState = Field(default_factory=DebtorState)
    sensitivity: Sensitivity = Field(default_factory=Sensitivity)


class Concessions(StrictModel):
    """What the debtor can agree to, and in which state."""

    can_pay: bool = Field(
        True,
        description="False: they refuse every payment request on this call (a disputed invoice, insolvency "
        "proceedings, a third party); each request annoys them a little more.",
    )
    first_payment_max: float | None = Field(
        None, gt=0, description="Largest first payment they can make (empty: the whole amount)."
    )
    latest_date_days: int = Field(30, ge=0, description="Latest payment date they accept, in days after the call date.")
    instalments_max: int = Field(1, ge=1, le=60, description="Most instalments they accept (1: one payment only).")
    requires: Thresholds = Field(
        default_factory=lambda: Thresholds(trust=0.45, willingness=0.5),
        description="State needed before they agree to anything.",
    )


class HangUp(StrictModel):
    irritation: float = Field(0.85, gt=0, le=1, description="They hang up when irritation reaches this.")


class FallbackLines(StrictModel):
    """Lines the scenario author wrote for each beat, used when the model's reply fails the guards."""

    respond: list[str] = Field(default_factory=list)
    reveal: list[str] = Field(default_factory=list)
    accept: list[str] = Field(default_factory=list)
    counter: list[str] = Field(default_factory=list)
    refuse: list[str] = Field(default_factory=list)
    hang_up: list[str] = Field(default_factory=list)


class Resolution(StrictModel):
    """An outcome the call reaches when the trainee does the right thing (unless a payment is agreed or they hang up)."""

    outcome: Literal["DISPUTE", "CALLBACK", "HARDSHIP", "THIRD_PARTY_MESSAGE", "INSOLVENCY", "REFUSAL"] = Field(
        description="Outcome recorded when this rule fires."
    )
    when: list[CueName] = Field(
        min_length=1,
        description="Fires when a trainee turn shows any of these: callback (agrees a time to call back), "
        "dispute_logged (notes the dispute), message (leaves a message for the right party), signposting "
        "(points to free debt advice), forbearance (offers to pause or freeze collection), administrator "
        "(asks for the insolvency administrator).",
    )
    requires: Thresholds = Field(default_factory=Thresholds, description="State the debtor must be in for it to count.")


class SelfTestPath(StrictModel):
    name: str = Field(min_length=1)
    expect: Outcome = Field(description="Outcome this path should reach.")
    max_miss_rate: float = Field(0.2, ge=0, le=1, description="Share of runs allowed to miss the expected outcome.")
    difficulty: Level | None = Field(None, description="Play this path at this level (default: the scenario's).")
    turns: list[str] = Field(min_length=1, description="What the scripted trainee says, in order.")


def _scenario_schema(schema: dict) -> None:
    # The loader takes the id from the file name when it is missing: editors must not ask for it.
    schema["required"] = [name for name in schema.get("required", []) if name != "id"]


def _facts_schema(schema: dict) -> None:
    # A hidden fact may be written as a plain string (it then unlocks at trust 0.6).
    schema["items"] = {"anyOf": [schema["items"], {"type": "string", "minLength": 1}]}


class Scenario(StrictModel):
    """One debtor persona and their situation (a scenario file of the collector training simulator)."""

    model_config = ConfigDict(extra="forbid", frozen=True, json_schema_extra=_scenario_schema)

    schema_version: Literal[1, 2] = Field(SCHEMA_VERSION, description="Version of the scenario format.")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Stable identifier; defaults to the file name.")
    title: str = Field(min_length=1, description="Short title shown on the scenario card.")
    language: Literal["fr", "en"] = Field(description="Language the debtor speaks.")
    difficulty: Level = Field(
        description="Default level: easy makes the debtor more forgiving, hard less (sensitivities, thresholds, "
        "patience); the numbers in this file are the medium level. Trainees may pick another level."
    )
    segment: Literal["b2b", "b2c"] = Field("b2b", description="Business debtor (b2b) or consumer (b2c).")
    party: Literal["debtor", "third_party"] = Field(
        "debtor",
        description="Who answers: the debtor, or a third party (assistant, relative) who must not hear about the "
        "debt; mentioning it to them counts as a compliance violation, and they cannot commit to a payment.",
    )
    summary: str = Field("", description="One line for the trainee: what this call is about.")
    persona: Persona
    debt: Debt
    situation: str = Field(min_length=1, description="Why they have not paid, from the debtor's side.")
    hidden_facts: list[HiddenFact] = Field(
        default_factory=list,
        description="What the debtor knows but does not say at first; a plain string unlocks at trust 0.6.",
        json_schema_extra=_facts_schema,
    )
    opening_line: str = Field(min_length=1, description="What the debtor says when they pick up.")
    call_date: date | None = Field(None, description="Date of the call, for reading relative dates (default: due date + days overdue).")
    state: StateSpec = Field(default_factory=StateSpec, description="Initial mood and sensitivities.")
    concessions: Concessions = Field(default_factory=Concessions)
    objections: list[str] = Field(default_factory=list, description="Objections the debtor raises when pushed.")
    hang_up: HangUp = Field(default_factory=HangUp)
    example_lines: list[str] = Field(default_factory=list, description="A few lines in the debtor's voice.")
    fallback_lines: FallbackLines = Field(default_factory=FallbackLines)
    resolutions: list[Resolution] = Field(
        default_factory=list,
        description="Outcomes reached by doing the right thing; checked in order, before the built-in rules "
        "(DISPUTE when the trainee logs a dispute, CALLBACK when a callback is agreed), which apply only to "
        "outcomes not listed here.",
    )
    selftest: list[SelfTestPath] = Field(default_factory=list, description="Scripted trainee paths and their expected outcome.")

    @field_validator("hidden_facts", mode="before")
    @classmethod
    def _plain_facts(cls, facts):
        if isinstance(facts, list):
            return [{"text": f} if isinstance(f, str) else f for f in facts]
        return facts

    @property
    def effective_call_date(self) -> date:
        from datetime import timedelta

        return self.call_date or self.debt.due_date + timedelta(days=self.debt.days_overdue)


@dataclass(frozen=True)
class ScenarioFile:
    """A validated scenario with where it came from."""

    scenario: Scenario
    path: Path
    sha256: str

    @property
    def id(self) -> str:
        return self.scenario.id


@dataclass
class LoadResult:
    scenarios: dict[str, ScenarioFile] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    # file path -> its problems, for listing broken files in the UI
    broken: dict[Path, list[str]] = field(default_factory=dict)


_FIX_HINTS = {
    "missing": "add this field",
    "extra_forbidden": "remove this key or fix its spelling",
    "greater_than": "use a positive number",
    "greater_than_equal": "use zero or a positive number",
    "string_pattern_mismatch": "see the expected pattern above",
    "date_from_datetime_parsing": "write the date as YYYY-MM-DD",
    "date_parsing": "write the date as YYYY-MM-DD",
    "date_type": "write the date as YYYY-MM-DD",
    "literal_error": "use one of the values listed",
    "float_parsing": "write a number, e.g. 1250.50",
    "float_type": "write a number, e.g. 1250.50",
    "int_parsing": "write a whole number",
    "int_type": "write a whole number",
    "string_type": "write text (quote it if it looks like a number or a date)",
    "list_type": "write a list (lines starting with `- `)",
    "model_type": "write a mapping of `key: value` lines",
    "string_too_short": "write some text",
}


def _line_of(node: Any, loc: tuple) -> int:
    """Best 1-based line for a pydantic error location inside a ruamel tree."""
    line = 1
    current = node
    for part in loc:
        if isinstance(current, CommentedMap):
            if part in current:
                line = current.lc.key(part)[0] + 1
                current = current[part]
                continue
            break  # missing key: keep the line of the mapping that should hold it
        if isinstance(current, CommentedSeq) and isinstance(part, int) and part < len(current):
            line = current.lc.item(part)[0] + 1
            current = current[part]
            continue
        break
    return line


def _format_error(path: Path, tree: Any, err: dict) -> str:
    loc = tuple(err["loc"])
    field_name = ".".join(str(p) for p in loc) or "(file)"
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    hint = _FIX_HINTS.get(err["type"])
    if err["type"] == "literal_error":
        hint = None  # pydantic's message already lists the allowed values
    text = f"{path}:{_line_of(tree, loc)}: {field_name}: {msg}"
    return f"{text} ({hint})" if hint else text


_yaml = YAML(typ="rt")
_yaml_lock = threading.Lock()  # a ruamel YAML object keeps its parser's state: one load at a time (the app's
# handlers run in threads, as in rubric/loader.py)


def parse_scenario_text(text: str, path: Path) -> ScenarioFile:
    """Validate one scenario; raise ScenarioError with every problem found."""
    try:
        with _yaml_lock:
            tree = _yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else 1
        problem = (exc.problem or exc.context or "invalid YAML").strip()
        raise ScenarioError(
            [f"{path}:{line}: YAML syntax: {problem} (check indentation, colons and quotes)"]
        ) from None
    if not isinstance(tree, CommentedMap):
        raise ScenarioError(
            [f"{path}:1: (file): a scenario must be a mapping of `key: value` lines, not {type(tree).__name__}"]
        )
    data = dict(tree)
    data.setdefault("id", re.sub(r"[^a-z0-9_-]", "-", path.stem.lower()))
    try:
        scenario = Scenario.model_validate(_plain(data))
    except ValidationError as exc:
        raise ScenarioError([_format_error(path, tree, e) for e in exc.errors()]) from None
    return ScenarioFile(scenario, path, hashlib.sha256(text.encode("utf-8")).hexdigest())


def _plain(node: Any) -> Any:
    if isinstance(node, dict):
        return {k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def load_scenario(path: Path) -> ScenarioFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError([f"{path}:1: (file): cannot read the file ({exc})"]) from None
    return parse_scenario_text(text, path)


def scenario_paths(paths: list[Path]) -> list[Path]:
    found: list[Path] = []
    for p in paths:
        if p.is_dir():
            found.extend(sorted(q for q in p.iterdir() if q.suffix in (".yaml", ".yml")))
        else:
            found.append(p)
    return found


def load_scenarios(paths: list[Path] | Path) -> LoadResult:
    """Load every scenario file; invalid files are reported, never fatal."""
    if isinstance(paths, Path):
        paths = [paths]
    result = LoadResult()
    for path in scenario_paths(paths):
        if not path.exists():
            problem = f"{path}:1: (file): no such file or folder"
            result.errors.append(problem)
            result.broken[path] = [problem]
            continue
        try:
            loaded = load_scenario(path)
        except ScenarioError as exc:
            result.errors.extend(exc.problems)
            result.broken[path] = exc.problems
            continue
        if loaded.id in result.scenarios:
            other = result.scenarios[loaded.id].path
            problem = f"{path}:1: id: scenario id {loaded.id!r} is already used by {other} (give each file its own id)"
            result.errors.append(problem)
            result.broken[path] = [problem]
            continue
        result.scenarios[loaded.id] = loaded
    return result
