"""A restart charges only what a crash can have spent (counters in memory, journal in SQLite).

A real `bifrost-py serve` stopped with SIGTERM while a request is in flight lets it finish, charges
its real cost and holds nothing; stopped again with nothing in flight, the spend is unchanged.
And a hold that leaked (post_attempt never ran for it: simulated in the store of a gateway in
this process) is not turned into spend by a clean shutdown. (SIGKILL: test_governance_crash.py.)"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_governance

from bifrost_py.testing import GatewayProcess, provider_config, running_gateway

ADMIN = {"authorization": "Bearer admin-secret"}
HEADERS = {"x-api-key": "vk-alice-secret", "anthropic-version": "2023-06-01"}
SONNET = "claude-sonnet-4-20250514"
SLOW = {"model": SONNET, "max_tokens": 40, "messages": [{"role": "user", "content": "[[slow:1500ms]] hello"}]}


def write_config(path: Path, upstream_url: str) -> None:
    path.write_text(f"""
admin: {{token: admin-secret}}
storage: {{logs: "sqlite:///{path.parent}/gateway.db"}}
providers:
  anthropic: {{type: anthropic, base_url: "{upstream_url}", keys: [{{value: sk-test}}]}}
plugins: {{disable: [cache, routing, failover]}}
governance:
  virtual_keys:
    alice: {{key: vk-alice-secret, budget: {{limit: 1000, reset: monthly}}}}
""")


async def budget(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url + "/api/governance/keys/alice/usage", headers=ADMIN) as response:
        assert response.status == 200
        row: dict[str, Any] = (await response.json())["budgets"][0]
        return row


def usd(usage: dict[str, int]) -> float:
    return (usage["input_tokens"] * 3 + usage["output_tokens"] * 15) / 1e6


async def test_sigterm_lets_the_request_in_flight_settle_and_a_restart_charges_nothing_more(
        mock_upstream: Any, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    write_config(config, mock_upstream.url)
    log = tmp_path / "gateway.log"
    server = GatewayProcess(config, log)
    async with aiohttp.ClientSession() as session:
        await server.ready(session)

        async def ask() -> tuple[int, Any]:
            async with session.post(server.url + "/v1/messages", json=SLOW, headers=HEADERS) as response:
                return response.status, await response.json()

        request = asyncio.create_task(ask())
        for _ in range(600):                        # until the gateway holds its worst case
            if (await budget(session, server.url))["in_flight"] > 0:
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("the request never reached the provider")
        held = (await budget(session, server.url))["in_flight"]
        stopping = asyncio.create_task(server.stop())
        status, answer = await request
        assert status == 200, answer
        assert await stopping == 0, log.read_text()[-2000:]
    cost = usd(answer["usage"])
    assert 0 < cost < held, "what it held is its worst case; what it cost is less"

    for _ in range(2):      # restarted, then stopped with nothing in flight, twice
        server = GatewayProcess(config, log)
        async with aiohttp.ClientSession() as session:
            await server.ready(session)
            row = await budget(session, server.url)
        assert await server.stop() == 0
        assert row["in_flight"] == 0 and abs(row["spent"] - cost) < 2e-6, (row, cost)


async def test_a_clean_shutdown_does_not_charge_a_hold_that_leaked(mock_upstream: Any, tmp_path: Path) -> None:
    config = {"providers": provider_config(mock_upstream.url), "admin": {"token": "admin-secret"},
              "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
              "governance": {"virtual_keys": {"alice": {"key": "vk-alice-secret",
                                                        "budget": {"limit": 1000, "reset": "monthly"}}}}}
    body = {**SLOW, "messages": [{"role": "user", "content": "hello"}]}
    async with running_gateway(config, plugins=[bifrost_governance], builtins=False) as gw, \
            aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/v1/messages", json=body, headers=HEADERS) as response:
            assert response.status == 200
        spent = (await budget(session, gw.url))["spent"]
        plugin = next(i.plugin for i in gw.gateway.plugins.ordered() if i.name == "governance")
        cap = plugin.registry.plan(plugin.registry.keys["alice"]).tiers[-1].caps[0]
        assert plugin.store.admit_now([cap.claim(5 * 10**9, time.time())]).ok   # $5 held, never settled
        assert (await budget(session, gw.url))["in_flight"] == 5.0
    async with running_gateway(config, plugins=[bifrost_governance], builtins=False) as gw, \
            aiohttp.ClientSession() as session:
        row = await budget(session, gw.url)
    assert row["spent"] == spent and row["in_flight"] == 0
