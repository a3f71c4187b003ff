"""Two `bifrost-py serve` processes sharing one Redis, as behind a load balancer: a loop whose
requests alternate between them is one loop (one alert, and refused past the limit at either),
where each process alone would have seen only half of it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py.testing import GatewayProcess, provider_config

REPEATS = 3
KEY = "vk-dev-guards-shared-1"
LOOPING = {"model": "claude-sonnet-4-20250514", "max_tokens": 50,
           "messages": [{"role": "user", "content": "the build failed; run it again"}]}


@contextlib.asynccontextmanager
async def two_processes(tmp_path: Path, upstream: str, redis: str,
                        **guards: Any) -> AsyncIterator[tuple[Any, list[GatewayProcess], aiohttp.ClientSession]]:
    async with running_webhook_receiver() as hook, aiohttp.ClientSession() as client:
        gateways = []
        try:
            for i in range(2):
                (tmp_path / f"gw{i}").mkdir()
                config = tmp_path / f"gw{i}" / "bifrost.yaml"
                config.write_text(yaml.safe_dump({
                    "providers": provider_config(upstream), "currency": {"code": "INR", "per_usd": 84.0},
                    "storage": {"logs": f"sqlite:///{tmp_path}/gw{i}/logs.db", "redis": redis},
                    "governance": {"virtual_keys": {"dev": {"key": KEY}}},
                    "alerts": {"channels": {"hook": {"type": "webhook", "url": hook.url, "backoff": "10ms"}},
                               **guards},
                }))
                gateways.append(GatewayProcess(config, tmp_path / f"gw{i}" / "gateway.log"))
            for gateway in gateways:
                await gateway.ready(client)
            yield hook, gateways, client
        finally:
            for gateway in gateways:   # SIGTERM: each finishes its counts and deliveries first
                assert await gateway.stop() == 0


async def send(client: aiohttp.ClientSession, gateway: GatewayProcess, session: str,
               body: dict[str, Any] = LOOPING) -> tuple[int, bytes]:
    async with client.post(gateway.url + "/anthropic/v1/messages", json=body,
                           headers={"x-api-key": KEY, "x-bf-session-id": session}) as answer:
        return answer.status, await answer.read()


async def test_a_loop_alternating_between_two_processes_alerts_once(tmp_path: Path, mock_upstream: Any,
                                                                    redis_server: Any) -> None:
    async with two_processes(tmp_path, mock_upstream.url, redis_server.url,
                             loop={"repeats": REPEATS, "within": "10m"}) as (hook, gateways, client):
        statuses = [(await send(client, gateways[i % 2], "looping"))[0] for i in range(2 * REPEATS)]
        assert statuses == [200] * (2 * REPEATS)
        await hook.wait_for(1)
    [alert] = hook.received   # both processes stopped: no second alert came
    payload = alert.json()
    assert payload["type"] == "loop" and payload["session"] == "looping" and payload["key"] == "dev"
    assert payload["repeats"] == REPEATS + 1


async def test_a_loop_alternating_between_two_processes_is_refused_at_either(tmp_path: Path, mock_upstream: Any,
                                                                            redis_server: Any) -> None:
    async with two_processes(tmp_path, mock_upstream.url, redis_server.url,
                             loop={"repeats": REPEATS, "within": "10m", "refuse": True}) as (hook, gateways, client):
        answers = [await send(client, gateways[i % 2], "looping") for i in range(REPEATS + 2)]
        assert [status for status, _ in answers] == [200] * REPEATS + [429, 429]
        assert orjson.loads(answers[-1][1])["error"]["message"].startswith(
            f"loop detected: session looping sent the same request {REPEATS + 2} times")
        await hook.wait_for(1)
    assert [r.json()["type"] for r in hook.received] == ["loop"]


async def test_a_key_spending_through_two_processes_alerts_on_the_sum(tmp_path: Path, mock_upstream: Any,
                                                                     redis_server: Any) -> None:
    """Each request costs about ₹0.018: six are over ₹0.08 an hour, the three each process serves
    are not."""
    async with two_processes(tmp_path, mock_upstream.url, redis_server.url,
                             spend_rate={"max_per_hour": 0.08}) as (hook, gateways, client):
        for i in range(6):
            body = {**LOOPING, "messages": [{"role": "user", "content": f"question {i}: explain step {i}"}]}
            assert (await send(client, gateways[i % 2], f"s{i}", body))[0] == 200
        await hook.wait_for(1)
    [alert] = hook.received
    payload = alert.json()
    assert payload["type"] == "spend_rate" and payload["key"] == "dev"
    assert 0.08 < payload["last_hour"] < 0.12, payload   # five requests, of both processes
