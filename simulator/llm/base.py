"""The one narrow seam between the simulator and any language model.

Everything outside `simulator.llm` depends only on `ChatModel`: give it a
`GenerationRequest`, get text back whole (`complete`) or in chunks (`stream`).
A request is either chat messages or a raw prompt to continue (the transcript
format that small local models follow better); a backend that cannot do raw
prompts converts them to one user message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, Protocol, runtime_checkable

from pydantic import BaseModel, Field, model_validator


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class GenerationRequest(BaseModel):
    """What to generate. Exactly one of `messages` and `prompt` is set."""

    messages: list[ChatMessage] | None = None
    prompt: str | None = None
    max_tokens: int = Field(120, ge=1, le=8192)
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    stop: list[str] = Field(default_factory=list)
    frequency_penalty: float = Field(0.0, ge=-2.0, le=2.0)
    presence_penalty: float = Field(0.0, ge=-2.0, le=2.0)

    @model_validator(mode="after")
    def _one_of(self) -> "GenerationRequest":
        if (self.messages is None) == (self.prompt is None):
            raise ValueError("set exactly one of `messages` and `prompt`")
        return self

    def as_text(self) -> str:
        """The request as plain text (for logs, token counts and scripted models)."""
        if self.prompt is not None:
            return self.prompt
        return "\n".join(f"{m.role}: {m.content}" for m in self.messages or [])


@runtime_checkable
class ChatModel(Protocol):
    """A language model the simulator can talk to."""

    name: str

    async def complete(self, request: GenerationRequest) -> str:
        """Generate the whole reply."""
        ...

    def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        """Generate the reply chunk by chunk."""
        ...

    async def aclose(self) -> None:
        """Release connections or child processes."""
        ...
