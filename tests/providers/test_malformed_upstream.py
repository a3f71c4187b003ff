"""Whose fault, at the adapters that translate inside `send()` (Gemini, Bedrock): a wrongly typed
request field is the client's (InvalidRequest, nothing sent upstream); an answer that is not the
provider's success shape is the provider's (MalformedAnswer, from `read()` or from the stream after
the good events before it). The upstream here is a real HTTP server on loopback that answers
whatever a test scripts."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from bifrost_py.config import ProviderConfig
from bifrost_py.dialects import usage
from bifrost_py.dialects.bedrock import EVENTSTREAM_CONTENT_TYPE, encode_bedrock_chunk
from bifrost_py.dialects.eventstream import encode_message
from bifrost_py.dialects.gemini_mock import encode_gemini_sse, gemini_stream_chunks
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.errors import InvalidRequest
from bifrost_py.providers import make_provider
from bifrost_py.providers.base import Provider, UpstreamRequest

from .conftest import BEDROCK_MODEL_ID, bedrock_config, key, messages_request, sse_events


@dataclass
class ScriptedUpstream:
    """Answers every POST with `status`, `content_type` and `body`; remembers the paths asked."""

    url: str = ""
    status: int = 200
    content_type: str = "application/json"
    body: bytes = b"{}"
    paths: list[str] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(request.path)
        await request.read()
        response = web.StreamResponse(status=self.status, headers={"content-type": self.content_type})
        await response.prepare(request)
        await response.write(self.body)
        await response.write_eof()
        return response


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    scripted = ScriptedUpstream()
    app = web.Application()
    app.router.add_post("/{tail:.*}", scripted.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    scripted.url = f"http://127.0.0.1:{port}"
    yield scripted
    await runner.cleanup()


@pytest.fixture
async def gemini(upstream: ScriptedUpstream) -> AsyncIterator[Provider]:
    provider = make_provider(ProviderConfig(name="gem", type="gemini", base_url=upstream.url, keys=[key("g")]))
    yield provider
    await provider.close()


@pytest.fixture
async def bedrock(upstream: ScriptedUpstream) -> AsyncIterator[Provider]:
    provider = make_provider(bedrock_config(upstream.url))
    yield provider
    await provider.close()


async def drain(response: Any) -> tuple[list[bytes], BaseException | None]:
    """What a stream yielded, and what it raised after that (if anything)."""
    out: list[bytes] = []
    try:
        async for chunk in response.chunks():
            out.append(chunk)
    except MalformedAnswer as exc:
        return out, exc
    return out, None


# --------------------------------------------------------------------------- the client's fault


@pytest.mark.parametrize(
    ("extra", "field"),
    [({"temperature": "hot"}, "temperature: must be a number"),
     ({"stop_sequences": 5}, "stop_sequences: must be a list"),
     ({"tools": [{"name": "f", "input_schema": {"properties": {"a": {"default": [[[[1]]]]}}}}], "thinking": "on"},
      "thinking: must be an object"),
     ({"tool_choice": {"type": "auto"}, "tools": [{"name": "f", "input_schema": {"type": "object", "default": "["}}],
       "messages": [{"role": "user", "content": [{"type": "text", "text": ["x"]}]}]}, "messages[0].content[0].text")],
)
async def test_a_wrongly_typed_field_is_refused_before_gemini_is_asked(
    gemini: Provider, upstream: ScriptedUpstream, extra: dict[str, Any], field: str
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await gemini.send(messages_request("hi", model="gemini-2.5-flash", **extra), key("g"))
    assert field in caught.value.message and "gem" in caught.value.message
    assert upstream.paths == []


def deep_request(model: str, **extra: Any) -> UpstreamRequest:
    """A request whose JSON orjson read (it reads 1024 levels) but cannot write (254)."""
    body = {"model": model, "max_tokens": 9, "messages": [{"role": "user", "content": "hi"}], **extra}
    return UpstreamRequest("messages", "anthropic", b"{...}", body, False, model, {})


async def test_a_body_nested_too_deeply_to_write_is_refused(gemini: Provider, bedrock: Provider, upstream: ScriptedUpstream) -> None:
    deep: Any = 1
    for _ in range(300):
        deep = [deep]
    schema = {"type": "object", "properties": {"a": {"type": "array", "default": deep}}}
    request = deep_request("gemini-2.5-flash", tools=[{"name": "f", "input_schema": schema}])
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        await gemini.send(request, key("g"))
    with pytest.raises(InvalidRequest, match="nested too deeply"):
        await bedrock.send(deep_request(BEDROCK_MODEL_ID, context_management=deep), None)
    assert upstream.paths == []


@pytest.mark.parametrize("beta", [5, "a,b", ["ok", 7], {"a": 1}])
async def test_a_bad_anthropic_beta_is_refused_before_bedrock_is_asked(bedrock: Provider, upstream: ScriptedUpstream, beta: Any) -> None:
    with pytest.raises(InvalidRequest, match="anthropic_beta"):
        await bedrock.send(messages_request("hi", model=BEDROCK_MODEL_ID, anthropic_beta=beta), None)
    assert upstream.paths == []


# --------------------------------------------------------------------------- the provider's fault


@pytest.mark.parametrize(
    ("body", "why"),
    [(b"[1, 2]", "must be an object"),
     (b"not json", "not JSON"),
     (orjson.dumps({"error": {"code": 500, "status": "INTERNAL", "message": "oops"}}), "500 INTERNAL: oops"),
     (orjson.dumps({"candidates": [{"content": {"parts": [{"text": 5}]}}]}), "candidates[0].content.parts[0].text"),
     (orjson.dumps({"candidates": [], "usageMetadata": {"promptTokenCount": -1}}), "usageMetadata.promptTokenCount")],
)
async def test_a_gemini_200_that_is_not_an_answer_is_malformed(gemini: Provider, upstream: ScriptedUpstream, body: bytes, why: str) -> None:
    upstream.body = body
    response = await gemini.send(messages_request("hi", model="gemini-2.5-flash"), key("g"))
    assert response.status == 200
    with pytest.raises(MalformedAnswer) as caught:
        await response.read()
    assert why in str(caught.value)


@pytest.mark.parametrize(
    "bad",
    [b"data: {broken\r\n\r\n", b"data: [1]\r\n\r\n",
     b'data: {"candidates": [{"content": {"parts": [{"functionCall": {"name": "f", "args": 5}}]}}]}\r\n\r\n',
     b'data: {"usageMetadata": {"candidatesTokenCount": "many"}}\r\n\r\n'],
)
async def test_a_bad_gemini_chunk_ends_the_stream_after_the_good_ones(gemini: Provider, upstream: ScriptedUpstream, bad: bytes) -> None:
    [first, *_] = gemini_stream_chunks(["Hello", " world"], input_tokens=3, output_tokens=2)
    upstream.content_type = "text/event-stream"
    upstream.body = encode_gemini_sse(first) + bad + encode_gemini_sse(first)
    response = await gemini.send(messages_request("hi", model="gemini-2.5-flash", stream=True), key("g"))
    out, error = await drain(response)
    assert isinstance(error, MalformedAnswer)
    names = [name for name, _ in sse_events(b"".join(out))]
    assert names == ["message_start", "content_block_start", "content_block_delta"]


async def test_a_bad_bedrock_chunk_ends_the_stream_after_the_good_ones(bedrock: Provider, upstream: ScriptedUpstream) -> None:
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant", "model": "c",
                                                  "content": [], "usage": {"input_tokens": 3, "output_tokens": 1}}}
    not_json = {"bytes": base64.b64encode(b"{oops").decode()}
    upstream.content_type = EVENTSTREAM_CONTENT_TYPE
    upstream.body = encode_bedrock_chunk(start) + encode_message(
        {":message-type": "event", ":event-type": "chunk"}, orjson.dumps(not_json)
    )
    response = await bedrock.send(messages_request("hi", model=BEDROCK_MODEL_ID, stream=True), None)
    out, error = await drain(response)
    assert isinstance(error, MalformedAnswer) and "undecodable Bedrock chunk" in str(error)
    assert [name for name, _ in sse_events(b"".join(out))] == ["message_start"]


async def test_a_bedrock_200_that_is_not_a_message_is_caught_by_the_usage_reader(bedrock: Provider, upstream: ScriptedUpstream) -> None:
    """InvokeModel's body passes through untouched; the core's usage reader checks its shape."""
    upstream.body = orjson.dumps({"type": "error", "error": {"type": "overloaded_error", "message": "busy"}})
    response = await bedrock.send(messages_request("hi", model=BEDROCK_MODEL_ID), None)
    with pytest.raises(MalformedAnswer, match="overloaded_error: busy"):
        usage.anthropic_response_facts(orjson.loads(await response.read()))
