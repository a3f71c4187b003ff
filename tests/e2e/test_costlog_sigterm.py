"""SIGTERM under load loses no log row: a real `bifrost-py serve` process, loaded with concurrent
requests, is stopped with SIGTERM; after a restart every request that was answered has its row.
Then `bifrost-py report` reads the same store. Against SQLite and a real PostgreSQL. And a crash
(SIGKILL) under load loses at most the rows of its last moment, not of a flush interval."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from bifrost_py.mockupstream import MockOptions
from bifrost_py.testing import GatewayProcess, running_mock_upstream

ADMIN = {"authorization": "Bearer admin-secret"}
WORKERS = 16
SIGTERM_AFTER = 120   # answered requests before the signal






def write_config(path: Path, upstream_url: str, logs_url: str) -> None:
    # A long flush interval and a big batch: at SIGTERM most rows are still queued in memory,
    # so the test shows the flush at shutdown, not the writer keeping up.
    path.write_text(f"""
admin: {{token: admin-secret}}
storage: {{logs: "{logs_url}"}}
providers:
  anthropic: {{type: anthropic, base_url: "{upstream_url}", keys: [{{value: sk-test}}]}}
plugins: {{disable: [governance, cache, routing, failover]}}
costlog: {{flush_interval: 2s, batch_size: 5000}}
""")


async def load(server: GatewayProcess, answered: list[str], stop: asyncio.Event, when: dict[str, float] | None = None) -> None:
    """WORKERS clients sending requests back to back until the gateway stops answering."""
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
    headers = {"x-api-key": "vk-any", "anthropic-version": "2023-06-01"}

    async def worker(n: int) -> None:
        async with aiohttp.ClientSession() as session:
            for i in range(10_000):
                if stop.is_set():
                    return
                try:
                    async with session.post(server.url + "/anthropic/v1/messages", json=body | {"stream": bool((n + i) % 2)},
                                            headers=headers) as response:
                        await response.read()
                        if response.status == 200:
                            answered.append(response.headers["x-bf-request-id"])
                            if when is not None:
                                when[answered[-1]] = time.monotonic()
                except (TimeoutError, aiohttp.ClientError):
                    return   # the gateway went away

    await asyncio.gather(*(worker(n) for n in range(WORKERS)))


async def logged_request_ids(server: GatewayProcess) -> dict[str, int]:
    logged: dict[str, int] = {}
    cursor = None
    async with aiohttp.ClientSession(headers=ADMIN) as session:
        await server.ready(session)
        for _ in range(100):
            params = {"final": "true", "limit": "1000", **({"cursor": cursor} if cursor else {})}
            async with session.get(server.url + "/api/logs", params=params) as response:
                page = await response.json()
            logged.update({row["request_id"]: row["status"] for row in page["rows"]})
            cursor = page["next_cursor"]
            if not cursor:
                break
    return logged


async def test_a_crash_under_load_loses_only_its_last_moment(tmp_path: Path, logs_url: str) -> None:
    """SIGKILL gives the gateway no chance to flush: what reached the store is what the writer had
    already written. With the default group-commit writer every request answered a second before
    the crash has its row (a 2 s flush interval, as in the SIGTERM test, would lose ~2 s of them)."""
    async with running_mock_upstream(MockOptions(latency=0.005)) as upstream:
        config = tmp_path / "gateway.yaml"
        write_config(config, upstream.url, logs_url)
        config.write_text(config.read_text().replace("costlog: {flush_interval: 2s, batch_size: 5000}", ""))
        server = GatewayProcess(config, tmp_path / "gateway.log")
        answered: list[str] = []
        when: dict[str, float] = {}
        async with aiohttp.ClientSession() as session:
            await server.ready(session)
            stop = asyncio.Event()
            traffic = asyncio.create_task(load(server, answered, stop, when))
            for _ in range(3000):
                if len(answered) >= SIGTERM_AFTER and when[answered[0]] < time.monotonic() - 2:
                    break
                await asyncio.sleep(0.01)
            killed_at = time.monotonic()
            server.crash()
            stop.set()
            await asyncio.wait_for(traffic, 60)
        settled = [rid for rid in answered if when[rid] < killed_at - 1.0]
        assert len(settled) >= SIGTERM_AFTER // 2, (tmp_path / "gateway.log").read_text()[-2000:]

        restarted = GatewayProcess(config, tmp_path / "gateway.log")
        logged = await logged_request_ids(restarted)
        assert await restarted.stop() == 0
    missing = [rid for rid in settled if logged.get(rid) != 200]
    assert not missing, f"{len(missing)} of {len(settled)} requests answered over 1 s before the crash have no row"


async def test_sigterm_under_load_loses_no_row(tmp_path: Path, logs_url: str) -> None:
    async with running_mock_upstream(MockOptions(latency=0.005)) as upstream:
        config = tmp_path / "gateway.yaml"
        write_config(config, upstream.url, logs_url)
        server = GatewayProcess(config, tmp_path / "gateway.log")
        answered: list[str] = []
        async with aiohttp.ClientSession() as session:
            await server.ready(session)
            stop = asyncio.Event()
            traffic = asyncio.create_task(load(server, answered, stop))
            for _ in range(2000):
                if len(answered) >= SIGTERM_AFTER:
                    break
                await asyncio.sleep(0.01)
            assert len(answered) >= SIGTERM_AFTER, (tmp_path / "gateway.log").read_text()[-2000:]
            code = await server.stop()
            stop.set()
            await asyncio.wait_for(traffic, 60)
        assert code == 0, (tmp_path / "gateway.log").read_text()[-2000:]
        assert len(set(answered)) == len(answered)

        restarted = GatewayProcess(config, tmp_path / "gateway.log")
        logged = await logged_request_ids(restarted)
        async with aiohttp.ClientSession(headers=ADMIN) as session:
            missing = [rid for rid in answered if logged.get(rid) != 200]
            assert not missing, f"{len(missing)} of {len(answered)} answered requests have no row"
            async with session.get(restarted.url + "/api/usage", params={"by": "provider"}) as response:
                totals = (await response.json())["totals"]
        assert await restarted.stop() == 0
        assert totals["requests"] == len(logged)

    report = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bifrost_py", "report", "-c", str(config), "--since", "1d", "--by", "key", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert report.returncode == 0, report.stderr
    document: dict[str, Any] = json.loads(report.stdout)
    assert document["totals"]["requests"] == len(logged)
    assert document["groups"][0]["group"] is None    # no governance: no key
    table = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bifrost_py", "report", "-c", str(config), "--since", "7d", "--by", "day"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert table.returncode == 0 and table.stdout.startswith("Cost by day"), table.stderr
