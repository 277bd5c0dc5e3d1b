"""Dismissing a flagged compliance violation in the review tab, in Debian's Chromium (Playwright)."""

from __future__ import annotations

import pytest

from simulator.store import Store

from .browser_support import chromium, running_app
from .review_support import make_call, make_team
from .test_browser_review import login

pytestmark = pytest.mark.browser
REASON = "Il cite la lettre d'huissier que la cliente a reçue, ce n'est pas une menace."


@pytest.fixture
def app(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = Store(f"sqlite:///{data / 'simulator.db'}", heartbeat_seconds=0)
    make_team(store)
    # alice's call whose only critical error is the bailiff line on turn #3; its scores clear a pass mark of 1.5
    call = make_call(store, trainee="alice", quality="critical", pass_mark=1.5, seed=42)
    store.close()
    with running_app(data) as proc:
        proc.call, proc.data = call, data
        yield proc


def test_a_reviewer_dismisses_a_violation_and_the_trainee_reads_why(app, tmp_path):
    from playwright.sync_api import expect

    with chromium() as browser:
        page = login(browser, app, "rita")
        page.get_by_role("tab", name="Revue des appels").click()
        expect(page.locator("#sessions-count")).to_contain_text("12 appel(s)")
        page.locator("#open-call-id textarea, #open-call-id input").first.fill(app.call.id[:10])
        page.locator("#open-call").click()
        view = page.locator("#call-view")
        expect(view.locator("#turn-3 mark.violation")).to_be_visible()
        expect(view.locator("[data-metric='critical']")).to_have_attribute("data-count", "1")
        expect(view.locator("[data-metric='overall']")).to_have_attribute("data-passed", "false")

        # the turn with the error: its violation is offered, picked already
        page.locator("#override-turn input").click()
        page.get_by_role("option", name="#3 — Si vous ne payez pas").click()
        rule = page.locator("#violation-rule input")
        expect(rule).to_have_value("FR-THREAT — menace : « l'huissier passe demain saisir vos meubles »")
        expect(page.locator("#violation-rule")).to_contain_text("1 erreur(s) critique(s) ou signalement(s) à vérifier sur ce tour")

        # no reason: refused, nothing changes
        page.locator("#violation-dismiss").click()
        expect(page.locator(".toast-body, .toast-wrap").first).to_contain_text("raison pour écarter")
        expect(view.locator("[data-metric='critical']")).to_have_attribute("data-count", "1")

        page.locator("#violation-reason textarea").fill(REASON)
        page.locator("#violation-dismiss").click()
        note = view.locator("#turn-3 li.violation.dismissed[data-rule='FR-THREAT']")
        expect(note).to_contain_text(f"écartée par rita : {REASON}")
        expect(note.locator("s")).to_contain_text("FR-THREAT")
        expect(view.locator("#turn-3 mark.violation-dismissed")).to_be_visible()
        expect(view.locator("#turn-3 mark.violation")).to_have_count(0)
        expect(view.locator("[data-metric='critical']")).to_have_attribute("data-count", "0")
        overall = view.locator("[data-metric='overall']")
        expect(overall).to_have_attribute("data-passed", "true")
        expect(overall.locator("s[data-auto-result='false']")).to_have_text("échoué")
        expect(page.locator("#violation-reason textarea")).to_have_value("")
        expect(rule).to_have_value("FR-THREAT — menace : « l'huissier passe demain saisir vos meubles » (écartée)")
        expect(page.locator("#audit-table")).to_contain_text("erreur écartée")
        expect(page.locator("#audit-table")).to_contain_text(REASON)
        expect(page.locator("#sessions-table")).to_contain_text("échoué → réussi")
        page.screenshot(path=str(tmp_path / "dismissed.png"), full_page=True)

        # the same error dismissed twice: refused with who did it
        page.locator("#violation-reason textarea").fill("encore")
        page.locator("#violation-dismiss").click()
        expect(page.locator(".toast-body, .toast-wrap").first).to_contain_text("déjà écartée (par rita)")

        # the trainee, on her call: the error struck through, the reason, the call passed
        trainee = login(browser, app, "alice")
        trainee.get_by_role("tab", name="Revue des appels").click()
        trainee.locator("#open-call-id textarea, #open-call-id input").first.fill(app.call.id)
        trainee.locator("#open-call").click()
        seen = trainee.locator("#call-view")
        expect(seen.locator("#turn-3 li.violation.dismissed")).to_contain_text(f"écartée par rita : {REASON}")
        expect(seen.locator("[data-metric='overall']")).to_have_attribute("data-passed", "true")
        expect(trainee.locator("#review-actions")).to_be_hidden()
