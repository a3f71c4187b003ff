"""`bifrost-py serve --workers 2`: one port, two processes, one budget (Redis), and a SIGTERM
that stops both without losing a log row or a counter.

The key's budget allows exactly K requests: the price is output tokens only, every request asks
for `max_tokens` and the mock answers exactly that many, so a request's worst case (what it
holds) is what it costs. However the requests are spread over the workers and interleaved, K are
served and the rest get 402: one more would be an overshoot."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import yaml

from bifrost_py.testing import free_port

SONNET = "claude-sonnet-4-20250514"
K = 7                 # requests the budget allows
REQUESTS = 40
MAX_TOKENS = 10
USD_PER_REQUEST = 1.0  # 10 output tokens at $100,000 per million
BODY = {"model": SONNET, "max_tokens": MAX_TOKENS, "stream": True,
        "messages": [{"role": "user", "content": "[[long:200]] Tell me a story"}]}
ADMIN = {"authorization": "Bearer admin-secret"}


KEY = "workers-" + os.urandom(4).hex()  # the session's Redis is shared with other tests


def write_config(directory: Path, upstream_url: str, redis_url: str) -> Path:
    config = {
        "admin": {"token": "admin-secret"},
        "providers": {"anthropic": {"type": "anthropic", "base_url": upstream_url, "keys": [{"value": "sk-test"}]}},
        "storage": {"logs": f"sqlite:///{directory}/gateway.db", "redis": redis_url},
        "pricing": {SONNET: {"input": 0.0, "output": USD_PER_REQUEST / MAX_TOKENS * 1e6,
                             "cache_read": 0.0, "cache_write": 0.0}},
        "plugins": {"disable": ["cache", "routing", "failover"]},
        "governance": {"virtual_keys": {KEY: {"key": "vk-workers", "budget": {"limit": K * USD_PER_REQUEST,
                                                                            "reset": "monthly"}}}},
    }
    path = directory / "gateway.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


async def serve_two_workers(config: Path, port: int, log: Path) -> asyncio.subprocess.Process:
    """`bifrost-py serve --workers 2` on `port`, its output in `log`."""
    with log.open("wb") as out:
        return await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bifrost_py", "serve", "-c", str(config), "--port", str(port), "--workers", "2",
            stdout=out, stderr=subprocess.STDOUT)


def children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def ask(url: str) -> tuple[int, str]:
    """One streamed request on a connection of its own (SO_REUSEPORT spreads connections)."""
    headers = {"x-api-key": "vk-workers", "anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session, \
            session.post(url + "/v1/messages", json=BODY, headers=headers) as response:
        await response.read()
        return response.status, response.headers.get("x-bf-worker", "")


async def test_two_workers_serve_one_port_keep_one_budget_exact_and_stop_together(
        mock_upstream: Any, redis_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, mock_upstream.url, redis_url)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "gateway.log"
    process = await serve_two_workers(config, port, log)
    try:
        served_by: set[str] = set()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            for _ in range(1200):  # until both workers have answered /health (bounded: ~60 s)
                assert process.returncode is None, log.read_text()
                try:
                    async with session.get(url + "/health") as response:
                        if response.status == 200:
                            served_by.add(response.headers["x-bf-worker"])
                except aiohttp.ClientError:
                    pass
                if len(served_by) == 2:
                    break
                await asyncio.sleep(0.05)
        assert served_by == {"0", "1"}, log.read_text()
        workers = children(process.pid)
        assert len(workers) == 2

        answers = await asyncio.gather(*(ask(url) for _ in range(REQUESTS)))
        statuses = Counter(status for status, _ in answers)
        assert statuses == {200: K, 402: REQUESTS - K}, statuses
        assert {worker for _, worker in answers} == {"0", "1"}, "both workers answered requests"

        # A request settles just after its last byte reaches the client: wait (bounded) until
        # nothing is in flight, then the spend is exact.
        async with aiohttp.ClientSession() as session:
            for _ in range(200):
                async with session.get(url + f"/api/governance/keys/{KEY}/usage", headers=ADMIN) as response:
                    budget = (await response.json())["budgets"][0]
                assert budget["spent"] + budget["in_flight"] <= K * USD_PER_REQUEST, budget
                if budget["in_flight"] == 0:
                    break
                await asyncio.sleep(0.05)
            assert budget["spent"] == K * USD_PER_REQUEST and budget["in_flight"] == 0, budget
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            code = await asyncio.wait_for(process.wait(), 60)
        except TimeoutError:
            process.kill()
            raise
    assert code == 0, log.read_text()[-3000:]
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()], "SIGTERM stopped every worker"
    text = log.read_text()
    assert text.count("listening on") == 1, text

    with sqlite3.connect(tmp_path / "gateway.db") as db:
        rows = Counter(status for (status,) in db.execute("SELECT status FROM request_log"))
    assert rows == {200: K, 402: REQUESTS - K}, "every request's log row was written before the workers exited"


async def test_a_worker_that_dies_stops_the_set_with_exit_code_1(mock_upstream: Any, tmp_path: Path) -> None:
    """A service manager restarts what exits: half a gateway serving on must not go unnoticed."""
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "providers": {"anthropic": {"type": "anthropic", "base_url": mock_upstream.url, "keys": [{"value": "sk"}]}},
        "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"},
        "plugins": {"disable": ["governance", "cache", "routing", "failover"]},
    }))
    port = free_port()
    log = tmp_path / "gateway.log"
    process = await serve_two_workers(config, port, log)
    try:
        for _ in range(1200):  # until both workers run (bounded: ~60 s)
            assert process.returncode is None, log.read_text()
            if len(children(process.pid)) == 2 and "listening on" in log.read_text():
                break
            await asyncio.sleep(0.05)
        workers = children(process.pid)
        assert len(workers) == 2, log.read_text()
        os.kill(workers[1], signal.SIGKILL)
        code = await asyncio.wait_for(process.wait(), 60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert code == 1, log.read_text()[-3000:]
    assert not Path(f"/proc/{workers[0]}").exists() or Path(f"/proc/{workers[0]}/stat").read_text().split()[2] == "Z"
    assert "exited with -9; stopping the others" in log.read_text()
