"""Faults over real sockets: reset, cut, stall, latency, pacing, random failures, cancellation."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import anthropic
import pytest
from aiohttp import web

from bifrost_py.mockupstream import MockOptions, build_app

from .conftest import ANTHROPIC_HEADERS, user

MODEL = "claude-sonnet-4-20250514"


def _body(text: str, stream: bool = True, **extra: Any) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 1000, "stream": stream, "messages": user(text), **extra}


async def _stats(http: Any, url: str) -> dict[str, int]:
    async with http.get(url + "/_mock/stats") as r:
        return await r.json()


async def _wait_for(http: Any, url: str, key: str, value: int) -> dict[str, int]:
    for _ in range(100):
        stats = await _stats(http, url)
        if stats[key] == value:
            return stats
        await asyncio.sleep(0.02)
    raise AssertionError(f"{key} never reached {value}: {stats}")


async def test_reset_closes_the_connection_before_any_byte(
    http: Any, url: str, claude: Any
) -> None:
    with pytest.raises(aiohttp.ClientError):
        async with http.post(
            url + "/v1/messages", json=_body("[[reset]]", False), headers=ANTHROPIC_HEADERS
        ) as r:
            await r.read()
    with pytest.raises(anthropic.APIConnectionError):
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user("[[reset]]"))


async def test_cut_stream_ends_without_message_stop(http: Any, url: str, claude: Any) -> None:
    received = b""
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(
            url + "/v1/messages",
            json=_body("[[cut:3]] one two three four five"),
            headers=ANTHROPIC_HEADERS,
        ) as r:
            assert r.status == 200
            async for chunk in r.content.iter_any():
                received += chunk
    assert received.count(b"event: content_block_delta") == 3
    assert b"message_stop" not in received and b"message_delta" not in received
    stats = await _stats(http, url)
    assert stats["streams_cut"] == 1 and stats["streams_completed"] == 0
    # the SDK lets its HTTP library's protocol error through mid-stream, as with a real cut
    with pytest.raises(Exception, match="incomplete chunked read|peer closed"):
        async with claude.messages.stream(
            model=MODEL, max_tokens=50, messages=user("[[cut:2]] a b c")
        ) as s:
            await s.get_final_message()


async def test_cut_non_stream_body_is_truncated(http: Any, url: str) -> None:
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.post(
            url + "/v1/messages", json=_body("[[cut]] hi", False), headers=ANTHROPIC_HEADERS
        ) as r:
            await r.read()


async def test_stall_pauses_after_the_first_delta(http: Any, url: str) -> None:
    arrivals: list[tuple[float, bytes]] = []
    async with http.post(
        url + "/v1/messages", json=_body("[[stall:300ms]] a b c"), headers=ANTHROPIC_HEADERS
    ) as r:
        async for chunk in r.content.iter_any():
            arrivals.append((time.monotonic(), chunk))
    everything = b"".join(c for _, c in arrivals)
    first_delta_at = next(t for t, c in arrivals if b"content_block_delta" in c)
    assert arrivals[-1][0] - first_delta_at >= 0.28
    assert everything.endswith(b'data: {"type":"message_stop"}\n\n')


async def test_slow_marker_delays_the_headers(http: Any, url: str) -> None:
    started = time.monotonic()
    async with http.post(
        url + "/v1/messages", json=_body("[[slow:250ms]] hi"), headers=ANTHROPIC_HEADERS
    ) as r:
        assert time.monotonic() - started >= 0.24
        await r.read()


async def test_tokens_per_second_paces_each_delta(make_server: Any, http: Any) -> None:
    server = await make_server(tokens_per_second=50)
    url = f"http://127.0.0.1:{server.port}"
    started = time.monotonic()
    chunks = 0
    async with http.post(
        url + "/v1/messages", json=_body("[[long:10]]"), headers=ANTHROPIC_HEADERS
    ) as r:
        async for _ in r.content.iter_any():
            chunks += 1
    assert time.monotonic() - started >= 10 / 50 * 0.9
    assert chunks >= 5


async def test_fail_rate_is_seeded_and_repeatable(make_server: Any, http: Any) -> None:
    outcomes = []
    for _ in range(2):
        server = await make_server(fail_rate=0.5, fail_status=503, seed=42, retry_after=2)
        url = f"http://127.0.0.1:{server.port}"
        statuses = []
        for _ in range(20):
            async with http.post(
                url + "/v1/messages", json=_body("hi", False), headers=ANTHROPIC_HEADERS
            ) as r:
                statuses.append(r.status)
                if r.status == 503:
                    assert r.headers["retry-after"] == "2"
        outcomes.append(statuses)
    assert outcomes[0] == outcomes[1] and {200, 503} == set(outcomes[0])


async def test_client_disconnect_mid_stream_counts_as_cancelled(http: Any, url: str) -> None:
    async with http.post(
        url + "/v1/messages", json=_body("[[stall:5s]] a b c"), headers=ANTHROPIC_HEADERS
    ) as r:
        await r.content.readuntil(b"content_block_delta")
        r.close()  # drop the connection mid-stream
    stats = await _wait_for(http, url, "streams_cancelled", 1)
    assert (
        stats["streams_started"] == 1
        and stats["streams_completed"] == 0
        and stats["in_flight"] == 0
    )


async def test_sdk_closing_a_paced_stream_counts_as_cancelled(make_server: Any, http: Any) -> None:
    server = await make_server(tokens_per_second=20)
    url = f"http://127.0.0.1:{server.port}"
    client = anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=0)
    async with (
        client,
        client.messages.stream(model=MODEL, max_tokens=500, messages=user("[[long:200]]")) as s,
    ):
        async for _ in s.text_stream:
            break
    await _wait_for(http, url, "streams_cancelled", 1)


async def test_cancelled_is_counted_when_handlers_are_not_cancelled(http: Any) -> None:
    """aiohttp's TestServer cancels handlers on disconnect; `run` (AppRunner defaults) does not."""
    app = build_app(MockOptions())
    runner = web.AppRunner(app, handler_cancellation=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with http.post(
            url + "/v1/messages", json=_body("[[stall:5s]] a b"), headers=ANTHROPIC_HEADERS
        ) as r:
            await r.content.readuntil(b"content_block_delta")
            r.close()
        started = time.monotonic()
        await _wait_for(http, url, "streams_cancelled", 1)
        assert time.monotonic() - started < 1  # noticed during the stall, not after it
    finally:
        await runner.cleanup()


async def test_mid_stream_error_event_then_clean_end(http: Any, url: str) -> None:
    async with http.post(
        url + "/v1/messages", json=_body("[[stream_error]] a b"), headers=ANTHROPIC_HEADERS
    ) as r:
        raw = await r.read()
    assert raw.count(b"event: content_block_delta") == 1
    assert raw.endswith(
        b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
        b'"message":"Overloaded"}}\n\n'
    )
