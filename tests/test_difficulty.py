"""Difficulty levels change the engine's numbers, and so what the same trainee lines achieve."""

from pathlib import Path

import pytest

from simulator.debtor.engine import DebtorEngine
from simulator.difficulty import PROFILES, tune
from simulator.llm import ScriptedModel
from simulator.runtime import Simulator
from simulator.scenario import load_scenarios, parse_scenario_text
from simulator.selftest import dry_run, run_path

SCENARIOS = Path(__file__).resolve().parent.parent / "scenarios"


@pytest.fixture(scope="module")
def library():
    return {sid: sf.scenario for sid, sf in load_scenarios(SCENARIOS).scenarios.items()}


def test_medium_plays_the_numbers_written_in_the_file(library):
    s = library["recalcitrant"]
    t = tune(s, "medium")
    assert t.initial == s.state.initial and t.sensitivity == s.state.sensitivity
    assert t.hang_up == s.hang_up.irritation and t.requires == s.concessions.requires
    assert t.unlocks == tuple(f.unlock for f in s.hidden_facts)


def test_easy_forgives_more_and_hard_less(library):
    s = library["sous-tension"]
    easy, medium, hard = (tune(s, level) for level in ("easy", "medium", "hard"))
    assert easy.sensitivity.empathy > medium.sensitivity.empathy > hard.sensitivity.empathy
    assert easy.sensitivity.firmness > medium.sensitivity.firmness > hard.sensitivity.firmness
    assert easy.sensitivity.hostility < medium.sensitivity.hostility < hard.sensitivity.hostility
    assert easy.initial.irritation < medium.initial.irritation < hard.initial.irritation
    assert easy.hang_up > medium.hang_up > hard.hang_up
    assert easy.requires.trust < medium.requires.trust < hard.requires.trust
    assert easy.requires.willingness < medium.requires.willingness < hard.requires.willingness
    # irritation_below conditions get stricter when the bar rises
    assert easy.unlocks[0].irritation_below > medium.unlocks[0].irritation_below > hard.unlocks[0].irritation_below
    assert easy.topic_trust < medium.topic_trust < hard.topic_trust


def test_the_file_difficulty_is_the_default_level(library):
    assert DebtorEngine(library["sous-tension"]).level == "hard"
    assert DebtorEngine(library["sous-tension"], "easy").level == "easy"
    assert DebtorEngine(library["difficulte-passagere"]).tuning == tune(library["difficulte-passagere"], "easy")


def test_a_borderline_path_succeeds_on_easy_and_fails_on_hard(library):
    s = library["recalcitrant"]
    path = next(p for p in s.selftest if p.name == "ferme-et-poli")
    outcomes = {level: dry_run(s, path, level).outcome for level in PROFILES}
    assert outcomes == {"easy": "PTP", "medium": "PTP", "hard": "NO_COMMITMENT"}
    dispute = library["litige-livraison"]
    listen = next(p for p in dispute.selftest if p.name == "ecoute-et-litige")
    medium, hard = dry_run(dispute, listen, "medium"), dry_run(dispute, listen, "hard")
    assert medium.outcome == "DISPUTE"
    # Scored by the rubric engine this listening path earns just enough trust on hard too (0.55 against a
    # bar of 0.55); what hard must change is how far it gets: less trust for the same lines.
    assert hard.moves[-1].state.trust < medium.moves[-1].state.trust


def test_hostility_hangs_up_sooner_on_hard(library):
    s = library["difficulte-passagere"]
    path = next(p for p in s.selftest if p.expect == "HUNG_UP")
    turns = {level: len(dry_run(s, path, level).moves) for level in PROFILES}
    assert turns["hard"] < turns["easy"]
    # and the same threats do not make a key account hang up on easy
    key = library["compte-cle"]
    threat = next(p for p in key.selftest if p.name == "menace")
    assert dry_run(key, threat, "hard").outcome == "HUNG_UP"
    assert dry_run(key, threat, "easy").outcome != "HUNG_UP"


def test_unknown_level_is_refused(library):
    with pytest.raises(ValueError, match="easy, medium, hard"):
        tune(library["recalcitrant"], "nightmare")


PINNED = (SCENARIOS / "recalcitrant.yaml").read_text(encoding="utf-8").replace(
    "  - name: vague\n", "  - name: ferme-mais-difficile\n    expect: NO_COMMITMENT\n    difficulty: hard\n    turns:\n"
    "      - \"Bonjour Madame Lefèvre, je suis Paul Girard de Rénov'Plus. Je vous appelle au sujet de la facture F-7781 de 2 350 euros, impayée depuis 65 jours.\"\n"
    "      - \"Je comprends que vous ayez un projet immobilier. Mais la facture F-7781 est due : je vous demande une date précise de paiement.\"\n"
    "      - \"Je vous demande un engagement : pouvez-vous régler la totalité, 2 350 €, le 5 décembre ?\"\n"
    "  - name: vague\n")


async def test_a_path_can_pin_its_level_and_the_call_records_it(settings, tmp_path):
    sf = parse_scenario_text(PINNED, tmp_path / "recalcitrant.yaml")
    pinned = next(p for p in sf.scenario.selftest if p.name == "ferme-mais-difficile")
    assert pinned.difficulty == "hard" and dry_run(sf.scenario, pinned).outcome == "NO_COMMITMENT"
    sim = Simulator(settings, model=ScriptedModel(["Bon…"]))
    result = await run_path(sim, sf, pinned, runs=1)
    assert result.passed and dict(result.outcomes) == {"NO_COMMITMENT": 1}
    sim.store.close()
    import json
    import sqlite3

    db = sqlite3.connect(settings.data_dir / "simulator.db")
    scenario_json, detail = db.execute("SELECT scenario_json, outcome_json FROM sessions").fetchone()
    assert json.loads(scenario_json)["difficulty"] == "hard"  # frozen as played, not as the file's default
    assert json.loads(detail)["difficulty"] == "hard"


async def test_a_trainee_can_pick_the_level_of_a_call(settings):
    sim = Simulator(settings, model=ScriptedModel(["Oui ?"]))
    call = await sim.start_call("recalcitrant", difficulty="easy")
    assert call.engine.level == "easy"
    assert call.engine.state.irritation == pytest.approx(0.15)  # 0.2 in the file, calmer on easy
    await sim.end_call(call.id)
    sim.store.close()
