"""A crash must not hand a key its budget back: a real `bifrost-py serve` with a budgeted key is
loaded with requests and killed with SIGKILL (no flush at shutdown); after a restart the key's
spend covers every request answered more than a second before the crash (the counters are
written every `flush_interval`, 100 ms by default; the margin is for a loaded test machine)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from bifrost_py.mockupstream import MockOptions
from bifrost_py.testing import GatewayProcess, running_mock_upstream

ADMIN = {"authorization": "Bearer admin-secret"}
HEADERS = {"x-api-key": "vk-alice-secret", "anthropic-version": "2023-06-01"}
BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 40, "messages": [{"role": "user", "content": "the same question"}]}
WORKERS = 8


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


async def spent(server: GatewayProcess) -> float:
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        await server.ready(session)
        async with session.get(server.url + "/api/governance/keys/alice/usage") as response:
            assert response.status == 200
            return float((await response.json())["budgets"][0]["spent"])


async def load(server: GatewayProcess, answered: list[float], stop: asyncio.Event) -> None:
    """WORKERS clients asking the same question back to back; `answered` gets each answer's time."""

    async def worker() -> None:
        async with aiohttp.ClientSession() as session:
            for _ in range(10_000):
                if stop.is_set():
                    return
                try:
                    async with session.post(server.url + "/v1/messages", json=BODY, headers=HEADERS) as response:
                        await response.read()
                        if response.status == 200:
                            answered.append(time.monotonic())
                except (TimeoutError, aiohttp.ClientError):
                    return   # the gateway went away

    await asyncio.gather(*(worker() for _ in range(WORKERS)))


async def test_a_crash_keeps_the_spend_of_everything_answered_before_it(tmp_path: Path) -> None:
    async with running_mock_upstream(MockOptions(latency=0.005)) as upstream:
        config = tmp_path / "gateway.yaml"
        write_config(config, upstream.url)
        log = tmp_path / "gateway.log"

        # One request alone, stopped gracefully: what one answer costs (they are all alike).
        server = GatewayProcess(config, log)
        async with aiohttp.ClientSession() as session:
            await server.ready(session)
            async with session.post(server.url + "/v1/messages", json=BODY, headers=HEADERS) as response:
                assert response.status == 200, await response.text()
        each = await spent(server)
        assert each > 0
        assert await server.stop() == 0

        server = GatewayProcess(config, log)
        answered: list[float] = []
        async with aiohttp.ClientSession() as session:
            await server.ready(session)
            stop = asyncio.Event()
            traffic = asyncio.create_task(load(server, answered, stop))
            for _ in range(3000):
                if len(answered) >= 100 and answered[0] < time.monotonic() - 3.5:
                    break
                await asyncio.sleep(0.01)
            killed_at = time.monotonic()
            server.crash()
            stop.set()
            await asyncio.wait_for(traffic, 60)
        settled = sum(1 for at in answered if at < killed_at - 1.0)
        assert settled >= 50, log.read_text()[-2000:]

        restarted = GatewayProcess(config, log)
        after = await spent(restarted)
        assert await restarted.stop() == 0
    # At least the first request and every one answered a second before the crash (those in
    # flight at the last flush are charged at their hold on top).
    assert after >= (1 + settled) * each - 1e-6, f"{after / each:.1f} requests' spend kept of {1 + settled}"
