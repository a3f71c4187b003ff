"""Failover end to end: real sockets, the official SDKs as clients, mock upstreams with injected
failures (scripted per server with POST /_mock/script, so the primary and the fallback fail
independently), and a closed port for "connection refused".

Only the failover plugin is loaded (builtins=False), plus small recording plugins registered
through the public plugin API where a test needs to see per-attempt hooks.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import anthropic
import bifrost_failover
import openai
import orjson
import pytest
from aiohttp import web
from bifrost_failover import FailoverPlugin

from bifrost_py import hookimpl
from bifrost_py.context import Attempt, Call, Caller
from bifrost_py.errors import BudgetExceeded, PermissionDenied
from bifrost_py.testing import RunningGateway, RunningServer, running_gateway, running_mock_upstream

MODEL = "claude-sonnet-4-20250514"
PROMPT = [{"role": "user", "content": "Tell me about failover"}]
ADMIN = {"authorization": "Bearer admin-secret"}


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def gateway_config(primary: RunningServer, backup: RunningServer, failover: dict[str, Any] | None = None,
                   *, primary_keys: int = 1, primary_timeouts: dict[str, Any] | None = None) -> dict[str, Any]:
    """`primary` serves claude-*, `backup` is the same model elsewhere, `gpt` an OpenAI-type one."""
    keys = [{"value": f"sk-primary-{i + 1}", "name": f"p{i + 1}"} for i in range(primary_keys)]
    primary_config: dict[str, Any] = {"type": "anthropic", "base_url": primary.url, "models": ["claude-*"], "keys": keys}
    if primary_timeouts:
        primary_config["timeouts"] = primary_timeouts
    return {
        "admin": {"token": "admin-secret"},
        "providers": {
            "primary": primary_config,
            "backup": {"type": "anthropic", "base_url": backup.url, "keys": [{"value": "sk-backup"}]},
            "gpt": {"type": "openai", "base_url": backup.url + "/v1", "keys": [{"value": "sk-gpt"}]},
        },
        "failover": {"chains": {MODEL: ["primary", "backup"]}, "retries": 0, "backoff": {"base": "10ms"},
                     **(failover or {})},
    }


class Recorder:
    """Records what each per-request hook saw: a stand-in for a log that writes a row per attempt."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.calls: dict[str, list[Any]] = {}
        self.rows: list[dict[str, Any]] = []

    def _count(self, hook: str, what: Any) -> None:
        self.calls.setdefault(hook, []).append(what)

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        self._count("request_start", call.request_id)

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Any]) -> None:
        self._count("route", call.request_id)

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> None:
        self._count("pre_attempt", attempt.number)

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        self._count("post_attempt", attempt.number)
        outcome = attempt.outcome
        self.rows.append({
            "attempt": attempt.number, "provider": attempt.target.provider, "model": attempt.target.model,
            "key": attempt.key_name, "status": outcome.status, "error": outcome.error,
            "output_tokens": outcome.usage.output_tokens, "first_byte_sent": outcome.first_byte_sent,
            "completed": outcome.completed,
        })

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Attempt) -> None:
        self._count("should_fall_back", attempt.number)

    @hookimpl
    async def bifrost_request_end(self, call: Call) -> None:
        self._count("request_end", call.request_id)


@contextlib.asynccontextmanager
async def setup(failover: dict[str, Any] | None = None, *, plugins: list[object] | None = None,
                **kwargs: Any) -> AsyncIterator[tuple[RunningGateway, RunningServer, RunningServer]]:
    async with running_mock_upstream() as primary, running_mock_upstream() as backup:
        config = gateway_config(primary, backup, failover, **kwargs)
        async with running_gateway(config, plugins=[*(plugins or []), bifrost_failover], builtins=False) as gw:
            yield gw, primary, backup


def client(gw: RunningGateway, **headers: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-test", max_retries=0,
                                    default_headers=headers or None)


def oai(gw: RunningGateway) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-test", max_retries=0)


async def script(upstream: RunningServer, *responses: dict[str, Any]) -> None:
    status, _, body = await upstream.post("/_mock/script", json={"responses": list(responses)})
    assert status == 200, body


async def seen(upstream: RunningServer) -> list[dict[str, Any]]:
    return orjson.loads((await upstream.get("/_mock/requests"))[2])  # type: ignore[no-any-return]


async def admin_json(gw: RunningGateway, path: str) -> Any:
    status, _, body = await gw.get(path, headers=ADMIN)
    assert status == 200, body
    return orjson.loads(body)


def failover_plugin(gw: RunningGateway) -> FailoverPlugin:
    return next(i.plugin for i in gw.gateway.plugins.infos if isinstance(i.plugin, FailoverPlugin))


async def ask(gw: RunningGateway, **headers: str) -> Any:
    return await client(gw, **headers).messages.with_raw_response.create(model=MODEL, max_tokens=50, messages=PROMPT)


# --------------------------------------------------------------------------- fallback chains


async def test_529_on_primary_falls_back_with_two_attempts_and_a_row_per_attempt() -> None:
    recorder = Recorder("log")
    async with setup(plugins=[recorder]) as (gw, primary, backup):
        await script(primary, {"status": 529})
        raw = await ask(gw)
        assert (await raw.parse()).content[0].text
        assert raw.headers["x-bf-attempts"] == "2"
        assert raw.headers["x-bf-provider"] == "backup"
        assert raw.headers["x-bf-model"] == MODEL
        assert [(r["attempt"], r["provider"], r["status"]) for r in recorder.rows] == [
            (1, "primary", 529), (2, "backup", 200)]
        assert len(await seen(primary)) == 1 and len(await seen(backup)) == 1


async def test_openai_client_falls_back_across_dialects_to_another_model() -> None:
    async with setup({"chains": {MODEL: ["primary", "gpt/gpt-4o"]}}) as (gw, primary, backup):
        await script(primary, {"status": 503})
        raw = await oai(gw).chat.completions.with_raw_response.create(model=MODEL, messages=PROMPT)
        assert raw.parse().choices[0].message.content
        assert raw.headers["x-bf-attempts"] == "2"
        assert raw.headers["x-bf-provider"] == "gpt"
        assert raw.headers["x-bf-model"] == "gpt-4o"
        assert (await seen(backup))[0]["path"] == "/v1/chat/completions"


async def test_chain_from_the_virtual_key_and_from_the_request_header() -> None:
    class KeyWithFallbacks:
        """What governance does: the caller's per-key settings, `fallbacks` among them."""

        @hookimpl
        async def bifrost_request_start(self, call: Call) -> None:
            call.caller = Caller("k1", "dev", fallbacks=("gpt/gpt-4o",))

    async with setup({"chains": {}}, plugins=[KeyWithFallbacks()]) as (gw, primary, _backup):
        await script(primary, {"status": 529}, {"status": 529})
        by_key = await ask(gw)
        assert (by_key.headers["x-bf-provider"], by_key.headers["x-bf-model"]) == ("gpt", "gpt-4o")
        by_header = await ask(gw, **{"x-bf-fallbacks": f"backup/{MODEL}"})
        assert by_header.headers["x-bf-provider"] == "backup", "the request's header wins over the key's list"
        with pytest.raises(anthropic.BadRequestError, match="x-bf-fallbacks: 'nowhere/x'"):
            await ask(gw, **{"x-bf-fallbacks": "nowhere/x"})
        await script(primary, {"status": 529})
        with pytest.raises(anthropic.APIStatusError) as refused:
            await ask(gw, **{"x-bf-fallbacks": "none"})
        assert refused.value.status_code == 529
        assert refused.value.response.headers["x-bf-attempts"] == "1"


async def test_request_header_can_be_switched_off() -> None:
    async with setup({"request_header": False}) as (gw, primary, _backup):
        await script(primary, {"status": 529})
        raw = await ask(gw, **{"x-bf-fallbacks": "gpt/gpt-4o"})
        assert raw.headers["x-bf-provider"] == "backup", "the configured chain, not the header"


# --------------------------------------------------------------------------- what triggers a fallback


async def test_connection_refused_falls_back() -> None:
    async with running_mock_upstream() as backup:
        config = {
            "providers": {
                "dead": {"type": "anthropic", "base_url": f"http://127.0.0.1:{closed_port()}",
                         "models": ["claude-*"], "keys": [{"value": "sk-dead"}]},
                "backup": {"type": "anthropic", "base_url": backup.url, "keys": [{"value": "sk-backup"}]},
            },
            "failover": {"chains": {MODEL: ["backup"]}, "retries": 0},
        }
        async with running_gateway(config, plugins=[bifrost_failover], builtins=False) as gw:
            raw = await ask(gw)
            assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "backup")


@pytest.mark.parametrize("stream", [False, True])
async def test_timeout_before_first_byte_falls_back(stream: bool) -> None:
    async with setup(primary_timeouts={"first_byte": "300ms"}) as (gw, primary, _backup):
        await script(primary, {"latency": 5})
        if stream:
            async with client(gw).messages.stream(model=MODEL, max_tokens=50, messages=PROMPT) as events:
                text = "".join([piece async for piece in events.text_stream])
                headers = events.response.headers
        else:
            raw = await ask(gw)
            text, headers = (await raw.parse()).content[0].text, raw.headers
        assert text
        assert (headers["x-bf-attempts"], headers["x-bf-provider"]) == ("2", "backup")


@contextlib.asynccontextmanager
async def broken_stream_upstream(kind: str) -> AsyncIterator[str]:
    """An Anthropic-dialect upstream whose stream fails before its first event: an `error`
    event first (as api.anthropic.com does when overloaded mid-request), or 200 headers and then
    the connection closed with no event at all."""

    async def messages(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        if kind == "error_event":
            await response.write(b'event: error\ndata: {"type":"error","error":{"type":"overloaded_error",'
                                 b'"message":"Overloaded"}}\n\n')
            await response.write_eof()
        else:
            request.transport.close()  # type: ignore[union-attr]
        return response

    app = web.Application()
    app.router.add_post("/v1/messages", messages)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("kind", ["error_event", "closed_before_first_event"])
async def test_stream_failing_before_the_first_byte_falls_back(kind: str) -> None:
    recorder = Recorder("log")
    async with broken_stream_upstream(kind) as broken, running_mock_upstream() as backup:
        config = {
            "providers": {
                "primary": {"type": "anthropic", "base_url": broken, "models": ["claude-*"], "keys": [{"value": "k"}]},
                "backup": {"type": "anthropic", "base_url": backup.url, "keys": [{"value": "k"}]},
            },
            "failover": {"chains": {MODEL: ["backup"]}, "retries": 0},
        }
        async with (
            running_gateway(config, plugins=[recorder, bifrost_failover], builtins=False) as gw,
            client(gw).messages.stream(model=MODEL, max_tokens=50, messages=PROMPT) as events,
        ):
            assert "".join([piece async for piece in events.text_stream])
            assert events.response.headers["x-bf-provider"] == "backup"
            assert events.response.headers["x-bf-attempts"] == "2"
    first = recorder.rows[0]
    assert first["provider"] == "primary" and not first["first_byte_sent"]
    assert first["status"] == (529 if kind == "error_event" else 502)


@pytest.mark.parametrize("status", [400, 413])
async def test_client_errors_do_not_fall_back(status: int) -> None:
    async with setup() as (gw, primary, backup):
        await script(primary, {"status": status})
        with pytest.raises(anthropic.APIStatusError) as raised:
            await ask(gw)
        assert raised.value.status_code == status
        assert raised.value.response.headers["x-bf-attempts"] == "1"
        assert await seen(backup) == []


async def test_gateway_refusals_final_or_for_one_target_only() -> None:
    class Governance:
        """A key-tier budget refusal is final; a provider-tier one rules out that target only."""

        @hookimpl
        async def bifrost_pre_attempt(self, attempt: Attempt) -> None:
            which = attempt.call.headers.get("x-test-refuse")
            if which == "key":
                raise BudgetExceeded("budget exhausted for virtual key 'dev'")
            if which == "provider" and attempt.target.provider == "primary":
                raise PermissionDenied("provider 'primary' is not allowed for this key", final=False)

    async with setup(plugins=[Governance()]) as (gw, primary, _backup):
        with pytest.raises(anthropic.APIStatusError) as refused:
            await ask(gw, **{"x-test-refuse": "key"})
        assert refused.value.status_code == 402
        assert refused.value.response.headers["x-bf-attempts"] == "1"
        raw = await ask(gw, **{"x-test-refuse": "provider"})
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "backup")
        assert await seen(primary) == [], "a refused target is never called"


async def test_context_window_error_moves_to_a_larger_window() -> None:
    failover = {"context_window_fallbacks": {MODEL: ["gpt/gpt-4.1"]}, "chains": {}}
    async with setup(failover) as (gw, primary, _backup):
        await script(primary, {"status": 400, "message": "prompt is too long: 250000 tokens > 200000 maximum"})
        raw = await ask(gw)
        assert (raw.headers["x-bf-provider"], raw.headers["x-bf-model"]) == ("gpt", "gpt-4.1")
        await script(primary, {"status": 400, "message": "messages: roles must alternate"})
        with pytest.raises(anthropic.BadRequestError):
            await ask(gw)


# --------------------------------------------------------------------------- retries


async def test_retry_after_is_honoured_on_the_same_target() -> None:
    async with setup({"retries": 1, "chains": {}}) as (gw, primary, _backup):
        await script(primary, {"status": 429, "retry_after": 0.6})
        started = time.perf_counter()
        raw = await ask(gw)
        waited = time.perf_counter() - started
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "primary")
        assert 0.6 <= waited < 5.0, f"retry-after 0.6s, took {waited:.2f}s"


async def test_never_sleeps_past_the_deadline() -> None:
    """retry-after 3s (under the cap) but only 1s left of the request's time: go to the next
    target at once; with none left, stop at once with the upstream's error."""
    async with setup({"retries": 3, "timeout": "1s", "retry_after_cap": "30s"}) as (gw, primary, _backup):
        await script(primary, {"status": 429, "retry_after": 3})
        started = time.perf_counter()
        raw = await ask(gw)
        assert time.perf_counter() - started < 3.0
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "backup")
        await script(primary, {"status": 429, "retry_after": 3})
        started = time.perf_counter()
        with pytest.raises(anthropic.RateLimitError) as limited:
            await ask(gw, **{"x-bf-fallbacks": "none"})
        assert time.perf_counter() - started < 3.0
        assert limited.value.response.headers["retry-after"] == "3"


async def test_retry_after_over_the_cap_moves_on_at_once() -> None:
    async with setup({"retries": 2, "retry_after_cap": "2s"}) as (gw, primary, _backup):
        await script(primary, {"status": 503, "retry_after": 60})
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "backup")


async def test_retries_are_bounded_then_the_next_target() -> None:
    async with setup({"retries": 2}) as (gw, primary, _backup):
        await script(primary, *[{"status": 500}] * 3)
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("4", "backup")
        assert len(await seen(primary)) == 3


# --------------------------------------------------------------------------- keys


async def test_429_then_success_on_a_second_key() -> None:
    async with setup({"chains": {}}, primary_keys=2) as (gw, primary, _backup):
        await script(primary, {"status": 429})
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "primary")
        used = [r["headers"]["x-api-key"] for r in await seen(primary)]
        assert len(used) == 2 and used[0] != used[1]
        keys = (await admin_json(gw, "/api/providers"))["providers"][0]["keys"]
        aside = [k for k in keys if not k["usable"]]
        assert len(keys) == 2 and len(aside) == 1 and "rate limited" in aside[0]["reason"]
        assert (await admin_json(gw, "/api/failover"))["keys"]["primary"] == keys


async def test_refused_key_is_put_aside_and_the_next_key_tried_without_backoff() -> None:
    async with setup({"chains": {}, "retries": 3, "backoff": {"base": "5s", "max": "5s"}},
                     primary_keys=2) as (gw, primary, _backup):
        await script(primary, {"status": 401})
        started = time.perf_counter()
        raw = await ask(gw)
        assert time.perf_counter() - started < 5.0, "no backoff before another key"
        assert raw.headers["x-bf-attempts"] == "2"
        first, second = [r["headers"]["x-api-key"] for r in await seen(primary)]
        assert first != second
        # every later request avoids the refused key
        for _ in range(3):
            await ask(gw)
        assert {r["headers"]["x-api-key"] for r in (await seen(primary))[2:]} == {second}


async def test_every_key_refused_gives_a_clear_502() -> None:
    async with setup({"chains": {}}, primary_keys=2) as (gw, primary, _backup):
        await script(primary, {"status": 401}, {"status": 403})
        with pytest.raises(anthropic.APIStatusError) as refused:
            await ask(gw)
        assert refused.value.status_code == 502
        assert "refused the gateway's API key (401" in refused.value.message
        assert "refused the gateway's API key (403" in refused.value.message
        with pytest.raises(anthropic.APIStatusError) as again:
            await ask(gw)
        assert again.value.status_code == 502
        assert "provider 'primary' has no usable API key" in again.value.message
        assert "refused by the provider (401)" in again.value.message
        assert len(await seen(primary)) == 2, "no request is sent with keys known to be refused"


async def test_refused_provider_is_skipped_while_another_target_works() -> None:
    async with setup() as (gw, primary, _backup):
        await script(primary, {"status": 403})
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "backup")
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("1", "backup")
        assert len(await seen(primary)) == 1


# --------------------------------------------------------------------------- circuit breaker


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_circuit_opens_after_repeated_failures_then_half_opens() -> None:
    async with setup({"circuit": {"failures": 3, "window": "1m"}, "cooldown": "30s"}) as (gw, primary, _backup):
        clock = FakeClock()
        failover_plugin(gw).board.clock = clock
        await script(primary, *[{"status": 529}] * 3)
        for _ in range(3):
            assert (await ask(gw)).headers["x-bf-attempts"] == "2"
        circuit = (await admin_json(gw, "/api/providers"))["providers"][0]["state"]["circuit"][MODEL]
        assert circuit["state"] == "open" and circuit["times_opened"] == 1
        assert "529 overloaded_error" in circuit["last_error"]
        metrics = (await gw.get("/metrics"))[2].decode()
        assert f'bifrost_failover_circuit_state{{model="{MODEL}",provider="primary"}} 2.0' in metrics
        # open: the primary is skipped, no time is spent on it
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("1", "backup")
        assert len(await seen(primary)) == 3
        # after the cooldown: half-open, one probe goes through; it fails, so open again
        clock.now += 31
        (entry,) = (await admin_json(gw, "/api/failover"))["circuits"]
        assert entry["state"] == "half_open"
        metrics = (await gw.get("/metrics"))[2].decode()
        assert f'bifrost_failover_circuit_state{{model="{MODEL}",provider="primary"}} 1.0' in metrics
        await script(primary, {"status": 529})
        assert (await ask(gw)).headers["x-bf-attempts"] == "2"
        assert len(await seen(primary)) == 4
        assert (await admin_json(gw, "/api/failover"))["circuits"][0]["state"] == "open"
        # the next probe succeeds: closed, and the primary serves again
        clock.now += 31
        raw = await ask(gw)
        assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("1", "primary")
        assert (await admin_json(gw, "/api/failover"))["circuits"][0]["state"] == "closed"
        assert (await ask(gw)).headers["x-bf-provider"] == "primary"


async def test_every_circuit_open_tries_anyway_or_fails_fast() -> None:
    failover = {"chains": {}, "circuit": {"failures": 1}, "cooldown": "30s"}
    async with setup(failover) as (gw, primary, _backup):
        await script(primary, {"status": 503}, {"status": 503})
        with pytest.raises(anthropic.InternalServerError):
            await ask(gw)
        with pytest.raises(anthropic.InternalServerError):
            await ask(gw)
        assert len(await seen(primary)) == 2, "when_all_open: try (the default) still calls it"
    async with setup({**failover, "circuit": {"failures": 1, "when_all_open": "fail"}}) as (gw, primary, _backup):
        await script(primary, {"status": 503})
        with pytest.raises(anthropic.InternalServerError):
            await ask(gw)
        with pytest.raises(anthropic.InternalServerError) as fast:
            await ask(gw)
        assert fast.value.status_code == 503
        assert "cooling down" in fast.value.message
        assert 1 <= int(fast.value.response.headers["retry-after"]) <= 30
        assert len(await seen(primary)) == 1


# --------------------------------------------------------------------------- mid-stream failure


async def test_anthropic_stream_cut_after_first_byte_ends_with_an_error_event() -> None:
    recorder = Recorder("log")
    async with setup(plugins=[recorder]) as (gw, primary, backup):
        await script(primary, {"cut": 3, "long": 60})
        pieces: list[str] = []
        with pytest.raises(anthropic.APIStatusError) as raised:
            async with client(gw).messages.stream(model=MODEL, max_tokens=500, messages=PROMPT) as events:
                async for piece in events.text_stream:
                    pieces.append(piece)
        assert pieces, "text reached the client before the cut"
        assert "broke off its stream" in str(raised.value) or "ended its stream" in str(raised.value)
        assert await seen(backup) == [], "no fallback once bytes reached the client"
        (row,) = recorder.rows
        assert row["first_byte_sent"] and not row["completed"] and row["error"] is not None
        assert row["output_tokens"] > 0, "partial usage is kept for the log"


async def test_stream_cut_wire_is_well_formed_for_both_dialects() -> None:
    async with setup() as (gw, primary, _backup):
        await script(primary, {"cut": 3, "long": 60}, {"cut": 3, "long": 60})
        body = {"model": MODEL, "max_tokens": 500, "messages": PROMPT, "stream": True}
        _, _, wire = await gw.post("/anthropic/v1/messages", json=body)
        events = [e for e in wire.decode().split("\n\n") if e.strip()]
        for event in events:
            name, data = event.split("\n", 1)
            assert name.startswith("event: ") and data.startswith("data: ")
            orjson.loads(data[6:])  # every event is whole JSON
        assert events[-1].startswith("event: error\n")
        assert orjson.loads(events[-1].split("data: ", 1)[1])["type"] == "error"
        _, _, wire = await gw.post("/v1/chat/completions", json={**body, "max_tokens": None})
        chunks = [e for e in wire.decode().split("\n\n") if e.strip()]
        payloads = [orjson.loads(c.removeprefix("data: ")) for c in chunks if c != "data: [DONE]"]
        assert "error" in payloads[-1] and payloads[-1]["error"]["message"]


async def test_openai_sdk_raises_cleanly_on_a_cut_stream() -> None:
    async with setup() as (gw, primary, _backup):
        await script(primary, {"cut": 3, "long": 60})
        stream = await oai(gw).chat.completions.create(model=MODEL, messages=PROMPT, stream=True)
        got: list[str] = []
        with pytest.raises(openai.APIError):
            async for chunk in stream:
                if chunk.choices and chunk.choices[0].delta.content:
                    got.append(chunk.choices[0].delta.content)
        assert got


# --------------------------------------------------------------------------- visibility


async def test_all_targets_failing_gives_one_error_listing_every_attempt() -> None:
    failover = {"chains": {MODEL: ["primary", "backup", "gpt/gpt-4o"]}}
    async with setup(failover) as (gw, primary, backup):
        await script(primary, {"status": 529})
        await script(backup, {"status": 500}, {"status": 503})
        with pytest.raises(anthropic.APIStatusError) as raised:
            await ask(gw)
        error = raised.value
        assert error.status_code == 503, "the last upstream status"
        assert error.body["error"]["type"] == "api_error"  # type: ignore[index]
        message = error.message
        assert "all 3 attempts failed" in message
        for part in (f"#1 primary/{MODEL}: 529 overloaded_error", f"#2 backup/{MODEL}: 500 api_error",
                     "#3 gpt/gpt-4o: 503 api_error"):
            assert part in message
        assert error.response.headers["x-bf-attempts"] == "3"
        # the same in the OpenAI dialect
        await script(primary, {"status": 529})
        await script(backup, {"status": 500}, {"status": 503})
        with pytest.raises(openai.APIStatusError) as raised_oai:
            await oai(gw).chat.completions.create(model=MODEL, messages=PROMPT)
        assert raised_oai.value.status_code == 503
        assert "all 3 attempts failed" in raised_oai.value.body["message"]  # type: ignore[index]


async def test_each_plugin_runs_its_hooks_once_per_attempt() -> None:
    before, after = Recorder("before"), Recorder("after")
    async with running_mock_upstream() as primary, running_mock_upstream() as backup:
        config = gateway_config(primary, backup, {"chains": {MODEL: ["primary", "backup", "gpt/gpt-4o"]}})
        # `before` runs ahead of failover (like costlog and governance), `after` behind it
        plugins = [before, bifrost_failover, after]
        async with running_gateway(config, plugins=plugins, builtins=False) as gw:
            await script(primary, {"status": 529})
            await script(backup, {"status": 503})
            raw = await ask(gw)
            assert raw.headers["x-bf-attempts"] == "3"
    for recorder in (before, after):
        assert len(recorder.calls["request_start"]) == len(recorder.calls["route"]) == 1
        assert len(recorder.calls["request_end"]) == 1
        assert recorder.calls["pre_attempt"] == [1, 2, 3]
        assert recorder.calls["post_attempt"] == [1, 2, 3]
        assert [r["provider"] for r in recorder.rows] == ["primary", "backup", "gpt"]
    assert before.calls["should_fall_back"] == [1, 2], "asked once per failed attempt"
    assert "should_fall_back" not in after.calls, "failover's advice is taken first"


async def test_streamed_probe_closes_the_circuit_at_its_first_event() -> None:
    """A probe that is a long stream proves the target answers as soon as its first event is
    relayed, not minutes later when the stream ends."""
    async with setup({"circuit": {"failures": 1}, "cooldown": "30s"}) as (gw, primary, _backup):
        clock = FakeClock()
        failover_plugin(gw).board.clock = clock
        await script(primary, {"status": 529})
        await ask(gw)
        assert (await admin_json(gw, "/api/failover"))["circuits"][0]["state"] == "open"
        clock.now += 31
        await script(primary, {"stall": 0.5, "long": 40})
        async with client(gw).messages.stream(model=MODEL, max_tokens=200, messages=PROMPT) as events:
            async for _ in events.text_stream:
                break  # the stream now stalls upstream: it has not ended
            assert events.response.headers["x-bf-provider"] == "primary"
            assert (await admin_json(gw, "/api/failover"))["circuits"][0]["state"] == "closed"
            assert "".join([piece async for piece in events.text_stream])


async def test_failover_admin_route_is_documented_and_guarded() -> None:
    async with setup() as (gw, _primary, _backup):
        assert (await gw.get("/api/failover"))[0] == 401
        document = orjson.loads((await gw.get("/api/openapi.json"))[2])
        assert "get" in document["paths"]["/api/failover"]
        state = await admin_json(gw, "/api/failover")
        assert state["settings"]["on_status"] == [408, 429, 500, 502, 503, 504, 529]
        assert set(state["keys"]) == {"primary", "backup", "gpt"}


async def test_the_guides_chain_anthropic_then_bedrock_then_openai() -> None:
    """docs/failover.md's example: Anthropic → Bedrock (same model, SigV4-signed) → OpenAI GPT-4o."""
    from bifrost_py.mockupstream.bedrock_endpoints import ACCESS_KEY_ID, SECRET_ACCESS_KEY

    async with running_mock_upstream() as anthropic_api, running_mock_upstream() as aws_and_openai:
        config = {
            "providers": {
                "anthropic": {"type": "anthropic", "base_url": anthropic_api.url, "models": ["claude-*"],
                              "keys": [{"value": "sk-ant"}]},
                "bedrock": {"type": "bedrock", "base_url": aws_and_openai.url, "region": "us-east-1",
                            "access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY,
                            "models": {MODEL: "us.anthropic.claude-sonnet-4-20250514-v1:0"}},
                "openai": {"type": "openai", "base_url": aws_and_openai.url + "/v1", "keys": [{"value": "sk-oai"}]},
            },
            "failover": {"chains": {MODEL: ["anthropic", "bedrock", "openai/gpt-4o"]}, "retries": 0},
        }
        async with running_gateway(config, plugins=[bifrost_failover], builtins=False) as gw:
            await script(anthropic_api, {"status": 529}, {"status": 529})
            raw = await ask(gw)
            assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "bedrock")
            await script(aws_and_openai, {"status": 503})
            raw = await ask(gw)
            assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"], raw.headers["x-bf-model"]) == (
                "3", "openai", "gpt-4o")
            assert (await raw.parse()).content[0].text
            paths = [r["path"] for r in await seen(aws_and_openai)]
            assert paths == ["/model/us.anthropic.claude-sonnet-4-20250514-v1:0/invoke"] * 2 + ["/v1/chat/completions"]


async def test_with_every_builtin_the_cost_log_has_a_row_per_attempt(tmp_path: Any) -> None:
    """The whole gateway as shipped (costlog, governance, cache, routing, failover): a 529 on
    the primary and a success on the fallback is two rows in the request's log."""
    async with running_mock_upstream() as primary, running_mock_upstream() as backup:
        config = gateway_config(primary, backup)
        config["storage"] = {"logs": f"sqlite:///{tmp_path}/log.db"}
        config["costlog"] = {"flush_interval": "20ms"}
        config["governance"] = {"virtual_keys": {"dev": {"key": "vk-failover-test"}}}
        async with running_gateway(config, builtins=True) as gw:
            await script(primary, {"status": 529})
            raw = await ask(gw, **{"x-bf-vk": "vk-failover-test"})
            assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "backup")
            request_id = raw.headers["x-bf-request-id"]
            status, body = 404, b""
            for _ in range(200):  # rows are written off the request path, in batches
                status, _, body = await gw.get(f"/api/logs/{request_id}", headers=ADMIN)
                if status == 200 and len(orjson.loads(body)["attempts"]) == 2:
                    break
                await asyncio.sleep(0.02)
            assert status == 200, body
            rows = orjson.loads(body)["attempts"]
            assert [(r["attempt"], r["provider"], r["status"], r["fallback"]) for r in rows] == [
                (1, "primary", 529, False), (2, "backup", 200, True)]
            assert rows[0]["error_type"] == "overloaded_error"
            assert [r["final"] for r in rows] == [False, True]
