"""Take the screenshots of docs/team-leads.md with Playwright and Debian's Chromium.

    .venv/bin/python docs/screenshots.py

Seeds a throwaway store with a demo team (the same calls the tests use),
starts the app on 127.0.0.1 with the scripted model, logs in as a reviewer
and as a trainee, and writes docs/img/*.png.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulator.auth import Access  # noqa: E402
from simulator.reviews import Reviews  # noqa: E402
from simulator.settings import Settings  # noqa: E402
from simulator.store import Store  # noqa: E402
from tests.browser_support import CHROMIUM, CHROMIUM_ARGS, AppProcess  # noqa: E402
from tests.review_support import make_team  # noqa: E402

IMG = ROOT / "docs" / "img"
PASSWORD = "motdepasse-1"


def seed(data: Path) -> dict:
    store = Store(f"sqlite:///{data / 'simulator.db'}", heartbeat_seconds=0)
    calls = make_team(store)
    access = Access(store, Settings())
    reviews = Reviews(store, access)
    adam = access.user("adam")
    chloe_threat = calls["chloe"][1]
    reviews.comment(adam, chloe_threat.id, chloe_threat.agent_turns[1],
                    "Menace d'huissier sans titre exécutoire : interdit (L121-2). À reprendre en séance.")
    reviews.set_verdict(adam, chloe_threat.id, "fail", "Erreur critique : menace.")
    store.close()
    return calls


def main() -> None:
    from playwright.sync_api import expect, sync_playwright

    IMG.mkdir(parents=True, exist_ok=True)
    data = Path(tempfile.mkdtemp(prefix="sim-shots-")) / "data"
    data.mkdir()
    calls = seed(data)
    app = AppProcess(data)
    try:
        app.wait()
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)

            def login(user: str):
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.set_default_timeout(20_000)
                page.goto(app.url)
                page.locator("input[type=text]").first.fill(user)
                page.locator("input[type=password]").fill(PASSWORD)
                return page

            page = login("rita")
            page.screenshot(path=str(IMG / "login.png"))
            page.get_by_role("button", name="Login").click()
            expect(page.locator("#who-is-here")).to_contain_text("rita")

            # the review list, filtered on one trainee
            page.get_by_role("tab", name="Revue des appels").click()
            expect(page.locator("#sessions-count")).to_contain_text("11 appel(s)")
            page.locator("#filter-trainee input").click()
            page.get_by_role("option", name="bruno", exact=True).click()
            expect(page.locator("#sessions-count")).to_contain_text("5 appel(s)")
            page.wait_for_timeout(500)
            page.screenshot(path=str(IMG / "review-list.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 820})

            # open a call, override a score with a reason, comment
            page.locator("#sessions-table").get_by_text("bruno").filter(visible=True).nth(2).click()
            view = page.locator("#call-view")
            expect(view).to_contain_text("Il faudrait payer quand même.")
            page.locator("#override-turn input").click()
            page.get_by_role("option", name="#3 — Il faudrait payer quand même.", exact=True).click()
            page.locator("#override-dimension input").click()
            page.get_by_role("option", name="Fermeté", exact=True).click()
            page.locator("#override-score").get_by_label("4").check()
            page.locator("#override-reason textarea").fill("Il demande bien le paiement ; il manque seulement la date.")
            page.locator("#override-submit").click()
            expect(view.locator("#turn-3 .badge.overridden")).to_be_visible()
            page.locator("#comment-turn input").click()
            page.get_by_role("option", name="#5 — Bon, vous pouvez faire un effort ou pas ?", exact=True).click()
            page.locator("#comment-text textarea").fill("Le « ou pas » sonne comme une menace : proposez deux dates.")
            page.locator("#comment-submit").click()
            expect(view.locator("#turn-5 .comment")).to_be_visible()
            page.evaluate("document.querySelectorAll('.toast-wrap').forEach(t => t.remove())")  # confirmations
            page.locator("#call-panel").screenshot(path=str(IMG / "review-call.png"))
            page.locator("#review-actions").screenshot(path=str(IMG / "review-actions.png"))

            # progress: one trainee, then the team
            page.get_by_role("tab", name="Progression").click()
            expect(page.locator("#progress-summary")).to_contain_text("alice")
            page.wait_for_timeout(1500)
            page.screenshot(path=str(IMG / "progress-trainee.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 1000},
                            full_page=True)
            page.locator("#cohort-panel").screenshot(path=str(IMG / "progress-cohort.png"))

            # a trainee sees only her calls
            page = login("alice")
            page.get_by_role("button", name="Login").click()
            page.get_by_role("tab", name="Revue des appels").click()
            expect(page.locator("#sessions-count")).to_contain_text("6 appel(s)")
            page.wait_for_timeout(500)
            page.screenshot(path=str(IMG / "trainee-view.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 760})
            browser.close()
    finally:
        app.stop()
    print(f"screenshots written to {IMG} ({sum(len(c) for c in calls.values())} demo calls)")


if __name__ == "__main__":
    main()
