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

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import ConfigError
from ..llm.base import ChatMessage, GenerationRequest
from ..llm.tokens import TokenBudget
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
    # The trainer's example lines set this debtor's own voice (at most four, to keep the prefix short).
    voice = " ".join(f"« {line} »" if s.language == "fr" else f'"{line}"' for line in s.example_lines[:4])
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
            + (f"Façon de parler de {p.name}, par exemple : {voice}\n" if voice else "")
            + f"{p.name} parle comme au téléphone : une à trois phrases courtes, avec ses propres mots, "
            f"sans répéter les phrases du chargé de relance."
        )
    return (
        f"Character: {p.name}, {p.role} ({p.company}). {owes}\n"
        f"Character traits: {p.personality}\n"
        f"What {p.name} knows of their situation: {s.situation}\n"
        + (f"How {p.name} talks, for example: {voice}\n" if voice else "")
        + f"{p.name} speaks as on the phone: one to three short sentences, in their own words, "
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


# Words the debtor's line starts with, per beat, written into the prompt after the
# debtor's name (transcript format). The small model otherwise tends to open with
# the trainee's figures or to copy its previous line; a fresh first word per turn
# breaks both habits and keeps the beat's tone.
OPENERS = {
    "fr": {
        "respond": ["Oui…", "Ah…", "Écoutez,", "Bon,", "Hmm,", "Alors,"],
        "reveal": ["Bon, pour être honnête,", "Écoutez, je vais vous dire,"],
        "accept": ["D'accord.", "Bon, d'accord.", "Entendu."],
        "counter": ["Non, ça je ne peux pas.", "Attendez, c'est trop pour moi."],
        "refuse": ["Écoutez,", "Non,", "Franchement,"],
        "hang_up": ["Bon, écoutez,", "Ça suffit,"],
    },
    "en": {
        "respond": ["Yes…", "Oh…", "Look,", "Well,", "Hmm,", "Right,"],
        "reveal": ["Well, to be honest,", "Look, I'll tell you,"],
        "accept": ["All right.", "OK, fine.", "Agreed."],
        "counter": ["No, I can't do that.", "Hang on, that's too much for me."],
        "refuse": ["Look,", "No,", "Honestly,"],
        "hang_up": ["Right, look,", "That's enough,"],
    },
}


def pick_opener(language: str, beat: str, earlier_replies: list[str], turn_index: int) -> str:
    """An opener for `beat` whose first word differs from the debtor's last two lines."""
    options = OPENERS[language][beat]
    recent = {reply.split()[0].strip(",.…").lower() for reply in earlier_replies[-2:] if reply.split()}
    for shift in range(len(options)):
        opener = options[(turn_index + shift) % len(options)]
        if opener.split()[0].strip(",.…").lower() not in recent:
            return opener
    return options[turn_index % len(options)]


EARLIER_CALL = {
    "fr": "(Début de l'appel résumé : {turns} répliques échangées.{facts})",
    "en": "(Start of the call, summarised: {turns} lines exchanged.{facts})",
}
EARLIER_FACTS = {"fr": " {name} a déjà confié : {facts}.", "en": " {name} has already said: {facts}."}


class PromptBuilder:
    """Builds each request; keeps the call inside the model's context window.

    The persona prefix and the engine's direction are always sent. When the
    transcript no longer fits, the oldest turns are replaced by a one-line
    summary (turn count and the facts already revealed). The cut is made
    generously (down to half the room) and then left alone, so the prompt
    prefix stays identical for the following turns and the KV cache stays warm.
    """

    def __init__(
        self, scenario: Scenario, fmt: Literal["transcript", "chat"] = "transcript", max_tokens: int = 90,
        budget: TokenBudget | None = None, known_facts: Callable[[], list[str]] | None = None,
    ):
        self.scenario = scenario
        self.fmt = fmt
        self.max_tokens = max_tokens
        self.labels = LABELS[scenario.language]
        self.budget = budget or TokenBudget.default()
        self.known_facts = known_facts or (lambda: [])
        self.cut = 0  # turns before this index are summarised
        self._summary = ""
        self._fixed: int | None = None
        self._line_tokens: dict[tuple[str, str], int] = {}

    # token budget -----------------------------------------------------------
    def _count_line(self, line: TranscriptLine) -> int:
        key = (line.speaker, line.text)
        if key not in self._line_tokens:
            self._line_tokens[key] = self.budget.counter.count(self._line(line)) + 1
        return self._line_tokens[key]

    def room(self) -> int:
        """Tokens left for the transcript once the persona, direction and reply are reserved."""
        if self._fixed is None:
            fixed_text = self.prefix() if self.fmt == "transcript" else self._system()
            # the cue with the longest direction the engine gives is about 80 tokens
            self._fixed = self.budget.counter.count(fixed_text) + 80
        room = self.budget.context_tokens - self.budget.margin - self.max_tokens - self._fixed
        if room < 200:
            raise ConfigError(
                f"scenario {self.scenario.id!r}: the persona needs {self._fixed} tokens and the model's context is "
                f"{self.budget.context_tokens}; shorten the persona or situation, or raise the context "
                "(SIMULATOR_EMBEDDED_CTX for the embedded model, SIMULATOR_CONTEXT_TOKENS otherwise)"
            )
        return room

    def _fit(self, history: list[TranscriptLine]) -> tuple[str, list[TranscriptLine]]:
        """The summary line and the turns to send in full."""
        room = self.room()
        kept = history[self.cut:]
        used = self.budget.counter.count(self._summary) + sum(self._count_line(line) for line in kept)
        if used <= room:
            return self._summary, kept
        # Cut down to half the room so that the next turns append to a stable prefix.
        target, total, cut = room // 2, 0, len(history)
        while cut > self.cut and total + self._count_line(history[cut - 1]) <= target:
            cut -= 1
            total += self._count_line(history[cut])
        cut = max(cut, self.cut + 1)
        if cut < len(history) - 1 and history[cut].speaker == "debtor":
            cut += 1  # start the kept part on a trainee line
        self.cut = min(cut, len(history) - 1)  # never drop the trainee's last line
        lang = self.scenario.language
        facts = self.known_facts()
        facts_text = EARLIER_FACTS[lang].format(name=self.scenario.persona.name, facts=" ; ".join(facts)) if facts else ""
        self._summary = EARLIER_CALL[lang].format(turns=self.cut, facts=facts_text)
        return self._summary, history[self.cut:]

    def prompt_tokens(self, request: GenerationRequest) -> int:
        return self.budget.counter.count(request.as_text())

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

    def build(
        self, history: list[TranscriptLine], *, direction: str | None = None, temperature: float = 0.7,
        opener: str | None = None,
    ) -> GenerationRequest:
        """Ask for the debtor's next line after `history` (which ends with the agent's turn).

        `opener` (transcript format only) is written as the start of the line; the
        model continues it and the caller puts it in front of what is generated.
        """
        if self.fmt == "chat":
            return self._chat(history, direction, temperature)
        sep = " : " if self.scenario.language == "fr" else ": "
        summary, kept = self._fit(history)
        body = "\n".join(([summary] if summary else []) + [self._line(line) for line in kept])
        cue = f"{self.debtor_label}{f' [{direction}]' if direction else ''}{sep}"
        return GenerationRequest(
            prompt=f"{self.prefix()}{body}\n{cue}{opener or ''}",
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
        summary, kept = self._fit(history)
        body = "\n".join(([summary] if summary else []) + [self._line(line) for line in kept])
        return GenerationRequest(prompt=f"{self.prefix()}{body}\n", max_tokens=1, temperature=0.0)

    def _system(self) -> str:
        s = self.scenario
        if s.language == "fr":
            return (
                f"Tu joues {s.persona.name} dans un jeu de rôle de formation au recouvrement. "
                f"L'utilisateur est le chargé de relance. Réponds uniquement par la réplique de {s.persona.name}, "
                "sans nom ni guillemets.\n" + persona_paragraph(s)
            )
        return (
            f"You play {s.persona.name} in a debt-collection training role-play. The user is the collector. "
            f"Answer only with {s.persona.name}'s line, without name or quotes.\n" + persona_paragraph(s)
        )

    def _chat(self, history: list[TranscriptLine], direction: str | None, temperature: float) -> GenerationRequest:
        summary, kept = self._fit(history)
        messages = [ChatMessage(role="system", content=self._system())]
        if summary:
            messages.append(ChatMessage(role="system", content=summary))
        for line in kept:
            messages.append(ChatMessage(role="user" if line.speaker == "agent" else "assistant", content=line.text))
        if direction:
            messages.append(ChatMessage(role="system", content=f"({direction})"))
        return GenerationRequest(messages=messages, max_tokens=self.max_tokens, temperature=temperature, stop=["\n\n"])
