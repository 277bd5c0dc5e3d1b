"""Review and progress in Debian's Chromium (Playwright), logged in as a reviewer and as a trainee."""

from __future__ import annotations

import csv
import io

import pytest

from simulator.store import Store

from .browser_support import running_app, chromium
from .review_support import make_team
from .test_review_flag_decisions import add_review_flag

pytestmark = pytest.mark.browser
PASSWORD = "motdepasse-1"


@pytest.fixture
def app(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = Store(f"sqlite:///{data / 'simulator.db'}", heartbeat_seconds=0)
    calls = make_team(store)
    flagged = calls["alice"][1]
    add_review_flag(store, flagged, flagged.agent_turns[1])  # a flag to check nobody has decided yet
    store.close()
    with running_app(data) as proc:
        proc.calls, proc.data = calls, data
        yield proc


@pytest.fixture
def browser():
    with chromium() as b:
        yield b


def login(browser, app, user):
    from playwright.sync_api import expect

    page = browser.new_page(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    page.set_default_timeout(20_000)
    page.goto(app.url)
    page.locator("input[type=text]").first.fill(user)
    page.locator("input[type=password]").fill(PASSWORD)
    page.get_by_role("button", name="Login").click()
    expect(page.locator("#who-is-here")).to_contain_text(f"Connecté·e : {user}")
    return page


def pick(page, elem_id: str, option: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=option, exact=True).click()


def test_a_reviewer_filters_opens_overrides_comments_and_exports(app, browser, tmp_path):
    from playwright.sync_api import expect

    page = login(browser, app, "rita")
    page.get_by_role("tab", name="Revue des appels").click()
    count = page.locator("#sessions-count")
    expect(count).to_contain_text("11 appel(s)")  # her team: alice and bruno, not chloe
    table = page.locator("#sessions-table")
    expect(table).not_to_contain_text("chloe")

    # the calls with flags to check: alice's one, its number of flags in the « À vérifier » column
    pick(page, "filter-to-check", "Appels avec points à vérifier")
    expect(count).to_contain_text("1 appel(s)")
    expect(table).to_contain_text("À vérifier")
    expect(table).to_contain_text(app.calls["alice"][1].id[:10])
    expect(table).not_to_contain_text("bruno")
    pick(page, "filter-to-check", "Tous")
    expect(count).to_contain_text("11 appel(s)")

    # filters: one trainee, then a date range
    pick(page, "filter-trainee", "bruno")
    expect(count).to_contain_text("5 appel(s)")
    expect(table).not_to_contain_text("alice")
    page.locator("#filter-from input").fill("2026-10-10")
    page.locator("#filter-from input").press("Enter")
    page.locator("#filter-to input").fill("2026-10-20")
    page.locator("#filter-to input").press("Enter")
    expect(count).to_contain_text("3 appel(s)")
    pick(page, "filter-sort", "Moins bonne note d'abord")
    expect(count).to_contain_text("3 appel(s)")

    # open a call from the table
    page.screenshot(path=str(tmp_path / "before-open.png"), full_page=True)
    table.get_by_text("bruno").filter(visible=True).first.click()
    view = page.locator("#call-view")
    expect(view).to_contain_text("Il faudrait payer quand même.")
    expect(view.locator("mark.ev-negative").first).to_be_visible()
    expect(view).to_contain_text("Humeur après ce tour")
    expect(view.locator(".tip").first).to_be_visible()
    expect(page.locator("#mood-plot")).to_be_visible()
    call_id = page.locator("#open-call-id textarea, #open-call-id input").first.input_value()
    assert call_id.startswith(tuple(c.id for c in app.calls["bruno"]))

    # override a score with a reason: the original stays visible
    pick(page, "override-turn", "#3 — Il faudrait payer quand même.")
    pick(page, "override-dimension", "Fermeté")
    page.locator("#override-score").get_by_label("4").check()
    page.locator("#override-submit").click()
    expect(page.locator(".toast-body, .toast-wrap").first).to_contain_text("raison")  # the reason is required
    page.locator("#override-reason textarea").fill("Il demande bien le paiement, il manque juste la date.")
    page.locator("#override-submit").click()
    badge = view.locator("#turn-3 .badge.overridden[data-dim='firmness']")
    expect(badge).to_have_attribute("data-score", "4")
    auto = badge.get_attribute("data-auto")
    assert auto and auto != "4"
    expect(view.locator("#turn-3")).to_contain_text("Il demande bien le paiement, il manque juste la date.")
    expect(page.locator("#audit-table")).to_contain_text("Il demande bien le paiement")

    # comment on a turn, then a verdict on the call
    pick(page, "comment-turn", "#5 — Bon, vous pouvez faire un effort ou pas ?")
    page.locator("#comment-text textarea").fill("Évitez le « ou pas » : il sonne comme une menace.")
    page.locator("#comment-submit").click()
    expect(view.locator("#turn-5 .comment")).to_contain_text("Évitez le « ou pas »")
    page.locator("#verdict-choice").get_by_label("à retravailler").check()
    page.locator("#verdict-note textarea").fill("Reprendre la demande de date.")
    page.locator("#verdict-submit").click()
    expect(view).to_contain_text("à retravailler — rita")
    expect(table).to_contain_text("à retravailler")
    page.screenshot(path=str(tmp_path / "review.png"), full_page=True)

    # exports: the printable scorecard of this call, the CSV of the selection
    page.locator("#export-call-html").click()
    with page.expect_download() as download:
        page.locator("#export-call-file a").first.click()
    scorecard = download.value.path().read_text(encoding="utf-8")
    assert "<!DOCTYPE html>" in scorecard and "Il demande bien le paiement, il manque juste la date." in scorecard
    assert "Évitez le « ou pas »" in scorecard
    page.locator("#export-selection-csv").click()
    with page.expect_download() as download:
        page.locator("#export-selection-file a").first.click()
    rows = list(csv.DictReader(io.StringIO(download.value.path().read_text(encoding="utf-8-sig"))))
    assert {r["trainee"] for r in rows} == {"bruno"} and len({r["session_id"] for r in rows}) == 3
    changed = [r for r in rows if r["overridden"] == "firmness"]
    assert len(changed) == 1 and changed[0]["firmness"] == "4" and changed[0]["firmness_auto"] == auto

    # the cohort view
    page.get_by_role("tab", name="Progression").click()
    expect(page.locator("#cohort-table")).to_contain_text("bruno")
    expect(page.locator("#cohort-table")).not_to_contain_text("chloe")
    expect(page.locator("#cohort-trend svg").first).to_be_visible()
    expect(page.locator("#progress-dimensions svg").first).to_be_visible()


def test_a_trainee_sees_only_their_calls(app, browser):
    from playwright.sync_api import expect

    page = login(browser, app, "alice")
    page.get_by_role("tab", name="Revue des appels").click()
    expect(page.locator("#sessions-count")).to_contain_text("6 appel(s)")
    table = page.locator("#sessions-table")
    expect(table).not_to_contain_text("bruno")
    expect(table).not_to_contain_text("chloe")
    # another trainee's call id typed by hand: refused
    page.locator("#open-call-id textarea, #open-call-id input").first.fill(app.calls["bruno"][0].id)
    page.locator("#open-call").click()
    expect(page.locator(".toast-body, .toast-wrap").first).to_contain_text("Aucun appel")
    expect(page.locator("body")).not_to_contain_text("Il faudrait")
    # her own call opens, read-only
    table.get_by_text("alice").filter(visible=True).first.click()
    expect(page.locator("#call-view")).to_contain_text("alice")
    expect(page.locator("#review-actions")).to_be_hidden()
    # her progress, no cohort
    page.get_by_role("tab", name="Progression").click()
    expect(page.locator("#progress-summary")).to_contain_text("alice : 6 appel(s)")
    expect(page.locator("#progress-summary")).to_contain_text("À travailler en priorité")
    expect(page.locator("#progress-dimensions svg").first).to_be_visible()
    expect(page.locator("#cohort-panel")).to_be_hidden()
