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
    if s.party == "third_party":  # they owe nothing and must not be handed the debt to repeat
        owes = {"fr": f"{p.name} répond au téléphone à la place de la personne demandée.",
                "en": f"{p.name} answers the phone for the person the caller asks for."}[s.language]
    elif s.language == "fr":
        owes = f"Doit {amount} (facture {d.invoice_ref}, impayée depuis {d.days_overdue} jours)."
    else:
        owes = f"Owes {amount} (invoice {d.invoice_ref}, {d.days_overdue} days overdue)."
    if s.language == "fr":
        return (
            f"Personnage : {p.name}, {p.role} ({p.company}). {owes}\n"
            f"Caractère : {p.personality}\n"
            f"Ce que {p.name} sait de sa situation : {s.situation}\n"
            f"{p.name} parle comme au téléphone : une à trois phrases courtes, avec ses propres mots, "
            f"sans répéter les phrases du chargé de relance."
        )
    return (
        f"Character: {p.name}, {p.role} ({p.company}). {owes}\n"
        f"Character traits: {p.personality}\n"
        f"What {p.name} knows of their situation: {s.situation}\n"
        f"{p.name} speaks as on the phone: one to three short sentences, in their own words, "
        f"never repeating the collector's sentences."
    )


# A short exchange from another call, to set the spoken register (not this debtor's facts).
STYLE_EXAMPLE = {
    "fr": (
        "Exemple d'un autre appel, pour le ton seulement :\n"
        "Chargé de relance : Bonjour Madame, je vous appelle pour la facture de mars, qui n'est pas réglée.\n"
        "Cliente : Ah… oui. Je sais, je suis en retard, c'est un peu compliqué en ce moment.\n"
        "Chargé de relance : Qu'est-ce qui se passe, exactement ?\n"
        "Cliente : Mes propres clients me paient tard, alors je jongle.\n"
        "Chargé de relance : Vous pourriez régler quand ?\n"
        "Cliente : Je ne sais pas trop… il faut que je regarde mes comptes."
    ),
    "en": (
        "Example from another call, for the tone only:\n"
        "Collector: Hello, I'm calling about the March invoice, which is still unpaid.\n"
        "Customer: Oh… yes. I know, I'm late, things are a bit difficult at the moment.\n"
        "Collector: What is happening, exactly?\n"
        "Customer: My own customers pay me late, so I'm juggling.\n"
        "Collector: When could you pay?\n"
        "Customer: I'm not sure… I need to look at my accounts."
    ),
}


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
        lang = self.scenario.language
        call = "Appel :" if lang == "fr" else "The call:"
        return f"{self.labels['narration']}\n\n{persona_paragraph(self.scenario)}\n\n{STYLE_EXAMPLE[lang]}\n\n{call}\n"

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
            frequency_penalty=0.6,
            presence_penalty=0.3,
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
