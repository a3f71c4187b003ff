"""Hot apply under load: while 50 streams run, one provider is edited (key rotated, moved to
another upstream) and another disabled. No stream breaks (each ends with message_stop, on the
provider and key it started with), and the next requests follow the new configuration.

It also measures what the change costs the streams in flight: the longest pause between two
chunks of any stream while the change was applied, against the longest pause before it; and
how long each admin call took. The numbers are printed (run with -s), not asserted: timings
depend on the machine."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bifrost_py.mockupstream import MockOptions
from bifrost_py.testing import RunningGateway, RunningServer, running_mock_upstream

TOKEN = "admin-secret"
AUTH = {"authorization": f"Bearer {TOKEN}"}
STREAMS = 50
WORDS = 120          # per answer, paced at 60 tokens/s: each stream lasts about two seconds
BASELINE_CHUNKS = 10  # chunks every stream has received before the change is made


class Stream:
    """One client stream: when each chunk arrived, and whether it ended properly."""

    def __init__(self) -> None:
        self.started = asyncio.Event()  # BASELINE_CHUNKS arrived (or the stream ended)
        self.arrivals: list[float] = []
        self.body = b""
        self.status = 0
        self.provider = ""

    async def run(self, session: aiohttp.ClientSession, url: str, model: str) -> None:
        body = {"model": model, "max_tokens": 400, "stream": True,
                "messages": [{"role": "user", "content": f"tell me [[long:{WORDS}]]"}]}
        async with session.post(url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}) as response:
            self.status, self.provider = response.status, response.headers.get("x-bf-provider", "")
            async for chunk in response.content.iter_any():
                self.arrivals.append(time.monotonic())
                self.body += chunk
                if len(self.arrivals) >= BASELINE_CHUNKS:
                    self.started.set()
        self.started.set()

    @property
    def complete(self) -> bool:
        return self.status == 200 and b"event: message_stop" in self.body and b"event: error" not in self.body

    def longest_gap(self, start: float, end: float) -> float:
        times = [t for t in self.arrivals if start <= t <= end]
        return max((b - a for a, b in itertools.pairwise(times)), default=0.0)


async def admin(gw: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any, float]:
    started = time.monotonic()
    async with aiohttp.ClientSession() as session, session.request(method, gw.url + path, json=body,
                                                                   headers=AUTH) as response:
        return response.status, orjson.loads(await response.read()), time.monotonic() - started


async def keys_seen(upstream: RunningServer) -> list[str]:
    _, _, body = await upstream.get("/_mock/requests")
    return [r["headers"].get("x-api-key", "") for r in orjson.loads(body) if r["path"] == "/v1/messages"]


async def test_fifty_streams_survive_an_edit_and_a_disable_and_new_requests_follow_the_change(
        start_gateway: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_DATA_DIR", str(tmp_path / "data"))
    paced = MockOptions(tokens_per_second=60)
    async with running_mock_upstream(paced) as old_upstream, running_mock_upstream(paced) as new_upstream:
        gw: RunningGateway = await start_gateway(
            {"admin": {"token": TOKEN}, "storage": {"logs": f"sqlite:///{tmp_path / 'gw.db'}"}}, builtins=False)
        for name in ("alpha", "beta"):
            status, _, _ = await admin(gw, "POST", "/api/providers", {
                "name": name, "type": "anthropic", "base_url": old_upstream.url, "models": [f"claude-{name}-*"],
                "keys": [{"value": f"sk-{name}-old-key-000000"}]})
            assert status == 201
        streams = [Stream() for _ in range(STREAMS)]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            tasks = [asyncio.create_task(s.run(session, gw.url, f"claude-{'alpha' if i % 2 else 'beta'}-1"))
                     for i, s in enumerate(streams)]
            await asyncio.gather(*(s.started.wait() for s in streams))
            change_start = time.monotonic()
            edit = await admin(gw, "PATCH", "/api/providers/alpha", {
                "base_url": new_upstream.url, "keys": [{"name": "key-1", "value": "sk-alpha-new-key-111111"}]})
            disable = await admin(gw, "PATCH", "/api/providers/beta", {"enabled": False})
            change_end = time.monotonic()
            _, _, stats = await old_upstream.get("/_mock/stats")
            in_flight_at_change = orjson.loads(stats)["in_flight"]
            after = [await gw.post("/v1/messages", json={"model": m, "max_tokens": 5, "messages": [
                {"role": "user", "content": "hi"}]}, headers={"anthropic-version": "2023-06-01"})
                for m in ("claude-alpha-1", "claude-beta-1")]
            await asyncio.gather(*tasks)
        assert edit[0] == 200 and disable[0] == 200
        assert all(s.complete for s in streams), [s.body[-200:] for s in streams if not s.complete][:2]
        assert {s.provider for s in streams} == {"alpha", "beta"}
        assert after[0][0] == 200 and after[0][1]["x-bf-provider"] == "alpha"
        assert after[1][0] == 404  # beta is disabled and nothing else serves claude-beta-*
        assert await keys_seen(new_upstream) == ["sk-alpha-new-key-111111"]
        old_keys = await keys_seen(old_upstream)
        assert sorted(set(old_keys)) == ["sk-alpha-old-key-000000", "sk-beta-old-key-000000"] and len(old_keys) == STREAMS

        first = min(s.arrivals[0] for s in streams)
        before = max(s.longest_gap(first, change_start) for s in streams)
        during = max(s.longest_gap(change_start - 0.05, change_end + 0.05) for s in streams)
        print(f"\nhot apply with {STREAMS} streams in flight ({in_flight_at_change} at the upstream when the change "
              f"ended): edit {edit[2] * 1000:.1f} ms, disable {disable[2] * 1000:.1f} ms; longest pause between "
              f"chunks before the change {before * 1000:.1f} ms, around it {during * 1000:.1f} ms")
