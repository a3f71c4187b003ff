"""The in-process entry points answer exactly as the server does."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest

from bifrost_py.mockupstream import (
    MockConnectionReset,
    MockHTTPError,
    MockOptions,
    MockState,
    MockStreamCut,
    anthropic_response,
    anthropic_stream,
    count_tokens_response,
    embeddings_response,
    open_anthropic_stream,
    open_openai_stream,
    openai_response,
    openai_stream,
)

from .conftest import ANTHROPIC_HEADERS, OPENAI_HEADERS, user

ANTHROPIC_BODY = {"model": "claude-x", "max_tokens": 100, "messages": user("same words either way")}
OPENAI_BODY = {
    "model": "gpt-4o",
    "messages": user("same words either way"),
    "stream_options": {"include_usage": True},
}


def _strip_ids(raw: bytes) -> bytes:
    """Wire bytes with ids and timestamps blanked, to compare two answers."""
    import re

    return re.sub(rb'"(id|created|signature)":("[^"]*"|\d+)', b'"\\1":"-"', raw)


async def test_in_process_and_http_answers_are_identical(http: Any, url: str) -> None:
    options = MockOptions()
    status, headers, body = await anthropic_response(ANTHROPIC_BODY, options)
    async with http.post(url + "/v1/messages", json=ANTHROPIC_BODY, headers=ANTHROPIC_HEADERS) as r:
        assert _strip_ids(await r.read()) == _strip_ids(body)
    assert (
        status == 200 and headers["content-type"] == "application/json" and "request-id" in headers
    )
    streamed = b"".join([chunk async for chunk in anthropic_stream(ANTHROPIC_BODY, options)])
    async with http.post(
        url + "/v1/messages", json={**ANTHROPIC_BODY, "stream": True}, headers=ANTHROPIC_HEADERS
    ) as r:
        assert _strip_ids(await r.read()) == _strip_ids(streamed)
    streamed = b"".join([chunk async for chunk in openai_stream(OPENAI_BODY, options)])
    async with http.post(
        url + "/v1/chat/completions", json={**OPENAI_BODY, "stream": True}, headers=OPENAI_HEADERS
    ) as r:
        assert _strip_ids(await r.read()) == _strip_ids(streamed)
    assert streamed.endswith(b"data: [DONE]\n\n")


async def test_openai_response_in_process() -> None:
    status, headers, body = await openai_response({**OPENAI_BODY, "stream": True}, MockOptions())
    assert status == 200 and "x-request-id" in headers
    assert (
        orjson.loads(body)["choices"][0]["message"]["content"]
        == "Mock answer to: same words either way"
    )


async def test_errors_in_process() -> None:
    failing = {**ANTHROPIC_BODY, "messages": user("[[fail:529]] [[retry_after:3]]")}
    status, headers, body = await anthropic_response(failing, MockOptions())
    assert status == 529 and headers["retry-after"] == "3"
    assert orjson.loads(body)["error"] == {"type": "overloaded_error", "message": "Overloaded"}
    with pytest.raises(MockHTTPError) as caught:
        [chunk async for chunk in anthropic_stream(failing, MockOptions())]
    assert caught.value.status == 529 and orjson.loads(caught.value.body)["type"] == "error"
    status, _, body = await openai_response({"model": "gpt-4o"}, MockOptions())
    assert status == 400 and orjson.loads(body)["error"]["param"] == "messages"


async def test_faults_in_process() -> None:
    with pytest.raises(MockConnectionReset):
        await anthropic_response({**ANTHROPIC_BODY, "messages": user("[[reset]]")}, MockOptions())
    got = []
    with pytest.raises(MockStreamCut):
        async for chunk in openai_stream(
            {**OPENAI_BODY, "messages": user("[[cut:2]] a b c")}, MockOptions()
        ):
            got.append(chunk)
    assert b"".join(got).count(b'"content":') == 3  # the role chunk, then two deltas
    assert isinstance(MockStreamCut(), ConnectionResetError)


async def test_options_apply_in_process() -> None:
    started = time.monotonic()
    await anthropic_response(ANTHROPIC_BODY, MockOptions(latency=0.1))
    assert time.monotonic() - started >= 0.09
    status, _, _ = await anthropic_response(
        ANTHROPIC_BODY, MockOptions(fail_rate=1.0, fail_status=503)
    )
    assert status == 503
    started = time.monotonic()
    chunks = [c async for c in anthropic_stream(ANTHROPIC_BODY, MockOptions(tokens_per_second=100))]
    assert len(chunks) > 3 and time.monotonic() - started >= 0.04


async def test_explicit_state_holds_cache_prefixes() -> None:
    state = MockState(MockOptions())
    body = {
        **ANTHROPIC_BODY,
        "system": [{"type": "text", "text": "x" * 200, "cache_control": {"type": "ephemeral"}}],
    }
    first = orjson.loads((await anthropic_response(body, MockOptions(), state=state))[2])["usage"]
    second = orjson.loads((await anthropic_response(body, MockOptions(), state=state))[2])["usage"]
    assert first["cache_creation_input_tokens"] == second["cache_read_input_tokens"] > 0


async def test_open_stream_gives_status_before_chunks() -> None:
    status, headers, chunks = await open_anthropic_stream(ANTHROPIC_BODY, MockOptions())
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    assert b"message_stop" in b"".join([c async for c in chunks])
    failing = {**OPENAI_BODY, "messages": user("[[fail:429]]")}
    status, headers, chunks = await open_openai_stream(failing, MockOptions(retry_after=1))
    assert status == 429 and headers["retry-after"] == "1"
    assert (
        orjson.loads(b"".join([c async for c in chunks]))["error"]["code"] == "rate_limit_exceeded"
    )


async def test_embeddings_and_count_tokens_in_process(http: Any, url: str) -> None:
    body = {"model": "text-embedding-3-small", "input": ["a", "b"], "encoding_format": "float"}
    status, _, content = await embeddings_response(body, MockOptions())
    async with http.post(url + "/v1/embeddings", json=body, headers=OPENAI_HEADERS) as r:
        assert await r.json() == orjson.loads(content)
    assert status == 200 and len(orjson.loads(content)["data"]) == 2
    counted = {"model": "claude-x", "messages": user("count")}
    status, _, content = await count_tokens_response(counted, MockOptions())
    async with http.post(
        url + "/v1/messages/count_tokens", json=counted, headers=ANTHROPIC_HEADERS
    ) as r:
        assert await r.json() == orjson.loads(content)
    assert status == 200 and orjson.loads(content)["input_tokens"] > 0
    status, _, content = await count_tokens_response({"messages": []}, MockOptions())
    assert status == 400 and orjson.loads(content)["error"]["type"] == "invalid_request_error"
