"""What every provider adapter shares: the gateway error for a provider's error answer, the
shaping of a request before it is sent, and the upstream response as `async with`, which closes
the connection on the way out (so an abandoned stream stops the provider's generation)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bifrost_py.config import ProviderConfig, ProviderKey
from bifrost_py.errors import CredentialsRefused, UpstreamError
from bifrost_py.providers.anthropic import AnthropicProvider
from bifrost_py.providers.base import (
    ANTHROPIC_FORWARDED,
    ERROR_DETAIL_CHARS,
    Provider,
    UpstreamRequest,
    UpstreamResponse,
    error_details,
)
from bifrost_py.providers.openai import OpenAIProvider
from bifrost_py.testing import RunningServer


def provider(cls: type[Provider] = Provider, base_url: str = "http://127.0.0.1:1", **extra: Any) -> Provider:
    return cls(ProviderConfig(name="p", type="anthropic", base_url=base_url, keys=[ProviderKey("sk-test")], **extra))


def request(dialect: str, stream: bool = False, **body: Any) -> UpstreamRequest:
    json = {"model": "m", "messages": [], **body}
    return UpstreamRequest(endpoint="messages", dialect=dialect, body=orjson.dumps(json), json=json,
                           stream=stream, model="m")


# ----------------------------------------------------------------------------- error_for


@pytest.mark.parametrize("status", [401, 403])
def test_a_refused_api_key_is_the_gateways_problem_not_the_clients(status: int) -> None:
    body = b'{"type":"error","error":{"type":"authentication_error","message":"invalid x-api-key"}}'
    error = provider().error_for(status, {}, body)
    assert isinstance(error, CredentialsRefused)
    assert error.status == 502 and error.upstream_status == status and error.final is False
    assert error.message == f"provider 'p' refused the gateway's API key ({status}: invalid x-api-key)"


@pytest.mark.parametrize(("status", "body", "kind", "message"), [
    (529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}', "overloaded_error",
     "Overloaded"),
    (429, b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}',
     "rate_limit_error", "Rate limit reached"),
    (400, b'{"error":{"type":"invalid_request_error"}}', "invalid_request_error", "invalid_request_error"),
    (404, b'{"message":"Resource not found"}', "not_found_error", "Resource not found"),
    (502, b"<html>Bad Gateway</html>", "api_error", "<html>Bad Gateway</html>"),
    (500, b"", "api_error", "no details"),
    (503, b"[]", "api_error", "[]"),
    (503, b'"busy"', "api_error", '"busy"'),
    (500, b"null", "api_error", "null"),
    (500, b'{"error":"plain string"}', "api_error", '{"error":"plain string"}'),
    (418, b"\xff\xfe teapot", "invalid_request_error", "\ufffd\ufffd teapot"),
])
def test_an_error_answer_keeps_the_providers_status_type_and_words(status: int, body: bytes, kind: str,
                                                                   message: str) -> None:
    error = provider().error_for(status, {}, body)
    assert type(error) is UpstreamError and error.status == status and error.final is False
    assert error.anthropic_type == kind
    assert error.message == f"provider 'p' answered {status}: {message}"


def test_retry_after_is_kept_and_nothing_else_of_the_providers_headers() -> None:
    headers = {"retry-after": "12", "x-ratelimit-remaining": "0", "set-cookie": "a=b"}
    assert provider().error_for(429, headers, b"{}").headers == {"retry-after": "12"}
    assert provider().error_for(401, headers, b"{}").headers == {"retry-after": "12"}
    assert provider().error_for(500, {}, b"{}").headers == {}


def test_a_long_message_is_cut_to_300_characters() -> None:
    body = orjson.dumps({"error": {"type": "api_error", "message": "é" * 1000}})
    error = provider().error_for(500, {}, body)
    assert error.message == "provider 'p' answered 500: " + "é" * ERROR_DETAIL_CHARS


@given(raw=st.binary(max_size=400) | st.builds(orjson.dumps, st.recursive(
    st.none() | st.booleans() | st.integers(-10, 10) | st.text(max_size=400),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["error", "message", "type"]),
                                                                inner, max_size=3),
    max_leaves=6)))
@example(raw=b'{"error":{"message":{"nested":true},"type":5}}')
def test_error_details_of_any_body_is_a_bounded_message_and_a_string_type_or_none(raw: bytes) -> None:
    message, kind = error_details(raw)
    assert isinstance(message, str) and 0 < len(message) <= ERROR_DETAIL_CHARS
    assert kind is None or isinstance(kind, str)


# ----------------------------------------------------------------------------- prepare, models


def test_an_anthropic_dialect_request_carries_the_clients_anthropic_headers_only() -> None:
    client = {"anthropic-version": "2023-06-01", "anthropic-beta": "b1", "x-claude-code-session-id": "s",
              "x-app": "cli", "user-agent": "claude-cli/2", "authorization": "Bearer vk", "x-api-key": "vk",
              "cookie": "c"}
    shaped = provider().prepare(request("anthropic"), client)
    assert shaped.headers == {name: client[name] for name in ANTHROPIC_FORWARDED}
    assert provider().prepare(request("openai"), client).headers == {}


def test_openai_streams_ask_for_usage_and_hide_it_from_a_client_that_did_not() -> None:
    openai = provider(OpenAIProvider)
    shaped = openai.prepare(request("openai", stream=True, stream_options={"other": 1}), {})
    assert shaped.hide_usage and shaped.json["stream_options"] == {"other": 1, "include_usage": True}
    assert orjson.loads(shaped.body) == shaped.json
    asked = request("openai", stream=True, stream_options={"include_usage": True})
    assert openai.prepare(asked, {}) == asked
    whole = request("openai")
    assert openai.prepare(whole, {}) == whole


def test_a_model_name_maps_to_the_providers_own_id_exact_then_glob() -> None:
    mapped = provider(model_map={"gpt-4o": "dep-4o", "gpt-4*": "dep-4", "*": "fallback"})
    assert mapped.upstream_model("gpt-4o") == "dep-4o"
    assert mapped.upstream_model("gpt-4-turbo") == "dep-4"
    assert mapped.upstream_model("other") == "fallback"
    assert provider().upstream_model("claude-x") == "claude-x"


# ----------------------------------------------------------------------------- UpstreamResponse


class Recording(UpstreamResponse):
    def __init__(self) -> None:
        self.closed = 0

    def close(self) -> None:
        self.closed += 1


async def test_an_upstream_response_is_closed_when_its_block_ends_or_raises() -> None:
    answer = Recording()
    async with answer as entered:
        assert entered is answer
    assert answer.closed == 1
    failing = Recording()
    with pytest.raises(KeyError):
        async with failing:
            raise KeyError("bug while reading")
    assert failing.closed == 1


async def _stats(upstream: RunningServer) -> dict[str, int]:
    return dict(orjson.loads((await upstream.get("/_mock/stats"))[2]))


async def test_leaving_a_streams_block_early_closes_the_connection_and_the_provider_sees_it(
    mock_upstream: RunningServer,
) -> None:
    anthropic = provider(AnthropicProvider, mock_upstream.url)
    body = {"model": "claude-x", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "hi [[stall:10s]]"}]}
    sent = UpstreamRequest(endpoint="messages", dialect="anthropic", body=orjson.dumps(body), json=body,
                           stream=True, model="claude-x")
    try:
        async with await anthropic.send(sent, anthropic.keys.pick()) as upstream:
            assert upstream.status == 200
            first = await anext(upstream.chunks().__aiter__())
            assert b"message_start" in first
        for _ in range(100):  # the mock notices a gone client within 50 ms
            if (await _stats(mock_upstream))["streams_cancelled"] == 1:
                break
            await asyncio.sleep(0.05)
        assert (await _stats(mock_upstream))["streams_cancelled"] == 1
    finally:
        await anthropic.close()


async def test_a_body_read_to_its_end_gives_the_connection_back(mock_upstream: RunningServer) -> None:
    anthropic = provider(AnthropicProvider, mock_upstream.url)
    body = {"model": "claude-x", "max_tokens": 50, "messages": [{"role": "user", "content": "hi"}]}
    sent = UpstreamRequest(endpoint="messages", dialect="anthropic", body=orjson.dumps(body), json=body,
                           stream=False, model="claude-x")
    try:
        for _ in range(3):
            async with await anthropic.send(sent, anthropic.keys.pick()) as upstream:
                assert orjson.loads(await upstream.read())["type"] == "message"
        connector = anthropic.session.connector
        pooled = sum(len(idle) for idle in connector._conns.values()) if connector else 0
        assert pooled == 1  # one connection, given back after each answer and reused
    finally:
        await anthropic.close()
