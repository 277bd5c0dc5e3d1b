"""Reviewing scored calls: list with filters, open, override a score, dismiss or confirm a
flagged compliance violation, comment, set a verdict.

The rubric engine's scores (`turns.score_json`, `sessions.scorecard_json`) are
never modified here. Overrides live in their own table; the *effective* score
of a turn dimension is its latest override, or the automatic score. Likewise a
flagged violation whose latest decision is "dismissed" no longer counts as a
critical error (`violations.py`). Both are kept and shown. Access rules come from `auth.Access` and are checked in every
method, so the UI and the CLI cannot forget them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from statistics import mean
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import BaseModel, Field
from sqlalchemy import text

from .auth import Access, AccessDenied
from .errors import SimulatorError
from .store import Store, utcnow
from .users import User
from .violations import ViolationDecision, apply_decisions, apply_review_decisions, flagged_violations, in_force

DEFAULT_DIMENSIONS = ("empathy", "firmness", "clarity")
VERDICTS = ("pass", "needs_work", "fail")
Verdict = Literal["pass", "needs_work", "fail"]
SortKey = Literal["date_desc", "date_asc", "overall_desc", "overall_asc", "trainee", "scenario", "critical_desc",
                  "to_check_desc"]
CHUNK = 500  # ids per IN (...) list: far below SQLite's and PostgreSQL's parameter limits


class ReviewError(SimulatorError):
    """A review action with bad input; the message says what to fix, `code` lets the UI say it in its language."""

    def __init__(self, message: str, code: str = "review", **params):
        self.code, self.params = code, params
        super().__init__(message)


class SessionFilter(BaseModel):
    """The review tab's filters; `python -m simulator export` takes the same."""

    trainee: str | None = Field(None, description="Only this trainee's calls.")
    scenario_id: str | None = Field(None, description="Only calls of this scenario.")
    date_from: date | None = Field(None, description="Calls started on or after this day (display time zone).")
    date_to: date | None = Field(None, description="Calls started on or before this day (display time zone).")
    outcome: str | None = Field(None, description="Outcome code (PTP, PLAN, …).")
    result: Literal["pass", "fail", "unscored"] | None = Field(None, description="Effective pass/fail of the call.")
    critical: bool | None = Field(None, description="True: with critical errors only; False: without.")
    to_check: bool | None = Field(None, description="True: calls with review flags (« À vérifier ») nobody has "
                                  "decided yet; False: calls without.")
    status: Literal["active", "ended", "interrupted"] | None = None
    verdict: Literal["pass", "needs_work", "fail", "none"] | None = Field(None, description="Reviewer's verdict.")
    session_ids: list[str] | None = None
    sort: SortKey = "date_desc"
    limit: int | None = Field(None, ge=1)


@dataclass
class Override:
    id: int
    session_id: str
    turn_idx: int
    dimension: str
    original_score: int | None
    score: int
    reason: str
    author: str | None
    created_at: str


@dataclass
class Comment:
    id: int
    session_id: str
    turn_idx: int | None
    author: str | None
    text: str
    created_at: str


@dataclass
class VerdictRecord:
    id: int
    session_id: str
    verdict: str
    note: str | None
    author: str | None
    created_at: str


@dataclass
class ScoreSummary:
    dimensions: list[str]
    means_auto: dict[str, float]
    means: dict[str, float]
    overall_auto: float | None
    overall: float | None
    pass_mark: float | None
    passed_auto: bool | None
    passed: bool | None
    critical_errors: list[dict]   # those counting: the flagged ones minus the dismissed ones, plus confirmed review flags
    turns_scored: int
    overridden: int
    from_scorecard: bool
    critical_errors_auto: list[dict] = field(default_factory=list)  # every one the rubric engine flagged
    dismissed_errors: list[dict] = field(default_factory=list)      # flagged, then dismissed by a reviewer
    review_flags: list[dict] = field(default_factory=list)          # the learned detector's flags nobody decided yet
    review_confirmed: list[dict] = field(default_factory=list)      # review flags a reviewer made critical errors
    review_dismissed: list[dict] = field(default_factory=list)      # review flags a reviewer cleared


@dataclass
class SessionSummary:
    id: str
    trainee: str | None
    scenario_id: str
    mode: str
    status: str
    end_reason: str | None
    outcome: str | None
    started_at: str
    ended_at: str | None
    turns: int
    backend: str
    model: str
    rubric: str | None
    scores: ScoreSummary
    verdict: VerdictRecord | None

    @property
    def duration_s(self) -> float | None:
        if not self.ended_at:
            return None
        return (datetime.fromisoformat(self.ended_at) - datetime.fromisoformat(self.started_at)).total_seconds()


@dataclass
class TurnView:
    idx: int
    speaker: str
    text: str
    created_at: str
    first_token_ms: int | None
    total_ms: int | None
    guard_events: list[dict]
    error: str | None
    move: dict | None
    score: dict | None
    effective: dict[str, int] = field(default_factory=dict)
    overrides: list[Override] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    decisions: list[ViolationDecision] = field(default_factory=list)  # on this turn's violations, oldest first

    def decision_for(self, rule: str | None) -> ViolationDecision | None:
        """The decision in force on this turn's violation of `rule`, if a reviewer made one."""
        return in_force(self.decisions).get((self.idx, str(rule)))


@dataclass
class SessionDetail:
    summary: SessionSummary
    session: dict[str, Any]       # every column of the row, JSON columns decoded
    turns: list[TurnView]
    overrides: list[Override]
    comments: list[Comment]
    verdicts: list[VerdictRecord]
    can_review: bool = False
    decisions: list[ViolationDecision] = field(default_factory=list)

    @property
    def scenario(self) -> dict:
        return self.session.get("scenario_json") or {}

    @property
    def call_comments(self) -> list[Comment]:
        return [c for c in self.comments if c.turn_idx is None]


# pure scoring helpers ---------------------------------------------------------

def dimensions_of(*score_dicts: dict | None) -> list[str]:
    seen: dict[str, None] = {d: None for d in DEFAULT_DIMENSIONS}
    present: set[str] = set()
    for scores in score_dicts:
        for d in (scores or {}):
            seen.setdefault(d, None)
            present.add(d)
    return [d for d in seen if d in present] or list(DEFAULT_DIMENSIONS)


def effective_scores(score: dict | None, overrides: list[Override]) -> dict[str, int]:
    """Automatic scores with the latest override of each dimension applied."""
    result = dict((score or {}).get("scores") or {})
    for o in sorted(overrides, key=lambda o: o.id):
        result[o.dimension] = o.score
    return result


def rubric_weights(rubric: dict | None, dimensions: list[str]) -> dict[str, float]:
    """Dimension weights from a frozen rubric (`weights: {dim: w}` or `dimensions: [{id, weight}]`); equal otherwise."""
    weights: dict[str, float] = {}
    if isinstance(rubric, dict):
        raw = rubric.get("weights")
        if isinstance(raw, dict):
            weights = {k: float(v) for k, v in raw.items() if isinstance(v, (int, float))}
        elif isinstance(rubric.get("dimensions"), list):
            for d in rubric["dimensions"]:
                if isinstance(d, dict) and isinstance(d.get("weight"), (int, float)):
                    weights[str(d.get("id") or d.get("name"))] = float(d["weight"])
    return {d: weights.get(d, 1.0) for d in dimensions} if weights else {d: 1.0 for d in dimensions}


def _means(per_turn: list[dict[str, int]], dimensions: list[str]) -> dict[str, float]:
    out = {}
    for d in dimensions:
        values = [s[d] for s in per_turn if isinstance(s.get(d), (int, float))]
        if values:
            out[d] = mean(values)
    return out


def _weighted(means: dict[str, float], weights: dict[str, float]) -> float | None:
    total = sum(weights.get(d, 1.0) for d in means)
    return sum(v * weights.get(d, 1.0) for d, v in means.items()) / total if total else None


def summarise_scores(turn_scores: dict[int, dict], overrides: list[Override], scorecard: dict | None,
                     rubric: dict | None, decisions: list[ViolationDecision] | None = None) -> ScoreSummary:
    """The call's automatic and effective scores.

    With a scorecard, each effective dimension mean is the scorecard's mean moved
    by the change the overrides make to that dimension's turn scores, and the
    effective overall is the scorecard's overall moved by the weighted average of
    those changes (so whatever else the rubric engine folds into `overall` is
    kept). A dismissed violation is no longer a critical error; a confirmed review
    flag (the learned detector's) becomes one. Once a score is overridden, a
    violation dismissed or a review flag confirmed, pass = overall ≥ pass mark and no
    critical error left. Without a scorecard (a call interrupted before it was scored as a
    whole) the overall is the weighted mean of the turns scored so far and
    pass/fail is unknown.
    """
    by_turn: dict[int, list[Override]] = {}
    for o in overrides:
        by_turn.setdefault(o.turn_idx, []).append(o)
    auto = [dict(s.get("scores") or {}) for s in turn_scores.values()]
    eff = [effective_scores(s, by_turn.get(idx, [])) for idx, s in turn_scores.items()]
    card = scorecard or {}
    dims = dimensions_of(*auto, card.get("means"))
    weights = rubric_weights(rubric, dims)
    turn_auto, turn_eff = _means(auto, dims), _means(eff, dims)
    delta = {d: turn_eff[d] - turn_auto.get(d, turn_eff[d]) for d in turn_eff}
    critical_auto = list(card.get("critical_errors") or [])
    review_auto = list(card.get("review_flags") or [])
    if scorecard is None:
        for idx, s in turn_scores.items():
            for key, found in (("violations", critical_auto), ("review", review_auto)):
                found.extend({"turn": idx, "rule": v.get("rule"), "category": v.get("category"), "text": v.get("text"),
                              "reference": v.get("reference")} for v in (s.get(key) or []))
    critical, dismissed = apply_decisions(critical_auto, decisions or [])
    confirmed, pending, cleared = apply_review_decisions(review_auto, decisions or [])
    critical += confirmed
    if isinstance(card.get("overall"), (int, float)):
        means_auto = {d: float(v) for d, v in (card.get("means") or {}).items() if isinstance(v, (int, float))} or turn_auto
        means = {d: _clamp(v + delta.get(d, 0.0)) for d, v in means_auto.items()}
        overall_auto = float(card["overall"])
        shift = _weighted(delta, weights) if delta else 0.0
        overall = _clamp(overall_auto + (shift or 0.0)) if overrides else overall_auto
        pass_mark = card.get("pass_mark")
        passed_auto = card.get("passed")
        changed = bool(overrides) or bool(dismissed) or bool(confirmed)
        passed = passed_auto if not changed or pass_mark is None else (overall >= float(pass_mark) and not critical)
        from_card = True
    else:
        means_auto, means = turn_auto, turn_eff
        overall_auto, overall = _weighted(turn_auto, weights), _weighted(turn_eff, weights)
        pass_mark = passed_auto = passed = None
        from_card = False
    return ScoreSummary(dims, means_auto, means, overall_auto, overall, pass_mark, passed_auto, passed, critical,
                        int(card.get("turns_scored") or len(turn_scores)), len(overrides), from_card,
                        critical_errors_auto=critical_auto, dismissed_errors=dismissed, review_flags=pending,
                        review_confirmed=confirmed, review_dismissed=cleared)


def _clamp(x: float) -> float:
    return min(5.0, max(1.0, x))


# the service ------------------------------------------------------------------

def _loads(value: str | None) -> Any:
    return json.loads(value) if value else None


def _chunks(items: list[str]):
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


def _in(name: str, values: list) -> tuple[str, dict]:
    params = {f"{name}{i}": v for i, v in enumerate(values)}
    return f"({', '.join(':' + k for k in params)})", params


class Reviews:
    def __init__(self, store: Store, access: Access, *, timezone_name: str = "Europe/Paris"):
        self.store = store
        self.access = access
        self.tz = ZoneInfo(timezone_name)

    # listing ------------------------------------------------------------------
    def day_bounds(self, day: date) -> str:
        """Start of a local day, as the UTC ISO string sessions are stored with."""
        return datetime.combine(day, time.min, self.tz).astimezone(timezone.utc).isoformat(timespec="milliseconds")

    def local(self, iso: str | None) -> datetime | None:
        return datetime.fromisoformat(iso).astimezone(self.tz) if iso else None

    def list_sessions(self, user: User | None, flt: SessionFilter | None = None) -> list[SessionSummary]:
        flt = flt or SessionFilter()
        visible = self.access.visible_trainees(user)
        if visible is not None and not visible:
            return []
        where, params = [], {}
        if visible is not None:
            names = sorted(v for v in visible if v is not None)
            clause, p = _in("v", names)
            where.append(f"s.trainee IN {clause}" if names else "1 = 0")
            params |= p
        if flt.trainee:
            where.append("s.trainee = :trainee")
            params["trainee"] = flt.trainee
        if flt.scenario_id:
            where.append("s.scenario_id = :scenario")
            params["scenario"] = flt.scenario_id
        if flt.date_from:
            where.append("s.started_at >= :dfrom")
            params["dfrom"] = self.day_bounds(flt.date_from)
        if flt.date_to:
            where.append("s.started_at < :dto")
            params["dto"] = self.day_bounds(flt.date_to + timedelta(days=1))
        if flt.outcome:
            where.append("s.outcome = :outcome")
            params["outcome"] = flt.outcome
        if flt.status:
            where.append("s.status = :status")
            params["status"] = flt.status
        if flt.session_ids is not None:
            clause, p = _in("id", flt.session_ids)
            where.append(f"s.id IN {clause}" if flt.session_ids else "1 = 0")
            params |= p
        sql = ("SELECT s.id, s.trainee, s.scenario_id, s.mode, s.status, s.end_reason, s.outcome, s.started_at, "
               "s.ended_at, s.backend, s.model, s.rubric_id, s.rubric_version, s.scorecard_json, "
               "(SELECT COUNT(*) FROM turns t WHERE t.session_id = s.id) AS n_turns FROM sessions s")
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self.store.engine.connect() as conn:
            rows = conn.execute(text(sql + " ORDER BY s.started_at DESC"), params).mappings().all()
        summaries = self._summaries([dict(r) for r in rows])
        summaries = [s for s in summaries if self._keep(s, flt)]
        return self._sort(summaries, flt.sort)[: flt.limit] if flt.limit else self._sort(summaries, flt.sort)

    @staticmethod
    def _keep(s: SessionSummary, flt: SessionFilter) -> bool:
        sc = s.scores
        if flt.result == "pass" and sc.passed is not True:
            return False
        if flt.result == "fail" and sc.passed is not False:
            return False
        if flt.result == "unscored" and sc.passed is not None:
            return False
        if flt.critical is not None and bool(sc.critical_errors) != flt.critical:
            return False
        if flt.to_check is not None and bool(sc.review_flags) != flt.to_check:
            return False
        if flt.verdict == "none" and s.verdict is not None:
            return False
        if flt.verdict and flt.verdict != "none" and (s.verdict is None or s.verdict.verdict != flt.verdict):
            return False
        return True

    @staticmethod
    def _sort(items: list[SessionSummary], key: SortKey) -> list[SessionSummary]:
        missing = float("-inf")
        if key == "date_asc":
            return sorted(items, key=lambda s: s.started_at)
        if key == "overall_desc":
            return sorted(items, key=lambda s: s.scores.overall if s.scores.overall is not None else missing, reverse=True)
        if key == "overall_asc":
            return sorted(items, key=lambda s: s.scores.overall if s.scores.overall is not None else float("inf"))
        if key == "trainee":
            return sorted(items, key=lambda s: ((s.trainee or ""), s.started_at))
        if key == "scenario":
            return sorted(items, key=lambda s: (s.scenario_id, s.started_at))
        if key == "critical_desc":
            return sorted(items, key=lambda s: (len(s.scores.critical_errors), s.started_at), reverse=True)
        if key == "to_check_desc":  # the calls with the most review flags nobody has decided yet
            return sorted(items, key=lambda s: (len(s.scores.review_flags), s.started_at), reverse=True)
        return sorted(items, key=lambda s: s.started_at, reverse=True)

    def _summaries(self, rows: list[dict]) -> list[SessionSummary]:
        ids = [r["id"] for r in rows]
        overrides = self._overrides(ids)
        decisions = self._decisions(ids)
        verdicts = self._latest_verdicts(ids)
        need_turns = [r["id"] for r in rows if overrides.get(r["id"]) or not r["scorecard_json"]]
        turn_scores = self._turn_scores(need_turns)
        rubrics = self._rubrics([i for i in need_turns if overrides.get(i)])
        out = []
        for r in rows:
            scores = summarise_scores(turn_scores.get(r["id"], {}), overrides.get(r["id"], []),
                                      _loads(r["scorecard_json"]), rubrics.get(r["id"]), decisions.get(r["id"], []))
            out.append(SessionSummary(
                id=r["id"], trainee=r["trainee"], scenario_id=r["scenario_id"], mode=r["mode"], status=r["status"],
                end_reason=r["end_reason"], outcome=r["outcome"], started_at=r["started_at"], ended_at=r["ended_at"],
                turns=int(r["n_turns"] or 0), backend=r["backend"], model=r["model"],
                rubric=f"{r['rubric_id']}@{r['rubric_version']}" if r.get("rubric_id") else None,
                scores=scores, verdict=verdicts.get(r["id"])))
        return out

    def _rows_by_session(self, table: str, ids: list[str], record):
        """Every row of `table` (a reviewer-work table) for the sessions `ids`, oldest first, as `record`s."""
        out: dict[str, list] = {}
        with self.store.engine.connect() as conn:
            for chunk in _chunks(ids):
                clause, params = _in("i", chunk)
                for r in conn.execute(text(f"SELECT * FROM {table} WHERE session_id IN {clause} ORDER BY id"),
                                      params).mappings():
                    out.setdefault(r["session_id"], []).append(record(**r))
        return out

    def _overrides(self, ids: list[str]) -> dict[str, list[Override]]:
        return self._rows_by_session("score_overrides", ids, Override)

    def _decisions(self, ids: list[str]) -> dict[str, list[ViolationDecision]]:
        return self._rows_by_session("violation_decisions", ids, ViolationDecision)

    def _latest_verdicts(self, ids: list[str]) -> dict[str, VerdictRecord]:
        out: dict[str, VerdictRecord] = {}
        with self.store.engine.connect() as conn:
            for chunk in _chunks(ids):
                clause, params = _in("i", chunk)
                for r in conn.execute(text(f"SELECT * FROM verdicts WHERE session_id IN {clause} ORDER BY id"),
                                      params).mappings():
                    out[r["session_id"]] = VerdictRecord(**r)  # later ids replace earlier ones
        return out

    def _turn_scores(self, ids: list[str]) -> dict[str, dict[int, dict]]:
        out: dict[str, dict[int, dict]] = {}
        with self.store.engine.connect() as conn:
            for chunk in _chunks(ids):
                clause, params = _in("i", chunk)
                for r in conn.execute(text(
                        f"SELECT session_id, idx, score_json FROM turns WHERE session_id IN {clause} "
                        "AND speaker = 'agent' AND score_json IS NOT NULL ORDER BY idx"), params):
                    out.setdefault(r[0], {})[r[1]] = json.loads(r[2])
        return out

    def _rubrics(self, ids: list[str]) -> dict[str, dict]:
        out = {}
        with self.store.engine.connect() as conn:
            for chunk in _chunks(ids):
                clause, params = _in("i", chunk)
                for r in conn.execute(text(f"SELECT id, rubric_json FROM sessions WHERE id IN {clause}"), params):
                    try:
                        out[r[0]] = _loads(r[1])
                    except ValueError:
                        out[r[0]] = None
        return out

    # one call -----------------------------------------------------------------
    def _visible_session(self, user: User | None, session_id: str) -> dict:
        """The call with this id (or unique id prefix of 6+ characters) if `user` may see it."""
        session_id = (session_id or "").strip().lower()
        if not re.fullmatch(r"[0-9a-f]{6,32}", session_id):
            raise ReviewError(f"{session_id!r} is not a call id (32 hex characters, or the first 6 or more)", "bad_id",
                              id=session_id)
        with self.store.engine.connect() as conn:
            rows = conn.execute(text("SELECT * FROM sessions WHERE id LIKE :p"), {"p": session_id + "%"}).mappings().all()
        rows = [r for r in rows if self.access.can_view_session(user, _Trainee(r["trainee"]))]
        if len(rows) > 1:
            raise ReviewError(f"{session_id!r} matches several calls: give more characters of the id", "ambiguous_id",
                              id=session_id)
        if not rows:
            # Same answer for "missing" and "not yours": ids of other people's calls are not confirmed.
            raise AccessDenied(f"no call {session_id!r} among the calls you may see", "not_visible", id=session_id)
        return dict(rows[0])

    def open(self, user: User | None, session_id: str) -> SessionDetail:
        row = self._visible_session(user, (session_id or "").strip())
        session = {k: (_loads(v) if k.endswith("_json") and isinstance(v, str) else v) for k, v in row.items()}
        with self.store.engine.connect() as conn:
            turn_rows = conn.execute(text("SELECT * FROM turns WHERE session_id = :id ORDER BY idx"),
                                     {"id": row["id"]}).mappings().all()
            comments = [Comment(**r) for r in conn.execute(
                text("SELECT * FROM turn_comments WHERE session_id = :id ORDER BY id"), {"id": row["id"]}).mappings()]
            verdicts = [VerdictRecord(**r) for r in conn.execute(
                text("SELECT * FROM verdicts WHERE session_id = :id ORDER BY id"), {"id": row["id"]}).mappings()]
        overrides = self._overrides([row["id"]]).get(row["id"], [])
        decisions = self._decisions([row["id"]]).get(row["id"], [])
        turns = []
        for r in turn_rows:
            score = _loads(r["score_json"])
            mine = [o for o in overrides if o.turn_idx == r["idx"]]
            turns.append(TurnView(
                idx=r["idx"], speaker=r["speaker"], text=r["text"], created_at=r["created_at"],
                first_token_ms=r["first_token_ms"], total_ms=r["total_ms"],
                guard_events=json.loads(r["guard_events"] or "[]"), error=r["error"], move=_loads(r["move_json"]),
                score=score, effective=effective_scores(score, mine) if score else {}, overrides=mine,
                comments=[c for c in comments if c.turn_idx == r["idx"]],
                decisions=[d for d in decisions if d.turn_idx == r["idx"]]))
        summary = self._summaries([{**row, "n_turns": len(turn_rows)}])[0]
        return SessionDetail(summary, session, turns, overrides, comments, verdicts,
                             can_review=self.access.can_review_session(user, _Trainee(row["trainee"])),
                             decisions=decisions)

    def _reviewable(self, user: User | None, session_id: str) -> dict:
        row = self._visible_session(user, session_id)
        if not self.access.can_review_session(user, _Trainee(row["trainee"])):
            if user is not None and row["trainee"] == user.username and self.access.can(user, "review"):
                raise AccessDenied("you cannot review your own call: ask another reviewer", "own_call")
            raise AccessDenied("only reviewers and admins can review calls", "not_reviewer")
        return row

    def override(self, user: User | None, session_id: str, turn_idx: int, dimension: str, score: int,
                 reason: str) -> Override:
        row = self._reviewable(user, session_id)
        reason = " ".join((reason or "").split())
        if len(reason) < 3:
            raise ReviewError("give the reason for the new score (a few words the trainee will read)", "no_reason")
        if not isinstance(score, int) or not 1 <= score <= 5:
            raise ReviewError(f"score must be a whole number from 1 to 5, not {score!r}", "bad_score", score=score)
        with self.store.engine.connect() as conn:
            turn = conn.execute(text("SELECT speaker, score_json FROM turns WHERE session_id = :id AND idx = :i"),
                                {"id": row["id"], "i": turn_idx}).mappings().first()
        if turn is None or turn["speaker"] != "agent":
            raise ReviewError(f"turn {turn_idx} is not a trainee turn of this call", "not_agent_turn", turn=turn_idx)
        auto = (_loads(turn["score_json"]) or {}).get("scores") or {}
        if dimension not in auto:
            known = ", ".join(auto) or "none: this turn was not scored"
            raise ReviewError(f"turn {turn_idx} has no {dimension!r} score (scored dimensions: {known})", "no_dimension",
                              turn=turn_idx, dim=dimension)
        earlier = [o for o in self._overrides([row["id"]]).get(row["id"], []) if o.turn_idx == turn_idx]
        current = effective_scores({"scores": auto}, earlier)
        if current.get(dimension) == score:
            raise ReviewError(f"turn {turn_idx} already has {score} for {dimension!r}", "same_score", turn=turn_idx,
                              score=score)
        now = utcnow()
        with self.store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO score_overrides (session_id, turn_idx, dimension, original_score, score, reason, author, "
                "created_at) VALUES (:s, :i, :d, :o, :n, :r, :a, :t)"),
                {"s": row["id"], "i": turn_idx, "d": dimension, "o": auto[dimension], "n": score, "r": reason,
                 "a": user.username, "t": now})
        return self._overrides([row["id"]])[row["id"]][-1]

    def dismiss_violation(self, user: User | None, session_id: str, turn_idx: int, rule: str,
                          reason: str) -> ViolationDecision:
        """Take a flagged violation for a false positive: it no longer counts as a critical error (a review flag
        is cleared)."""
        return self._decide(user, session_id, turn_idx, rule, "dismissed", reason)

    def confirm_violation(self, user: User | None, session_id: str, turn_idx: int, rule: str,
                          reason: str | None = None) -> ViolationDecision:
        """Confirm a flagged violation (or undo a dismissal): it counts as a critical error — a review flag
        (the detectors', or a phrase rule's hit they doubted) becomes one."""
        return self._decide(user, session_id, turn_idx, rule, "confirmed", reason)

    def _decide(self, user: User | None, session_id: str, turn_idx: int, rule: str, decision: str,
                reason: str | None) -> ViolationDecision:
        row = self._reviewable(user, session_id)
        reason = " ".join((reason or "").split())
        if decision == "dismissed" and len(reason) < 3:
            raise ReviewError("give the reason for dismissing this violation (a few words the trainee will read)",
                              "no_dismiss_reason")
        with self.store.engine.connect() as conn:
            turn = conn.execute(text("SELECT speaker, score_json FROM turns WHERE session_id = :id AND idx = :i"),
                                {"id": row["id"], "i": turn_idx}).mappings().first()
        if turn is None or turn["speaker"] != "agent":
            raise ReviewError(f"turn {turn_idx} is not a trainee turn of this call", "not_agent_turn", turn=turn_idx)
        flagged = [v["rule"] for v in flagged_violations(turn_idx, _loads(turn["score_json"]),
                                                          _loads(row.get("scorecard_json")))]
        wanted = (rule or "").strip()
        match = next((r for r in flagged if r == wanted), None) or next(
            (r for r in flagged if r.casefold() == wanted.casefold()), None)
        if match is None:
            if not flagged:
                raise ReviewError(f"turn {turn_idx} has no flagged violation: there is nothing to "
                                  f"{'dismiss' if decision == 'dismissed' else 'confirm'} on it",
                                  "no_violations", turn=turn_idx, rule=wanted)
            raise ReviewError(f"turn {turn_idx} has no {wanted!r} violation (flagged on turn {turn_idx}: "
                              f"{', '.join(flagged)})", "no_violation", turn=turn_idx, rule=wanted,
                              rules=", ".join(flagged))
        earlier = in_force(self._decisions([row["id"]]).get(row["id"], [])).get((turn_idx, match))
        if earlier is not None and earlier.decision == decision:
            raise ReviewError(f"turn {turn_idx}: {match} is already {decision} (by {earlier.author or '?'})",
                              f"already_{decision}", turn=turn_idx, rule=match, author=earlier.author or "?")
        with self.store.engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO violation_decisions (session_id, turn_idx, rule, decision, reason, author, created_at) "
                "VALUES (:s, :i, :r, :d, :why, :a, :t)"),
                {"s": row["id"], "i": turn_idx, "r": match, "d": decision, "why": reason or None,
                 "a": user.username, "t": utcnow()})
        return self._decisions([row["id"]])[row["id"]][-1]

    def comment(self, user: User | None, session_id: str, turn_idx: int | None, body: str) -> Comment:
        row = self._reviewable(user, session_id)
        body = (body or "").strip()
        if not body:
            raise ReviewError("write the comment first", "empty_comment")
        if turn_idx is not None:
            with self.store.engine.connect() as conn:
                if conn.execute(text("SELECT 1 FROM turns WHERE session_id = :id AND idx = :i"),
                                {"id": row["id"], "i": turn_idx}).first() is None:
                    raise ReviewError(f"this call has no turn {turn_idx}", "no_turn", turn=turn_idx)
        with self.store.engine.begin() as conn:
            conn.execute(text("INSERT INTO turn_comments (session_id, turn_idx, author, text, created_at) "
                              "VALUES (:s, :i, :a, :b, :t)"),
                         {"s": row["id"], "i": turn_idx, "a": user.username, "b": body, "t": utcnow()})
            r = conn.execute(text("SELECT * FROM turn_comments WHERE session_id = :s ORDER BY id DESC"),
                             {"s": row["id"]}).mappings().first()
        return Comment(**r)

    def set_verdict(self, user: User | None, session_id: str, verdict: str, note: str | None = None) -> VerdictRecord:
        row = self._reviewable(user, session_id)
        if verdict not in VERDICTS:
            raise ReviewError(f"invalid verdict {verdict!r} (valid: {', '.join(VERDICTS)})", "bad_verdict", verdict=verdict)
        with self.store.engine.begin() as conn:
            conn.execute(text("INSERT INTO verdicts (session_id, verdict, note, author, created_at) "
                              "VALUES (:s, :v, :n, :a, :t)"),
                         {"s": row["id"], "v": verdict, "n": (note or "").strip() or None, "a": user.username,
                          "t": utcnow()})
        return self._latest_verdicts([row["id"]])[row["id"]]

    def trainees(self, user: User | None) -> list[str]:
        """Trainees with at least one call `user` may see, for the filter dropdowns."""
        visible = self.access.visible_trainees(user)
        with self.store.engine.connect() as conn:
            names = [r[0] for r in conn.execute(text("SELECT DISTINCT trainee FROM sessions WHERE trainee IS NOT NULL"))]
        return sorted(n for n in names if visible is None or n in visible)

    def scenario_ids(self, user: User | None) -> list[str]:
        return sorted({s.scenario_id for s in self.list_sessions(user)})


@dataclass
class _Trainee:
    trainee: str | None
