"""The OpenAI-compatible client against a real HTTP server on 127.0.0.1."""

import time

import pytest

from simulator.errors import LLMStatusError, LLMStreamInterrupted, LLMTimeoutError, LLMConnectionError
from simulator.llm import ChatMessage, GenerationRequest, OpenAICompatModel
from simulator.llm.embedded import free_port

from .fake_openai_server import FakeOpenAI

CHAT = GenerationRequest(messages=[ChatMessage(role="user", content="Bonjour")], max_tokens=20)
RAW = GenerationRequest(prompt="Chargé de relance : Bonjour\nDébiteur :", max_tokens=20, stop=["\n"])


@pytest.fixture
def server():
    with FakeOpenAI(stall_seconds=2.0) as s:
        yield s


def client(url, **kw):
    kw.setdefault("timeout", 5.0)
    kw.setdefault("backoff", 0.01)
    return OpenAICompatModel(base_url=url, model="fake", **kw)


async def test_streams_chat_chunks(server):
    model = client(server.url("ok"))
    chunks = [c async for c in model.stream(CHAT)]
    assert chunks == ["Bon", "jour", ", je", " vous", " écoute."]
    mode, body = server.requests[-1]
    assert body["stream"] is True and body["messages"] == [{"role": "user", "content": "Bonjour"}]
    await model.aclose()


async def test_streams_raw_prompt_through_completions(server):
    model = client(server.url("ok"))
    text = "".join([c async for c in model.stream(RAW)])
    assert text == "Bonjour, je vous écoute."
    _, body = server.requests[-1]
    assert body["prompt"].endswith("Débiteur :") and body["stop"] == ["\n"]
    assert await model.complete(RAW) == "Bonjour, je vous écoute."


async def test_complete_chat(server):
    assert await client(server.url("ok")).complete(CHAT) == "Bonjour, je vous écoute."


async def test_500_is_retried_then_raised_with_status_and_body(server):
    model = client(server.url("fail500"), max_retries=2)
    with pytest.raises(LLMStatusError) as info:
        await model.complete(CHAT)
    assert info.value.status == 500 and "boom" in info.value.body
    assert len(server.requests) == 3  # first try + two retries


async def test_500_while_streaming(server):
    model = client(server.url("fail500"), max_retries=1)
    with pytest.raises(LLMStatusError):
        [c async for c in model.stream(CHAT)]
    assert len(server.requests) == 2


async def test_503_once_then_success(server):
    model = client(server.url("flaky"), max_retries=2)
    assert "".join([c async for c in model.stream(CHAT)]) == "Bonjour, je vous écoute."
    assert len(server.requests) == 2


async def test_400_is_not_retried(server):
    model = client(server.url("badrequest"), max_retries=3)
    with pytest.raises(LLMStatusError) as info:
        await model.complete(CHAT)
    assert info.value.status == 400 and len(server.requests) == 1


async def test_stall_past_timeout(server):
    model = client(server.url("stall"), timeout=0.5, max_retries=0)
    started = time.monotonic()
    with pytest.raises(LLMTimeoutError) as info:
        [c async for c in model.stream(CHAT)]
    assert time.monotonic() - started < 1.8
    assert "SIMULATOR_REQUEST_TIMEOUT" in str(info.value)


async def test_stream_cut_halfway_keeps_partial(server):
    model = client(server.url("cut"), max_retries=2)
    received = []
    with pytest.raises(LLMStreamInterrupted) as info:
        async for c in model.stream(CHAT):
            received.append(c)
    assert received == ["Bon", "jour"]
    assert info.value.partial == "Bonjour"
    assert len(server.requests) == 1  # a half-spoken reply is never replayed


async def test_connection_refused():
    model = client(f"http://127.0.0.1:{free_port()}/v1", max_retries=1)
    with pytest.raises(LLMConnectionError) as info:
        await model.complete(CHAT)
    assert "SIMULATOR_BASE_URL" in str(info.value)
