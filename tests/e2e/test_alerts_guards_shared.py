"""Guards behind a load balancer: two gateways sharing one Redis server, every other request to
each. A loop split across both is seen whole (one alert; refused from the first repeat past the
limit, whichever gateway it reaches), a normal multi-turn session is not a loop, a key's spend
rate adds up across both, and Redis going away mid-session fails no request."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import orjson
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py import Caller, hookimpl
from bifrost_py.testing import provider_config, running_gateway

REPEATS = 4
LOOPING = {"model": "claude-sonnet-4-20250514", "max_tokens": 100,
           "messages": [{"role": "user", "content": "run the failing test again and fix it"}]}


class Identify:
    """Stands in for governance: every caller is the key 'dev-asha' of team 'backend'."""

    PLUGIN_NAME = "identify"

    @hookimpl(tryfirst=True)
    async def bifrost_request_start(self, call: Any) -> None:
        call.caller = Caller("k1", "dev-asha", team="backend")


@contextlib.asynccontextmanager
async def two_gateways(tmp_path: Path, upstream: str, redis: str, **alerts: Any) -> AsyncIterator[tuple[Any, list[Any]]]:
    """A webhook receiver and two gateways on it (own log databases, one Redis); the gateways
    are stopped (their background counts and deliveries finished) before the receiver is."""
    async with running_webhook_receiver() as hook, contextlib.AsyncExitStack() as stack:
        gateways = []
        for i in range(2):
            (tmp_path / f"gw{i}").mkdir()
            config = {"providers": provider_config(upstream), "currency": {"code": "INR", "per_usd": 84.0},
                      "storage": {"logs": f"sqlite:///{tmp_path}/gw{i}/logs.db", "redis": redis},
                      "alerts": {"channels": {"hook": {"type": "webhook", "url": hook.url, "backoff": "10ms"}},
                                 **alerts}}
            gateways.append(await stack.enter_async_context(
                running_gateway(config, plugins=[bifrost_alerts, Identify()], builtins=False)))
        yield hook, gateways


async def send(gw: Any, body: dict[str, Any], session: str) -> tuple[int, bytes]:
    headers = {"x-api-key": "vk-developer", "x-claude-code-session-id": session}
    async with aiohttp.ClientSession() as client, \
            client.post(f"{gw.url}/anthropic/v1/messages", json=body, headers=headers) as response:
        return response.status, await response.read()


def turn(n: int) -> dict[str, Any]:
    """Turn n of an ordinary conversation: each adds a new question to what came before."""
    messages: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        messages.append({"role": "user", "content": f"question {i}: explain step {i} of the build"})
        if i < n:
            messages.append({"role": "assistant", "content": f"answer {i}"})
    return {"model": "claude-sonnet-4-20250514", "max_tokens": 100, "messages": messages}


def kinds(hook: Any) -> list[str]:
    return [r.json()["type"] for r in hook.received]


async def test_a_loop_split_across_two_gateways_fires_once(tmp_path: Path, mock_upstream: Any,
                                                           redis_server: Any) -> None:
    async with two_gateways(tmp_path, mock_upstream.url, redis_server.url,
                            loop={"repeats": REPEATS, "within": "10m"}) as (hook, gws):
        statuses = [(await send(gws[i % 2], LOOPING, "looping"))[0] for i in range(2 * REPEATS)]
        assert statuses == [200] * (2 * REPEATS)     # alerts only: never refused
        [alert] = await hook.wait_for(1)
    payload = alert.json()      # each gateway saw REPEATS of the 2 × REPEATS: only the shared count crosses
    assert payload["type"] == "loop" and payload["session"] == "looping" and payload["repeats"] == REPEATS + 1
    assert kinds(hook) == ["loop"]   # both gateways stopped: nothing else came


async def test_a_loop_split_across_two_gateways_is_refused_at_either(tmp_path: Path, mock_upstream: Any,
                                                                     redis_server: Any) -> None:
    async with two_gateways(tmp_path, mock_upstream.url, redis_server.url,
                            loop={"repeats": REPEATS, "within": "10m", "refuse": True}) as (hook, gws):
        answers = [await send(gws[i % 2], LOOPING, "looping") for i in range(REPEATS + 2)]
        assert [status for status, _ in answers] == [200] * REPEATS + [429, 429]
        message = orjson.loads(answers[REPEATS][1])["error"]["message"]
        assert message.startswith(f"loop detected: session looping sent the same request {REPEATS + 1} times")
        assert (await send(gws[1], LOOPING, "another-session"))[0] == 200
        await hook.wait_for(1)
    assert kinds(hook) == ["loop"]


async def test_a_normal_session_split_across_two_gateways_is_not_a_loop(tmp_path: Path, mock_upstream: Any,
                                                                        redis_server: Any) -> None:
    async with two_gateways(tmp_path, mock_upstream.url, redis_server.url,
                            loop={"repeats": REPEATS, "within": "10m", "refuse": True}) as (hook, gws):
        statuses = [(await send(gws[n % 2], turn(n), "working"))[0] for n in range(1, 3 * REPEATS)]
        assert statuses == [200] * (3 * REPEATS - 1)
    assert hook.received == []


async def test_a_spend_rate_split_across_two_gateways_adds_up(tmp_path: Path, mock_upstream: Any,
                                                              redis_server: Any) -> None:
    """One request costs about ₹0.018 (the mock's usage at Sonnet prices): six of them are over
    ₹0.08 an hour, the three each gateway serves are not."""
    async with two_gateways(tmp_path, mock_upstream.url, redis_server.url,
                            spend_rate={"max_per_hour": 0.08}) as (hook, gws):
        for i in range(6):
            assert (await send(gws[i % 2], turn(1), f"s{i}"))[0] == 200
        [alert] = await hook.wait_for(1)
    payload = alert.json()
    assert payload["type"] == "spend_rate" and payload["key"] == "dev-asha" and payload["last_hour"] > 0.08
    assert kinds(hook) == ["spend_rate"]


async def test_redis_going_away_mid_session_fails_no_request(tmp_path: Path, mock_upstream: Any,
                                                             redis_server: Any) -> None:
    async with two_gateways(tmp_path, mock_upstream.url, redis_server.url, spend_rate={"max_per_hour": 1000},
                            loop={"repeats": REPEATS, "within": "10m", "refuse": True}) as (hook, gws):
        statuses = [(await send(gws[i % 2], LOOPING, "looping"))[0] for i in range(REPEATS - 1)]
        redis_server.stop()
        statuses += [(await send(gws[i % 2], LOOPING, "looping"))[0] for i in range(REPEATS - 1, 2 * REPEATS)]
        statuses += [(await send(gws[i % 2], turn(i), "working"))[0] for i in range(1, 4)]
        # Redis is gone: each gateway counts what it sees from then on, and serves
        assert statuses == [200] * (2 * REPEATS + 3)
        for gw in gws:
            assert gw.gateway.plugins  # still up
    assert hook.received == []


async def test_a_redis_that_hangs_delays_a_refusing_guard_by_at_most_its_wait(tmp_path: Path, mock_upstream: Any,
                                                                              redis_server: Any) -> None:
    """Redis stopped mid-session (SIGSTOP: it takes connections and never answers): the loop
    guard waits for it at most REFUSE_WAIT, then decides on the instance's own count."""
    async with two_gateways(tmp_path, mock_upstream.url, redis_server.url,
                            loop={"repeats": REPEATS, "within": "10m", "refuse": True}) as (_, gws):
        assert (await send(gws[0], LOOPING, "looping"))[0] == 200
        redis_server.process.send_signal(signal.SIGSTOP)
        try:
            statuses = [(await send(gws[i % 2], LOOPING, "looping"))[0] for i in range(2)]
        finally:
            redis_server.process.send_signal(signal.SIGCONT)
        assert statuses == [200, 200]
