"""One budget across two gateway processes: real `python -m bifrost_py serve` subprocesses
sharing one real redis-server. Without Redis each process keeps its own counters and the pair
spends about twice the cap (the second test shows it, so the first one can fail)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import pytest
import yaml

from bifrost_py.testing import free_port

SONNET = "claude-sonnet-4-20250514"
PROMPT = [{"role": "user", "content": "[[slow:600ms]] [[long:40]] Tell me a story"}]
CAP_INR = 1.0
KEY_NAME = "alice-" + os.urandom(4).hex()


def write_config(path: Path, upstream_url: str, redis_url: str | None, name: str) -> Path:
    config = {
        "providers": {"anthropic": {"type": "anthropic", "base_url": upstream_url, "keys": [{"value": "sk-test"}]}},
        "storage": {"logs": f"sqlite:///{path}/{name}.db", "redis": redis_url},
        "currency": {"code": "INR", "per_usd": 84.0},
        "admin": {"token": "admin-secret"},
        "plugins": {"disable": ["costlog", "cache", "routing", "failover"]},
        # A key name of its own: the session's Redis is shared with other tests.
        "governance": {"virtual_keys": {KEY_NAME: {"key": "vk-alice-secret",
                                                  "budget": {"limit": CAP_INR, "reset": "monthly"}}}},
    }
    file = path / f"{name}.yaml"
    file.write_text(yaml.safe_dump(config))
    return file


@contextlib.asynccontextmanager
async def gateway_process(config: Path, log: Path) -> AsyncIterator[str]:
    """`bifrost-py serve` in a process of its own; yields its URL once /health answers."""
    port = free_port()
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bifrost_py", "serve", "-c", str(config), "--port", str(port),
            stdout=out, stderr=subprocess.STDOUT,
        )
    finally:
        os.close(out)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(url + "/health") as response:
                        if response.status == 200:
                            break
                if process.returncode is not None:
                    pytest.fail(f"gateway exited: {log.read_text()}")
                await asyncio.sleep(0.05)
            else:
                pytest.fail(f"gateway did not start: {log.read_text()}")
        yield url
    finally:
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 20)
        except TimeoutError:
            process.kill()
            await process.wait()


async def burst(urls: list[str], count: int) -> tuple[list[Any], list[Any]]:
    """`count` concurrent streams spread over the gateways: (usages served, errors)."""
    clients = [anthropic.AsyncAnthropic(base_url=u + "/anthropic", api_key="vk-alice-secret", max_retries=0)
               for u in urls]

    async def one(client: anthropic.AsyncAnthropic) -> Any:
        try:
            async with client.messages.stream(model=SONNET, max_tokens=40, messages=PROMPT) as stream:
                return (await stream.get_final_message()).usage
        except anthropic.APIStatusError as error:
            return error

    results = await asyncio.gather(*(one(clients[i % len(clients)]) for i in range(count)))
    for client in clients:
        await client.close()
    return [r for r in results if not isinstance(r, Exception)], [r for r in results if isinstance(r, Exception)]


def inr(usages: list[Any]) -> float:
    return sum(u.input_tokens * 3 + u.output_tokens * 15 for u in usages) / 1e6 * 84


async def spent(url: str) -> float:
    async with aiohttp.ClientSession() as session, session.get(
        url + f"/api/governance/keys/{KEY_NAME}/usage", headers={"authorization": "Bearer admin-secret"}
    ) as response:
        return float((await response.json())["budgets"][0]["spent"])


async def test_two_processes_sharing_redis_enforce_one_budget(mock_upstream: Any, redis_url: str,
                                                             tmp_path: Path) -> None:
    async with gateway_process(write_config(tmp_path, mock_upstream.url, redis_url, "one"), tmp_path / "one.log") as one, \
            gateway_process(write_config(tmp_path, mock_upstream.url, redis_url, "two"), tmp_path / "two.log") as two:
        served, refused = await burst([one, two], 40)
        assert served and refused and all(r.status_code == 402 for r in refused)
        assert inr(served) <= CAP_INR, "together the two processes stayed under the one cap"
        assert await spent(one) == await spent(two) == pytest.approx(inr(served), abs=1e-5)
    print(f"\ntwo processes, one Redis, cap ₹{CAP_INR:.2f}: {len(served)} served, {len(refused)} refused, "
          f"spent ₹{inr(served):.4f}")


async def test_without_redis_two_processes_spend_about_twice_the_cap(mock_upstream: Any, tmp_path: Path) -> None:
    """The failure the Redis store exists to prevent (each process has its own counters)."""
    async with gateway_process(write_config(tmp_path, mock_upstream.url, None, "one"), tmp_path / "one.log") as one, \
            gateway_process(write_config(tmp_path, mock_upstream.url, None, "two"), tmp_path / "two.log") as two:
        served, _ = await burst([one, two], 40)
        assert await spent(one) <= CAP_INR and await spent(two) <= CAP_INR
    assert inr(served) > 1.5 * CAP_INR
