"""The trainers' Scenarios tab in Debian's Chromium: broken uploads are refused, valid ones reach the practice tab."""

import shutil

import pytest

from simulator.authoring import scaffold

from .browser_support import running_app, chromium_page
from .conftest import SCENARIOS

pytestmark = pytest.mark.browser

BROKEN_ON_DISK = "id: casse\ntitle: Cassé\nlanguage: fr\ndifficulty: easy\n"  # persona, debt… missing


@pytest.fixture
def library(tmp_path):
    folder = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    (folder / "casse.yaml").write_text(BROKEN_ON_DISK, encoding="utf-8")
    return folder


@pytest.fixture
def app(tmp_path, library):
    with running_app(tmp_path / "data", env={"SIMULATOR_SCENARIOS_DIR": str(library)}) as proc:
        yield proc


@pytest.fixture
def page():
    with chromium_page(1400, 1000) as page:
        yield page


def valid_text() -> str:
    return scaffold("garage-martin", "fr").replace(
        'title: "Titre court affiché sur la fiche du scénario"', 'title: "Garage Martin : le chèque égaré"')


def test_upload_broken_then_valid_scenario(app, page, library, tmp_path):
    from playwright.sync_api import expect

    page.goto(app.url)
    page.locator("#tab-scenarios-button").click()
    table = page.locator("#scenario-library")
    # the library: shipped files valid with their self-tests, the broken file listed with its problems
    expect(table.locator("tr[data-file='recalcitrant.yaml']")).to_have_attribute("data-status", "valid")
    expect(table.locator("tr[data-file='recalcitrant.yaml']")).to_contain_text("3/3")
    broken_row = table.locator("tr[data-file='casse.yaml']")
    expect(broken_row).to_have_attribute("data-status", "invalid")
    expect(broken_row).to_contain_text("persona: Field required")
    before = sorted(p.name for p in library.iterdir())

    # 1. a broken file: its problems are shown with their line, and saving writes nothing
    broken = tmp_path / "brouillon.yaml"
    broken.write_text(valid_text().replace("  amount: 2400 ", "  amount: -5 ").replace(
        "  days_overdue: 30\n", "  days_overdue: 30\n  retard: beaucoup\n"), encoding="utf-8")
    page.locator("#scenario-upload input[type=file]").set_input_files(str(broken))
    validation = page.locator("#scenario-validation")
    expect(validation).to_contain_text("2 problème(s)")
    expect(validation).to_contain_text("debt.amount: Input should be greater than 0")
    expect(validation).to_contain_text("debt.retard: unknown key")
    amount_line = next(i for i, line in enumerate(broken.read_text().splitlines(), 1) if "amount: -5" in line)
    expect(validation).to_contain_text(f"{amount_line}: debt.amount:")
    page.locator("#scenario-save").click()
    expect(page.locator("#scenario-save-status")).to_contain_text("rien n'a été enregistré")
    assert sorted(p.name for p in library.iterdir()) == before
    page.screenshot(path=str(tmp_path / "scenarios-broken.png"), full_page=True)

    # 2. a valid file: self-tests shown, "try it" plays them on the backend, saving adds it to the library
    good = tmp_path / "garage-martin.yaml"
    good.write_text(valid_text(), encoding="utf-8")
    page.locator("#scenario-upload input[type=file]").set_input_files(str(good))
    expect(validation).to_contain_text("Fichier valide (id garage-martin)")
    expect(validation).to_contain_text("empathique-et-ferme")
    page.locator("#scenario-try").click()
    results = page.locator("#scenario-try-results")
    expect(results).to_contain_text("Auto-tests joués sur scripted", timeout=60_000)
    expect(results).to_contain_text("PLAN × 3")
    expect(page.locator("#scenario-try-transcript")).to_contain_text("Claire Martin du service relance")
    page.locator("#scenario-save").click()
    expect(page.locator("#scenario-save-status")).to_contain_text("Enregistré : garage-martin.yaml")
    assert (library / "garage-martin.yaml").read_text(encoding="utf-8") == good.read_text(encoding="utf-8")
    expect(table.locator("tr[data-file='garage-martin.yaml']")).to_have_attribute("data-status", "valid")
    page.screenshot(path=str(tmp_path / "scenarios-saved.png"), full_page=True)

    # 3. it appears in the practice tab's scenario list, and a call starts on it
    page.locator("#tab-practice-button, button[role=tab]:has-text('Entraînement')").first.click()
    page.locator("#scenario-select input").click()
    page.get_by_role("option", name="Garage Martin : le chèque égaré").click()
    expect(page.locator("#scenario-card")).to_contain_text("2\u202f400 €")
    # the trainee may pick another level than the file's
    page.locator("#call-level input").click()
    page.get_by_role("option", name="difficile").click()
    page.locator("#start-call").click()
    expect(page.locator("#call-chat")).to_contain_text("Dupont Rénovation, bonjour.")
    import json
    import sqlite3

    db = sqlite3.connect(tmp_path / "data" / "simulator.db")
    sid, scenario_json = db.execute("SELECT scenario_id, scenario_json FROM sessions WHERE mode = 'practice'").fetchone()
    assert sid == "garage-martin" and json.loads(scenario_json)["difficulty"] == "hard"
