"""Reviewers dismiss (or confirm) a compliance violation flagged on a trainee turn.

The summary logic (pure), who may decide, the store and its migration (SQLite
and the throwaway PostgreSQL server), list filters, progress, the review tab's
pure renderers, and the JSON / CSV / HTML exports.
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from simulator.auth import Access, AccessDenied
from simulator.exports import ImportFileError, export_csv, export_html, export_json, import_sessions
from simulator.progress import cohort
from simulator.report import call_html
from simulator.reviews import Override, ReviewError, Reviews, SessionFilter, summarise_scores
from simulator.settings import Settings
from simulator.store import MIGRATIONS, Store
from simulator.ui.review import audit_rows, table_rows
from simulator.users import UserDirectory
from simulator.violations import ViolationDecision, apply_decisions, flagged_violations, in_force

from .db_support import db_url, pg_cluster  # noqa: F401  (fixtures)
from .review_support import make_call, make_team

REASON = "Il cite la lettre de l'huissier que la cliente a reçue : ce n'est pas une menace."


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'sim.db'}", heartbeat_seconds=0)
    yield s
    s.close()


@pytest.fixture
def team(store):
    return make_team(store)


def access_for(store):
    return Access(store, Settings(reviewer_scope="team"))


def decision(i, turn, rule, what, reason=REASON, author="rita"):
    return ViolationDecision(i, "s", turn, rule, what, reason, author, f"2026-10-0{i}T10:00:00.000+00:00")


def threat_call(store, *, pass_mark: float, trainee: str = "alice", seed: int = 42):
    """A call whose only critical error is the bailiff threat on its second trainee turn (#3)."""
    return make_call(store, trainee=trainee, quality="critical", pass_mark=pass_mark, seed=seed)


def add_violation(store, call, turn_idx: int, rule: str, category: str, quote: str) -> None:
    """A second violation on another turn, written as the rubric engine writes them (turn score and scorecard)."""
    turn = next(t for t in store.turns(call.id) if t.idx == turn_idx)
    start = turn.text.find(quote)
    assert start >= 0
    score = dict(turn.score)
    score["violations"] = [*score["violations"], {"rule": rule, "category": category, "start": start,
                                                  "end": start + len(quote), "text": quote, "reference": ""}]
    store.set_turn_score(call.id, turn_idx, score)
    card = store.scorecard(call.id)
    card["critical_errors"] = sorted([*card["critical_errors"], {"turn": turn_idx, "rule": rule, "category": category,
                                                                 "text": quote}], key=lambda c: c["turn"])
    store.set_scorecard(call.id, card)


# the summary, pure ---------------------------------------------------------------------

TURNS = {1: {"scores": {"empathy": 4, "firmness": 4, "clarity": 4}},
         3: {"scores": {"empathy": 1, "firmness": 4, "clarity": 4},
             "violations": [{"rule": "FR-THREAT", "category": "threat", "text": "l'huissier passe demain"}]},
         5: {"scores": {"empathy": 3, "firmness": 4, "clarity": 3},
             "violations": [{"rule": "FR-FALSE-LEGAL", "category": "false_legal", "text": "c'est la loi"}]}}
THREAT = {"turn": 3, "rule": "FR-THREAT", "category": "threat", "text": "l'huissier passe demain"}
LEGAL = {"turn": 5, "rule": "FR-FALSE-LEGAL", "category": "false_legal", "text": "c'est la loi"}
CARD = {"means": {"empathy": 2.67, "firmness": 4.0, "clarity": 3.67}, "overall": 3.44, "pass_mark": 3.0,
        "passed": False, "critical_errors": [THREAT], "turns_scored": 3}


def test_a_call_failing_only_for_one_dismissed_violation_passes_when_its_overall_reaches_the_pass_mark():
    auto = summarise_scores(TURNS, [], CARD, None)
    assert auto.passed is False and auto.critical_errors == [THREAT]
    dismissed = summarise_scores(TURNS, [], CARD, None, [decision(1, 3, "FR-THREAT", "dismissed")])
    assert dismissed.passed is True and dismissed.passed_auto is False  # both kept: effective and automatic
    assert dismissed.critical_errors == [] and dismissed.critical_errors_auto == [THREAT]
    assert dismissed.overall == dismissed.overall_auto == 3.44  # a dismissal moves no score
    [gone] = dismissed.dismissed_errors
    assert gone["rule"] == "FR-THREAT" and gone["decided_by"] == "rita" and gone["decision_reason"] == REASON


def test_a_dismissal_does_not_pass_a_call_below_the_pass_mark():
    low = {**CARD, "overall": 2.9}
    still = summarise_scores(TURNS, [], low, None, [decision(1, 3, "FR-THREAT", "dismissed")])
    assert still.critical_errors == [] and still.passed is False
    # …unless a score correction lifts the overall too: empathy 1 → 4 on turn 3 is +1 on the mean, +1/3 overall
    lifted = summarise_scores(TURNS, [Override(1, "s", 3, "empathy", 1, 4, "r", "rita", "t")], low, None,
                              [decision(1, 3, "FR-THREAT", "dismissed")])
    assert lifted.overall == pytest.approx(2.9 + 1 / 3) and lifted.passed is True


def test_with_two_violations_and_one_dismissed_the_call_still_fails():
    card = {**CARD, "critical_errors": [THREAT, LEGAL]}
    one = summarise_scores(TURNS, [], card, None, [decision(1, 3, "FR-THREAT", "dismissed")])
    assert one.passed is False and one.critical_errors == [LEGAL] and len(one.dismissed_errors) == 1
    both = summarise_scores(TURNS, [], card, None, [decision(1, 3, "FR-THREAT", "dismissed"),
                                                    decision(2, 5, "FR-FALSE-LEGAL", "dismissed")])
    assert both.passed is True and both.critical_errors == []


def test_a_later_decision_replaces_an_earlier_one_and_a_confirmation_changes_nothing():
    history = [decision(1, 3, "FR-THREAT", "dismissed"), decision(2, 3, "FR-THREAT", "confirmed", None, "adam")]
    back = summarise_scores(TURNS, [], CARD, None, history)
    assert back.passed is False and back.dismissed_errors == []
    assert back.critical_errors == [{**THREAT, "decision": "confirmed", "decided_by": "adam", "decision_reason": None,
                                     "decided_at": history[1].created_at}]
    again = summarise_scores(TURNS, [], CARD, None, [*history, decision(3, 3, "FR-THREAT", "dismissed")])
    assert again.passed is True
    # decisions on another turn or another rule do not touch this error
    other = summarise_scores(TURNS, [], CARD, None, [decision(1, 5, "FR-THREAT", "dismissed"),
                                                     decision(2, 3, "FR-ID", "dismissed")])
    assert other.passed is False and other.critical_errors == [THREAT]
    assert in_force(history)[(3, "FR-THREAT")].author == "adam"


def test_without_a_scorecard_the_turns_violations_are_filtered_and_pass_fail_stays_unknown():
    interrupted = summarise_scores(TURNS, [], None, None, [decision(1, 3, "FR-THREAT", "dismissed")])
    assert [c["rule"] for c in interrupted.critical_errors] == ["FR-FALSE-LEGAL"]
    assert [c["rule"] for c in interrupted.dismissed_errors] == ["FR-THREAT"] and interrupted.passed is None


def test_apply_decisions_covers_every_flag_of_the_rule_on_its_turn():
    twice = [THREAT, {**THREAT, "text": "saisir vos meubles"}, LEGAL]
    remaining, dismissed = apply_decisions(twice, [decision(1, 3, "FR-THREAT", "dismissed")])
    assert remaining == [LEGAL] and len(dismissed) == 2
    assert [v["rule"] for v in flagged_violations(3, TURNS[3], {"critical_errors": [THREAT, LEGAL]})] == ["FR-THREAT"]
    assert [v["rule"] for v in flagged_violations(1, TURNS[1], {"critical_errors": [{**LEGAL, "turn": 1}]})] == [
        "FR-FALSE-LEGAL"]  # listed by the scorecard only: still offered


# who may decide ----------------------------------------------------------------------------

def test_only_reviewers_and_admins_decide_and_never_on_their_own_call(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    call = team["chloe"][1]  # the threat on turn #3, team "sud"
    threat_turn = call.agent_turns[1]
    with pytest.raises(AccessDenied, match="only reviewers and admins"):
        reviews.dismiss_violation(acc.user("chloe"), call.id, threat_turn, "FR-THREAT", REASON)  # her own, a trainee
    with pytest.raises(AccessDenied) as not_visible:
        reviews.dismiss_violation(acc.user("rita"), call.id, threat_turn, "FR-THREAT", REASON)  # another team
    assert not_visible.value.code == "not_visible"
    alice_call = threat_call(store, pass_mark=1.5)
    with pytest.raises(AccessDenied, match="only reviewers and admins"):
        reviews.confirm_violation(acc.user("tom"), alice_call.id, alice_call.agent_turns[1], "FR-THREAT")  # trainer
    with pytest.raises(AccessDenied, match="among the calls you may see"):  # not logged in (accounts exist)
        reviews.dismiss_violation(None, alice_call.id, alice_call.agent_turns[1], "FR-THREAT", REASON)
    own = threat_call(store, pass_mark=1.5, trainee="rita", seed=7)
    with pytest.raises(AccessDenied, match="your own call"):
        reviews.dismiss_violation(acc.user("rita"), own.id, own.agent_turns[1], "FR-THREAT", REASON)
    made = reviews.dismiss_violation(acc.user("adam"), call.id, threat_turn, "FR-THREAT", REASON)
    assert (made.author, made.decision, made.rule, made.turn_idx) == ("adam", "dismissed", "FR-THREAT", threat_turn)
    with store.engine.connect() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM violation_decisions")).scalar() == 1  # refused ones wrote nothing


def test_bad_requests_get_errors_naming_the_turn_and_the_flagged_rules(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    call = threat_call(store, pass_mark=1.5)
    threat_turn = call.agent_turns[1]
    add_violation(store, call, threat_turn, "FR-FALSE-LEGAL", "false_legal", "saisir vos meubles")
    with pytest.raises(ReviewError) as err:
        reviews.dismiss_violation(rita, call.id, threat_turn, "FR-ID", REASON)
    assert str(err.value) == "turn 3 has no 'FR-ID' violation (flagged on turn 3: FR-THREAT, FR-FALSE-LEGAL)"
    assert err.value.code == "no_violation" and err.value.params["rules"] == "FR-THREAT, FR-FALSE-LEGAL"
    with pytest.raises(ReviewError, match="turn 1 has no flagged violation: there is nothing to dismiss"):
        reviews.dismiss_violation(rita, call.id, call.agent_turns[0], "FR-THREAT", REASON)
    with pytest.raises(ReviewError, match="turn 2 is not a trainee turn"):
        reviews.confirm_violation(rita, call.id, 2, "FR-THREAT")
    with pytest.raises(ReviewError, match="turn 99 is not a trainee turn"):
        reviews.confirm_violation(rita, call.id, 99, "FR-THREAT")
    for empty in ("", "  ", "ok"):
        with pytest.raises(ReviewError, match="give the reason for dismissing") as err:
            reviews.dismiss_violation(rita, call.id, threat_turn, "FR-THREAT", empty)
        assert err.value.code == "no_dismiss_reason"
    made = reviews.dismiss_violation(rita, call.id, threat_turn, " fr-threat ", f"  {REASON}\n")
    assert made.rule == "FR-THREAT" and made.reason == REASON  # the flagged id, the reason tidied
    with pytest.raises(ReviewError, match=r"turn 3: FR-THREAT is already dismissed \(by rita\)"):
        reviews.dismiss_violation(rita, call.id, threat_turn, "FR-THREAT", "encore une fois")
    confirmed = reviews.confirm_violation(rita, call.id, threat_turn, "FR-THREAT")  # no reason needed to confirm
    assert confirmed.decision == "confirmed" and confirmed.reason is None
    with pytest.raises(ReviewError, match="already confirmed"):
        reviews.confirm_violation(rita, call.id, threat_turn, "FR-THREAT", "oui")


def test_the_table_refuses_a_dismissal_without_a_reason(store, team):
    call = team["chloe"][1]
    with pytest.raises(IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO violation_decisions (session_id, turn_idx, rule, decision, reason, author, "
                              "created_at) VALUES (:s, 3, 'FR-THREAT', 'dismissed', NULL, 'adam', 't')"), {"s": call.id})
    with pytest.raises(IntegrityError):
        with store.engine.begin() as conn:
            conn.execute(text("INSERT INTO violation_decisions (session_id, turn_idx, rule, decision, reason, author, "
                              "created_at) VALUES (:s, 3, 'FR-THREAT', 'ignored', 'x', 'adam', 't')"), {"s": call.id})


# the call, the lists, progress ----------------------------------------------------------------

def test_a_dismissal_passes_the_call_everywhere_and_keeps_the_history(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita, alice = acc.user("rita"), acc.user("alice")
    call = threat_call(store, pass_mark=1.5)
    threat_turn = call.agent_turns[1]
    before = reviews.open(rita, call.id).summary.scores
    assert before.passed is False and before.overall >= 1.5 and len(before.critical_errors) == 1

    def ids(**flt):
        return {s.id for s in reviews.list_sessions(rita, SessionFilter(trainee="alice", **flt))}

    assert call.id in ids(result="fail") and call.id in ids(critical=True)

    def alice_progress():
        [progress] = [p for p in cohort(reviews.list_sessions(rita)) if p.trainee == "alice"]
        return progress

    progress_before = alice_progress()
    assert progress_before.critical_errors == 1 and progress_before.calls == 7
    reviews.dismiss_violation(rita, call.id, threat_turn, "FR-THREAT", REASON)
    after = reviews.open(rita, call.id)
    assert after.summary.scores.passed is True and after.summary.scores.passed_auto is False
    assert after.summary.scores.critical_errors == [] and len(after.summary.scores.critical_errors_auto) == 1
    assert call.id in ids(result="pass") and call.id not in ids(result="fail")
    assert call.id in ids(critical=False) and call.id not in ids(critical=True)
    assert after.turns[threat_turn].score["violations"][0]["rule"] == "FR-THREAT"  # the engine's flag is kept
    assert after.turns[threat_turn].decision_for("FR-THREAT").decision == "dismissed"

    # progress counts what is in force: one more call passed, no critical error left
    progress = alice_progress()
    assert progress.critical_errors == 0 and progress.pass_rate == pytest.approx(progress_before.pass_rate + 1 / 7)

    # confirmed again: fails again; the three decisions stay in order
    reviews.confirm_violation(acc.user("adam"), call.id, threat_turn, "FR-THREAT", "Relu : c'est bien une menace.")
    again = reviews.open(rita, call.id)
    assert again.summary.scores.passed is False and call.id in ids(critical=True)
    assert [(d.decision, d.author) for d in again.decisions] == [("dismissed", "rita"), ("confirmed", "adam")]

    # the trainee reads the decisions and their reasons on her call
    seen = reviews.open(alice, call.id)
    assert [d.reason for d in seen.decisions] == [REASON, "Relu : c'est bien une menace."] and not seen.can_review


def test_the_call_shows_the_dismissed_violation_struck_through_with_who_and_why(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    call = threat_call(store, pass_mark=1.5)
    threat_turn = call.agent_turns[1]
    reviews.dismiss_violation(acc.user("rita"), call.id, threat_turn, "FR-THREAT", REASON)
    detail = reviews.open(acc.user("alice"), call.id)  # what the trainee sees
    page = call_html(detail, "fr", reviews.tz)
    note = "<li class='violation dismissed' data-rule='FR-THREAT' data-decision='dismissed'>"
    assert page.count(note) == 2  # under the turn and in the scorecard's list of critical errors
    assert "<s>#3 <b>menace</b>" in page and "<s><b>menace</b> (FR-THREAT)" in page
    assert "écartée par rita\u00a0: Il cite la lettre de l&#x27;huissier" in page
    assert "<mark class='violation-dismissed'" in page and "<mark class='violation'" not in page
    assert "data-metric='critical' data-count='0'" in page and "<s>1</s> 0" in page
    assert "<s data-auto-result='false'>échoué</s> réussi" in page
    english = call_html(detail, "en", reviews.tz)
    assert "dismissed by rita: Il cite" in english and "<s data-auto-result='false'>failed</s> passed" in english
    # confirmed: counted again, not struck through, says who confirmed it
    reviews.confirm_violation(acc.user("adam"), call.id, threat_turn, "FR-THREAT")
    page = call_html(reviews.open(acc.user("alice"), call.id), "fr", reviews.tz)
    assert "data-decision='confirmed'" in page and "confirmée par adam" in page and "<mark class='violation'" in page
    assert "data-metric='critical' data-count='1'" in page and "data-auto-result" not in page


def test_review_table_and_audit_show_the_decisions(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    call = threat_call(store, pass_mark=1.5)
    reviews.dismiss_violation(rita, call.id, call.agent_turns[1], "FR-THREAT", REASON)
    row = table_rows(reviews.list_sessions(rita, SessionFilter(session_ids=[call.id])), reviews, "fr").iloc[0].tolist()
    assert "échoué → réussi" in row and "1 → 0" in row
    audit = audit_rows(reviews.open(rita, call.id), reviews, "fr")
    dismissed = audit[audit["Action"] == "erreur écartée"].iloc[0].tolist()
    assert dismissed[2:] == [3, f"FR-THREAT (menace) : {REASON}", "rita"]
    assert "error dismissed" in audit_rows(reviews.open(rita, call.id), reviews, "en").iloc[:, 1].tolist()


# exports ---------------------------------------------------------------------------------------

def test_json_export_carries_the_decisions_and_reimports_them(store, team, db_url):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita, adam = acc.user("rita"), acc.user("adam")
    call = threat_call(store, pass_mark=1.5)
    reviews.dismiss_violation(rita, call.id, call.agent_turns[1], "FR-THREAT", REASON)
    reviews.confirm_violation(adam, team["chloe"][1].id, team["chloe"][1].agent_turns[1], "FR-THREAT", "Menace nette.")
    exported = export_json(reviews, adam)
    doc = json.loads(exported)
    assert doc["version"] == 2
    mine = next(s for s in doc["sessions"] if s["session"]["id"] == call.id)
    assert [(d["turn_idx"], d["rule"], d["decision"], d["reason"], d["author"]) for d in mine["violation_decisions"]] == [
        (3, "FR-THREAT", "dismissed", REASON, "rita")]

    other = Store(db_url, heartbeat_seconds=0)  # SQLite → SQLite, and SQLite → PostgreSQL
    try:
        result = import_sessions(other, exported, source="calls.json")
        assert len(result.imported) == 16 and not result.ignored_columns
        UserDirectory(other).add("adam", "motdepasse-1", role="admin")
        there = Reviews(other, access_for(other))
        admin = access_for(other).user("adam")
        again = json.loads(export_json(there, admin))
        assert _without_ids(again) == _without_ids(doc)
        opened = there.open(admin, call.id).summary.scores
        assert opened.passed is True and opened.passed_auto is False and opened.critical_errors == []
        assert {s.id for s in there.list_sessions(admin, SessionFilter(critical=True))} == {team["chloe"][1].id}
        assert len(import_sessions(other, exported, replace=True).replaced) == 16  # replaced, decisions included
        with other.engine.connect() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM violation_decisions")).scalar() == 2
    finally:
        other.close()


def _without_ids(doc):
    out = []
    for s in doc["sessions"]:
        s = json.loads(json.dumps(s))
        for key in ("overrides", "violation_decisions", "comments", "verdicts"):
            for row in s[key]:
                row.pop("id", None)
        out.append(s)
    return sorted(out, key=lambda s: s["session"]["id"])


def test_import_checks_the_decisions_and_still_reads_version_1_files(store, team, tmp_path):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    call = threat_call(store, pass_mark=1.5)
    reviews.dismiss_violation(acc.user("rita"), call.id, call.agent_turns[1], "FR-THREAT", REASON)
    doc = json.loads(export_json(reviews, acc.user("adam"), SessionFilter(session_ids=[call.id])))
    target = Store(f"sqlite:///{tmp_path / 'other.db'}", heartbeat_seconds=0)
    try:
        bad = json.loads(json.dumps(doc))
        bad["sessions"][0]["violation_decisions"][0]["reason"] = " "
        bad["sessions"][0]["violation_decisions"].append({**doc["sessions"][0]["violation_decisions"][0],
                                                          "decision": "ignored"})
        with pytest.raises(ImportFileError) as err:
            import_sessions(target, json.dumps(bad), source="calls.json")
        message = str(err.value)
        assert "calls.json: sessions[0].violation_decisions[0]: Value error, a dismissed violation needs its reason" in message
        assert "calls.json: sessions[0].violation_decisions[1].decision: Input should be 'dismissed' or 'confirmed'" in message
        old = {**doc, "version": 1, "sessions": [{k: v for k, v in doc["sessions"][0].items() if k != "violation_decisions"}]}
        assert import_sessions(target, json.dumps(old), source="old.json").imported == [call.id]
        UserDirectory(target).add("adam", "motdepasse-1", role="admin")
        there = Reviews(target, access_for(target))
        assert there.open(access_for(target).user("adam"), call.id).summary.scores.passed is False  # no decision came
    finally:
        target.close()


def test_csv_and_html_exports_use_the_effective_result_and_carry_the_decisions(store, team):
    acc = access_for(store)
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    call = threat_call(store, pass_mark=1.5)
    add_violation(store, call, call.agent_turns[2], "FR-FALSE-LEGAL", "false_legal", "vous payez")
    reviews.dismiss_violation(rita, call.id, call.agent_turns[1], "FR-THREAT", REASON)
    reviews.confirm_violation(rita, call.id, call.agent_turns[2], "FR-FALSE-LEGAL", "Sous-entend une obligation légale.")
    rows = list(csv.DictReader(io.StringIO(export_csv(reviews, rita, SessionFilter(session_ids=[call.id])).lstrip("\ufeff"))))
    assert [r["turn"] for r in rows] == ["1", "3", "5"]
    assert {(r["passed"], r["passed_auto"]) for r in rows} == {("no", "no")}  # one error left: still failed
    threat, legal = rows[1], rows[2]
    assert threat["violations"] == "FR-THREAT" and threat["violations_dismissed"] == "FR-THREAT"
    assert threat["violations_confirmed"] == "" and threat["violation_decisions"] == f"FR-THREAT: dismissed by rita: {REASON}"
    assert legal["violations_confirmed"] == "FR-FALSE-LEGAL" and legal["violations_dismissed"] == ""
    assert rows[0]["violations"] == rows[0]["violation_decisions"] == ""
    # the last one dismissed too: the call passes, the CSV says so next to the automatic result
    reviews.dismiss_violation(rita, call.id, call.agent_turns[2], "FR-FALSE-LEGAL", "Finalement non : il demande juste.")
    rows = list(csv.DictReader(io.StringIO(export_csv(reviews, rita, SessionFilter(session_ids=[call.id])).lstrip("\ufeff"))))
    assert {(r["passed"], r["passed_auto"]) for r in rows} == {("yes", "no")}
    page = export_html(reviews, rita, SessionFilter(session_ids=[call.id]))
    assert page.count("data-decision='dismissed'") == 4 and "Finalement non : il demande juste." in page
    assert "<s data-auto-result='false'>échoué</s> réussi" in page


# the migration, from every earlier schema --------------------------------------------------------

@pytest.mark.parametrize("upto", [name for name, _ in MIGRATIONS if name < "008"])
def test_decisions_work_on_calls_stored_before_migration_008(db_url, upto):
    from .test_store_backends import B, CARD, SCORE, SEEDS

    old = Store(db_url, auto_migrate=False)
    applied = old.migrate(upto=upto)
    with old.engine.begin() as conn:
        for name in applied:
            SEEDS[name[:3]](conn)
    if len(applied) < 3:  # no scores yet in that schema: the call is scored after the upgrade
        old.close()
        old = Store(db_url)
    flagged = {**SCORE, "violations": [{"rule": "FR-THREAT", "category": "threat", "text": "Bonjour"}]}
    card = {**CARD, "passed": False, "critical_errors": [{"turn": 1, "rule": "FR-THREAT", "category": "threat",
                                                          "text": "Bonjour"}]}
    with old.engine.begin() as conn:
        conn.execute(text("UPDATE turns SET score_json = :s WHERE session_id = :id AND idx = 1"),
                     {"s": json.dumps(flagged), "id": B})
        conn.execute(text("UPDATE sessions SET scorecard_json = :c WHERE id = :id"), {"c": json.dumps(card), "id": B})
    old.close()

    store = Store(db_url)  # migrates to the head
    try:
        assert store.applied_migrations() == [name for name, _ in MIGRATIONS]
        if len(applied) < 4:
            UserDirectory(store).add("rita", "motdepasse-1", role="reviewer")
        admin = UserDirectory(store).add("adam", "motdepasse-1", role="admin")
        reviews = Reviews(store, Access(store, Settings()))
        assert reviews.open(admin, B).summary.scores.passed is False
        reviews.dismiss_violation(admin, B, 1, "FR-THREAT", "Un simple bonjour.")
        detail = reviews.open(admin, B)
        # overall 3.0 (or 3.0 moved by the old empathy correction of 005) against a pass mark of 3.0
        assert detail.summary.scores.passed is True and detail.summary.scores.critical_errors == []
        assert detail.turns[1].score == flagged and [d.rule for d in detail.decisions] == ["FR-THREAT"]
    finally:
        store.close()
