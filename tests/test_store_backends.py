"""The store on SQLite and on a real PostgreSQL server: migrations from every
earlier schema, a call killed between two turns, concurrent writers, and the
detection of interrupted calls with several app processes on one database."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest
from sqlalchemy import text

from simulator.auth import Access
from simulator.reviews import Reviews, SessionFilter
from simulator.settings import PROJECT_ROOT, Settings
from simulator.store import MIGRATIONS, Store, StoredTurn, utcnow
from simulator.users import UserDirectory, hash_password

from .db_support import db_url, pg_cluster  # noqa: F401  (fixtures)

OLD = "2025-01-06T09:00:00.000+00:00"
A, B = "a" * 32, "b" * 32
MOVE = {"beat": "respond", "state": {"trust": 0.5, "irritation": 0.1, "willingness": 0.4}}
SCORE = {"rubric": "fr-default@1.0.0", "scores": {"empathy": 2, "firmness": 4, "clarity": 3}, "evidence": [],
         "tips": {}, "violations": [], "stage": "identify"}
CARD = {"rubric_id": "fr-default", "rubric_version": "1.0.0", "means": {"empathy": 2, "firmness": 4, "clarity": 3},
        "overall": 3.0, "pass_mark": 3.0, "passed": True, "critical_errors": [], "turns_scored": 1}


# What a database at each schema version can hold, written with that version's columns only.
def _seed_001(conn):
    for sid, status in ((A, "active"), (B, "ended")):
        conn.execute(text(
            "INSERT INTO sessions (id, trainee, scenario_id, scenario_sha256, scenario_json, mode, language, backend, "
            "model, status, started_at) VALUES (:id, 'alice', 'recalcitrant', :sha, '{}', 'practice', 'fr', 'scripted', "
            "'scripted', :st, :t)"), {"id": sid, "sha": "0" * 64, "st": status, "t": OLD})
        conn.execute(text("INSERT INTO turns (session_id, idx, speaker, text, created_at) VALUES (:id, 0, 'debtor', 'Allô ?', :t)"),
                     {"id": sid, "t": OLD})
        conn.execute(text("INSERT INTO turns (session_id, idx, speaker, text, created_at) VALUES (:id, 1, 'agent', 'Bonjour', :t)"),
                     {"id": sid, "t": OLD})


def _seed_002(conn):
    conn.execute(text("UPDATE turns SET move_json = :m WHERE idx = 1"), {"m": json.dumps(MOVE)})
    conn.execute(text("UPDATE sessions SET outcome = 'PTP', outcome_json = '{\"outcome\": \"PTP\"}' WHERE id = :id"), {"id": B})


def _seed_003(conn):
    conn.execute(text("UPDATE turns SET score_json = :s WHERE idx = 1"), {"s": json.dumps(SCORE)})
    conn.execute(text("UPDATE sessions SET scorecard_json = :c, rubric_id = 'fr-default', rubric_version = '1.0.0' "
                      "WHERE id = :id"), {"c": json.dumps(CARD), "id": B})


def _seed_004(conn):
    conn.execute(text("INSERT INTO users (username, role, password_hash, created_at, updated_at) "
                      "VALUES ('rita', 'reviewer', :h, :t, :t)"), {"h": hash_password("motdepasse-1"), "t": OLD})
    conn.execute(text("INSERT INTO teams (name, created_at) VALUES ('nord', :t)"), {"t": OLD})
    conn.execute(text("INSERT INTO team_members (team, username) VALUES ('nord', 'rita')"))


def _seed_005(conn):
    conn.execute(text("INSERT INTO score_overrides (session_id, turn_idx, dimension, original_score, score, reason, "
                      "author, created_at) VALUES (:id, 1, 'empathy', 2, 4, 'bonne écoute', 'rita', :t)"), {"id": B, "t": OLD})


def _seed_006(conn):
    conn.execute(text("INSERT INTO app_instances (id, hostname, host_key, pid, heartbeat_seconds, started_at, heartbeat_at) "
                      "VALUES (:i, 'gone', 'gone', 1, 15, :t, :t)"), {"i": "c" * 32, "t": OLD})
    conn.execute(text("UPDATE sessions SET instance_id = :i WHERE id = :id"), {"i": "c" * 32, "id": A})


def _seed_007(conn):
    pass  # 007 only adds indexes


def _seed_008(conn):
    conn.execute(text("INSERT INTO violation_decisions (session_id, turn_idx, rule, decision, reason, author, created_at) "
                      "VALUES (:id, 1, 'FR-THREAT', 'confirmed', NULL, 'rita', :t)"), {"id": B, "t": OLD})


SEEDS = {"001": _seed_001, "002": _seed_002, "003": _seed_003, "004": _seed_004, "005": _seed_005, "006": _seed_006,
         "007": _seed_007, "008": _seed_008}


def test_migrations_from_an_empty_database(db_url):
    store = Store(db_url)
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert store.migrate() == []  # recorded: nothing applied twice
    store.close()
    assert Store(db_url).migrate() == []


@pytest.mark.parametrize("upto", [name for name, _ in MIGRATIONS[:-1]])
def test_migrations_from_every_earlier_schema_keep_the_data(db_url, upto):
    old = Store(db_url, auto_migrate=False)
    applied = old.migrate(upto=upto)
    assert applied[-1] == upto and applied == [n for n, _ in MIGRATIONS][: len(applied)]
    with old.engine.begin() as conn:
        for name in applied:
            SEEDS[name[:3]](conn)
    old.close()

    store = Store(db_url)  # migrates to the head
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    n = len(applied)
    turns = store.turns(B)
    assert [(t.idx, t.speaker, t.text) for t in turns] == [(0, "debtor", "Allô ?"), (1, "agent", "Bonjour")]
    assert turns[1].move == (MOVE if n >= 2 else None)
    assert turns[1].score == (SCORE if n >= 3 else None)
    assert store.get_session(B).outcome == ("PTP" if n >= 2 else None)
    assert store.scorecard(B) == (CARD if n >= 3 else None)
    directory = UserDirectory(store)
    assert (directory.authenticate("rita", "motdepasse-1") is not None) == (n >= 4)
    if n >= 4:
        assert directory.get("rita").teams == ("nord",)

    # the old call left active is seen as interrupted (no live owner), its turns kept
    assert store.mark_interrupted() == 1
    assert store.get_session(A).status == "interrupted" and len(store.turns(A)) == 2

    # review features work on the old rows; the automatic score is never rewritten
    reviews = Reviews(store, Access(store, Settings()))
    if n < 4:
        UserDirectory(store).add("rita", "motdepasse-1", role="reviewer")
    admin = UserDirectory(store).add("adam", "motdepasse-1", role="admin")
    detail = reviews.open(admin, B)
    if n >= 3:
        reviews.override(admin, B, 1, "firmness", 2, "pas de date demandée")
        detail = reviews.open(admin, B)
        assert detail.turns[1].score == SCORE
        expected = {"empathy": 4 if n >= 5 else 2, "firmness": 2, "clarity": 3}
        assert detail.turns[1].effective == expected
        assert [(o.dimension, o.original_score, o.score) for o in detail.overrides][-1] == ("firmness", 4, 2)
    assert detail.summary.id == B
    store.close()


def test_a_call_killed_between_two_turns_keeps_every_committed_turn(db_url, tmp_path):
    replies = tmp_path / "replies.txt"
    replies.write_text("Oui, c'est moi, Julien Moreau.\nJe vous écoute.\n", encoding="utf-8")
    env = {**os.environ, "SIMULATOR_DATABASE_URL": db_url, "SIMULATOR_SCRIPTED_REPLIES": str(replies),
           "SIMULATOR_DATA_DIR": str(tmp_path / "data")}
    proc = subprocess.Popen([sys.executable, "-m", "simulator", "play", "difficulte-passagere", "--backend", "scripted"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=PROJECT_ROOT,
                            env=env, text=True)
    store = None
    try:
        lines = ["Bonjour Monsieur Moreau, Paul de la société Bois & Co.", "Je vous appelle pour la facture F-2210."]
        for n, line in enumerate(lines, start=1):
            proc.stdin.write(line + "\n")
            proc.stdin.flush()
            deadline = time.monotonic() + 60
            while True:  # wait until the debtor's reply to this line is committed
                assert proc.poll() is None, proc.stderr.read()
                if store is None:
                    try:
                        store = Store(db_url)
                    except Exception:
                        time.sleep(0.2)
                        continue
                with store.engine.connect() as conn:
                    count = conn.execute(text("SELECT COUNT(*) FROM turns")).scalar()
                if count == 1 + 2 * n:
                    break
                assert time.monotonic() < deadline, "the call did not commit its turns"
                time.sleep(0.05)
        # between two turns: the trainee's third line is never sent
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)  # reaped: its PID is gone
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    session = store.list_sessions()[0]
    assert session.status == "active"  # nobody closed it
    assert store.mark_interrupted() == 1  # its process is gone from this machine
    after = store.get_session(session.id)
    assert after.status == "interrupted" and after.end_reason == "process_stopped" and after.ended_at
    turns = store.turns(session.id)
    assert [t.speaker for t in turns] == ["debtor", "agent", "debtor", "agent", "debtor"]
    assert [t.text for t in turns if t.speaker == "agent"] == lines
    assert [t.text for t in turns[2::2]] == ["Oui, c'est moi, Julien Moreau.", "Je vous écoute."]
    assert turns[1].move is not None  # the debtor state after the turn was committed with it
    access = Access(store, Settings())
    listed = Reviews(store, access).list_sessions(access.user(None), SessionFilter(status="interrupted"))
    assert [s.id for s in listed] == [session.id]
    store.close()


def test_concurrent_sessions_writing_at_once(db_url):
    store = Store(db_url)
    n_sessions, n_turns = 8, 25
    errors: list[BaseException] = []
    barrier = threading.Barrier(n_sessions)

    def one_call(k: int):
        try:
            sid = store.create_session(scenario_id="s", scenario_sha256="0" * 64, scenario_json="{}", language="fr",
                                       backend="scripted", model="scripted", trainee=f"t{k}")
            barrier.wait()
            for i in range(n_turns):
                store.add_turn(StoredTurn(sid, i, "agent" if i % 2 else "debtor", f"{k}-{i}", utcnow(),
                                          score={"scores": {"empathy": 3}} if i % 2 else None))
            store.end_session(sid, outcome="NO_COMMITMENT")
        except BaseException as exc:  # collected and failed below
            errors.append(exc)

    threads = [threading.Thread(target=one_call, args=(k,)) for k in range(n_sessions)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(timeout=120)
    assert not errors, errors
    sessions = store.list_sessions()
    assert len(sessions) == n_sessions and {s.status for s in sessions} == {"ended"}
    for s in sessions:
        k = s.trainee[1:]
        assert [t.text for t in store.turns(s.id)] == [f"{k}-{i}" for i in range(n_turns)]
    store.close()


def test_interrupted_calls_are_detected_safely_with_several_processes(db_url):
    live = Store(db_url, heartbeat_seconds=0.2)      # an app process that keeps running
    other = Store(db_url, heartbeat_seconds=0.2)     # another app process on the same database

    def new_call(store):
        return store.create_session(scenario_id="s", scenario_sha256="0" * 64, scenario_json="{}", language="fr",
                                    backend="scripted", model="scripted")

    mine = new_call(live)
    time.sleep(1.2)  # several heartbeats: the live process keeps its calls
    assert other.mark_interrupted() == 0 and live.get_session(mine).status == "active"

    # a process on another machine that stopped heartbeating a while ago
    ghost = "d" * 32
    far = new_call(live)
    with live.engine.begin() as conn:
        conn.execute(text("INSERT INTO app_instances (id, hostname, host_key, pid, heartbeat_seconds, started_at, heartbeat_at) "
                          "VALUES (:i, 'elsewhere', 'elsewhere:x:y', 4242, 0.2, :t, :t)"), {"i": ghost, "t": OLD})
        conn.execute(text("UPDATE sessions SET instance_id = :i WHERE id = :id"), {"i": ghost, "id": far})
    other.mark_interrupted()  # (the live process's own heartbeat may have done it first: both check)
    assert other.get_session(far).status == "interrupted" and other.get_session(mine).status == "active"

    # a process elsewhere still heartbeating keeps its call even though its PID means nothing here
    alive_far = new_call(live)
    with live.engine.begin() as conn:
        conn.execute(text("UPDATE app_instances SET heartbeat_at = :t, heartbeat_seconds = 30, pid = 999999 WHERE id = :i"),
                     {"t": utcnow(), "i": ghost})
        conn.execute(text("UPDATE sessions SET instance_id = :i WHERE id = :id"), {"i": ghost, "id": alive_far})
    assert other.mark_interrupted() == 0 and other.get_session(alive_far).status == "active"

    # the live process stops cleanly: what it left open is interrupted; a late end still records the end
    live.close()
    assert other.mark_interrupted() == 1
    assert other.get_session(mine).status == "interrupted"
    other.end_session(mine, outcome="NO_COMMITMENT", reason="agent_ended")
    assert other.get_session(mine).status == "ended"
    other.close()
