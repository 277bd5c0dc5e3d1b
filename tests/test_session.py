"""A whole call through the engine with the scripted model and a real SQLite store."""

import pytest

from simulator.errors import LLMConnectionError, LLMStreamInterrupted, SimulatorError
from simulator.llm import ScriptedModel
from simulator.runtime import Simulator
from simulator.debtor.prompt import OPENERS
from simulator.session import RETRY_DIRECTION


class DeadModel:
    name = "dead"

    async def complete(self, request):
        raise LLMConnectionError("cannot reach the model endpoint")

    async def stream(self, request):
        raise LLMConnectionError("cannot reach the model endpoint")
        yield  # pragma: no cover

    async def aclose(self):
        pass


class CutModel(ScriptedModel):
    """Cuts the first stream halfway, then behaves."""

    def __init__(self, replies):
        super().__init__(replies)
        self.cut = False

    async def stream(self, request):
        if not self.cut:
            self.cut = True
            self.requests.append(request)
            yield "Je vais"
            raise LLMStreamInterrupted("stream ended early", "Je vais")
        async for chunk in super().stream(request):
            yield chunk


async def say(call, text):
    updates = [u async for u in call.say(text)]
    assert updates[-1].done
    return updates


@pytest.fixture
def make_sim(settings):
    sims = []

    def make(model):
        sim = Simulator(settings, model=model)
        sims.append(sim)
        return sim

    yield make
    for sim in sims:
        sim.store.close()


async def test_call_is_committed_turn_by_turn(make_sim):
    model = ScriptedModel(["Oui, je sais, je suis en retard.", "Je peux payer la semaine prochaine."])
    sim = make_sim(model)
    call = await sim.start_call("difficulte-passagere")
    assert [t.text for t in sim.store.turns(call.id)] == ["Menuiserie Moreau, bonjour… Julien Moreau à l'appareil."]
    updates = await say(call, "Bonjour Monsieur Moreau, je vous appelle pour la facture FA-2024-0312.")
    assert updates[-1].text == "Oui, je sais, je suis en retard."
    assert len(updates) > 2  # streamed in several snapshots
    await say(call, "Que pouvez-vous payer, et quand ?")
    turns = sim.store.turns(call.id)
    assert [t.speaker for t in turns] == ["debtor", "agent", "debtor", "agent", "debtor"]
    assert turns[-1].text == "Je peux payer la semaine prochaine."
    assert turns[2].total_ms is not None and turns[2].first_token_ms is not None
    await sim.end_call(call.id)
    stored = sim.store.get_session(call.id)
    assert stored.status == "ended" and stored.scenario_id == "difficulte-passagere"
    assert stored.backend == "scripted" and len(stored.scenario_sha256) == 64


async def test_prompt_carries_persona_and_call(make_sim, settings):
    model = ScriptedModel(["D'accord."])
    sim = make_sim(model)
    sim.settings = settings.model_copy(update={"prompt_format": "transcript"})
    call = await sim.start_call("recalcitrant")
    await say(call, "Bonjour Madame Lefèvre, je vous appelle au sujet de la facture F-7781.")
    prompt = model.requests[-1].prompt
    assert "Sandrine Lefèvre" in prompt and "2\u202f350 €" in prompt
    last_lines = prompt.splitlines()[-2:]
    assert last_lines[0] == "Chargé de relance : Bonjour Madame Lefèvre, je vous appelle au sujet de la facture F-7781."
    # the debtor's cue carries the engine's stage direction, then a first word for the beat
    cue, opener = last_lines[1].split("] : ")
    assert cue.startswith("Sandrine Lefèvre [") and opener in OPENERS["fr"][call.engine.moves[-1].beat]
    assert model.requests[-1].stop[0] == "\n"
    # the hidden facts are never in the prompt of this version
    assert "40 000" not in prompt


async def test_out_of_character_reply_is_retried(make_sim):
    model = ScriptedModel(["En tant qu'IA, je ne peux pas payer.", "Écoutez, je n'ai pas l'argent ce mois-ci."])
    sim = make_sim(model)
    call = await sim.start_call("sous-tension")
    updates = await say(call, "Bonjour Monsieur Benali, c'est au sujet de la facture TR-2024-118.")
    assert any(u.retrying for u in updates)
    assert updates[-1].text == "Écoutez, je n'ai pas l'argent ce mois-ci."
    stored = sim.store.turns(call.id)[-1]
    assert [e["kind"] for e in stored.guard_events] == ["meta"]
    assert stored.guard_events[0]["action"] == "retry"
    assert RETRY_DIRECTION["fr"] in model.requests[-1].as_text()  # the retry carries a stronger direction
    assert RETRY_DIRECTION["fr"] not in model.requests[-2].as_text()


async def test_two_failures_fall_back_to_a_neutral_line(make_sim):
    trainee = "Vous avez bien reçu notre dernier courrier du mois de septembre ?"
    model = ScriptedModel([trainee, "Je suis un assistant virtuel."])
    sim = make_sim(model)
    call = await sim.start_call("sous-tension")
    updates = await say(call, trainee)
    final = updates[-1]
    assert [e.kind for e in final.guard_events] == ["echo", "meta"]
    assert final.guard_events[-1].action == "fallback"
    assert final.text in call.scenario.fallback_lines.respond  # the author's line for this beat


async def test_labels_and_invented_turns_are_trimmed(make_sim):
    model = ScriptedModel(["Julien Moreau : Oui, c'est moi.\nChargé de relance : Très bien, merci."])
    sim = make_sim(model)
    call = await sim.start_call("difficulte-passagere")
    updates = await say(call, "Bonjour, je suis bien avec Monsieur Moreau ?")
    assert updates[-1].text == "Oui, c'est moi."


async def test_dead_backend_keeps_the_transcript(make_sim):
    sim = make_sim(DeadModel())
    call = await sim.start_call("recalcitrant")
    updates = await say(call, "Bonjour Madame, c'est au sujet de la facture F-7781.")
    assert updates[-1].error and "cannot reach" in updates[-1].error
    turns = sim.store.turns(call.id)
    assert [t.speaker for t in turns] == ["debtor", "agent"]
    assert turns[-1].text == "Bonjour Madame, c'est au sujet de la facture F-7781."
    assert "cannot reach" in turns[-1].error
    assert call.active  # the trainee may try again once the backend is back
    call.model = ScriptedModel(["Ah, oui… la salle de bains."])
    updates = await say(call, "Vous m'entendez ?")
    assert updates[-1].text == "Ah, oui… la salle de bains."
    assert len(sim.store.turns(call.id)) == 4


async def test_interrupted_stream_is_retried(make_sim):
    sim = make_sim(CutModel(["Je vais voir avec mon comptable."]))
    call = await sim.start_call("sous-tension")
    updates = await say(call, "Bonjour Monsieur Benali.")
    assert updates[-1].text == "Je vais voir avec mon comptable."
    assert [e["kind"] for e in sim.store.turns(call.id)[-1].guard_events] == ["error"]


async def test_cannot_talk_after_the_end_or_to_unknown_scenario(make_sim):
    sim = make_sim(ScriptedModel())
    call = await sim.start_call("recalcitrant")
    await sim.end_call(call.id)
    with pytest.raises(SimulatorError):
        await say(call, "Allô ?")
    with pytest.raises(SimulatorError, match="unknown scenario 'nope'"):
        await sim.start_call("nope")


async def test_locked_fact_leak_is_caught(make_sim):
    model = ScriptedModel(["Je pourrais verser 1 500 euros tout de suite.", "C'est compliqué en ce moment."])
    sim = make_sim(model)
    call = await sim.start_call("difficulte-passagere")
    updates = await say(call, "Bonjour Monsieur Moreau, comment allez-vous ?")
    assert updates[-1].text == "C'est compliqué en ce moment."
    assert [e["kind"] for e in sim.store.turns(call.id)[-1].guard_events] == ["leak"]


async def test_reply_in_the_wrong_language_is_retried(make_sim):
    model = ScriptedModel(["I know, I am late with the payment, sorry.", "你好，我不知道。", "Oui, je sais, je suis en retard."])
    sim = make_sim(model)
    call = await sim.start_call("difficulte-passagere")
    updates = await say(call, "Bonjour Monsieur Moreau, je vous appelle pour la facture FA-2024-0312.")
    assert [e.kind for e in updates[-1].guard_events] == ["language", "language"]
    assert updates[-1].text in call.scenario.fallback_lines.respond
    updates = await say(call, "Que se passe-t-il en ce moment ?")
    assert updates[-1].text == "Oui, je sais, je suis en retard." and not updates[-1].guard_events


async def test_a_rambling_reply_is_cut_and_recorded(make_sim):
    rambling = ("Écoutez, c'est compliqué, mes clients ne me paient pas, la banque me refuse tout, "
                "le comptable est en vacances, et avec les fournisseurs qui relancent chaque jour, "
                "franchement je ne sais plus où donner de la tête, vous voyez, alors votre facture, "
                "elle attendra un peu comme les autres, parce que je ne peux pas tout payer en même temps, "
                "et puis il y a les salaires à verser à la fin du mois, vous comprenez bien ma situation")
    model = ScriptedModel([rambling])
    sim = make_sim(model)
    call = await sim.start_call("difficulte-passagere")
    updates = await say(call, "Bonjour Monsieur Moreau, que se passe-t-il avec la facture FA-2024-0312 ?")
    final = updates[-1]
    assert len(final.text) <= 320 and final.text.endswith("…") and rambling.startswith(final.text[:-1])
    assert [(e.kind, e.action) for e in final.guard_events] == [("too_long", "trim")]
    assert sim.store.turns(call.id)[-1].text == final.text


async def test_the_scenarios_example_lines_set_the_voice(make_sim, settings):
    model = ScriptedModel(["D'accord."])
    sim = make_sim(model)
    call = await sim.start_call("recalcitrant")
    await say(call, "Bonjour Madame Lefèvre, je vous appelle au sujet de la facture F-7781.")
    prompt = model.requests[-1].as_text()
    assert all(line in prompt for line in call.scenario.example_lines)


@pytest.mark.parametrize("path, added", [("empathique-et-ferme", "C'est noté : 1\u202f500 €"), ("agressif", "Au revoir.")])
async def test_agreement_is_read_back_and_hang_up_says_goodbye(make_sim, path, added):
    sim = make_sim(ScriptedModel(["x"]))
    call = await sim.start_call("difficulte-passagere")
    turns = next(p for p in call.scenario.selftest if p.name == path).turns
    # distinct lines (a repeated one would be caught), the last one without the terms or a goodbye
    call.model = ScriptedModel(["Oui, allez-y.", "Hmm, c'est compliqué en ce moment, vous savez."][:len(turns) - 1]
                               + ["Bon, d'accord, merci beaucoup."])
    for line in turns:
        if call.active:
            updates = await say(call, line)
    final = updates[-1]
    assert final.ended and final.text.startswith("Bon, d'accord, merci beaucoup.") and added in final.text
    assert [(e.kind, e.action) for e in final.guard_events] == [("incomplete", "complete")]
    assert sim.store.turns(call.id)[-1].text == final.text


async def test_the_default_scripted_model_answers_in_the_requests_language():
    from simulator.llm.base import GenerationRequest
    from simulator.llm.scripted import DEFAULT_REPLIES_EN, DEFAULT_REPLIES_FR

    model = ScriptedModel()
    english = GenerationRequest(prompt="The call:\nCollector: Hello, is that Ms Shah? I'm calling about the invoice.\nMs Shah:")
    french = GenerationRequest(prompt="Appel :\nChargé de relance : Bonjour, c'est bien Madame Roux ? Je vous appelle pour la facture.\nMme Roux :")
    assert await model.complete(english) == DEFAULT_REPLIES_EN[0]
    assert await model.complete(french) == DEFAULT_REPLIES_FR[0]
    assert await model.complete(english) == DEFAULT_REPLIES_EN[1]
    given = ScriptedModel(["Oui ?"])  # replies given: played as they are, whatever the language
    assert await given.complete(english) == "Oui ?"


async def test_the_scripted_model_goes_on_after_an_opener_with_a_space():
    """The debtor's line is the opener written into the prompt plus the model's continuation: the scripted
    model continues as a tokenizer would, with a space (it once glued them: « Écoutez,Oui, bonjour… »)."""
    from simulator.llm.base import GenerationRequest

    model = ScriptedModel(["Oui, bonjour."])
    chunks = [c async for c in model.stream(GenerationRequest(prompt="Appel :\nM. Benali : Écoutez,"))]
    assert "Écoutez," + "".join(chunks) == "Écoutez, Oui, bonjour."
    assert await model.complete(GenerationRequest(prompt="Appel :\nM. Benali :")) == "Oui, bonjour."
