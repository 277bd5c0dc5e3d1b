"""Accounts, access rules, reviewing (overrides, comments, verdicts), filters, exports and the admin CLI."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from datetime import date

import pytest

from simulator.auth import LOCAL_USER, Access, AccessDenied
from simulator.exports import ImportFileError, export, export_csv, export_html, export_json, import_sessions
from simulator.reviews import Override, ReviewError, Reviews, SessionFilter, summarise_scores
from simulator.settings import PROJECT_ROOT, Settings
from simulator.store import Store
from simulator.users import UserDirectory, UserError, hash_password, verify_password

from .db_support import db_url, pg_cluster  # noqa: F401  (fixtures)
from .review_support import make_call, make_team


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'sim.db'}", heartbeat_seconds=0)
    yield s
    s.close()


def access_for(store, scope="team"):
    return Access(store, Settings(reviewer_scope=scope))


@pytest.fixture
def team(store):
    return make_team(store)


# accounts -------------------------------------------------------------------------

def test_passwords_are_salted_scrypt_hashes():
    h1, h2 = hash_password("motdepasse-1"), hash_password("motdepasse-1")
    assert h1 != h2 and h1.startswith("scrypt$16384$8$1$") and "motdepasse" not in h1
    assert verify_password("motdepasse-1", h1) and not verify_password("motdepasse-2", h1)
    assert not verify_password("motdepasse-1", "garbage") and not verify_password("x", "md5$abc")


def test_user_directory_add_list_passwd_edit_remove(store):
    users = UserDirectory(store)
    assert users.count() == 0
    users.add("Alice", "motdepasse-1", role="trainee", teams=["nord", "nord", "sud"], display_name="Alice B.")
    assert users.get("alice").teams == ("nord", "sud") and users.get("alice").label == "Alice B."
    with pytest.raises(UserError, match="already exists"):
        users.add("alice", "motdepasse-1")
    with pytest.raises(UserError, match="invalid role 'boss'"):
        users.add("bob", "motdepasse-1", role="boss")
    with pytest.raises(UserError, match="at least 8 characters"):
        users.add("bob", "court")
    with pytest.raises(UserError, match="invalid username"):
        users.add("bob smith", "motdepasse-1")
    assert users.authenticate("alice", "motdepasse-1").username == "alice"
    assert users.authenticate(" ALICE ", "motdepasse-1") is not None
    assert users.authenticate("alice", "wrong-password") is None and users.authenticate("nobody", "x") is None
    users.set_password("alice", "nouveau-secret")
    assert users.authenticate("alice", "motdepasse-1") is None and users.authenticate("alice", "nouveau-secret")
    assert users.update("alice", role="reviewer", teams=["est"]).teams == ("est",)
    make_call(store, trainee="alice")
    assert users.remove("alice") == 1  # the call stays
    assert users.get("alice") is None and len(store.list_sessions("alice")) == 1
    with pytest.raises(UserError, match="no user 'alice'"):
        users.set_password("alice", "motdepasse-1")


def test_access_rules_by_role_and_scope(store, team):
    acc = access_for(store)
    assert acc.role_of("rita") == "reviewer" and acc.role_of(None) is None and acc.role_of("ghost") is None
    alice, bruno, chloe = (store.list_sessions(n)[0] for n in ("alice", "bruno", "chloe"))
    rita, adam, tom, al = (acc.user(n) for n in ("rita", "adam", "tom", "alice"))
    assert acc.visible_trainees(al) == {"alice"}
    assert acc.visible_trainees(rita) == {"alice", "bruno", "rita", "tom"}  # team "nord"
    assert acc.visible_trainees(adam) is None
    assert acc.can_view_session(al, alice) and not acc.can_view_session(al, bruno)
    assert acc.can_view_session(rita, bruno) and not acc.can_view_session(rita, chloe)
    assert acc.can_view_session(tom, alice) and not acc.can_review_session(tom, alice)  # trainers read, don't grade
    assert acc.can_review_session(rita, alice) and acc.can_review_session(adam, chloe)
    assert not acc.can_review_session(al, alice)
    assert acc.can(tom, "manage_scenarios") and not acc.can(rita, "manage_scenarios") and acc.can(adam, "manage_users")
    assert not acc.can_view_session(None, alice) and acc.visible_trainees(None) == set()
    everyone = access_for(store, "all")
    assert everyone.visible_trainees(everyone.user("rita")) is None
    assert everyone.visible_trainees(everyone.user("alice")) == {"alice"}


def test_single_user_mode_until_an_account_exists(store):
    make_call(store, trainee=None)
    acc = access_for(store)
    assert acc.single_user() and acc.user(None) == LOCAL_USER and acc.user("anyone") == LOCAL_USER
    assert len(Reviews(store, acc).list_sessions(acc.user(None))) == 1
    UserDirectory(store).add("alice", "motdepasse-1")
    assert not acc.single_user() and acc.user(None) is None
    assert Reviews(store, acc).list_sessions(acc.user(None)) == []
    assert Reviews(store, acc).list_sessions(acc.user("alice")) == []  # the old anonymous call is not hers


# reviewing --------------------------------------------------------------------------

def test_trainee_lists_and_opens_only_their_calls(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    alice = acc.user("alice")
    mine = reviews.list_sessions(alice)
    assert {s.trainee for s in mine} == {"alice"} and len(mine) == len(team["alice"])
    assert reviews.open(alice, mine[0].id[:8]).summary.trainee == "alice"
    other = team["bruno"][0].id
    with pytest.raises(AccessDenied, match="among the calls you may see"):
        reviews.open(alice, other)
    with pytest.raises(AccessDenied):
        reviews.comment(alice, mine[0].id, None, "moi")  # trainees do not review, even their own calls
    with pytest.raises(ReviewError, match="not a call id"):
        reviews.open(alice, "'; DROP TABLE sessions; --")
    # asking for another trainee's calls by filter gives nothing
    assert reviews.list_sessions(alice, SessionFilter(trainee="bruno")) == []


def test_override_keeps_the_original_and_changes_the_effective_score(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    call = team["bruno"][0]
    before = reviews.open(rita, call.id)
    turn = before.turns[call.agent_turns[0]]
    raw_score = json.loads(json.dumps(turn.score))
    auto = turn.score["scores"]["empathy"]
    new = 5 if auto < 5 else 1
    with pytest.raises(ReviewError, match="give the reason"):
        reviews.override(rita, call.id, turn.idx, "empathy", new, "  ")
    with pytest.raises(ReviewError, match="from 1 to 5"):
        reviews.override(rita, call.id, turn.idx, "empathy", 6, "trop bas")
    with pytest.raises(ReviewError, match="not a trainee turn"):
        reviews.override(rita, call.id, 0, "empathy", 4, "tour du débiteur")
    with pytest.raises(ReviewError, match=f"already has {auto}"):
        reviews.override(rita, call.id, turn.idx, "empathy", auto, "même note")
    with pytest.raises(ReviewError, match="no 'politeness' score"):
        reviews.override(rita, call.id, turn.idx, "politeness", 4, "inconnu")
    reviews.override(rita, call.id, turn.idx, "empathy", new, "Il reformule bien.")
    after = reviews.open(rita, call.id)
    t = after.turns[turn.idx]
    assert t.score == raw_score  # the rubric engine's score is untouched
    assert t.effective["empathy"] == new and t.overrides[-1].original_score == auto
    assert after.summary.scores.overridden == 1
    assert after.summary.scores.overall != before.summary.scores.overall
    assert after.summary.scores.overall_auto == before.summary.scores.overall_auto
    # a second override of the same dimension wins; both stay in the audit trail
    reviews.override(rita, call.id, turn.idx, "empathy", 3, "Finalement moyen.")
    again = reviews.open(rita, call.id)
    assert again.turns[turn.idx].effective["empathy"] == 3
    assert [(o.original_score, o.score) for o in again.overrides] == [(auto, new), (auto, 3)]
    # nobody reviews their own call
    mine = make_call(store, trainee="rita", seed=99)
    with pytest.raises(AccessDenied, match="your own call"):
        reviews.override(rita, mine.id, mine.agent_turns[0], "empathy", 5, "je me note")


def test_comments_and_verdicts_are_kept_in_order(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita, alice = acc.user("rita"), acc.user("alice")
    call = team["alice"][0]
    reviews.comment(rita, call.id, call.agent_turns[1], "Bonne question ouverte.")
    reviews.comment(rita, call.id, None, "Appel bien mené dans l'ensemble.")
    with pytest.raises(ReviewError, match="no turn 99"):
        reviews.comment(rita, call.id, 99, "x")
    reviews.set_verdict(rita, call.id, "needs_work", "Demandez une date.")
    reviews.set_verdict(rita, call.id, "pass")
    with pytest.raises(ReviewError, match="invalid verdict"):
        reviews.set_verdict(rita, call.id, "great")
    seen_by_alice = reviews.open(alice, call.id)  # the trainee reads the review of her call
    assert [c.text for c in seen_by_alice.turns[call.agent_turns[1]].comments] == ["Bonne question ouverte."]
    assert [c.text for c in seen_by_alice.call_comments] == ["Appel bien mené dans l'ensemble."]
    assert [v.verdict for v in seen_by_alice.verdicts] == ["needs_work", "pass"]
    assert seen_by_alice.summary.verdict.verdict == "pass" and not seen_by_alice.can_review


def test_filters_and_sorting(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    adam = acc.user("adam")
    every = reviews.list_sessions(adam)
    assert len(every) == 15 and [s.started_at for s in every] == sorted((s.started_at for s in every), reverse=True)
    assert {s.trainee for s in reviews.list_sessions(adam, SessionFilter(trainee="chloe"))} == {"chloe"}
    assert {s.scenario_id for s in reviews.list_sessions(adam, SessionFilter(scenario_id="sous-tension"))} == {"sous-tension"}
    oct_10 = reviews.list_sessions(adam, SessionFilter(date_from=date(2026, 10, 9), date_to=date(2026, 10, 10)))
    assert oct_10 and all("2026-10-09" <= reviews.local(s.started_at).date().isoformat() <= "2026-10-10" for s in oct_10)
    critical = reviews.list_sessions(adam, SessionFilter(critical=True))
    assert [s.trainee for s in critical] == ["chloe"] and critical[0].outcome == "HUNG_UP"
    assert len(reviews.list_sessions(adam, SessionFilter(critical=False))) == 14
    passed = reviews.list_sessions(adam, SessionFilter(result="pass"))
    failed = reviews.list_sessions(adam, SessionFilter(result="fail"))
    assert passed and failed and len(passed) + len(failed) == 15
    assert all(s.scores.passed for s in passed) and not any(s.scores.passed for s in failed)
    assert {s.outcome for s in reviews.list_sessions(adam, SessionFilter(outcome="PTP"))} == {"PTP"}
    best_first = reviews.list_sessions(adam, SessionFilter(sort="overall_desc"))
    assert [s.scores.overall for s in best_first] == sorted((s.scores.overall for s in best_first), reverse=True)
    reviews.set_verdict(adam, best_first[0].id, "pass")
    assert [s.id for s in reviews.list_sessions(adam, SessionFilter(verdict="pass"))] == [best_first[0].id]
    assert len(reviews.list_sessions(adam, SessionFilter(verdict="none"))) == 14
    interrupted = make_call(store, trainee="alice", finish=False, seed=5)
    unscored = reviews.list_sessions(adam, SessionFilter(result="unscored"))
    assert [s.id for s in unscored] == [interrupted.id]
    assert unscored[0].scores.overall is not None  # mean of the turns scored before it stopped


def test_effective_overall_follows_the_overrides_pure():
    turns = {1: {"scores": {"empathy": 2, "firmness": 4, "clarity": 3}},
             3: {"scores": {"empathy": 2, "firmness": 4, "clarity": 3}, "violations": []}}
    card = {"means": {"empathy": 2.0, "firmness": 4.0, "clarity": 3.0}, "overall": 2.8, "pass_mark": 3.0,
            "passed": False, "critical_errors": []}
    plain = summarise_scores(turns, [], card, None)
    assert plain.overall == plain.overall_auto == 2.8 and plain.passed is False
    raised = summarise_scores(turns, [Override(1, "s", 1, "empathy", 2, 5, "r", "rita", "t"),
                                      Override(2, "s", 3, "empathy", 2, 5, "r", "rita", "t")], card, None)
    # empathy mean 2 → 5 (+3), equal weights over 3 dimensions: overall +1
    assert raised.means["empathy"] == 5.0 and raised.overall == pytest.approx(3.8) and raised.passed is True
    weighted = summarise_scores(turns, [Override(1, "s", 1, "empathy", 2, 5, "r", "rita", "t")], card,
                                {"weights": {"empathy": 2, "firmness": 1, "clarity": 1}})
    assert weighted.overall == pytest.approx(2.8 + 1.5 * 2 / 4)
    with_critical = summarise_scores(turns, [Override(1, "s", 1, "empathy", 2, 5, "r", "rita", "t")],
                                     {**card, "critical_errors": [{"turn": 1, "rule": "FR-THREAT"}]}, None)
    assert with_critical.passed is False  # a critical error fails the call whatever the scores


# exports ------------------------------------------------------------------------------

def test_json_export_reimports_identically(store, team, tmp_path, db_url):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    call = team["alice"][0]
    reviews.override(rita, call.id, call.agent_turns[0], "clarity", 5, "Très clair.")
    reviews.comment(rita, call.id, call.agent_turns[0], "Bien.")
    reviews.set_verdict(rita, call.id, "pass", "OK")
    exported = export_json(reviews, acc.user("adam"))
    doc = json.loads(exported)
    assert doc["format"] == "collector-simulator/sessions" and len(doc["sessions"]) == 15
    other = Store(db_url, heartbeat_seconds=0)  # SQLite → SQLite, and SQLite → PostgreSQL
    result = import_sessions(other, exported, source="calls.json")
    assert len(result.imported) == 15 and not result.skipped and not result.ignored_columns
    UserDirectory(other).add("adam", "motdepasse-1", role="admin")
    again = json.loads(export_json(Reviews(other, access_for(other)), access_for(other).user("adam")))
    assert _without_ids(again) == _without_ids(doc)  # the same calls, turns, reviews (new row ids only)
    assert import_sessions(other, exported).skipped  # already there
    assert len(import_sessions(other, exported, replace=True).replaced) == 15
    other.close()


def _without_ids(doc):
    out = []
    for s in doc["sessions"]:
        s = json.loads(json.dumps(s))
        for key in ("overrides", "comments", "verdicts"):
            for row in s[key]:
                row.pop("id", None)
        out.append(s)
    return out


def test_import_names_the_bad_field(store, tmp_path):
    with pytest.raises(ImportFileError, match=r"calls.json:1: not valid JSON"):
        import_sessions(store, "{", source="calls.json")
    bad = {"format": "collector-simulator/sessions", "version": 1,
           "sessions": [{"session": {"id": "x"}, "turns": [{"idx": 0, "speaker": "robot", "text": "", "created_at": "t"}]}]}
    with pytest.raises(ImportFileError) as err:
        import_sessions(store, json.dumps(bad), source="calls.json")
    assert "calls.json: sessions[0].session.id: String should match pattern" in str(err.value)
    assert "calls.json: sessions[0].turns[0].speaker: Input should be 'agent' or 'debtor'" in str(err.value)


def test_csv_has_automatic_and_effective_scores(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    call = team["bruno"][1]
    reviews.override(rita, call.id, call.agent_turns[1], "firmness", 5, "Demande claire.")
    content = export_csv(reviews, rita, SessionFilter(trainee="bruno"))
    assert content.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(content.lstrip("\ufeff"))))
    assert len(rows) == 3 * len(team["bruno"]) and {r["trainee"] for r in rows} == {"bruno"}
    changed = [r for r in rows if r["session_id"] == call.id and r["turn"] == str(call.agent_turns[1])][0]
    assert changed["firmness"] == "5" and changed["firmness_auto"] != "5" and changed["overridden"] == "firmness"
    assert changed["text"] == "Il faudrait payer quand même."
    assert export_csv(reviews, acc.user("alice"), SessionFilter(trainee="bruno")).count("\n") == 1  # header only


def test_printable_scorecard_shows_scores_evidence_and_review(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("adam")
    call = team["chloe"][1]  # the call with a threat
    reviews.override(rita, call.id, call.agent_turns[0], "clarity", 5, "Très clair.")
    page = export_html(reviews, rita, SessionFilter(session_ids=[call.id]))
    assert page.startswith("<!DOCTYPE html>") and "@media print" in page
    assert "<mark class='violation'" in page and "l&#x27;huissier passe demain saisir vos meubles" in page
    assert "FR-THREAT" in page and "Code de la consommation L121-2" in page
    assert "data-dim='clarity' data-score='5'" in page and "Très clair." in page
    assert "Humeur après ce tour" in page and "data-gauge='irritation'" in page
    assert export(reviews, rita, SessionFilter(session_ids=[call.id]), "html", lang="en").count("Mood after this turn") == 3


# command line ------------------------------------------------------------------------

def run(*args, input=None):
    return subprocess.run([sys.executable, "-m", "simulator", *args], input=input, capture_output=True, text=True,
                          cwd=PROJECT_ROOT, timeout=120)


def test_cli_users_and_export_import(tmp_path):
    data = ["--data-dir", str(tmp_path / "data")]
    assert "single-user mode" in run("users", "list", *data).stdout
    added = run("users", "add", "rita", "--role", "reviewer", "--team", "nord", "--password-stdin", *data,
                input="motdepasse-1\n")
    assert added.returncode == 0 and "added rita (reviewer in nord)" in added.stdout
    bad = run("users", "add", "bob", "--role", "boss", "--password-stdin", *data, input="motdepasse-1\n")
    assert bad.returncode == 1 and "invalid role 'boss' (valid roles: trainee, trainer, reviewer, admin)" in bad.stderr
    short = run("users", "passwd", "rita", "--password-stdin", *data, input="court\n")
    assert short.returncode == 1 and "at least 8 characters" in short.stderr
    assert run("users", "passwd", "rita", "--password-stdin", *data, input="nouveau-secret\n").returncode == 0
    store = Store(f"sqlite:///{tmp_path / 'data' / 'simulator.db'}", heartbeat_seconds=0)
    assert UserDirectory(store).authenticate("rita", "nouveau-secret") is not None
    make_call(store, trainee="alice", quality="good", seed=1)
    make_call(store, trainee="bruno", quality="critical", seed=2)
    store.close()
    listed = run("users", "list", *data)
    assert "rita" in listed.stdout and "reviewer" in listed.stdout and "nord" in listed.stdout

    out = tmp_path / "critical.json"
    exported = run("export", "--format", "json", "--critical", "-o", str(out), *data)
    assert exported.returncode == 0, exported.stderr
    assert [s["session"]["trainee"] for s in json.loads(out.read_text())["sessions"]] == ["bruno"]
    csv_out = run("export", "--format", "csv", "--trainee", "alice", *data)
    assert csv_out.returncode == 0 and csv_out.stdout.count("\n") == 4 and "alice" in csv_out.stdout
    assert "--from: '2026-13-01' is not a date" in run("export", "--from", "2026-13-01", *data).stderr

    other = ["--data-dir", str(tmp_path / "other")]
    imported = run("import", str(out), *other)
    assert imported.returncode == 0 and "1 imported, 0 replaced, 0 already present" in imported.stdout
    assert "already present (use --replace to overwrite)" in run("import", str(out), *other).stdout
    removed = run("users", "remove", "rita", "--yes", *data)
    assert removed.returncode == 0 and "removed rita" in removed.stdout


# progress ----------------------------------------------------------------------------

def test_progress_finds_who_improves_who_is_stuck_and_the_hardest_scenario(store, team):
    from simulator.progress import cohort, scenario_difficulty, slope, status_of

    assert slope([1.0, 2.0, 3.0]) == pytest.approx(1.0) and slope([2.0]) is None
    assert status_of(0.2, 3.5, 5, 3.0) == "improving" and status_of(-0.2, 3.5, 5, 3.0) == "declining"
    assert status_of(0.0, 2.2, 5, 3.0) == "stuck" and status_of(0.0, 3.8, 5, 3.0) == "steady"
    assert status_of(0.5, 2.0, 2, 3.0) == "too_few"
    acc = access_for(store)
    sessions = Reviews(store, acc).list_sessions(acc.user("adam"))
    people = {p.trainee: p for p in cohort(sessions)}
    assert set(people) == {"alice", "bruno", "chloe"}
    assert people["alice"].status == "improving" and people["alice"].trend > 0
    assert people["bruno"].status in ("stuck", "declining") and people["bruno"].recent_mean < 3
    assert people["bruno"].pass_rate == 0 and people["bruno"].weakest in ("empathy", "firmness", "clarity")
    assert people["chloe"].critical_errors == 1 and people["chloe"].frequent_violation == "menace"
    assert sum(people["alice"].scenarios.values()) == 6
    hardest = scenario_difficulty(sessions)
    means = [d.mean_overall for d in hardest]
    assert means == sorted(means) and {d.scenario_id for d in hardest} == {"recalcitrant", "sous-tension",
                                                                           "difficulte-passagere"}
    # what a reviewer of team "nord" sees of the cohort: not chloe
    rita_sessions = Reviews(store, acc).list_sessions(acc.user("rita"))
    assert {p.trainee for p in cohort(rita_sessions)} == {"alice", "bruno"}


def test_gate_shows_a_tab_only_to_the_roles_with_the_capability(store, team):
    from types import SimpleNamespace

    import gradio as gr

    from simulator.ui.login import gate

    acc = access_for(store)
    with gr.Blocks() as demo:
        with gr.Tabs():
            with gr.Tab("Scénarios", visible=False) as tab:
                gr.Markdown("…")
        gate(demo, tab, acc, "manage_scenarios")
    visible = [f.fn for f in demo.fns.values() if f.name == "visible"][0]
    shown = {name: visible(SimpleNamespace(username=name))["visible"] for name in ("tom", "adam", "rita", "alice", None)}
    assert shown == {"tom": True, "adam": True, "rita": False, "alice": False, None: False}
