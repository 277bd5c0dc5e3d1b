"""Builds what the model is asked to say next, from the scenario and the call so far.

Two formats:
- `transcript` (default for the embedded model): a call transcript to continue
  through `/v1/completions`. The persona paragraph comes first and never
  changes, each turn only appends, so llama.cpp reuses the KV cache of the
  whole call; generation stops at the end of the debtor's line.
- `chat`: a system message with the persona and the turns as chat messages,
  for chat-only endpoints (OpenAI, Mistral...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ..llm.base import ChatMessage, GenerationRequest
from ..scenario import Scenario

Speaker = Literal["agent", "debtor"]


@dataclass(frozen=True)
class TranscriptLine:
    speaker: Speaker
    text: str


LABELS = {
    "fr": {"agent": "Chargé de relance", "narration": "Transcription d'un appel téléphonique professionnel, en français."},
    "en": {"agent": "Collector", "narration": "Transcript of a professional phone call, in English."},
}

_CURRENCY = {"EUR": "€", "GBP": "£", "USD": "$"}


def money(amount: float, currency: str, language: str) -> str:
    symbol = _CURRENCY.get(currency, currency)
    if language == "fr":
        whole = f"{amount:,.2f}".replace(",", "\u202f").replace(".", ",").removesuffix(",00")
        return f"{whole} {symbol}"
    text = f"{amount:,.2f}".removesuffix(".00")
    return f"{symbol}{text}" if symbol in ("£", "$") else f"{text} {symbol}"


def persona_paragraph(s: Scenario) -> str:
    p, d = s.persona, s.debt
    amount = money(d.amount, d.currency, s.language)
    if s.language == "fr":
        return (
            f"{p.name}, {p.role} ({p.company}), reçoit l'appel d'un chargé de relance au sujet de la facture "
            f"{d.invoice_ref} de {amount}, impayée depuis {d.days_overdue} jours.\n"
            f"Caractère de {p.name} : {p.personality}\n"
            f"Sa situation : {s.situation}\n"
            f"{p.name} parle comme au téléphone : une à trois phrases courtes, en français courant. "
            f"{p.name} ne joue jamais le rôle du chargé de relance et ne répète pas ses phrases."
        )
    return (
        f"{p.name}, {p.role} ({p.company}), takes a call from a credit collector about invoice "
        f"{d.invoice_ref} for {amount}, {d.days_overdue} days overdue.\n"
        f"{p.name}'s character: {p.personality}\n"
        f"Their situation: {s.situation}\n"
        f"{p.name} speaks as on the phone: one to three short sentences, in plain English. "
        f"{p.name} never plays the collector and does not repeat the collector's words."
    )


class PromptBuilder:
    def __init__(self, scenario: Scenario, fmt: Literal["transcript", "chat"] = "transcript", max_tokens: int = 90):
        self.scenario = scenario
        self.fmt = fmt
        self.max_tokens = max_tokens
        self.labels = LABELS[scenario.language]

    @property
    def debtor_label(self) -> str:
        return self.scenario.persona.name

    def _line(self, line: TranscriptLine) -> str:
        label = self.labels["agent"] if line.speaker == "agent" else self.debtor_label
        return f"{label} : {line.text}" if self.scenario.language == "fr" else f"{label}: {line.text}"

    def prefix(self) -> str:
        """The part of the transcript prompt that never changes during a call."""
        return f"{self.labels['narration']}\n{persona_paragraph(self.scenario)}\n\n"

    def build(self, history: list[TranscriptLine], *, direction: str | None = None, temperature: float = 0.7) -> GenerationRequest:
        """Ask for the debtor's next line after `history` (which ends with the agent's turn)."""
        if self.fmt == "chat":
            return self._chat(history, direction, temperature)
        sep = " : " if self.scenario.language == "fr" else ": "
        body = "\n".join(self._line(line) for line in history)
        cue = f"{self.debtor_label}{f' [{direction}]' if direction else ''}{sep}"
        return GenerationRequest(
            prompt=f"{self.prefix()}{body}\n{cue}",
            max_tokens=self.max_tokens,
            temperature=temperature,
            stop=["\n", f"{self.labels['agent']}"],
        )

    def warmup(self, history: list[TranscriptLine]) -> GenerationRequest:
        """A one-token request over the stable prefix, sent while the phone rings."""
        if self.fmt == "chat":
            return self._chat(history, None, 0.0).model_copy(update={"max_tokens": 1})
        body = "\n".join(self._line(line) for line in history)
        return GenerationRequest(prompt=f"{self.prefix()}{body}\n", max_tokens=1, temperature=0.0)

    def _chat(self, history: list[TranscriptLine], direction: str | None, temperature: float) -> GenerationRequest:
        s = self.scenario
        if s.language == "fr":
            system = (
                f"Tu joues {s.persona.name} dans un jeu de rôle de formation au recouvrement. "
                f"L'utilisateur est le chargé de relance. Réponds uniquement par la réplique de {s.persona.name}, "
                "sans nom ni guillemets.\n" + persona_paragraph(s)
            )
        else:
            system = (
                f"You play {s.persona.name} in a debt-collection training role-play. The user is the collector. "
                f"Answer only with {s.persona.name}'s line, without name or quotes.\n" + persona_paragraph(s)
            )
        messages = [ChatMessage(role="system", content=system)]
        for line in history:
            messages.append(ChatMessage(role="user" if line.speaker == "agent" else "assistant", content=line.text))
        if direction:
            messages.append(ChatMessage(role="system", content=f"({direction})"))
        return GenerationRequest(messages=messages, max_tokens=self.max_tokens, temperature=temperature, stop=["\n\n"])
