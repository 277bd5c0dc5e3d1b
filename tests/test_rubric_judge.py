"""The LLM judge (against the scripted model) and the scores kept with a call."""

import json

import pytest

from simulator.llm import ScriptedModel
from simulator.rubric import resolve_rubric
from simulator.rubric.judge import build_judge_request, parse_verdict, VerdictError
from simulator.rubric.service import TurnScorer
from simulator.runtime import Simulator

GOOD = {"empathy": {"reason": "Reconnaît la difficulté.", "score": 5},
        "firmness": {"reason": "Montant et date.", "score": 4},
        "clarity": {"reason": "Court et précis.", "score": 5}}


def test_the_prompt_carries_the_level_descriptors_and_the_context():
    rubric = resolve_rubric("fr-default").rubric
    request = build_judge_request(rubric, "fr", [("debtor", "C'est compliqué en ce moment.")], "Je comprends.")
    system, user = request.messages
    assert "Hostile ou méprisant" in system.content and "5:" in system.content and '"score": 1-5' in system.content
    assert "Débiteur : C'est compliqué en ce moment." in user.content and "« Je comprends. »" in user.content
    en = build_judge_request(rubric, "en", [], "Hello")
    assert "Hostile or contemptuous" in en.messages[0].content and "(start of the call)" in en.messages[1].content


def test_the_last_valid_json_verdict_wins():
    raw = 'Draft: {"empathy": 2} … final:\n```json\n' + json.dumps(GOOD, ensure_ascii=False) + "\n```"
    assert parse_verdict(raw).empathy.score == 5
    with pytest.raises(VerdictError, match="no JSON object"):
        parse_verdict("I think it's a 4.")
    with pytest.raises(VerdictError, match="score"):
        parse_verdict(json.dumps({**GOOD, "clarity": {"reason": "x", "score": 9}}))


async def test_judge_mode_uses_the_verdict_and_keeps_prompt_and_reply():
    model = ScriptedModel([json.dumps(GOOD, ensure_ascii=False)])
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr", mode="judge", judge=model)
    session = scorer.session(disclosed=True)
    session.hear("Mon client m'a payé en retard.")
    score = await scorer.score(session, "D'accord.", [("debtor", "Mon client m'a payé en retard.")])
    assert score.scores == {"empathy": 5, "firmness": 4, "clarity": 5}
    assert score.lexical is not None and score.lexical != score.scores
    assert score.judge["scored"] and score.judge["raw"] == model._replies[0]
    assert "Tu évalues" in score.judge["prompt"][0]["content"]
    assert score.scoring == "judge" and session.scores[-1] is score


async def test_a_reply_that_does_not_parse_is_unscored_with_its_reason():
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr", mode="judge", judge=ScriptedModel(["Je dirais 4/5."]))
    session = scorer.session(disclosed=True)
    score = await scorer.score(session, "Pouvez-vous régler 1 500 € vendredi ?")
    assert score.judge["scored"] is False and score.judge["reason"] == "no JSON object in the reply"
    assert score.judge["raw"] == "Je dirais 4/5."
    lexical = scorer.scorer.session(disclosed=True).score("Pouvez-vous régler 1 500 € vendredi ?")
    assert score.scores == lexical.scores and score.lexical is None  # the lexical scores stand


async def test_blend_averages_and_lexical_caps_still_apply():
    flattering = json.dumps({d: {"reason": "ok", "score": 5} for d in ("empathy", "firmness", "clarity")})
    scorer = TurnScorer(resolve_rubric("fr-default"), "fr", mode="blend", judge=ScriptedModel([flattering]))
    session = scorer.session(disclosed=True)
    threat = await scorer.score(session, "Si vous ne payez pas, j'envoie l'huissier saisir vos meubles.")
    assert threat.scores["empathy"] == 1 and threat.scores["firmness"] <= 2  # a threat is never firm, whatever the judge says
    assert threat.violations and threat.scoring == "blend"


async def test_a_call_stores_each_score_the_frozen_rubric_and_the_scorecard(settings):
    sim = Simulator(settings, model=ScriptedModel(["Oui, bon… c'est compliqué en ce moment.", "D'accord, vendredi."]))
    call = await sim.start_call("difficulte-passagere")
    updates = [u async for u in call.say("Bonjour Monsieur Moreau, je suis Claire de Bois et Compagnie, au sujet de "
                                         "la facture FA-2024-0312 de 4 800 €.")]
    assert updates[-1].score is not None and updates[-1].score.scores["clarity"] >= 4
    async for _ in call.say("Espèce d'escroc, payez !"):
        pass
    await sim.end_call(call.id)
    turns = sim.store.turns(call.id)
    agent = [t for t in turns if t.speaker == "agent"]
    assert all(t.score and t.score["rubric"] == "fr-default@1.4.0" for t in agent)
    assert all(t.score is None for t in turns if t.speaker == "debtor")
    assert agent[1].score["violations"][0]["category"] == "insult"
    card = sim.store.scorecard(call.id)
    assert card["passed"] is False and card["critical_errors"][0]["rule"] == "FR-INSULT"
    assert card["critical_errors"][0]["turn"] == agent[1].idx and card["turns_scored"] == 2
    with sim.store.engine.connect() as conn:
        from sqlalchemy import text

        rid, version, frozen = conn.execute(text("SELECT rubric_id, rubric_version, rubric_json FROM sessions WHERE id = :i"),
                                            {"i": call.id}).one()
    assert (rid, version) == ("fr-default", "1.4.0") and json.loads(frozen)["compliance"][0]["id"] == "fr"
    await sim.aclose()


async def test_judge_scoring_in_a_call_through_the_same_model(tmp_path, scenarios_dir):
    from simulator.settings import Settings

    def reply(request):
        if request.messages and "Tu évalues" in request.messages[0].content:
            return json.dumps(GOOD, ensure_ascii=False)
        return "Bon, d'accord."

    settings = Settings(backend="scripted", data_dir=tmp_path / "d", scenarios_dir=scenarios_dir, scoring="judge")
    sim = Simulator(settings, model=ScriptedModel(function=reply))
    call = await sim.start_call("recalcitrant")
    updates = [u async for u in call.say("Je comprends.")]
    assert updates[-1].score.scores == {"empathy": 5, "firmness": 4, "clarity": 5}
    stored = sim.store.turns(call.id)[1].score
    assert stored["judge"]["scored"] and stored["scoring"] == "judge"
    await sim.aclose()
