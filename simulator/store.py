"""Persistence: SQLite file by default, PostgreSQL by URL, one code path (SQLAlchemy Core).

The schema changes only through the ordered migrations below; each applied one
is recorded in `schema_migrations`. Every turn is committed as soon as it
exists, so a killed call keeps everything said before.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, create_engine, event, text
from sqlalchemy.engine import Engine


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


MIGRATIONS: list[tuple[str, Callable[[Connection], None]]] = [
    ("001_sessions_and_turns", _m001_sessions_and_turns),
    ("002_debtor_state_and_outcome", _m002_debtor_state_and_outcome),
    ("003_turn_scores_and_scorecard", _m003_turn_scores_and_scorecard),
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


class Store:
    def __init__(self, url: str):
        self.url = url
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        self.engine: Engine = create_engine(url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    def migrate(self) -> list[str]:
        """Apply the migrations not yet recorded; return their names."""
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
        return applied_now

    def applied_migrations(self) -> list[str]:
        with self.engine.connect() as conn:
            return [r[0] for r in conn.execute(text("SELECT name FROM schema_migrations ORDER BY name"))]

    # sessions -------------------------------------------------------------
    def create_session(
        self, *, scenario_id: str, scenario_sha256: str, scenario_json: str, language: str,
        backend: str, model: str, mode: str = "practice", trainee: str | None = None,
    ) -> str:
        session_id = uuid.uuid4().hex
        with self.engine.begin() as conn:
            conn.execute(text("""
                INSERT INTO sessions (id, trainee, scenario_id, scenario_sha256, scenario_json, mode, language,
                                      backend, model, status, started_at)
                VALUES (:id, :trainee, :sid, :sha, :sjson, :mode, :lang, :backend, :model, 'active', :t)"""),
                {"id": session_id, "trainee": trainee, "sid": scenario_id, "sha": scenario_sha256,
                 "sjson": scenario_json, "mode": mode, "lang": language, "backend": backend, "model": model,
                 "t": utcnow()})
        return session_id

    def end_session(self, session_id: str, *, status: str = "ended", reason: str | None = None,
                    outcome: str | None = None, outcome_detail: dict | None = None) -> None:
        with self.engine.begin() as conn:
            conn.execute(text(
                "UPDATE sessions SET status = :s, end_reason = :r, ended_at = :t, outcome = :o, outcome_json = :oj "
                "WHERE id = :id AND status = 'active'"
            ), {"s": status, "r": reason, "t": utcnow(), "id": session_id, "o": outcome,
                "oj": json.dumps(outcome_detail, ensure_ascii=False) if outcome_detail is not None else None})

    def mark_interrupted(self) -> int:
        """Sessions left active by a process that died: mark them interrupted (their turns stay)."""
        with self.engine.begin() as conn:
            result = conn.execute(text(
                "UPDATE sessions SET status = 'interrupted', end_reason = 'process_stopped', ended_at = :t "
                "WHERE status = 'active'"), {"t": utcnow()})
            return result.rowcount or 0

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
        self.engine.dispose()
