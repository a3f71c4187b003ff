"""A Redis that forgets every budget's spend (FLUSHALL, or restarted without persistence) does not
hand a key its budget back: a real gateway with a real redis-server spends up to the cap, Redis
loses its data, the gateway answers 503 while it rebuilds the spend from the database, and then
refuses the request that would overshoot with 402, at the cap, as before."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_governance
import pytest
import redis.asyncio as aioredis

from bifrost_py.testing import RedisServer, provider_config, running_gateway

ADMIN = {"authorization": "Bearer admin-secret"}
HEADERS = {"x-api-key": "vk-alice-secret", "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 40, "messages": [{"role": "user", "content": "hello"}]}
CAP_USD = 0.01


async def post(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any], str | None]:
    """(status, body, retry-after)"""
    async with session.post(url + "/v1/messages", json=BODY, headers=HEADERS) as response:
        return response.status, await response.json(), response.headers.get("retry-after")


async def spent(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/api/governance/keys/alice/usage", headers=ADMIN) as response:
        assert response.status == 200
        row: dict[str, Any] = (await response.json())["budgets"][0]
        return row


async def forget(redis_server: RedisServer, how: str) -> None:
    if how == "restart":
        redis_server.stop()
        redis_server.start()
        return
    client: Any = aioredis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()


@pytest.mark.parametrize("how", ["flushall", "restart"])
async def test_budgets_still_refuse_at_the_cap_after_redis_loses_its_data(mock_upstream: Any, redis_server: RedisServer,
                                                                          tmp_path: Path, how: str) -> None:
    config = {"providers": provider_config(mock_upstream.url), "admin": {"token": "admin-secret"},
              "storage": {"logs": f"sqlite:///{tmp_path}/gov.db", "redis": redis_server.url},
              "governance": {"virtual_keys": {"alice": {"key": "vk-alice-secret",
                                                        "budget": {"limit": CAP_USD, "reset": "monthly"}}}}}
    async with running_gateway(config, plugins=[bifrost_governance], builtins=False) as gw, \
            aiohttp.ClientSession() as session:
        for _ in range(200):                           # spend until the next request could overshoot
            status, answer, _ = await post(session, gw.url)
            if status != 200:
                break
        assert status == 402, answer
        before = await spent(session, gw.url)
        assert before["in_flight"] == 0 and before["spent"] <= CAP_USD

        await forget(redis_server, how)
        statuses = []
        for _ in range(600):                           # 503 while the spend is rebuilt, then 402
            status, answer, retry_after = await post(session, gw.url)
            statuses.append(status)
            if status != 503:
                break
            assert "governance counters" in answer["error"]["message"], answer
            assert retry_after == "1" or "unavailable" in answer["error"]["message"], answer
            await asyncio.sleep(0.02)
        assert status == 402, (statuses, answer)
        assert "budget exhausted for virtual key 'alice'" in answer["error"]["message"]
        assert 503 in statuses, "nothing was admitted before the spend was back"
        after = await spent(session, gw.url)
        assert after["spent"] == before["spent"] and after["in_flight"] == 0
