"""The Scenarios tab's logic without a browser: validation text, library listing, saving rules, permission."""

import shutil

import gradio as gr
import pytest

from simulator.authoring import scaffold
from simulator.llm import ScriptedModel
from simulator.runtime import Simulator
from simulator.settings import PROJECT_ROOT, Settings
from simulator.ui.scenarios_tab import (
    build_scenarios_tab, check_text, library_html, library_rows, results_markdown, save_text, slug,
    validation_markdown,
)

from .conftest import SCENARIOS


@pytest.fixture
def sim(tmp_path):
    folder = tmp_path / "scenarios"
    shutil.copytree(SCENARIOS, folder)
    (folder / "casse.yaml").write_text("id: casse\ntitle: Cassé\n", encoding="utf-8")
    simulator = Simulator(Settings(backend="scripted", data_dir=tmp_path / "data", scenarios_dir=folder),
                          model=ScriptedModel(["Oui ?"]))
    yield simulator
    simulator.store.close()


def good(sid="garage-martin", title="Garage Martin"):
    return scaffold(sid, "fr").replace('title: "Titre court affiché sur la fiche du scénario"', f'title: "{title}"')


def test_problems_are_shown_as_line_field_message():
    text = good().replace("  amount: 2400 ", "  amount: -5 ")
    check = check_text(text, "brouillon.yaml")
    assert not check.valid
    line = next(i for i, l in enumerate(text.splitlines(), 1) if "amount: -5" in l)
    assert check.problems == [f"{line}: debt.amount: Input should be greater than 0 (use a positive number)"]
    shown = validation_markdown(check, "fr")
    assert "1 problème(s)" in shown and f"`{line}: debt.amount:" in shown


def test_yaml_syntax_errors_and_empty_text():
    assert check_text("title: [oops\n", "x.yaml").problems[0].startswith("2: YAML syntax:")
    assert check_text("   ", "x.yaml").problems == ["1: (file): the file is empty (write a scenario, or start from a new one)"]


def test_a_valid_text_shows_its_self_tests():
    check = check_text(good(), "garage-martin.yaml")
    shown = validation_markdown(check, "en")
    assert "Valid file (id `garage-martin`)" in shown
    assert "`empathique-et-ferme` (medium): expected PLAN, reached PLAN" in shown
    one_path = good().split("  - name: agressif")[0]
    assert "at least two self-test paths" in validation_markdown(check_text(one_path, "g.yaml"), "en")


def test_library_lists_valid_and_invalid_files(sim):
    rows = {r.file: r for r in library_rows(sim)}
    assert rows["casse.yaml"].problems and not rows["casse.yaml"].valid
    assert any("persona: Field required" in p for p in rows["casse.yaml"].problems)
    assert all(r.passed for r in rows["recalcitrant.yaml"].runs) and len(rows["recalcitrant.yaml"].runs) == 3
    page = library_html(list(rows.values()), "fr")
    assert "13 scénario(s) valide(s), 1 fichier(s) invalide(s)." in page
    assert "data-file='casse.yaml' data-status='invalid'" in page


def test_an_invalid_text_is_never_written(sim):
    folder = sim.settings.scenarios_dir
    before = sorted(p.name for p in folder.iterdir())
    with pytest.raises(Exception, match="rien n'a été enregistré"):
        save_text(sim, good().replace("language: fr", "language: de"), editing=None, replace=False, lang="fr")
    assert sorted(p.name for p in folder.iterdir()) == before


def test_a_valid_text_is_saved_under_its_id_and_joins_the_library(sim):
    target = save_text(sim, good(), editing=None, replace=False, lang="fr")
    assert target == sim.settings.scenarios_dir / "garage-martin.yaml"
    assert "garage-martin" in sim.scenarios.scenarios  # reloaded
    assert not list(sim.settings.scenarios_dir.glob(".*.tmp"))  # written through a temporary file


def test_the_schema_line_is_added_when_missing(sim):
    text = "\n".join(good().splitlines()[1:]) + "\n"
    target = save_text(sim, text, editing=None, replace=False, lang="en")
    first = target.read_text(encoding="utf-8").splitlines()[0]
    # a library outside the project points at the schema by its absolute path
    assert first == f"# yaml-language-server: $schema={PROJECT_ROOT / 'schemas' / 'scenario.schema.json'}"


def test_an_uploaded_file_without_id_takes_its_file_name(sim):
    text = good().replace("id: garage-martin ", "# no id ")
    target = save_text(sim, text, editing=None, draft_name="Garage Martin.yaml", replace=False, lang="en")
    assert target.name == "garage-martin.yaml"


def test_saving_never_overwrites_another_scenario_silently(sim):
    # a new text named like an existing scenario: only with "replace"
    with pytest.raises(Exception, match="recalcitrant.yaml already exists: tick \"Replace\""):
        save_text(sim, good("recalcitrant"), editing=None, replace=False, lang="en")
    # another file taking the id of an existing scenario: never
    with pytest.raises(Exception, match="already used by recalcitrant.yaml"):
        save_text(sim, good("recalcitrant"), editing="difficulte-passagere.yaml", replace=True, lang="en")
    assert sim.scenarios.scenarios["recalcitrant"].scenario.persona.name == "Sandrine Lefèvre"
    # a file of that name that is not a valid scenario: only with "replace"
    (sim.settings.scenarios_dir / "garage-martin.yaml").write_text("broken: [", encoding="utf-8")
    sim.reload_scenarios()
    with pytest.raises(Exception, match="already exists"):
        save_text(sim, good(), editing=None, replace=False, lang="en")
    assert save_text(sim, good(), editing=None, replace=True, lang="en").name == "garage-martin.yaml"
    assert "garage-martin" in sim.scenarios.scenarios


def test_editing_a_library_file_overwrites_it(sim):
    text = (sim.settings.scenarios_dir / "recalcitrant.yaml").read_text(encoding="utf-8")
    changed = text.replace("days_overdue: 65", "days_overdue: 70")
    target = save_text(sim, changed, editing="recalcitrant.yaml", replace=False, lang="fr")
    assert target.name == "recalcitrant.yaml"
    assert sim.scenarios.scenarios["recalcitrant"].scenario.debt.days_overdue == 70
    # fixing a broken file in place
    fixed = good("casse", "Cassé, réparé")
    assert save_text(sim, fixed, editing="casse.yaml", replace=False, lang="fr").name == "casse.yaml"
    assert "casse" in sim.scenarios.scenarios and not sim.scenarios.broken


async def test_results_table_of_a_try(sim):
    from simulator.selftest import run_path

    sf = check_text(good(), "garage-martin.yaml").scenario_file
    results = [await run_path(sim, sf, path, runs=2) for path in sf.scenario.selftest]
    table = results_markdown(results, "fr")
    assert "| ✅ `empathique-et-ferme` | PLAN | 100% | PLAN × 2 |" in table
    assert "garage-martin" not in sim.scenarios.scenarios  # trying does not save


def test_slug():
    assert slug("Gérard Ponsard") == "gerard-ponsard" and slug("!!!") == "nouveau-scenario"


def _fn(demo, name):
    return next(block_fn.fn for block_fn in demo.fns.values() if getattr(block_fn.fn, "__name__", "") == name)


def test_the_permission_hook_guards_saving(sim):
    with gr.Blocks() as demo:
        build_scenarios_tab(sim, allowed=lambda request: False)
    before = sorted(p.name for p in sim.settings.scenarios_dir.iterdir())
    with pytest.raises(gr.Error, match="réservé aux formateurs"):
        _fn(demo, "on_save")(good(), None, None, False, None)
    assert sorted(p.name for p in sim.settings.scenarios_dir.iterdir()) == before
    with gr.Blocks() as open_demo:
        build_scenarios_tab(sim)
    status, *_ = _fn(open_demo, "on_save")(good(), None, None, False, None)
    assert status.startswith("✅") and (sim.settings.scenarios_dir / "garage-martin.yaml").exists()


def test_an_engine_failure_on_one_path_is_shown_not_raised(sim, monkeypatch):
    import simulator.selftest as selftest

    def boom(scenario, path, level=None):
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(selftest, "dry_run", boom)
    rows = {r.file: r for r in library_rows(sim)}
    run = rows["recalcitrant.yaml"].runs[0]
    assert not run.passed and run.outcome == "ERROR (ZeroDivisionError: division by zero)"
    assert "0/3" in library_html(list(rows.values()), "en")


def test_the_tab_is_hidden_from_those_not_allowed(sim):
    from simulator.ui.practice import build_practice_tab

    def trainers_only(request):
        return getattr(request, "username", None) == "formatrice"

    with gr.Blocks() as demo:
        with gr.Tab("Entraînement"):
            practice = build_practice_tab(sim)
        with gr.Tab("Scénarios") as tab:
            handle = build_scenarios_tab(sim, allowed=trainers_only, practice=practice)
        handle.attach(demo, tab, practice)
    on_load = _fn(demo, "on_load")

    class Request:
        username = "stagiaire"

    visibility, library, opener, choices, box, problems = on_load(Request())
    assert visibility["visible"] is False
    Request.username = "formatrice"
    visibility, library, opener, choices, box, problems = on_load(Request())
    assert visibility["visible"] is True and "casse.yaml" in library
    assert ("Récalcitrant : elle épargne pour sa maison", "recalcitrant") in choices["choices"]
    assert box["visible"] is True and "(1)" in box["label"] and "**casse.yaml**" in problems["value"]


def test_reloading_the_folder_refreshes_the_practice_tabs_invalid_files(sim):
    """A file fixed (or broken) on disk shows up in the practice tab after a reload, without a restart."""
    from simulator.ui.practice import build_practice_tab

    with gr.Blocks() as demo:
        with gr.Tab("Entraînement"):
            practice = build_practice_tab(sim)
        with gr.Tab("Scénarios") as tab:
            handle = build_scenarios_tab(sim, practice=practice)
        handle.attach(demo, tab, practice)
    on_reload = _fn(demo, "on_reload")
    folder = sim.settings.scenarios_dir
    (folder / "casse.yaml").unlink()
    library, opener, choices, box, problems = on_reload()
    assert box["visible"] is False and "0" in box["label"] and problems["value"] == ""
    (folder / "aussi-casse.yaml").write_text("id: [oops\n", encoding="utf-8")
    (folder / "vide.yaml").write_text("", encoding="utf-8")
    library, opener, choices, box, problems = on_reload()
    assert box["visible"] is True and "(2)" in box["label"]
    assert "**aussi-casse.yaml**" in problems["value"] and "**vide.yaml**" in problems["value"]
    assert "recalcitrant" in [value for _, value in choices["choices"]]


def test_importing_a_card_in_the_tab_fills_the_editor(sim):
    from pathlib import Path

    with gr.Blocks() as demo:
        build_scenarios_tab(sim)
    on_card = _fn(demo, "on_card")
    text, label, editing, draft = on_card(str(Path(__file__).parent / "data" / "card_v2_gerard.json"))
    assert "card_v2_gerard.json" in label and editing is None and draft == "gerard-ponsard.yaml"
    check = check_text(text, draft)
    assert check.valid and check.scenario_file.scenario.persona.name == "Gérard Ponsard"
    with pytest.raises(gr.Error, match="not a Character Card V2"):
        on_card(str(Path(__file__).parent / "data" / "card_v1_plain.json"))
