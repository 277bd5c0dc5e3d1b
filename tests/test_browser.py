"""The practice tab in Debian's Chromium, driven by Playwright, on the scripted model."""

import re
import sqlite3

import pytest

from .browser_support import running_app, chromium_page

pytestmark = pytest.mark.browser

REPLIES = ["Oui, c'est bien moi. C'est pour la facture, je suppose ?",
           "Je peux verser 1 500 euros vendredi, le reste en deux fois."]


@pytest.fixture
def app(tmp_path):
    replies = tmp_path / "replies.txt"
    replies.write_text("\n".join(REPLIES), encoding="utf-8")
    with running_app(tmp_path / "data", env={"SIMULATOR_SCRIPTED_REPLIES": str(replies)}) as proc:
        yield proc


@pytest.fixture
def page():
    with chromium_page(1280, 900) as page:
        yield page


def test_a_whole_practice_call(app, page, tmp_path):
    from playwright.sync_api import expect

    page.goto(app.url)
    # pick a scenario: the card follows
    page.locator("#scenario-select input").click()
    page.get_by_role("option", name="Récalcitrant : elle épargne pour sa maison").click()
    expect(page.locator("#scenario-card")).to_contain_text("2\u202f350 €")
    expect(page.locator("#scenario-card")).to_contain_text("65 jours")
    # start the call: the debtor picks up
    page.locator("#start-call").click()
    chat = page.locator("#call-chat")
    expect(chat).to_contain_text("Oui, allô ? C'est à quel sujet ?")
    expect(page.locator("#mood-gauges [data-gauge='trust']")).to_have_attribute("data-value", "0.40")
    # two messages, two streamed replies
    box = page.locator("#trainee-input textarea")
    box.fill("Bonjour Madame Lefèvre, je suis Paul du service relance de Rénov'Plus.")
    page.locator("#send").click()
    expect(chat).to_contain_text(REPLIES[0])
    expect(box).to_be_editable()
    # practice mode: the turn's E/F/C badges appear
    badge = page.locator("#turn-score .badge[data-dim='empathy']")
    expect(badge).to_be_visible()
    expect(page.locator("#turn-score .badge")).to_have_count(3)
    expect(page.locator("#scorecard .scorecard")).to_have_count(0)  # not before the end of the call
    box.fill("Ben euh, faut payer, quand vous voulez, pas de souci.")
    box.press("Enter")
    expect(chat).to_contain_text(REPLIES[1])
    # a weak turn: a red badge and a tip for the weak dimension
    expect(page.locator("#turn-score .badge[data-dim='firmness']")).to_have_attribute("data-score", re.compile("^[12]$"))
    expect(page.locator("#turn-score .tip[data-dim='firmness']")).to_contain_text("Conseil (Fermeté)")
    page.screenshot(path=str(tmp_path / "practice.png"))
    # hang up
    page.locator("#end-call").click()
    expect(page.locator("#call-status")).to_contain_text("Appel terminé : 5 répliques enregistrées")
    expect(page.locator("#call-status")).to_contain_text("Issue de l'appel : aucun engagement (NO_COMMITMENT)")
    expect(box).to_be_disabled()
    # the scorecard at the end of the call
    card = page.locator("#scorecard .scorecard")
    expect(card).to_be_visible()
    expect(card).to_contain_text("Bilan de l'appel")
    expect(card.locator("tr[data-dim='firmness']")).to_contain_text("Fermeté")
    expect(card).to_contain_text("2 répliques notées")
    # …and below it, every turn again with its badges and tips (the panel above only kept the last one)
    turns = page.locator("#scorecard .turn-breakdown li.turn-detail")
    expect(turns).to_have_count(2)
    expect(page.locator("#scorecard .turn-breakdown summary")).to_contain_text("Détail réplique par réplique (2)")
    expect(turns.nth(0).locator("blockquote")).to_have_text("Bonjour Madame Lefèvre, je suis Paul du service relance de Rénov'Plus.")
    expect(turns.nth(0)).to_contain_text("Réplique 1 :")
    expect(turns.nth(0).locator(".badge")).to_have_count(3)
    expect(turns.nth(1).locator("blockquote")).to_have_text("Ben euh, faut payer, quand vous voulez, pas de souci.")
    expect(turns.nth(1).locator(".badge[data-dim='firmness']")).to_have_attribute("data-score", re.compile("^[12]$"))
    expect(turns.nth(1).locator(".tip[data-dim='firmness']")).to_contain_text("Conseil (Fermeté)")
    # every turn is in the database
    db = sqlite3.connect(tmp_path / "data" / "simulator.db")
    rows = db.execute("SELECT t.speaker, t.text, s.status, s.scenario_id FROM turns t JOIN sessions s ON s.id = t.session_id "
                      "ORDER BY t.idx").fetchall()
    assert [r[0] for r in rows] == ["debtor", "agent", "debtor", "agent", "debtor"]
    assert rows[1][1] == "Bonjour Madame Lefèvre, je suis Paul du service relance de Rénov'Plus."
    assert rows[4][1] == REPLIES[1]
    assert {r[2] for r in rows} == {"ended"} and {r[3] for r in rows} == {"recalcitrant"}
    assert db.execute("SELECT outcome FROM sessions").fetchone()[0] == "NO_COMMITMENT"


def test_an_insulting_trainee_is_hung_up_on_in_exam_mode(app, page):
    from playwright.sync_api import expect

    page.goto(app.url)
    page.locator("#scenario-select input").click()
    page.get_by_role("option", name="Sous tension : un dirigeant à bout").click()
    page.get_by_label("Examen (rien avant la fin)").check()
    page.locator("#start-call").click()
    expect(page.locator("#call-chat")).to_contain_text("faites vite")
    expect(page.locator("#mood-gauges")).not_to_contain_text("Confiance")  # nothing shown in exam mode
    box = page.locator("#trainee-input textarea")
    box.fill("Escroc ! Si vous ne payez pas, l'huissier va saisir vos camions !!!")
    box.press("Enter")
    expect(page.locator("#call-status")).to_contain_text("le débiteur a raccroché (HUNG_UP)")
    expect(box).to_be_disabled()
    expect(page.locator("#turn-score .badge")).to_have_count(0)  # exam mode: no feedback during the call
    card = page.locator("#scorecard .scorecard")  # …but the scorecard at the end, with the offending words
    expect(card).to_have_attribute("data-passed", "false")
    expect(card.locator(".verdict")).to_contain_text("Échoué")
    expect(card.locator("li.critical[data-rule='FR-INSULT']")).to_contain_text("Escroc")
    expect(card.locator("li.critical[data-rule='FR-THREAT']")).to_contain_text("huissier")
    # the turn the trainee never saw scored during the exam, with its badges and the rules it broke
    turn = page.locator("#scorecard .turn-breakdown li.turn-detail")
    expect(turn).to_have_count(1)
    expect(turn.locator(".violation[data-rule='FR-INSULT']")).to_be_visible()
    expect(turn.locator(".badge[data-dim='empathy']")).to_have_attribute("data-score", "1")
