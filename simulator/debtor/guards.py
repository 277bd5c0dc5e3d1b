"""Output guards: catch the obvious ways a small model breaks character.

`clean_reply` trims what the model adds around the line (speaker labels,
quotes, a next turn it invents). `check_reply` then names the first failure:
empty reply, AI/assistant/prompt talk, answering as the collector, or echoing
the trainee. The session retries once with a stronger direction, then falls
back to the scenario's line for the beat (`engine.fallback_for`).
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass
from typing import Literal

GuardKind = Literal[
    "empty", "meta", "role_swap", "echo", "repeat", "leak", "instructions", "language", "too_long", "incomplete",
    "error",
]


@dataclass(frozen=True)
class GuardEvent:
    kind: GuardKind
    detail: str
    attempt: int
    action: Literal["retry", "fallback", "trim", "complete"]
    rejected: str = ""  # what the model said, kept for reviewers and for tuning the guards

    def to_dict(self) -> dict:
        return {"kind": self.kind, "detail": self.detail, "attempt": self.attempt, "action": self.action,
                "rejected": self.rejected}


_META = re.compile(
    r"\b(intelligence artificielle|en tant qu['’](?:ia|assistant|mod[eè]le)|mod[eè]le de langage|"
    r"je suis (?:une? )?(?:ia|assistant|chatbot|programme)|prompt|instructions? (?:syst[eè]me|initiales?)|"
    r"jeu de r[oô]le|as an ai|language model|i am an? (?:ai|assistant|language model)|system prompt|role-?play|"
    r"qwen|openai|chatgpt)\b",
    re.IGNORECASE,
)

# Things the collector says, not the debtor.
_COLLECTOR = re.compile(
    r"(\bje vous appelle (?:au sujet|concernant|à propos|pour) (?:de )?(?:votre|la) facture\b|"
    r"\bvotre facture (?:n°|numéro|de \d)|\bvous nous devez\b|\bnotre service (?:de )?(?:recouvrement|relance)\b|"
    r"\bpouvez-vous (?:régler|payer)\b|\bquand (?:allez-vous|pouvez-vous) (?:régler|payer)\b|"
    r"\bi(?:'m| am) calling (?:about|regarding) your (?:invoice|account)\b|\byou owe us\b|"
    r"\bwhen (?:can|will) you pay\b)",
    re.IGNORECASE,
)

_SENTENCE = re.compile(r"(?<=[.!?…])\s+")


def _fold(text: str) -> str:
    text = unicodedata.normalize("NFKD", text.lower())
    text = "".join(c for c in text if not unicodedata.combining(c))
    return " ".join(re.sub(r"[^a-z0-9 ]+", " ", text).split())


def clean_reply(text: str, *, debtor_name: str, agent_label: str, max_sentences: int = 3) -> str:
    """Trim labels, quotes, stage directions and invented next turns; keep 1–3 sentences."""
    text = text.strip()
    # An invented next turn starts on a new line with a speaker label: cut it.
    text = re.split(r"\n\s*\S[^:\n]{0,40}\s?:", text, maxsplit=1)[0]
    text = " ".join(text.split())
    labels = [re.escape(debtor_name), re.escape(debtor_name.split()[0]), "débiteur", "debtor", "client", "cliente"]
    text = re.sub(rf"^(?:{'|'.join(labels)})\s*(?:\[[^\]]*\])?\s*:\s*", "", text, flags=re.IGNORECASE)
    text = re.sub(r"^\[[^\]]*\]\s*", "", text)  # a stage direction the model repeated
    text = re.sub(r"^(?:\d{1,2}[.)]|[-*•])\s+", "", text)  # a list marker the model put before the line
    text = re.sub(r"\([^)]*\)\s*$", "", text).strip()  # a trailing stage direction
    if len(text) >= 2 and text[0] in "\"«“" and text[-1] in "\"»”":
        text = text[1:-1].strip()
    sentences = [s for s in _SENTENCE.split(text) if s]
    if len(sentences) > max_sentences:
        text = " ".join(sentences[:max_sentences])
    return text


def similarity(a: str, b: str) -> float:
    return difflib.SequenceMatcher(None, _fold(a), _fold(b)).ratio()


def copied_share(reply: str, source: str) -> float:
    """The share of `reply` made of its longest run copied from `source` (parroting a fragment)."""
    r, s = _fold(reply), _fold(source)
    if not r:
        return 0.0
    match = difflib.SequenceMatcher(None, r, s, autojunk=False).find_longest_match(0, len(r), 0, len(s))
    return match.size / len(r)


_NUMBER = re.compile(r"\d[\d\s\u202f\u00a0.,]*\d|\d")
_DIRECTION_WORDS = re.compile(r"(\[|\]|\b(?:confie|objecte|accepte et confirme|propose à la place|confides|objects|agrees and confirms)\s?:)", re.IGNORECASE)


def _numbers(text: str) -> set[str]:
    return {re.sub(r"[\s\u202f\u00a0.,]", "", m.group(0)) for m in _NUMBER.finditer(text)}


def leaked_fact(reply: str, locked_facts: list[str], known_text: str) -> str | None:
    """A locked hidden fact whose figures (2+ digits) appear in the reply but nowhere in what is known."""
    said = _numbers(reply) - _numbers(known_text)
    for fact in locked_facts:
        secret = {n for n in _numbers(fact) if len(n) >= 2}
        if secret & said:
            return fact
    return None


_FR_WORDS = frozenset(
    "je tu il elle nous vous ils le la les un une des de du et est pas ne que qui pour dans sur avec mais "
    "ce cette ça mon ma mes votre vos suis sais peux oui non bien très aussi alors faut".split()
)
_EN_WORDS = frozenset(
    "i you he she we they the a an of and is are not that who for in on with but this it my your am "
    "know can yes no well very also so have will would".split()
)
# Scripts a French or English debtor never speaks in (the embedded Qwen model drifts into Chinese).
_FOREIGN_SCRIPT = re.compile(r"[\u0400-\u04ff\u0600-\u06ff\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def language_words(text: str) -> tuple[int, int, int]:
    """(words, French function words, English function words) in `text`."""
    words = re.findall(r"[a-zàâçéèêëîïôûùüÿœ']+", text.lower())
    return len(words), sum(w in _FR_WORDS for w in words), sum(w in _EN_WORDS for w in words)


def wrong_language(reply: str, language: str) -> str | None:
    """Why `reply` is not in `language` (fr or en), or None when it is (or too short to tell)."""
    foreign = _FOREIGN_SCRIPT.search(reply)
    if foreign:
        return f"characters of another script: {foreign.group(0)!r}"
    words, fr, en = language_words(reply)
    if words < 4:
        return None
    if language == "fr" and en >= 3 and en > 2 * fr:
        return f"answers in English ({en} English words, {fr} French)"
    if language == "en" and fr >= 3 and fr > 2 * en:
        return f"answers in French ({fr} French words, {en} English)"
    return None


MAX_REPLY_CHARS = 320


def trim_long(reply: str, limit: int = MAX_REPLY_CHARS) -> str | None:
    """A reply over `limit` characters cut at the last sentence (or clause) end before it; None if short."""
    if len(reply) <= limit:
        return None
    head = reply[:limit]
    for marks in (".!?…", ",;:"):
        end = max(head.rfind(m) for m in marks)
        if end >= limit // 3:
            return head[:end + 1] if head[end] in ".!?…" else head[:end].rstrip() + "…"
    return head[:head.rfind(" ")].rstrip() + "…"


_GOODBYE = re.compile(r"\b(au revoir|je raccroche|bonne journ[ée]e|adieu|goodbye|bye|i'?m hanging up)\b", re.IGNORECASE)
READ_BACK = {"fr": "C'est noté : {terms}.", "en": "So that's agreed: {terms}."}
GOODBYE = {"fr": "Au revoir.", "en": "Goodbye."}


def complete_for_beat(reply: str, beat: str, language: str, terms_text: str, terms_amount: str | None) -> str | None:
    """What the engine's decision needs the reply to say and it did not, or None.

    Agreeing, the debtor reads the terms back (amount in figures); hanging up, they say goodbye.
    """
    if beat == "accept" and terms_amount and not (_numbers(terms_amount) & _numbers(reply)):
        return READ_BACK[language].format(terms=terms_text)
    if beat == "hang_up" and not _GOODBYE.search(reply):
        return GOODBYE[language]
    return None


def check_reply(
    reply: str, *, last_agent_line: str | None, agent_label: str, earlier_replies: list[str] = (),
    locked_facts: list[str] = (), known_text: str = "", language: str | None = None,
) -> tuple[GuardKind, str] | None:
    """The first guard the reply fails, with a short detail; None when it is fine."""
    if len(reply.strip(" .…-")) < 2:
        return ("empty", "empty reply")
    if language:
        wrong = wrong_language(reply, language)
        if wrong:
            return ("language", wrong)
    meta = _META.search(reply)
    if meta:
        return ("meta", f"out-of-character talk: {meta.group(0)!r}")
    instructions = _DIRECTION_WORDS.search(reply)
    if instructions:
        return ("instructions", f"stage direction spoken aloud: {instructions.group(0)!r}")
    leaked = leaked_fact(reply, list(locked_facts), known_text)
    if leaked:
        return ("leak", f"reveals a locked fact: {leaked!r}")
    if reply.lower().startswith(agent_label.lower()):
        return ("role_swap", "reply labelled as the collector")
    collector = _COLLECTOR.search(reply)
    if collector:
        return ("role_swap", f"collector's words: {collector.group(0)!r}")
    if last_agent_line and len(last_agent_line) > 15:
        ratio = similarity(reply, last_agent_line)
        if ratio >= 0.6:
            return ("echo", f"repeats the trainee's line ({ratio:.0%} alike)")
        copied = copied_share(reply, last_agent_line)
        if len(_fold(reply).split()) >= 3 and copied >= 0.6:
            return ("echo", f"parrots the trainee ({copied:.0%} of the reply copied)")
    for earlier in earlier_replies:
        if len(earlier) >= 8 and similarity(reply, earlier) >= 0.75:
            return ("repeat", "says again one of the debtor's earlier lines")
    return None
