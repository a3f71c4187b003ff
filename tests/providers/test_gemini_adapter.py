"""The Gemini adapter: the Anthropic body translated, the key in `x-goog-api-key`, the answer
and the SSE stream translated back as they arrive, errors with their status (a rejected key as
401) and Google's RetryInfo as retry-after."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.config import ProviderConfig
from bifrost_py.dialects.gemini_mock import encode_gemini_sse, gemini_stream_chunks
from bifrost_py.dialects.gemini_stream import GeminiStreamToAnthropic
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.errors import CredentialsRefused, InvalidRequest
from bifrost_py.providers import make_provider
from bifrost_py.providers.base import Provider
from bifrost_py.providers.gemini import GeminiProvider, anthropic_stream, retry_after

from .conftest import WEATHER_TOOL, key, messages_request, read_stream, sse_events


@pytest.fixture
async def provider(mock_upstream: Any) -> AsyncIterator[GeminiProvider]:
    made = make_provider(ProviderConfig(name="gemini", type="gemini", base_url=mock_upstream.url, keys=[key("g-key")]))
    assert isinstance(made, GeminiProvider)
    yield made
    await made.close()


async def _pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def convert(pieces: list[bytes]) -> list[tuple[str | None, dict[str, Any]]]:
    async def run() -> bytes:
        translator = GeminiStreamToAnthropic("gemini-2.5-flash", 3)
        return b"".join([chunk async for chunk in anthropic_stream(_pieces(pieces), translator)])

    return sse_events(asyncio.run(run()))


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=10), min_size=1, max_size=6), st.lists(st.integers(min_value=0), max_size=20))
def test_any_split_of_the_sse_gives_one_valid_message(texts: list[str], cuts: list[int]) -> None:
    chunks = gemini_stream_chunks(texts, input_tokens=9, output_tokens=len(texts), model="gemini-2.5-flash")
    data = b"".join(encode_gemini_sse(chunk) for chunk in chunks)
    events = convert(split(data, cuts))
    names = [name for name, _ in events]
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert names.count("content_block_start") == names.count("content_block_stop") == 1
    assert "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta") == "".join(texts)
    assert events[-2][1]["usage"]["output_tokens"] == len(texts) and events[0][1]["message"]["usage"]["input_tokens"] == 9


def test_an_error_chunk_ends_the_stream_with_an_error_event() -> None:
    [first] = gemini_stream_chunks(["Hello"])
    error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
    events = convert([encode_gemini_sse(first) + encode_gemini_sse(error) + encode_gemini_sse(first)])
    assert [name for name, _ in events] == ["message_start", "content_block_start", "content_block_delta", "error"]
    assert events[-1][1]["error"] == {"type": "overloaded_error", "message": "The model is overloaded."}


def test_a_chunk_that_is_not_json_is_a_malformed_answer() -> None:
    with pytest.raises(MalformedAnswer, match="not JSON"):
        convert([b"data: {not json\r\n\r\n"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"}]}}, "37"),
     ({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "0.2s"}]}}, "1"),
     ([{"error": {"details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "2.5s"}]}}], "3"),
     ({"error": {"details": [{"@type": "type.googleapis.com/google.rpc.QuotaFailure"}]}}, None),
     ({"error": {"message": "x"}}, None), ({"error": "a string"}, None), ("not an object", None),
     ({"error": {"details": 5}}, None), ({"error": {"details": [{"@type": ["x"], "retryDelay": 5}]}}, None),
     ({"error": {"details": [{"@type": "google.rpc.RetryInfo", "retryDelay": "9" * 400 + "s"}]}}, "86400")],
)
def test_retry_info_becomes_seconds(body: Any, expected: str | None) -> None:
    assert retry_after(orjson.dumps(body)) == expected


async def test_request_is_translated_and_keyed(provider: GeminiProvider, mock_upstream: Any, mock_records: Any) -> None:
    request = messages_request("hello", model="gemini-2.5-flash", system="be brief", temperature=0.5)
    response = await provider.send(request, key("g-key"))
    assert response.status == 200
    message = orjson.loads(await response.read())
    assert message["type"] == "message" and message["model"] == "gemini-2.5-flash"
    assert message["content"] == [{"type": "text", "text": "Mock answer to: hello"}]
    assert message["stop_reason"] == "end_turn" and message["usage"]["output_tokens"] == 4
    [record] = await mock_records()
    assert record["path"] == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert record["headers"]["x-goog-api-key"] == "g-key" and "authorization" not in record["headers"]
    sent = orjson.loads(record["body"])
    assert sent["systemInstruction"] == {"parts": [{"text": "be brief"}]}
    assert sent["generationConfig"] == {"maxOutputTokens": 200, "temperature": 0.5}


async def test_streamed_tool_call(provider: GeminiProvider, mock_records: Any) -> None:
    request = messages_request("weather [[tool]]", model="gemini-2.5-flash", stream=True, tools=[WEATHER_TOOL])
    response = await provider.send(request, key("g-key"))
    events = sse_events(await read_stream(response))
    start = next(d for n, d in events if n == "content_block_start")["content_block"]
    assert start["type"] == "tool_use" and start["name"] == "get_weather" and start["id"].startswith("toolu_gemini_")
    arguments = "".join(d["delta"]["partial_json"] for n, d in events if n == "content_block_delta")
    assert orjson.loads(arguments) == {"city": "mock", "days": 1}
    assert next(d for n, d in events if n == "message_delta")["delta"]["stop_reason"] == "tool_use"
    [record] = await mock_records()
    assert record["query"] == "alt=sse"


@pytest.mark.parametrize(
    ("script", "status", "kind", "retry"),
    [({"status": 400, "message": "API key not valid. Please pass a valid API key."}, 401, "authentication_error", None),
     ({"status": 400, "message": "Bad field"}, 400, "invalid_request_error", None),
     ({"status": 429, "retry_after": 20}, 429, "rate_limit_error", "20"),
     ({"status": 503}, 503, "overloaded_error", None)],
)
async def test_errors(provider: GeminiProvider, mock_upstream: Any, script: dict[str, Any], status: int, kind: str, retry: str | None) -> None:
    await mock_upstream.post("/_mock/script", json={"responses": [script]})
    response = await provider.send(messages_request("hi", model="gemini-2.5-flash", stream=True), key("g-key"))
    assert response.status == status
    assert response.headers.get("retry-after") == retry
    assert orjson.loads(await response.read())["error"]["type"] == kind


async def test_needs_a_key_and_serves_only_messages(provider: GeminiProvider) -> None:
    with pytest.raises(CredentialsRefused):
        await provider.send(messages_request("hi", model="gemini-2.5-flash"), None)
    request = messages_request("hi", model="gemini-2.5-flash")
    request.endpoint = "embeddings"
    with pytest.raises(InvalidRequest):
        await provider.send(request, key("g-key"))
    assert isinstance(provider, Provider) and provider.dialects == ("anthropic", "gemini")
