"""Persistence: SQLite file by default, PostgreSQL by URL, one code path (SQLAlchemy Core).

The schema changes only through the ordered migrations below; each applied one
is recorded in `schema_migrations`. Every turn is committed as soon as it
exists, so a killed call keeps everything said before.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import uuid
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import (CheckConstraint, Column, Float, Connection, ForeignKeyConstraint, Index, Integer, MetaData, String, Table, Text,
                        create_engine, event, text)
from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _m001_sessions_and_turns(conn: Connection) -> None:
    conn.execute(text("""
        CREATE TABLE sessions (
            id VARCHAR(32) PRIMARY KEY,
            trainee VARCHAR(200),
            scenario_id VARCHAR(200) NOT NULL,
            scenario_sha256 VARCHAR(64) NOT NULL,
            scenario_json TEXT NOT NULL,
            mode VARCHAR(20) NOT NULL DEFAULT 'practice',
            language VARCHAR(5) NOT NULL,
            backend VARCHAR(50) NOT NULL,
            model VARCHAR(300) NOT NULL,
            status VARCHAR(20) NOT NULL DEFAULT 'active',
            end_reason VARCHAR(100),
            started_at VARCHAR(40) NOT NULL,
            ended_at VARCHAR(40)
        )"""))
    conn.execute(text("""
        CREATE TABLE turns (
            session_id VARCHAR(32) NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
            idx INTEGER NOT NULL,
            speaker VARCHAR(10) NOT NULL CHECK (speaker IN ('agent', 'debtor')),
            text TEXT NOT NULL,
            created_at VARCHAR(40) NOT NULL,
            first_token_ms INTEGER,
            total_ms INTEGER,
            guard_events TEXT NOT NULL DEFAULT '[]',
            error TEXT,
            PRIMARY KEY (session_id, idx)
        )"""))
    conn.execute(text("CREATE INDEX ix_sessions_trainee ON sessions (trainee, started_at)"))


def _m002_debtor_state_and_outcome(conn: Connection) -> None:
    conn.execute(text("ALTER TABLE turns ADD COLUMN move_json TEXT"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN outcome VARCHAR(20)"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN outcome_json TEXT"))


def _m003_turn_scores_and_scorecard(conn: Connection) -> None:
    # The rubric engine's verdict per agent turn and per session; the rubric is
    # frozen with the session so a later rubric edit never rescores old calls.
    conn.execute(text("ALTER TABLE turns ADD COLUMN score_json TEXT"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN rubric_id VARCHAR(200)"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN rubric_version VARCHAR(50)"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN rubric_json TEXT"))
    conn.execute(text("ALTER TABLE sessions ADD COLUMN scorecard_json TEXT"))


# Migrations 004+ build their tables with SQLAlchemy constructs (defined inside
# each function, frozen in time) so autoincrement keys are portable between
# SQLite (rowid) and PostgreSQL (serial).

def _m004_users_and_teams(conn: Connection) -> None:
    # Sessions keep the trainee as a plain string (no foreign key): removing a
    # user must never delete or orphan-fail their recorded calls.
    md = MetaData()
    Table("users", md,
          Column("username", String(100), primary_key=True),
          Column("display_name", String(200)),
          Column("role", String(20), nullable=False),
          Column("password_hash", Text, nullable=False),
          Column("created_at", String(40), nullable=False),
          Column("updated_at", String(40), nullable=False),
          CheckConstraint("role IN ('trainee', 'trainer', 'reviewer', 'admin')", name="ck_users_role"))
    Table("teams", md,
          Column("name", String(100), primary_key=True),
          Column("created_at", String(40), nullable=False))
    Table("team_members", md,
          Column("team", String(100), primary_key=True),
          Column("username", String(100), primary_key=True),
          ForeignKeyConstraint(["team"], ["teams.name"], ondelete="CASCADE"),
          ForeignKeyConstraint(["username"], ["users.username"], ondelete="CASCADE"),
          Index("ix_team_members_username", "username"))
    md.create_all(conn)


def _m005_reviews(conn: Connection) -> None:
    # Reviewer work lives beside the automatic scores, never inside them: the
    # original score_json stays as the rubric engine wrote it (audit).
    md = MetaData()
    # Stand-ins for the existing tables, only so the foreign keys can be rendered.
    Table("sessions", md, Column("id", String(32), primary_key=True))
    Table("turns", md, Column("session_id", String(32), primary_key=True), Column("idx", Integer, primary_key=True))
    overrides = Table(
        "score_overrides", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(32), nullable=False),
        Column("turn_idx", Integer, nullable=False),
        Column("dimension", String(50), nullable=False),
        Column("original_score", Integer),
        Column("score", Integer, nullable=False),
        Column("reason", Text, nullable=False),
        Column("author", String(100)),
        Column("created_at", String(40), nullable=False),
        ForeignKeyConstraint(["session_id", "turn_idx"], ["turns.session_id", "turns.idx"], ondelete="CASCADE"),
        CheckConstraint("score BETWEEN 1 AND 5", name="ck_override_score"),
        Index("ix_score_overrides_session", "session_id", "turn_idx"))
    comments = Table(
        "turn_comments", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(32), nullable=False),
        Column("turn_idx", Integer),  # NULL: a comment on the whole call
        Column("author", String(100)),
        Column("text", Text, nullable=False),
        Column("created_at", String(40), nullable=False),
        ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        Index("ix_turn_comments_session", "session_id"))
    verdicts = Table(
        "verdicts", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(32), nullable=False),
        Column("verdict", String(20), nullable=False),
        Column("note", Text),
        Column("author", String(100)),
        Column("created_at", String(40), nullable=False),
        ForeignKeyConstraint(["session_id"], ["sessions.id"], ondelete="CASCADE"),
        CheckConstraint("verdict IN ('pass', 'needs_work', 'fail')", name="ck_verdict"),
        Index("ix_verdicts_session", "session_id"))
    md.create_all(conn, tables=[overrides, comments, verdicts])


def _m006_app_instances(conn: Connection) -> None:
    # Each running process that opens calls registers here and heartbeats; an
    # active session whose owner stopped heartbeating (or whose process is gone)
    # is shown as interrupted. Safe with several app processes on one database.
    md = MetaData()
    Table("app_instances", md,
          Column("id", String(32), primary_key=True),
          Column("hostname", String(255), nullable=False),
          Column("host_key", String(300), nullable=False),
          Column("pid", Integer, nullable=False),
          Column("heartbeat_seconds", Float, nullable=False),
          Column("started_at", String(40), nullable=False),
          Column("heartbeat_at", String(40), nullable=False),
          Column("stopped_at", String(40)))
    md.create_all(conn)
    conn.execute(text("ALTER TABLE sessions ADD COLUMN instance_id VARCHAR(32)"))


def _m007_review_indexes(conn: Connection) -> None:
    # The review tab filters by scenario, status and date over every session.
    conn.execute(text("CREATE INDEX ix_sessions_started ON sessions (started_at)"))
    conn.execute(text("CREATE INDEX ix_sessions_scenario ON sessions (scenario_id, started_at)"))
    conn.execute(text("CREATE INDEX ix_sessions_status ON sessions (status, instance_id)"))


def _m008_violation_decisions(conn: Connection) -> None:
    # A reviewer's call on one compliance violation the rubric engine flagged on
    # one trainee turn: dismissed (a false positive: it no longer fails the call)
    # or confirmed. Rows are never updated: the latest one per (session, turn,
    # rule) is in force, the earlier ones are the history. score_json is untouched.
    md = MetaData()
    Table("turns", md, Column("session_id", String(32), primary_key=True), Column("idx", Integer, primary_key=True))
    decisions = Table(
        "violation_decisions", md,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("session_id", String(32), nullable=False),
        Column("turn_idx", Integer, nullable=False),
        Column("rule", String(100), nullable=False),
        Column("decision", String(20), nullable=False),
        Column("reason", Text),  # required for a dismissal, optional for a confirmation
        Column("author", String(100)),
        Column("created_at", String(40), nullable=False),
        ForeignKeyConstraint(["session_id", "turn_idx"], ["turns.session_id", "turns.idx"], ondelete="CASCADE"),
        CheckConstraint("decision IN ('dismissed', 'confirmed')", name="ck_violation_decision"),
        CheckConstraint("decision = 'confirmed' OR reason IS NOT NULL", name="ck_violation_dismissal_reason"),
        Index("ix_violation_decisions_session", "session_id", "turn_idx"))
    md.create_all(conn, tables=[decisions])


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("001_sessions_and_turns", _m001_sessions_and_turns),
    ("002_debtor_state_and_outcome", _m002_debtor_state_and_outcome),
    ("003_turn_scores_and_scorecard", _m003_turn_scores_and_scorecard),
    ("004_users_and_teams", _m004_users_and_teams),
    ("005_reviews", _m005_reviews),
    ("006_app_instances", _m006_app_instances),
    ("007_review_indexes", _m007_review_indexes),
    ("008_violation_decisions", _m008_violation_decisions),
]


@dataclass
class StoredTurn:
    session_id: str
    idx: int
    speaker: str
    text: str
    created_at: str
    first_token_ms: int | None = None
    total_ms: int | None = None
    guard_events: list[dict] = field(default_factory=list)
    error: str | None = None
    move: dict | None = None
    score: dict | None = None


@dataclass
class StoredSession:
    id: str
    trainee: str | None
    scenario_id: str
    scenario_sha256: str
    mode: str
    language: str
    backend: str
    model: str
    status: str
    end_reason: str | None
    started_at: str
    ended_at: str | None
    outcome: str | None = None


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _host_key() -> str:
    """Identifies this machine boot and PID namespace: only there is a PID check meaningful."""
    parts = [socket.gethostname()]
    for path in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            parts.append(Path(path).read_text().strip() if "boot_id" in path else os.readlink(path))
        except OSError:
            return ""  # unknown: rely on heartbeats only
    return ":".join(parts)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _heartbeat_loop(store_ref: "weakref.ref[Store]", stop: threading.Event, interval: float) -> None:
    while not stop.wait(interval):
        store = store_ref()
        if store is None:
            return
        try:
            store.heartbeat()
            store.mark_interrupted()
        except Exception:  # a database hiccup must not kill the thread; the next beat retries
            log.warning("store heartbeat failed", exc_info=True)
        del store


class Store:
    def __init__(self, url: str, *, heartbeat_seconds: float = 15.0, auto_migrate: bool = True):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.heartbeat_seconds = heartbeat_seconds
        self.instance_id: str | None = None
        self._heartbeat_stop = threading.Event()
        self._heartbeat_thread: threading.Thread | None = None
        if auto_migrate:  # False only to build an older schema in the migration tests
            self.migrate()

    def migrate(self, upto: str | None = None) -> list[str]:
        """Apply the migrations not yet recorded (up to and including `upto`); return their names."""
        if upto is not None and upto not in {name for name, _ in MIGRATIONS}:
            raise ValueError(f"unknown migration {upto!r}")
        applied_now = []
        with self.engine.begin() as conn:
            conn.execute(text(
                "CREATE TABLE IF NOT EXISTS schema_migrations (name VARCHAR(200) PRIMARY KEY, applied_at VARCHAR(40) NOT NULL)"
            ))
            done = {row[0] for row in conn.execute(text("SELECT name FROM schema_migrations"))}
        for name, apply in MIGRATIONS:
            if name in done:
                continue
            with self.engine.begin() as conn:
                apply(conn)
                conn.execute(text("INSERT INTO schema_migrations (name, applied_at) VALUES (:n, :t)"), {"n": name, "t": utcnow()})
            applied_now.append(name)
            if name == upto:
                break
        return applied_now

    def applied_migrations(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT name FROM schema_migrations ORDER BY name"))]

    # running processes ----------------------------------------------------
    def register_instance(self) -> str:
        """Record this process as the owner of the calls it opens, and start heartbeating."""
        if self.instance_id is not None:
            return self.instance_id
        instance_id = uuid.uuid4().hex
        now = utcnow()
        long_gone = (datetime.now(timezone.utc) - timedelta(days=7)).isoformat(timespec="milliseconds")
        with self.engine.begin() as conn:
            # Forget processes gone for a week; their sessions were marked long ago (and an
            # active session whose owner is unknown counts as interrupted anyway).
            conn.execute(text("DELETE FROM app_instances WHERE heartbeat_at < :t"), {"t": long_gone})
            conn.execute(text(
                "INSERT INTO app_instances (id, hostname, host_key, pid, heartbeat_seconds, started_at, heartbeat_at) "
                "VALUES (:id, :h, :k, :p, :hs, :t, :t)"),
                {"id": instance_id, "h": socket.gethostname(), "k": _host_key(), "p": os.getpid(),
                 "hs": self.heartbeat_seconds or 0, "t": now})
        self.instance_id = instance_id
        if self.heartbeat_seconds > 0:  # 0: never presumed dead for silence (tests, short scripts)
            self._heartbeat_thread = threading.Thread(
                target=_heartbeat_loop, args=(weakref.ref(self), self._heartbeat_stop, self.heartbeat_seconds),
                name="store-heartbeat", daemon=True)
            self._heartbeat_thread.start()
        return instance_id

    def heartbeat(self) -> None:
        if self.instance_id is None:
            return
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE app_instances SET heartbeat_at = :t WHERE id = :id"),
                         {"t": utcnow(), "id": self.instance_id})

    # sessions -------------------------------------------------------------
    def create_session(
        self, *, scenario_id: str, scenario_sha256: str, scenario_json: str, language: str,
        backend: str, model: str, mode: str = "practice", trainee: str | None = None,
    ) -> str:
        session_id = uuid.uuid4().hex
        instance_id = self.register_instance()
        with self.engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO sessions (id, trainee, scenario_id, scenario_sha256, scenario_json, mode, language,
                                      backend, model, status, started_at, instance_id)
                VALUES (:id, :trainee, :sid, :sha, :sjson, :mode, :lang, :backend, :model, 'active', :t, :inst)"""),
                {"id": session_id, "trainee": trainee, "sid": scenario_id, "sha": scenario_sha256,
                 "sjson": scenario_json, "mode": mode, "lang": language, "backend": backend, "model": model,
                 "t": utcnow(), "inst": instance_id})
        return session_id

    def end_session(self, session_id: str, *, status: str = "ended", reason: str | None = None,
                    outcome: str | None = None, outcome_detail: dict | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(
                "UPDATE sessions SET status = :s, end_reason = :r, ended_at = :t, outcome = :o, outcome_json = :oj "
                # 'interrupted' too: a live call wrongly presumed dead (its heartbeat was late) still ends properly
                "WHERE id = :id AND status IN ('active', 'interrupted')"
            ), {"s": status, "r": reason, "t": utcnow(), "id": session_id, "o": outcome,
                "oj": json.dumps(outcome_detail, ensure_ascii=False) if outcome_detail is not None else None})

    def mark_interrupted(self) -> int:
        """Mark interrupted the active sessions whose process is gone; their turns stay.

        Safe with several app processes on one database: a session is only taken
        for dead when its owner instance stopped, missed heartbeats for
        4 intervals, or is a process of this very machine that no longer exists.
        Sessions without an owner (made before migration 006) count as dead once
        idle for an hour.
        """
        now = datetime.now(timezone.utc)

        def before(seconds: float) -> str:
            return (now - timedelta(seconds=seconds)).isoformat(timespec="milliseconds")

        here = _host_key()
        with self.engine.connect() as conn:
            owners = conn.execute(text(
                "SELECT DISTINCT s.instance_id AS id, i.id AS known, i.host_key, i.pid, i.heartbeat_seconds, "
                "i.heartbeat_at, i.stopped_at "
                "FROM sessions s LEFT JOIN app_instances i ON i.id = s.instance_id "
                "WHERE s.status = 'active' AND s.instance_id IS NOT NULL")).mappings().all()
        dead = [o["id"] for o in owners if o["id"] != self.instance_id and (
            o["known"] is None or o["stopped_at"] is not None
            or (o["heartbeat_seconds"] > 0 and o["heartbeat_at"] < before(4 * o["heartbeat_seconds"]))
            or (here and o["host_key"] == here and not _pid_alive(o["pid"])))]
        last_activity = "COALESCE((SELECT MAX(t.created_at) FROM turns t WHERE t.session_id = sessions.id), sessions.started_at)"
        count = 0
        with self.engine.begin() as conn:
            if dead:
                params = {f"d{i}": d for i, d in enumerate(dead)}
                result = conn.execute(text(
                    f"UPDATE sessions SET status = 'interrupted', end_reason = 'process_stopped', ended_at = {last_activity} "
                    f"WHERE status = 'active' AND instance_id IN ({', '.join(':' + k for k in params)})"), params)
                count += result.rowcount or 0
            result = conn.execute(text(
                f"UPDATE sessions SET status = 'interrupted', end_reason = 'process_stopped', ended_at = {last_activity} "
                f"WHERE status = 'active' AND instance_id IS NULL AND {last_activity} < :cutoff"), {"cutoff": before(3600)})
            count += result.rowcount or 0
        return count

    def get_session(self, session_id: str) -> StoredSession | None:
        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT id, trainee, scenario_id, scenario_sha256, mode, language, backend, model, status, "
                "end_reason, started_at, ended_at, outcome FROM sessions WHERE id = :id"), {"id": session_id}).mappings().first()
        return StoredSession(**row) if row else None

    def list_sessions(self, trainee: str | None = None) -> list[StoredSession]:
        query = ("SELECT id, trainee, scenario_id, scenario_sha256, mode, language, backend, model, status, "
                 "end_reason, started_at, ended_at, outcome FROM sessions")
        params: dict[str, Any] = {}
        if trainee is not None:
            query += " WHERE trainee = :trainee"
            params["trainee"] = trainee
        with self.engine.connect() as conn:
            rows = conn.execute(text(query + " ORDER BY started_at DESC"), params).mappings().all()
        return [StoredSession(**r) for r in rows]

    # turns ----------------------------------------------------------------
    def add_turn(self, turn: StoredTurn) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO turns (session_id, idx, speaker, text, created_at, first_token_ms, total_ms, guard_events, error,
                                   move_json)
                VALUES (:session_id, :idx, :speaker, :text, :created_at, :first_token_ms, :total_ms, :guard_events, :error,
                        :move_json)"""),
                {**{k: v for k, v in turn.__dict__.items() if k not in ("move", "score")},
                 "guard_events": json.dumps(turn.guard_events, ensure_ascii=False),
                 "move_json": json.dumps(turn.move, ensure_ascii=False) if turn.move is not None else None})
        if turn.score is not None:
            self.set_turn_score(turn.session_id, turn.idx, turn.score)

    def set_turn_score(self, session_id: str, idx: int, score: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE turns SET score_json = :s WHERE session_id = :id AND idx = :idx"),
                         {"s": json.dumps(score, ensure_ascii=False), "id": session_id, "idx": idx})

    def set_rubric(self, session_id: str, *, rubric_id: str, rubric_version: str, rubric_json: str) -> None:
        """Freeze the rubric a session is scored with."""
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE sessions SET rubric_id = :r, rubric_version = :v, rubric_json = :j WHERE id = :id"),
                         {"r": rubric_id, "v": rubric_version, "j": rubric_json, "id": session_id})

    def set_scorecard(self, session_id: str, scorecard: dict) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE sessions SET scorecard_json = :s WHERE id = :id"),
                         {"s": json.dumps(scorecard, ensure_ascii=False), "id": session_id})

    def scorecard(self, session_id: str) -> dict | None:
        with self.engine.connect() as conn:
            value = conn.execute(text("SELECT scorecard_json FROM sessions WHERE id = :id"), {"id": session_id}).scalar()
        return json.loads(value) if value else None

    def set_turn_error(self, session_id: str, idx: int, error: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(text("UPDATE turns SET error = :e WHERE session_id = :id AND idx = :idx"),
                         {"e": error, "id": session_id, "idx": idx})

    def turns(self, session_id: str) -> list[StoredTurn]:
        with self.engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT session_id, idx, speaker, text, created_at, first_token_ms, total_ms, guard_events, error, move_json, "
                "score_json "
                "FROM turns WHERE session_id = :id ORDER BY idx"), {"id": session_id}).mappings().all()
        return [StoredTurn(**{**{k: v for k, v in r.items() if k not in ("move_json", "score_json")},
                              "guard_events": json.loads(r["guard_events"]),
                              "move": json.loads(r["move_json"]) if r["move_json"] else None,
                              "score": json.loads(r["score_json"]) if r["score_json"] else None}) for r in rows]

    def close(self) -> None:
        """Stop heartbeating and record that this process stopped (its calls left active become interrupted)."""
        self._heartbeat_stop.set()
        if self._heartbeat_thread is not None:
            self._heartbeat_thread.join(timeout=5)
            self._heartbeat_thread = None
        if self.instance_id is not None:
            try:
                with self.engine.begin() as conn:
                    conn.execute(text("UPDATE app_instances SET stopped_at = :t WHERE id = :id"),
                                 {"t": utcnow(), "id": self.instance_id})
            except Exception:  # closing must not fail because the database went away; heartbeats expire anyway
                log.warning("could not record that this process stopped", exc_info=True)
            self.instance_id = None
        self.engine.dispose()
