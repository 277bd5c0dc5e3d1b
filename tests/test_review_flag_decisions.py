"""A reviewer decides on the learned detector's review flags: confirmed, a flag becomes a critical error (the call
fails everywhere: summary, filters, progress, page, CSV); dismissed, it is cleared and struck through."""

from __future__ import annotations

import csv
import io

import pytest

from simulator.auth import Access
from simulator.exports import export_csv
from simulator.progress import cohort
from simulator.report import call_html
from simulator.reviews import ReviewError, Reviews, SessionFilter, summarise_scores
from simulator.settings import Settings
from simulator.store import Store
from simulator.ui.review import table_rows
from simulator.ui.review_violations import turn_violation_choices
from simulator.violations import ViolationDecision, flagged_violations

from .review_support import make_call, make_team

RULE = "FR-LEARNED-THREAT"


@pytest.fixture
def store(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'sim.db'}", heartbeat_seconds=0)
    yield s
    s.close()


def decision(i, turn, rule, what, reason="Relu.", author="rita"):
    return ViolationDecision(i, "s", turn, rule, what, reason, author, f"2026-10-0{i}T10:00:00.000+00:00")


FLAG = {"turn": 3, "rule": RULE, "category": "threat", "text": "on a les moyens de vous pourrir la vie",
        "reference": "Code pénal 222-17"}
TURNS = {1: {"scores": {"empathy": 4, "firmness": 4, "clarity": 4}},
         3: {"scores": {"empathy": 3, "firmness": 4, "clarity": 4}, "violations": [],
             "review": [{k: v for k, v in FLAG.items() if k != "turn"}]}}
CARD = {"means": {"empathy": 3.5, "firmness": 4.0, "clarity": 4.0}, "overall": 3.83, "pass_mark": 3.0,
        "passed": True, "critical_errors": [], "review_flags": [FLAG], "turns_scored": 2}


def test_a_confirmed_review_flag_becomes_a_critical_error_and_fails_the_call():
    auto = summarise_scores(TURNS, [], CARD, None)
    assert auto.passed is True and auto.critical_errors == [] and auto.review_flags == [FLAG]
    confirmed = summarise_scores(TURNS, [], CARD, None, [decision(1, 3, RULE, "confirmed")])
    assert confirmed.passed is False and confirmed.passed_auto is True
    [error] = confirmed.critical_errors
    assert error["rule"] == RULE and error["decision"] == "confirmed" and error["decided_by"] == "rita" and error["review"]
    assert confirmed.review_flags == [] and confirmed.review_confirmed == [error]
    assert confirmed.overall == confirmed.overall_auto  # a decision moves no score


def test_a_dismissed_review_flag_is_cleared_and_changes_no_result():
    cleared = summarise_scores(TURNS, [], CARD, None, [decision(1, 3, RULE, "dismissed")])
    assert cleared.passed is True and cleared.critical_errors == [] and cleared.review_flags == []
    assert [d["decision"] for d in cleared.review_dismissed] == ["dismissed"]
    # a later confirmation replaces the dismissal; a decision on another turn touches nothing
    back = summarise_scores(TURNS, [], CARD, None, [decision(1, 3, RULE, "dismissed"), decision(2, 3, RULE, "confirmed")])
    assert back.passed is False
    other = summarise_scores(TURNS, [], CARD, None, [decision(1, 1, RULE, "confirmed")])
    assert other.passed is True and other.review_flags == [FLAG]


def test_without_a_scorecard_review_flags_come_from_the_turns():
    summary = summarise_scores(TURNS, [], None, None, [decision(1, 3, RULE, "confirmed")])
    assert [e["rule"] for e in summary.critical_errors] == [RULE] and summary.passed is None


def test_flagged_violations_lists_rules_first_then_review_flags_marked():
    score = {"violations": [{"rule": "FR-THREAT", "category": "threat"}], "review": [{"rule": RULE, "category": "threat"}]}
    assert [(v["rule"], v["review"]) for v in flagged_violations(3, score)] == [("FR-THREAT", False), (RULE, True)]
    assert [v["rule"] for v in flagged_violations(3, score, review=False)] == ["FR-THREAT"]
    # a flag only the scorecard lists (another engine version) still counts for its turn
    assert [v["rule"] for v in flagged_violations(3, {}, {"review_flags": [FLAG]})] == [RULE]
    assert flagged_violations(5, {}, {"review_flags": [FLAG]}) == []


def add_review_flag(store, call, turn_idx: int, quote_words: int = 6) -> str:
    """A review flag on a trainee turn, written as the rubric engine writes them (turn score and scorecard)."""
    turn = next(t for t in store.turns(call.id) if t.idx == turn_idx)
    quote = " ".join(turn.text.split()[:quote_words])
    score = dict(turn.score)
    score["review"] = [{"rule": RULE, "category": "threat", "start": 0, "end": len(quote), "text": quote,
                        "reference": "Code pénal 222-17"}]
    store.set_turn_score(call.id, turn_idx, score)
    card = store.scorecard(call.id)
    card["review_flags"] = [{"turn": turn_idx, "rule": RULE, "category": "threat", "text": quote}]
    store.set_scorecard(call.id, card)
    return quote


def test_a_reviewer_confirms_a_review_flag_and_the_call_fails_everywhere(store):
    make_team(store)
    acc = Access(store, Settings(reviewer_scope="team"))
    reviews = Reviews(store, acc)
    rita, alice = acc.user("rita"), acc.user("alice")
    call = make_call(store, trainee="alice", quality="good", seed=7)
    turn = call.agent_turns[1]
    quote = add_review_flag(store, call, turn)
    before = reviews.open(rita, call.id)
    assert before.summary.scores.passed is True and before.summary.scores.review_flags
    # the picker lists it, marked as a flag to check
    [(label, rule)] = turn_violation_choices(before, turn, "fr")
    assert rule == RULE and "(à vérifier)" in label
    table = table_rows(reviews.list_sessions(rita, SessionFilter(session_ids=[call.id])), reviews, "fr")
    assert table.iloc[0]["Err. crit."] == 0 and table.iloc[0]["À vérifier"] == 1

    def ids(**flt):
        return {s.id for s in reviews.list_sessions(rita, SessionFilter(trainee="alice", **flt))}

    assert call.id in ids(critical=False)
    [progress_before] = [p for p in cohort(reviews.list_sessions(rita)) if p.trainee == "alice"]

    # a dismissal needs its reason, as for a rule's error; an unknown rule is named back
    with pytest.raises(ReviewError, match="reason"):
        reviews.dismiss_violation(rita, call.id, turn, RULE, "")
    with pytest.raises(ReviewError, match=RULE):
        reviews.confirm_violation(rita, call.id, turn, "FR-NOPE")

    reviews.confirm_violation(rita, call.id, turn, RULE.lower(), "Menace voilée : on lui promet des ennuis.")
    after = reviews.open(rita, call.id)
    sc = after.summary.scores
    assert sc.passed is False and sc.passed_auto is True and [e["rule"] for e in sc.critical_errors] == [RULE]
    assert call.id in ids(critical=True) and call.id in ids(result="fail")
    [progress] = [p for p in cohort(reviews.list_sessions(rita)) if p.trainee == "alice"]
    assert progress.critical_errors == progress_before.critical_errors + 1

    # the trainee's page: a critical error confirmed by rita, under the turn and in the scorecard; counts 0 → 1
    page = call_html(reviews.open(alice, call.id), "fr", reviews.tz)
    assert page.count(f"data-rule='{RULE}' data-decision='confirmed'") == 2 and "data-review='1'" in page
    assert "confirmée par rita" in page and "data-metric='critical' data-count='1'" in page and "<s>0</s> 1" in page
    assert "<s data-auto-result='true'>réussi</s> échoué" in page
    row = table_rows(reviews.list_sessions(rita, SessionFilter(session_ids=[call.id])), reviews, "fr").iloc[0].tolist()
    assert "0 → 1" in row and "réussi → échoué" in row

    rows = list(csv.DictReader(io.StringIO(export_csv(reviews, rita, SessionFilter(session_ids=[call.id])).lstrip("\ufeff"))))
    flagged = next(r for r in rows if r["turn"] == str(turn))
    assert flagged["review_flags"] == RULE and flagged["violations"] == "" and flagged["violations_confirmed"] == RULE
    assert {(r["passed"], r["passed_auto"]) for r in rows} == {("no", "yes")}

    # dismissed after all: cleared, struck through with the reason, the call passes again
    reviews.dismiss_violation(rita, call.id, turn, RULE, "Relu avec l'enregistrement : pas une menace.")
    again = reviews.open(rita, call.id)
    assert again.summary.scores.passed is True and again.summary.scores.critical_errors == []
    page = call_html(again, "en", reviews.tz)
    assert f"class='review-flag dismissed' data-rule='{RULE}' data-decision='dismissed'" in page
    assert "<s>To check" in page and "dismissed by rita: Relu avec" in page and quote.split()[0] in page


def test_the_review_table_finds_the_calls_with_flags_to_check(store):
    """« Appels avec points à vérifier »: the calls with review flags nobody has decided yet, their number shown
    per call; deciding a flag (either way) takes it off the list, the other flags of the call stay."""
    calls = make_team(store)
    acc = Access(store, Settings(reviewer_scope="team"))
    reviews = Reviews(store, acc)
    rita = acc.user("rita")
    one, two = calls["alice"][0], calls["bruno"][1]
    add_review_flag(store, one, one.agent_turns[1])
    add_review_flag(store, two, two.agent_turns[0])  # two flags on two turns of bruno's call
    first = store.scorecard(two.id)["review_flags"]
    add_review_flag(store, two, two.agent_turns[2])  # (writes the scorecard's list anew: both put back)
    card = store.scorecard(two.id)
    card["review_flags"] = first + card["review_flags"]
    store.set_scorecard(two.id, card)

    def ids(**flt):
        return {s.id for s in reviews.list_sessions(rita, SessionFilter(**flt))}

    everyone = ids()
    assert ids(to_check=True) == {one.id, two.id}
    assert ids(to_check=False) == everyone - {one.id, two.id}
    assert ids(to_check=True, trainee="bruno") == {two.id}  # combines with the other filters
    table = table_rows(reviews.list_sessions(rita, SessionFilter(to_check=True, sort="trainee")), reviews, "fr")
    assert list(table["À vérifier"]) == [1, 2] and list(table["Stagiaire"]) == ["alice", "bruno"]
    english = table_rows(reviews.list_sessions(rita, SessionFilter(to_check=True)), reviews, "en")
    assert "To check" in english.columns and sorted(english["To check"]) == [1, 2]
    everything = table_rows(reviews.list_sessions(rita), reviews, "fr")
    assert sorted(everything["À vérifier"]) == [0] * (len(everyone) - 2) + [1, 2]
    # « Plus de points à vérifier d'abord »: bruno's call (2), alice's (1), then the rest
    most = table_rows(reviews.list_sessions(rita, SessionFilter(sort="to_check_desc")), reviews, "fr")
    assert list(most["À vérifier"]) == [2, 1] + [0] * (len(everyone) - 2)
    assert [s.id for s in reviews.list_sessions(rita, SessionFilter(sort="to_check_desc"))][:2] == [two.id, one.id]

    # decided, a flag is no longer to check: dismissed on alice's call, confirmed on one of bruno's two turns
    reviews.dismiss_violation(rita, one.id, one.agent_turns[1], RULE, "Relu : une mise en garde, pas une menace.")
    reviews.confirm_violation(rita, two.id, two.agent_turns[0], RULE)
    assert ids(to_check=True) == {two.id}
    [row] = table_rows(reviews.list_sessions(rita, SessionFilter(to_check=True)), reviews, "fr").to_dict("records")
    assert row["À vérifier"] == 1 and row["Err. crit."] == "0 → 1"
    reviews.dismiss_violation(rita, two.id, two.agent_turns[2], RULE, "Relu.")
    assert ids(to_check=True) == set() and one.id in ids(to_check=False)


def test_export_takes_the_same_filter(tmp_path):
    import json

    from typer.testing import CliRunner

    from simulator.cli import app

    data = tmp_path / "data"
    data.mkdir()
    store = Store(f"sqlite:///{data / 'simulator.db'}", heartbeat_seconds=0)
    flagged = make_call(store, trainee="alice", quality="good", seed=3)
    plain = make_call(store, trainee="bruno", quality="good", seed=4)
    add_review_flag(store, flagged, flagged.agent_turns[0])
    store.close()

    def exported(*flags):
        result = CliRunner().invoke(app, ["export", "--format", "json", "--data-dir", str(data), *flags])
        assert result.exit_code == 0, result.output
        return [s["session"]["id"] for s in json.loads(result.stdout)["sessions"]]

    assert exported("--to-check") == [flagged.id]
    assert exported("--no-to-check") == [plain.id]
