"""The optional LLM judge: a rubric-guided prompt, a JSON verdict, validated.

template → pure prompt builder → model → parse the *last* JSON object of the
reply and validate it (scores 1–5 the prompt offered). A reply that does not
parse is recorded as unscored with its reason, never as a silent score; the
prompt and the raw reply are kept with the turn either way.

Settings choose `lexical` (no judge), `judge` (the judge's scores, lexical
caps still apply: a threat is never firm) or `blend` (the mean of both).
Compliance violations always come from the deterministic rules.
"""

from __future__ import annotations

import json
import math

from pydantic import BaseModel, Field, ValidationError

from ..errors import LLMError
from ..llm.base import ChatMessage, ChatModel, GenerationRequest
from .models import DIMENSIONS, Rubric
from .scorer import TurnScore

SYSTEM_TEMPLATE = {
    "fr": (
        "Tu évalues la réplique d'un chargé de relance (recouvrement amiable) au téléphone, selon la grille "
        "ci-dessous. Note chaque dimension de 1 à 5 en t'appuyant sur les descripteurs de niveau.\n\n{dimensions}\n\n"
        "Réponds uniquement par un objet JSON : "
        '{{"empathy": {{"reason": "…", "score": 1-5}}, "firmness": {{"reason": "…", "score": 1-5}}, '
        '"clarity": {{"reason": "…", "score": 1-5}}}}. Une raison courte (une phrase) avant chaque note.'
    ),
    "en": (
        "You grade one turn of a debt collector on the phone (amicable collection) with the rubric below. "
        "Score each dimension from 1 to 5 using the level descriptors.\n\n{dimensions}\n\n"
        "Answer with a JSON object only: "
        '{{"empathy": {{"reason": "…", "score": 1-5}}, "firmness": {{"reason": "…", "score": 1-5}}, '
        '"clarity": {{"reason": "…", "score": 1-5}}}}. A short reason (one sentence) before each score.'
    ),
}
USER_TEMPLATE = {
    "fr": "Contexte de l'appel :\n{context}\n\nRéplique du chargé de relance à noter :\n« {turn} »",
    "en": "Call so far:\n{context}\n\nCollector's turn to grade:\n\"{turn}\"",
}
SPEAKERS = {"fr": {"agent": "Chargé de relance", "debtor": "Débiteur"}, "en": {"agent": "Collector", "debtor": "Debtor"}}


class DimensionVerdict(BaseModel):
    reason: str = Field(description="One sentence: why this score, citing the turn.")
    score: int = Field(ge=1, le=5, description="1 (poor) to 5 (excellent), per the level descriptors.")


class JudgeVerdict(BaseModel):
    empathy: DimensionVerdict
    firmness: DimensionVerdict
    clarity: DimensionVerdict


class JudgeResult(BaseModel):
    scored: bool
    reason: str | None = Field(None, description="Why the reply could not be scored.")
    verdict: JudgeVerdict | None = None
    model: str
    prompt: list[dict]
    raw: str

    def to_json(self) -> dict:
        return self.model_dump(mode="json")


def describe_dimensions(rubric: Rubric, lang: str) -> str:
    blocks = []
    for d in DIMENSIONS:
        dim = rubric.dimensions[d]
        levels = "\n".join(f"  {n}: {dim.levels[n].get(lang)}" for n in sorted(dim.levels))
        blocks.append(f"{d} — {dim.name.get(lang)}: {dim.description.get(lang)}\n{levels}")
    return "\n\n".join(blocks)


def build_judge_request(rubric: Rubric, lang: str, context: list[tuple[str, str]], turn: str,
                        *, max_context: int = 6) -> GenerationRequest:
    """The judge's prompt (pure): the rubric's descriptors, the last turns, the turn to grade."""
    lang = lang if lang in SYSTEM_TEMPLATE else "en"
    names = SPEAKERS[lang]
    lines = [f"{names.get(speaker, speaker)} : {text}" if lang == "fr" else f"{names.get(speaker, speaker)}: {text}"
             for speaker, text in context[-max_context:]]
    context_text = "\n".join(lines) or ("(début de l'appel)" if lang == "fr" else "(start of the call)")
    return GenerationRequest(
        messages=[
            ChatMessage(role="system", content=SYSTEM_TEMPLATE[lang].format(dimensions=describe_dimensions(rubric, lang))),
            ChatMessage(role="user", content=USER_TEMPLATE[lang].format(context=context_text, turn=turn)),
        ],
        max_tokens=400, temperature=0.0,
    )


class VerdictError(ValueError):
    """The reply holds no valid verdict; the message says why."""


def parse_verdict(raw: str) -> JudgeVerdict:
    """The last JSON object of the reply that is a valid verdict."""
    decoder = json.JSONDecoder()
    objects: list[dict] = []
    i = raw.find("{")
    while i != -1:
        try:
            value, end = decoder.raw_decode(raw, i)
        except json.JSONDecodeError:
            i = raw.find("{", i + 1)
            continue
        if isinstance(value, dict):
            objects.append(value)
        i = raw.find("{", end)
    if not objects:
        raise VerdictError("no JSON object in the reply")
    last_error = ""
    for obj in reversed(objects):
        try:
            return JudgeVerdict.model_validate(obj)
        except ValidationError as exc:
            first = exc.errors()[0]
            last_error = f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}"
    raise VerdictError(f"the JSON verdict is invalid ({last_error})")


async def judge_turn(model: ChatModel, rubric: Rubric, lang: str, context: list[tuple[str, str]],
                     turn: str) -> JudgeResult:
    request = build_judge_request(rubric, lang, context, turn)
    prompt = [m.model_dump() for m in request.messages or []]
    try:
        raw = await model.complete(request)
    except LLMError as exc:
        return JudgeResult(scored=False, reason=f"the judge model failed: {exc}", model=model.name, prompt=prompt, raw="")
    try:
        verdict = parse_verdict(raw)
    except VerdictError as exc:
        return JudgeResult(scored=False, reason=str(exc), model=model.name, prompt=prompt, raw=raw)
    return JudgeResult(scored=True, verdict=verdict, model=model.name, prompt=prompt, raw=raw)


def combine(lexical: TurnScore, result: JudgeResult, mode: str, rubric: Rubric | None = None) -> TurnScore:
    """The turn's scores under `mode` (judge or blend); the lexical caps still apply."""
    score = lexical.model_copy(deep=True)
    score.judge = result.to_json()
    score.scoring = mode
    if not result.scored or result.verdict is None:
        return score  # unscored by the judge: the lexical scores stand, the reason is recorded
    score.lexical = dict(lexical.scores)
    caps = {d: min((c.cap for c in lexical.caps if c.dimension == d), default=5) for d in DIMENSIONS}
    new = {}
    for d in DIMENSIONS:
        judged = getattr(result.verdict, d).score
        value = judged if mode == "judge" else (judged + lexical.scores[d]) / 2
        new[d] = max(1, min(caps[d], int(math.floor(value + 0.5))))
    score.scores = new
    if rubric is not None:  # a tip for each dimension that is weak now, and only those
        tips = {}
        for d in DIMENSIONS:
            dim = rubric.dimensions[d]
            if new[d] < dim.weak_below and dim.tips:
                tips[d] = lexical.tips.get(d) or dim.tips[-1].text.get(lexical.language)
        score.tips = tips
    return score
