"""A scripted model: replies from a list or a function, and a record of every request.

It is a real backend (`--backend scripted`), used by the tests, the scenario
self-tests and demos, so they go through the same code path as production.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path

from ..errors import ConfigError
from .base import GenerationRequest

DEFAULT_REPLIES_FR = [
    "Oui, bonjour… Écoutez, je sais pour la facture, c'est un peu compliqué en ce moment.",
    "Je comprends bien, mais je ne peux pas tout régler d'un coup.",
    "D'accord. Qu'est-ce que vous me proposez exactement ?",
    "Bon… je vais voir ce que je peux faire, rappelez-moi la date.",
]

DEFAULT_REPLIES_EN = [
    "Yes, hello… Look, I know about the invoice, things are a bit complicated right now.",
    "I do understand, but I can't settle it all in one go.",
    "Okay. What exactly are you proposing?",
    "Right… I'll see what I can do, remind me of the date.",
]

ReplyFunction = Callable[[GenerationRequest], str]


def request_language(request: GenerationRequest) -> str:
    """"en" when the request reads as English (more English than French function words), else "fr"."""
    from ..debtor.guards import language_words  # the language guard's own idea of "English"

    _, fr, en = language_words(request.as_text())
    return "en" if en > fr else "fr"


class ScriptedModel:
    """Plays replies in order (cycling) or asks `function` for each one."""

    def __init__(
        self,
        replies: Iterable[str] | None = None,
        *,
        function: ReplyFunction | None = None,
        chunk_size: int = 8,
        delay: float = 0.0,
        name: str = "scripted",
    ):
        if replies is not None and function is not None:
            raise ValueError("give replies or a function, not both")
        self._function = function
        self._replies = list(replies) if replies is not None else list(DEFAULT_REPLIES_FR)
        if function is None and not self._replies:
            raise ValueError("a scripted model needs at least one reply")
        self._cycle = itertools.cycle(self._replies)
        # no replies given: the canned lines follow the request's language (English scenarios get English)
        self._by_language = ({"fr": self._cycle, "en": itertools.cycle(DEFAULT_REPLIES_EN)}
                             if replies is None and function is None else None)
        self.chunk_size = chunk_size
        self.delay = delay
        self.name = name
        self.requests: list[GenerationRequest] = []

    @classmethod
    def from_file(cls, path: Path) -> "ScriptedModel":
        try:
            lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
        except OSError as exc:
            raise ConfigError(
                f"{path}: cannot read the scripted replies ({exc.strerror}); "
                "set SIMULATOR_SCRIPTED_REPLIES to a text file with one reply per line"
            ) from exc
        replies = [line for line in lines if line and not line.startswith("#")]
        if not replies:
            raise ConfigError(f"{path}: no reply in the file; write one debtor reply per line")
        return cls(replies)

    def _next(self, request: GenerationRequest) -> str:
        self.requests.append(request)
        if self._function is not None:
            reply = self._function(request)
        elif self._by_language is not None:
            reply = next(self._by_language[request_language(request)])
        else:
            reply = next(self._cycle)
        # a model continuing a prompt that ends in the start of the reply (an opener: "Débiteur : Écoutez,")
        # goes on with a space, as a tokenizer's next word does: without it the two were glued ("Écoutez,Oui")
        prompt = getattr(request, "prompt", None)
        if prompt and not prompt[-1].isspace() and prompt[-1] != ":" and reply and not reply[0].isspace():
            reply = " " + reply
        return reply

    async def complete(self, request: GenerationRequest) -> str:
        reply = self._next(request)
        if self.delay:
            await asyncio.sleep(self.delay)
        return reply

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        reply = self._next(request)
        for start in range(0, len(reply), self.chunk_size):
            if self.delay:
                await asyncio.sleep(self.delay)
            yield reply[start : start + self.chunk_size]

    async def aclose(self) -> None:
        return None
