"""The prompt keeps a long call inside the model's context window."""

import pytest

from simulator.debtor.prompt import PromptBuilder, TranscriptLine
from simulator.errors import ConfigError
from simulator.llm import ScriptedModel
from simulator.llm.tokens import CharEstimate, TokenBudget
from simulator.runtime import Simulator
from simulator.scenario import load_scenarios
from tests.conftest import SCENARIOS

LONG_TURNS = [
    "Bonjour Monsieur, je reviens vers vous au sujet de la facture en retard, pouvons-nous en parler calmement ?",
    "Je comprends que la période soit compliquée pour votre entreprise, qu'est-ce qui bloque exactement ?",
    "Si je comprends bien, vos propres clients vous paient en retard et votre trésorerie est tendue.",
    "Nous pourrions envisager un échéancier raisonnable, dites-moi ce qui serait faisable pour vous.",
]


def scenario(name="difficulte-passagere"):
    return load_scenarios(SCENARIOS).scenarios[name].scenario


def long_history(n: int) -> list[TranscriptLine]:
    history = [TranscriptLine("debtor", "Allô, oui ?")]
    for i in range(n):
        history.append(TranscriptLine("agent", f"{LONG_TURNS[i % 4]} (réplique {i})"))
        history.append(TranscriptLine("debtor", f"Je vois, mais ce n'est vraiment pas simple en ce moment, réplique {i}."))
    return history[:-1]  # the prompt is built after a trainee line


def test_short_call_is_sent_whole():
    builder = PromptBuilder(scenario(), budget=TokenBudget(4096, CharEstimate()))
    history = long_history(3)
    prompt = builder.build(history, direction="répond").prompt
    assert all(line.text in prompt for line in history)
    assert builder.cut == 0 and "résumé" not in prompt


@pytest.mark.parametrize("fmt", ["transcript", "chat"])
def test_long_call_stays_in_budget_keeps_persona_and_direction(fmt):
    budget = TokenBudget(3000, CharEstimate())
    builder = PromptBuilder(scenario(), fmt, budget=budget, known_facts=lambda: ["un gros client a payé en retard"])
    persona = scenario().persona
    cuts, last_prefix = 0, None
    for n in range(1, 60):
        history = long_history(n)
        request = builder.build(history, direction="répond poliment")
        text = request.as_text()
        assert builder.prompt_tokens(request) + request.max_tokens <= budget.context_tokens
        assert persona.personality in text and "répond poliment" in text
        assert history[-1].text in text  # the trainee's last line is always there
        if builder.cut:
            assert "répliques échangées" in text and "un gros client a payé en retard" in text
            assert history[0].text not in text
        # each prompt extends the previous one (KV cache reuse) except when a cut is made
        sent = request.prompt.rsplit("\n", 1)[0] if fmt == "transcript" else request.messages[:-1]
        if last_prefix is not None and sent[:len(last_prefix)] != last_prefix:
            cuts += 1
        last_prefix = sent
    assert builder.cut > 0
    assert cuts <= 6, f"the prompt prefix changed {cuts} times in 59 turns: the KV cache would be thrown away"


def test_persona_larger_than_the_context_is_a_clear_error():
    builder = PromptBuilder(scenario(), budget=TokenBudget(600, CharEstimate()))
    with pytest.raises(ConfigError, match="SIMULATOR_EMBEDDED_CTX"):
        builder.build(long_history(1))


async def test_a_long_session_never_sends_more_than_the_context(settings):
    settings.context_tokens = 1400
    model = ScriptedModel(["D'accord, je vous écoute, mais c'est compliqué pour moi en ce moment."])
    sim = Simulator(settings, model=model)
    call = await sim.start_call("difficulte-passagere")
    for i in range(40):
        async for update in call.say(f"{LONG_TURNS[i % 4]} Tour {i}."):
            pass
        if not call.active:
            break
    assert len(model.requests) >= 10
    counter = sim.budget.counter
    assert all(counter.count(r.as_text()) + r.max_tokens <= 1400 for r in model.requests)
    assert call.prompt.cut > 0
    await sim.aclose()
