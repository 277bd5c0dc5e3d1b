"""The debtor engine: state rules, decisions, outcomes, self-test paths."""

from datetime import date

import pytest

from simulator.debtor.engine import DebtorEngine
from simulator.rubric.signals import signals_alone
from simulator.debtor.state import DebtorState, Sensitivity, update_state
from simulator.llm import ScriptedModel
from simulator.runtime import Simulator
from simulator.scenario import load_scenarios
from simulator.selftest import run_selftests

CALL = date(2024, 11, 4)
NEUTRAL = "Je vous appelle au sujet de la facture FA-2024-0312."


def moved(text, state=None, sensitivity=None, debtor_before=""):
    state = state or DebtorState(trust=0.4, irritation=0.3, willingness=0.4)
    signals = signals_alone(text, "fr", CALL, debtor_before=debtor_before)
    return state, update_state(state, signals, sensitivity or Sensitivity())


def test_hostile_line_visibly_raises_irritation():
    for line in ("Vous êtes un escroc, payez !", "Si vous ne payez pas, l'huissier viendra saisir vos biens.",
                 "PAYEZ MAINTENANT CETTE FACTURE"):
        before, after = moved(line)
        assert after.irritation >= before.irritation + 0.25, line
        assert after.trust < before.trust
    _, neutral = moved(NEUTRAL)
    assert neutral.irritation < 0.3


def test_reformulating_the_difficulty_visibly_raises_trust():
    before, after = moved("Si je comprends bien, votre client vous a payé en retard et ça vous met en difficulté ?",
                          debtor_before="Mon plus gros client m'a payé avec deux mois de retard, je suis à sec.")
    _, neutral = moved(NEUTRAL)
    assert after.trust >= before.trust + 0.15
    assert after.trust > neutral.trust + 0.15


def test_sensitivity_scales_the_reaction():
    _, calm = moved("Vous êtes un menteur.", sensitivity=Sensitivity(hostility=0.5))
    _, touchy = moved("Vous êtes un menteur.", sensitivity=Sensitivity(hostility=2.0))
    assert touchy.irritation > calm.irritation + 0.3


@pytest.fixture
def passagere(scenarios_dir):
    return load_scenarios(scenarios_dir).scenarios["difficulte-passagere"].scenario


def warm(engine):
    engine.state = DebtorState(trust=0.7, irritation=0.1, willingness=0.7)


def test_acceptable_proposal_is_accepted(passagere):
    engine = DebtorEngine(passagere)
    warm(engine)
    move = engine.step("Pouvez-vous verser 1 500 € vendredi, puis le reste en trois fois ?")
    assert move.beat == "accept" and move.ends_call
    assert (move.terms.amount, move.terms.date, move.terms.instalments) == (1500, date(2024, 11, 8), 3)
    assert engine.final_outcome() == "PLAN"
    assert "1\u202f500 € le vendredi 8 novembre, puis le reste en 3 fois" in engine.direction(move)


def test_too_large_a_proposal_gets_a_counter_offer(passagere):
    engine = DebtorEngine(passagere)
    warm(engine)
    move = engine.step("Pouvez-vous régler la totalité, 4 800 €, demain ?")
    assert move.beat == "counter"
    assert move.terms.amount == 1500 and move.terms.instalments == 3
    assert engine.final_outcome() == "NO_COMMITMENT"


def test_a_date_too_far_gets_a_counter_offer(passagere):
    engine = DebtorEngine(passagere)
    warm(engine)
    move = engine.step("Vous pourriez verser 1 000 € le 15 janvier ?")
    assert move.beat == "counter" and move.terms.date == date(2024, 11, 24)


def test_no_agreement_before_the_state_allows_it(passagere):
    engine = DebtorEngine(passagere)  # initial state: not ready
    move = engine.step("Pouvez-vous verser 1 500 € vendredi ?")
    assert move.beat == "refuse" and engine.agreement is None


def test_hidden_facts_unlock_by_trust_or_topic(passagere):
    engine = DebtorEngine(passagere)
    engine.state = DebtorState(trust=0.35, irritation=0.1, willingness=0.3)
    move = engine.step("Et votre banque, elle ne peut pas vous accorder un découvert ?")
    assert move.beat == "reveal" and "découvert" in move.reveal[0]
    assert all("découvert" not in fact for fact in engine.locked_facts())


def test_the_reveal_fallback_says_the_fact_in_the_first_person(passagere):
    from simulator.debtor.engine import fallback_for

    engine = DebtorEngine(passagere)
    engine.state = DebtorState(trust=0.35, irritation=0.1, willingness=0.3)
    move = engine.step("Et votre banque, elle ne peut pas vous accorder un découvert ?")
    line = fallback_for(passagere, move, 0)
    assert "Ma banque m'a refusé une augmentation de découvert" in line and "Sa banque lui" not in line
    without_say = passagere.model_copy(update={"hidden_facts": [f.model_copy(update={"say": None})
                                                                 for f in passagere.hidden_facts]})
    assert "Sa banque lui a refusé" in fallback_for(without_say, move, 0)  # no `say`: the text as written


def test_hang_up_ends_the_call_with_its_outcome(settings):
    async def run():
        sim = Simulator(settings, model=ScriptedModel(["Quoi ?"]))
        call = await sim.start_call("sous-tension")
        updates = [u async for u in call.say("Escroc ! Vous allez voir, l'huissier va saisir vos camions !!!")]
        assert updates[-1].ended and updates[-1].outcome == "HUNG_UP"
        assert not call.active
        stored = sim.store.get_session(call.id)
        assert (stored.status, stored.outcome, stored.end_reason) == ("ended", "HUNG_UP", "hung_up")
        move = sim.store.turns(call.id)[1].move
        assert move["beat"] == "hang_up" and move["state"]["irritation"] >= 0.7
        sim.store.close()

    import asyncio

    asyncio.run(run())


async def test_every_shipped_path_reaches_its_outcome_with_the_scripted_model(settings):
    sim = Simulator(settings, model=ScriptedModel())
    results = await run_selftests(sim, sorted(sim.scenarios.scenarios), runs=2)
    assert len(results) >= 2 * len(sim.scenarios.scenarios)
    for scenario_id in sim.scenarios.scenarios:
        assert sum(r.scenario_id == scenario_id for r in results) >= 2
    failing = [(r.scenario_id, r.path, dict(r.outcomes)) for r in results if r.hit_rate < 1]
    assert failing == []
    sim.store.close()


def test_selftest_cli_exits_1_when_a_path_misses(tmp_path, scenarios_dir):
    import subprocess
    import sys

    text = (scenarios_dir / "sous-tension.yaml").read_text(encoding="utf-8")
    (tmp_path / "sous-tension.yaml").write_text(text.replace("    expect: HUNG_UP", "    expect: PTP"), encoding="utf-8")
    result = subprocess.run([sys.executable, "-m", "simulator", "selftest", "--backend", "scripted",
                             "--scenarios-dir", str(tmp_path), "--data-dir", str(tmp_path / "data")],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "FAIL HUNG_UP:1" in result.stdout and "ok   PLAN:1" in result.stdout
