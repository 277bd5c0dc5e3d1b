import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError

from simulator.store import MIGRATIONS, Store, StoredTurn, utcnow


def new_session(store):
    return store.create_session(scenario_id="s", scenario_sha256="0" * 64, scenario_json="{}", language="fr",
                                backend="scripted", model="scripted")


def test_migrations_from_an_empty_file_are_recorded(tmp_path):
    path = tmp_path / "db" / "sim.db"
    store = Store(f"sqlite:///{path}")
    assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
    assert store.migrate() == []  # idempotent
    store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"sessions", "turns", "schema_migrations"} <= tables


def test_turns_round_trip_and_foreign_keys(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sim.db'}")
    sid = new_session(store)
    store.add_turn(StoredTurn(sid, 0, "debtor", "Allô ?", utcnow()))
    store.add_turn(StoredTurn(sid, 1, "agent", "Bonjour", utcnow(), guard_events=[{"kind": "echo"}]))
    assert [(t.idx, t.speaker, t.text) for t in store.turns(sid)] == [(0, "debtor", "Allô ?"), (1, "agent", "Bonjour")]
    assert store.turns(sid)[1].guard_events == [{"kind": "echo"}]
    with pytest.raises(IntegrityError):  # no turn without its session
        store.add_turn(StoredTurn("missing", 0, "agent", "x", utcnow()))
    with pytest.raises(IntegrityError):  # one turn per index
        store.add_turn(StoredTurn(sid, 1, "agent", "again", utcnow()))


def test_sessions_left_active_are_marked_interrupted(tmp_path):
    url = f"sqlite:///{tmp_path / 'sim.db'}"
    store = Store(url)
    sid = new_session(store)
    store.add_turn(StoredTurn(sid, 0, "debtor", "Allô ?", utcnow()))
    store.close()
    reopened = Store(url)
    assert reopened.mark_interrupted() == 1
    assert reopened.get_session(sid).status == "interrupted"
    assert len(reopened.turns(sid)) == 1


def test_turn_score_rubric_and_scorecard_are_kept(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'sim.db'}")
    sid = new_session(store)
    score = {"scores": {"empathy": 4, "firmness": 3, "clarity": 5}, "violations": [], "stage": "purpose"}
    store.add_turn(StoredTurn(sid, 0, "agent", "Bonjour", utcnow(), score=score))
    store.add_turn(StoredTurn(sid, 1, "debtor", "Oui ?", utcnow()))
    assert [t.score for t in store.turns(sid)] == [score, None]
    store.set_rubric(sid, rubric_id="fr-default", rubric_version="1.0.0", rubric_json="{}")
    assert store.scorecard(sid) is None
    store.set_scorecard(sid, {"overall": 3.8, "passed": True})
    assert store.scorecard(sid) == {"overall": 3.8, "passed": True}
