"""Budget alerts through governance, over real sockets: 50 concurrent Claude-style requests on
one team fire each of its thresholds exactly once, also when two gateways share one Redis, and
the alert's latency (the request that crossed a threshold answered → the webhook received) is
measured."""

from __future__ import annotations

import asyncio
import contextlib
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import bifrost_costlog
import bifrost_governance
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py.testing import provider_config, running_gateway

SECRET = "vk-dev-asha-2f9c71e0"
BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
PLUGINS = [bifrost_governance, bifrost_costlog, bifrost_alerts]


def settings(tmp_path: Path, upstream: str, hook: str, team_limit: float, redis: str | None = None) -> dict[str, Any]:
    return {
        "providers": provider_config(upstream),
        "storage": {"logs": f"sqlite:///{tmp_path}/logs.db", "redis": redis},
        "currency": {"code": "INR", "per_usd": 84.0},
        "costlog": {"flush_interval": "10ms"},
        "governance": {"mode": "soft",
                       "teams": {"backend": {"budget": {"limit": team_limit, "reset": "monthly"}}},
                       "virtual_keys": {"dev-asha": {"key": SECRET, "team": "backend"}}},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": hook, "secret": "s"}}},
    }


async def one_request(client: aiohttp.ClientSession, gw: Any) -> float:
    """One request; when its answer was read (time.time())."""
    async with client.post(gw.url + "/anthropic/v1/messages", json=BODY, headers={"x-api-key": SECRET}) as answer:
        await answer.read()
        assert answer.status in (200, 402), answer.status
        return time.time()


@contextlib.asynccontextmanager
async def hooked(tmp_path: Path, upstream: str, limit: float, redis: str | None = None,
                 instances: int = 1) -> AsyncIterator[tuple[Any, list[Any]]]:
    async with running_webhook_receiver() as hook, contextlib.AsyncExitStack() as stack:
        gateways = [await stack.enter_async_context(
            running_gateway(settings(tmp_path / f"gw{i}", upstream, hook.url, limit, redis), plugins=PLUGINS,
                            builtins=False)) for i in range(instances)]
        yield hook, gateways


def thresholds(hook: Any) -> list[tuple[str, str, int]]:
    return sorted((r.json()["tier"], r.json()["entity"], r.json()["threshold"]) for r in hook.received)


async def test_50_concurrent_requests_fire_each_threshold_once(tmp_path: Path, mock_upstream: Any) -> None:
    async with hooked(tmp_path, mock_upstream.url, limit=0.25) as (hook, [gw]), aiohttp.ClientSession() as client:
        await asyncio.gather(*(one_request(client, gw) for _ in range(50)))  # about ₹0.37: past 100 %
        await hook.wait_for(3)
    assert thresholds(hook) == [("team", "backend", 50), ("team", "backend", 80), ("team", "backend", 100)]
    top = next(r.json() for r in hook.received if r.json()["threshold"] == 100)
    assert top["limit"] == 0.25 and top["spent"] >= 0.25 and top["currency"] == "INR"
    assert top["window"]["end"] > time.time()


async def test_two_gateways_sharing_redis_fire_each_threshold_once(tmp_path: Path, mock_upstream: Any,
                                                                  redis_server: Any) -> None:
    async with hooked(tmp_path, mock_upstream.url, limit=0.25, redis=redis_server.url, instances=2) as (hook, gws), \
            aiohttp.ClientSession() as client:
        await asyncio.gather(*(one_request(client, gws[i % 2]) for i in range(50)))
        await hook.wait_for(3)
    assert thresholds(hook) == [("team", "backend", 50), ("team", "backend", 80), ("team", "backend", 100)]


async def test_alert_latency_from_the_crossing_answer_to_the_webhook(tmp_path: Path, mock_upstream: Any) -> None:
    """Requests one after another; each alert names the spend that crossed, which says which
    request crossed; latency = the webhook's arrival - that request's answer. Printed (-s)."""
    per_request = 0.25 / 34.2  # ₹ per request at the catalogue's Sonnet price (mock usage)
    latencies = []
    for run in range(5):
        async with hooked(tmp_path / f"run{run}", mock_upstream.url, limit=0.25) as (hook, [gw]), \
                aiohttp.ClientSession() as client:
            answered = [await one_request(client, gw) for _ in range(40)]
            await hook.wait_for(3)
        for received in hook.received:
            crossing = round(received.json()["spent"] / per_request) - 1
            crossing = max(i for i in range(len(answered)) if answered[i] <= received.at and i <= crossing)
            latencies.append((received.at - answered[crossing]) * 1000)
    latencies.sort()
    print(f"\nalert latency over {len(latencies)} alerts: median {statistics.median(latencies):.1f} ms, "
          f"max {latencies[-1]:.1f} ms")
    assert len(latencies) == 15


async def test_a_session_budget_alerts_for_that_session_only(tmp_path: Path, mock_upstream: Any) -> None:
    """Claude Code sessions of one key: the one that spends half of its session cap is named."""
    async with running_webhook_receiver() as hook:
        config = settings(tmp_path, mock_upstream.url, hook.url, team_limit=1e6)
        config["governance"]["virtual_keys"]["dev-asha"]["session_budget"] = {"limit": 0.05}
        async with running_gateway(config, plugins=PLUGINS, builtins=False) as gw, aiohttp.ClientSession() as client:
            for session, requests in (("busy-session", 5), ("quiet-session", 1)):
                for _ in range(requests):  # about ₹0.0073 each: 5 pass 50 % of ₹0.05, 1 does not
                    headers = {"x-api-key": SECRET, "x-claude-code-session-id": session}
                    async with client.post(gw.url + "/anthropic/v1/messages", json=BODY, headers=headers) as answer:
                        assert answer.status == 200
            [alert] = await hook.wait_for(1)
    payload = alert.json()
    assert (payload["tier"], payload["entity"], payload["threshold"]) == ("session", "busy-session", 50)
    assert payload["limit"] == 0.05 and "session 'busy-session'" in payload["title"]
    assert len(hook.received) == 1
