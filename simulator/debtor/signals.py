"""Turn signals: what the debtor engine reacts to in a trainee turn.

`TurnSignals` is the interface between scoring and the debtor state; the rubric
engine fills it (`simulator.rubric.signals.to_signals`). `minimal_signals`, the
first stand-in lexical scorer, is kept as the benchmark's baseline.
"""

from __future__ import annotations

import re
from datetime import date

from pydantic import BaseModel, Field

from .proposals import Proposal, fold, parse_proposal


class TurnSignals(BaseModel):
    empathy: int = Field(3, ge=1, le=5)
    firmness: int = Field(3, ge=1, le=5)
    clarity: int = Field(3, ge=1, le=5)
    hostile: bool = False
    violations: list[str] = Field(default_factory=list, description="compliance categories, e.g. threat, insult")
    reformulation: bool = False
    question: bool = False
    callback: bool = False
    dispute_logged: bool = False
    proposal: Proposal = Field(default_factory=Proposal)
    text: str = ""


_EMPATHY = re.compile(
    r"\b(je comprends|j entends|je vous entends|je vois bien|je vous comprends|ca doit etre|c est (?:difficile|complique|dur)|"
    r"je suis (?:desole|navre)|desole d apprendre|merci de (?:m avoir|me le|votre)|prenez le temps|"
    r"je suis la pour|trouver (?:ensemble|une solution)|i understand|that must be|sorry to hear|thank you for telling)\b"
)
_REFORMULATION = re.compile(
    r"\b(si je comprends bien|si j ai bien compris|vous me dites que|autrement dit|donc (?:si je|vous)|"
    r"so if i understand|what you are saying|you re telling me)\b"
)
_FIRM = re.compile(
    r"\b(je vous demande|il (?:faut|est necessaire|est important)|nous avons besoin|j ai besoin|"
    r"pouvez vous (?:regler|payer|verser|vous engager)|quand (?:pouvez vous|allez vous)|engagement|"
    r"date precise|montant (?:du|exact)|la facture .{0,20} (?:est|reste) (?:due|impayee)|"
    r"i need|i am asking|can you commit|when can you pay|by what date)\b"
)
_SOFT = re.compile(r"\b(si vous pouvez|quand vous voulez|quand vous pourrez|pas grave|pas de souci|comme vous voulez|no rush|whenever)\b")
_INSULT = re.compile(
    r"\b(idiot|imbecile|escroc|menteur|menteuse|connard|connasse|incompetent|abruti|voleur|voleuse|minable|"
    r"mauvais payeur|vous vous foutez|foutez vous|liar|crook|stupid|thief)\b"
)
_THREAT = re.compile(
    r"\b(huissier|saisie|saisir|prison|police|plainte|on va venir|vous allez voir|vous allez le regretter|"
    r"dernier avertissement|poursuites|tribunal|avocat|bailiff|seize|arrest|jail|you will regret)\b"
)
_CALLBACK = re.compile(r"\b(je vous rappelle|je vous rappellerai|rappelez moi|on se rappelle|i ll call you back|call you back)\b")
_DISPUTE = re.compile(r"\b(litige|reclamation|contestation|je note (?:votre|la) (?:contestation|reclamation)|dispute)\b")


def minimal_signals(text: str, call_date: date) -> TurnSignals:
    """The first stand-in scorer (lexical cues only); the benchmark's baseline."""
    t = fold(text)
    words = t.split()
    letters = [c for c in text if c.isalpha()]
    shouting = len(letters) > 12 and sum(c.isupper() for c in letters) / len(letters) > 0.6
    insults = bool(_INSULT.search(t))
    threats = bool(_THREAT.search(t))
    hostile = insults or threats or shouting or text.count("!") >= 3
    empathy_hits = len(_EMPATHY.findall(t))
    reformulation = bool(_REFORMULATION.search(t))
    proposal = parse_proposal(text, call_date)
    firm_hits = len(_FIRM.findall(t)) + (proposal.amount is not None) + (proposal.date is not None)
    soft = bool(_SOFT.search(t))
    sentences = [s for s in re.split(r"[.!?]+", text) if s.strip()]
    avg_len = len(words) / max(len(sentences), 1)
    questions = text.count("?")

    # 3 is neutral (a polite, factual turn); listening and reformulating raise it
    empathy = 1 if hostile else min(5, 3 + min(empathy_hits, 1) + reformulation)
    firmness = 1 if hostile and not firm_hits else max(1, min(5, 2 + min(firm_hits, 3) - soft))
    clarity = 3 + (avg_len <= 18) + (proposal.amount is not None or proposal.date is not None) - (avg_len > 35) - (questions > 2)
    violations = (["insult"] if insults else []) + (["threat"] if threats else [])
    return TurnSignals(
        empathy=empathy, firmness=firmness, clarity=max(1, min(5, clarity)), hostile=hostile,
        violations=violations, reformulation=reformulation, question=questions > 0,
        callback=bool(_CALLBACK.search(t)), dispute_logged=bool(_DISPUTE.search(t)), proposal=proposal, text=text,
    )
