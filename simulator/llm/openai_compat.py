"""Any OpenAI-compatible endpoint (OpenAI, Mistral, vLLM, Ollama, llama.cpp server...).

Built on the `openai` package's async client with its own retries switched off:
we retry here, with exponential backoff, on 429, 5xx and connection errors, and
only before the first streamed chunk (a half-spoken reply is never replayed).
Errors leave this module as the simulator's `LLMError` types.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import httpx
import openai

from ..errors import (
    LLMConnectionError,
    LLMError,
    LLMStatusError,
    LLMStreamInterrupted,
    LLMTimeoutError,
)
from .base import GenerationRequest

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {408, 409, 429, 500, 502, 503, 504}


def _convert(exc: BaseException, where: str) -> LLMError:
    if isinstance(exc, LLMError):
        return exc
    if isinstance(exc, (openai.APITimeoutError, httpx.TimeoutException, asyncio.TimeoutError)):
        return LLMTimeoutError(f"{where}: no answer within the request timeout (raise SIMULATOR_REQUEST_TIMEOUT if the model is slow)")
    if isinstance(exc, openai.APIStatusError):
        body = None
        try:
            body = exc.response.text
        except Exception:  # the body may be unreadable once the stream is closed
            body = None
        return LLMStatusError(f"{where}: HTTP {exc.status_code}: {exc.message}", exc.status_code, body)
    if isinstance(exc, (openai.APIConnectionError, httpx.TransportError)):
        return LLMConnectionError(f"{where}: cannot reach the model endpoint ({exc}); check SIMULATOR_BASE_URL and that the server runs")
    return LLMError(f"{where}: {type(exc).__name__}: {exc}")


def _retryable(err: LLMError) -> bool:
    if isinstance(err, (LLMConnectionError, LLMTimeoutError)):
        return True
    return isinstance(err, LLMStatusError) and err.status in RETRYABLE_STATUS


class OpenAICompatModel:
    """Talks to `/v1/chat/completions` (messages) or `/v1/completions` (raw prompt)."""

    def __init__(
        self,
        *,
        base_url: str | None,
        model: str,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        name: str | None = None,
    ):
        self.model = model
        self.base_url = base_url
        self.max_retries = max_retries
        self.backoff = backoff
        self.name = name or f"openai:{model}"
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # Local servers need no key, but the client insists on one.
            api_key=api_key or "not-needed",
            timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)),
            max_retries=0,
        )

    @property
    def where(self) -> str:
        return f"model {self.model!r} at {self.base_url or 'api.openai.com'}"

    async def _sleep_before_retry(self, attempt: int, err: LLMError) -> None:
        delay = self.backoff * (2**attempt) * (1 + random.random() * 0.25)
        log.warning("%s; retry %d/%d in %.1fs", err, attempt + 1, self.max_retries, delay)
        await asyncio.sleep(delay)

    def _params(self, request: GenerationRequest) -> dict:
        params: dict = {
            "model": self.model,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
        }
        for penalty in ("frequency_penalty", "presence_penalty"):
            if getattr(request, penalty):
                params[penalty] = getattr(request, penalty)
        if request.stop:
            params["stop"] = request.stop[:4]  # OpenAI accepts at most four
        return params

    async def _create(self, request: GenerationRequest, stream: bool):
        params = self._params(request)
        if request.messages is not None:
            return await self._client.chat.completions.create(
                messages=[m.model_dump() for m in request.messages], stream=stream, **params
            )
        return await self._client.completions.create(prompt=request.prompt, stream=stream, **params)

    @staticmethod
    def _text_of(choice) -> str:
        # chat: choice.message.content / choice.delta.content; completions: choice.text
        for attr in ("delta", "message"):
            part = getattr(choice, attr, None)
            if part is not None:
                return getattr(part, "content", None) or ""
        return getattr(choice, "text", None) or ""

    async def complete(self, request: GenerationRequest) -> str:
        for attempt in range(self.max_retries + 1):
            try:
                response = await self._create(request, stream=False)
                if not response.choices:
                    raise LLMError(f"{self.where}: the answer has no choices")
                return self._text_of(response.choices[0])
            except Exception as exc:  # converted, retried or raised below
                err = _convert(exc, self.where)
                if attempt < self.max_retries and _retryable(err):
                    await self._sleep_before_retry(attempt, err)
                    continue
                raise err from exc
        raise AssertionError("unreachable")

    async def stream(self, request: GenerationRequest) -> AsyncIterator[str]:
        for attempt in range(self.max_retries + 1):
            received: list[str] = []
            finished = False
            try:
                response = await self._create(request, stream=True)
                async with response:
                    async for chunk in response:
                        if not chunk.choices:
                            continue
                        choice = chunk.choices[0]
                        text = self._text_of(choice)
                        if text:
                            received.append(text)
                            yield text
                        if getattr(choice, "finish_reason", None):
                            finished = True
                if not finished:
                    raise LLMStreamInterrupted(
                        f"{self.where}: the reply stream ended before its end", "".join(received)
                    )
                return
            except LLMStreamInterrupted:
                raise
            except Exception as exc:
                err = _convert(exc, self.where)
                if received:
                    raise LLMStreamInterrupted(f"{err} (after part of the reply)", "".join(received)) from exc
                if attempt < self.max_retries and _retryable(err):
                    await self._sleep_before_retry(attempt, err)
                    continue
                raise err from exc

    async def aclose(self) -> None:
        await self._client.close()
