"""Exports and imports of reviewed calls.

- JSON: every column of the session and its turns, reviewer overrides,
  violation decisions (dismissed / confirmed), comments and verdicts; importing it into another store gives the same call
  back (`python -m simulator import`).
- CSV: one row per scored trainee turn, automatic and effective scores (and
  pass/fail) side by side, the flagged, dismissed and confirmed violations, for spreadsheets (UTF-8 with BOM so Excel reads the accents).
- HTML: the printable scorecard (`report.printable_html`).

What is exported goes through `Reviews.list_sessions`, so a user exports only
the calls they may see, with the review tab's filters.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from sqlalchemy import inspect as sa_inspect
from sqlalchemy import text

from .errors import SimulatorError
from .report import dim_label, printable_html
from .reviews import DEFAULT_DIMENSIONS, Reviews, SessionFilter
from .store import Store
from .users import User

FORMAT = "collector-simulator/sessions"
VERSION = 2  # 2: `violation_decisions` (an older reader would drop them silently, so it must refuse the file)
JSON_COLUMNS = ("guard_events",)  # TEXT columns holding JSON besides the *_json ones
SKIP_COLUMNS = {"sessions": {"instance_id"}}  # meaningful only to the process that ran the call


class ImportFileError(SimulatorError):
    """An import file is not a valid export; the message names the file and the field."""


def _decode(table: str, row: dict) -> dict:
    out = {}
    for k, v in row.items():
        if k in SKIP_COLUMNS.get(table, ()):
            continue
        if isinstance(v, str) and (k.endswith("_json") or k in JSON_COLUMNS):
            try:
                v = json.loads(v)
            except ValueError:
                pass  # keep what is there; never lose a value on export
        out[k] = v
    return out


def session_document(store: Store, session_id: str) -> dict:
    """Everything the store holds about one call."""
    with store.engine.connect() as conn:
        session = conn.execute(text("SELECT * FROM sessions WHERE id = :id"), {"id": session_id}).mappings().first()
        if session is None:
            raise SimulatorError(f"no call {session_id!r} in the store")
        turns = conn.execute(text("SELECT * FROM turns WHERE session_id = :id ORDER BY idx"), {"id": session_id}).mappings().all()
        extra = {}
        for table in ("score_overrides", "violation_decisions", "turn_comments", "verdicts"):
            extra[table] = [_decode(table, dict(r)) for r in conn.execute(
                text(f"SELECT * FROM {table} WHERE session_id = :id ORDER BY id"), {"id": session_id}).mappings()]
    return {"session": _decode("sessions", dict(session)), "turns": [_decode("turns", dict(t)) for t in turns],
            "overrides": extra["score_overrides"], "violation_decisions": extra["violation_decisions"],
            "comments": extra["turn_comments"], "verdicts": extra["verdicts"]}


def export_json(reviews: Reviews, user: User | None, flt: SessionFilter | None = None) -> str:
    ids = [s.id for s in reviews.list_sessions(user, flt)]
    doc = {"format": FORMAT, "version": VERSION,
           "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "sessions": [session_document(reviews.store, i) for i in ids]}
    return json.dumps(doc, ensure_ascii=False, indent=2)


def export_csv(reviews: Reviews, user: User | None, flt: SessionFilter | None = None, *, lang: str = "fr",
               delimiter: str = ",") -> str:
    summaries = reviews.list_sessions(user, flt)
    details = [reviews.open(user, s.id) for s in summaries]
    dims: dict[str, None] = {}
    for d in details:
        for dim in d.summary.scores.dimensions:
            dims.setdefault(dim, None)
    dims_list = list(dims) or list(DEFAULT_DIMENSIONS)
    header = (["session_id", "started_at", "trainee", "scenario_id", "mode", "status", "outcome", "overall", "passed",
               "passed_auto", "verdict", "turn", "stage"] + dims_list + [f"{d}_auto" for d in dims_list]
              + ["overridden", "violations", "review_flags", "violations_dismissed", "violations_confirmed",
                 "violation_decisions", "tips", "text"])
    buf = io.StringIO()
    buf.write("\ufeff")
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(header)
    for d in details:
        s = d.summary
        for turn in d.turns:
            if turn.speaker != "agent" or not turn.score:
                continue
            auto = turn.score.get("scores") or {}
            review = [str(v.get("rule")) for v in turn.score.get("review") or []]  # the learned detector's, to check
            flagged = sorted({str(v.get("rule")) for v in turn.score.get("violations") or []} | set(review))
            decided = {r: turn.decision_for(r) for r in flagged}
            decided = {r: d for r, d in decided.items() if d is not None}
            writer.writerow([
                s.id, reviews.local(s.started_at).isoformat(timespec="seconds"), s.trainee or "", s.scenario_id, s.mode,
                s.status, s.outcome or "", "" if s.scores.overall is None else f"{s.scores.overall:.2f}",
                "" if s.scores.passed is None else ("yes" if s.scores.passed else "no"),
                "" if s.scores.passed_auto is None else ("yes" if s.scores.passed_auto else "no"),
                s.verdict.verdict if s.verdict else "", turn.idx, turn.score.get("stage") or "",
                *[turn.effective.get(x, "") for x in dims_list], *[auto.get(x, "") for x in dims_list],
                "|".join(sorted({o.dimension for o in turn.overrides})),
                "|".join(str(v.get("rule")) for v in turn.score.get("violations") or []),
                "|".join(review),
                "|".join(r for r, d in decided.items() if d.decision == "dismissed"),
                "|".join(r for r, d in decided.items() if d.decision == "confirmed"),
                " | ".join(f"{r}: {d.decision} by {d.author or '?'}" + (f": {d.reason}" if d.reason else "")
                           for r, d in decided.items()),
                " | ".join(f"{dim_label(lang, k)}: {v}" for k, v in (turn.score.get("tips") or {}).items()),
                turn.text,
            ])
    return buf.getvalue()


def export_html(reviews: Reviews, user: User | None, flt: SessionFilter | None = None, *, lang: str = "fr") -> str:
    details = [reviews.open(user, s.id) for s in reviews.list_sessions(user, flt)]
    return printable_html(details, lang, reviews.tz)


Format = Literal["json", "csv", "html"]


def export(reviews: Reviews, user: User | None, flt: SessionFilter | None, fmt: Format, *, lang: str = "fr") -> str:
    if fmt == "json":
        return export_json(reviews, user, flt)
    if fmt == "csv":
        return export_csv(reviews, user, flt, lang=lang)
    if fmt == "html":
        return export_html(reviews, user, flt, lang=lang)
    raise SimulatorError(f"unknown export format {fmt!r} (valid: json, csv, html)")


# import -----------------------------------------------------------------------

class _Row(BaseModel):
    model_config = ConfigDict(extra="allow")


class _SessionRow(_Row):
    id: str = Field(pattern=r"^[0-9a-f]{32}$")
    scenario_id: str
    scenario_sha256: str
    scenario_json: Any
    language: str
    backend: str
    model: str
    status: str
    started_at: str


class _TurnRow(_Row):
    idx: int = Field(ge=0)
    speaker: Literal["agent", "debtor"]
    text: str
    created_at: str


class _OverrideRow(_Row):
    turn_idx: int
    dimension: str
    score: int = Field(ge=1, le=5)
    reason: str = Field(min_length=1)
    created_at: str


class _DecisionRow(_Row):
    turn_idx: int
    rule: str = Field(min_length=1)
    decision: Literal["dismissed", "confirmed"]
    reason: str | None = None
    created_at: str

    @model_validator(mode="after")
    def _dismissal_has_a_reason(self):
        if self.decision == "dismissed" and not (self.reason or "").strip():
            raise ValueError("a dismissed violation needs its reason (the trainee reads it): add \"reason\"")
        return self


class _CommentRow(_Row):
    turn_idx: int | None = None
    text: str = Field(min_length=1)
    created_at: str


class _VerdictRow(_Row):
    verdict: Literal["pass", "needs_work", "fail"]
    created_at: str


class _SessionDoc(BaseModel):
    session: _SessionRow
    turns: list[_TurnRow] = []
    overrides: list[_OverrideRow] = []
    violation_decisions: list[_DecisionRow] = []
    comments: list[_CommentRow] = []
    verdicts: list[_VerdictRow] = []


class _ExportDoc(BaseModel):
    format: Literal["collector-simulator/sessions"]
    version: int = Field(ge=1, le=VERSION)
    sessions: list[_SessionDoc]


@dataclass
class ImportResult:
    imported: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # already in the store
    ignored_columns: set[str] = field(default_factory=set)


def _parse(source: str, raw: str) -> _ExportDoc:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ImportFileError(f"{source}:{exc.lineno}: not valid JSON: {exc.msg} (export it again with "
                              "`python -m simulator export --format json`)") from exc
    try:
        return _ExportDoc.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"]).lstrip(".")
            problems.append(f"{source}: {loc or '(top)'}: {err['msg']}")
        raise ImportFileError("\n".join(problems)) from exc


def _encode(value: Any, column: str) -> Any:
    if column.endswith("_json") or column in JSON_COLUMNS:
        return None if value is None else (value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
    return value


def import_sessions(store: Store, raw: str, *, source: str = "<input>", replace: bool = False) -> ImportResult:
    """Load an export into the store, each call in its own transaction; existing calls are kept unless `replace`."""
    doc = _parse(source, raw)
    inspector = sa_inspect(store.engine)
    columns = {table: {c["name"] for c in inspector.get_columns(table)}
               for table in ("sessions", "turns", "score_overrides", "violation_decisions", "turn_comments", "verdicts")}
    result = ImportResult()

    def insert(conn, table: str, row: dict, drop: set[str] = frozenset()) -> None:
        values = {k: _encode(v, k) for k, v in row.items() if k in columns[table] and k not in drop}
        result.ignored_columns |= {f"{table}.{k}" for k in row if k not in columns[table]}
        names = list(values)
        conn.execute(text(f"INSERT INTO {table} ({', '.join(names)}) VALUES ({', '.join(':' + n for n in names)})"), values)

    for item in doc.sessions:
        session = item.session.model_dump()
        sid = session["id"]
        if session.get("status") == "active":
            # Nobody is running this call in this store: it ended when it was exported.
            session |= {"status": "interrupted", "end_reason": session.get("end_reason") or "imported_while_active"}
        with store.engine.begin() as conn:
            exists = conn.execute(text("SELECT 1 FROM sessions WHERE id = :id"), {"id": sid}).first() is not None
            if exists and not replace:
                result.skipped.append(sid)
                continue
            if exists:
                for table in ("score_overrides", "violation_decisions", "turn_comments", "verdicts", "turns"):
                    conn.execute(text(f"DELETE FROM {table} WHERE session_id = :id"), {"id": sid})
                conn.execute(text("DELETE FROM sessions WHERE id = :id"), {"id": sid})
            insert(conn, "sessions", session, {"instance_id"})
            for turn in item.turns:
                insert(conn, "turns", {**turn.model_dump(), "session_id": sid})
            for table, rows in (("score_overrides", item.overrides), ("violation_decisions", item.violation_decisions),
                                ("turn_comments", item.comments), ("verdicts", item.verdicts)):
                for row in rows:  # new ids in the target store, same order and timestamps
                    insert(conn, table, {**row.model_dump(), "session_id": sid}, {"id"})
        (result.replaced if exists else result.imported).append(sid)
    return result
