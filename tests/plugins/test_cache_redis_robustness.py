"""The Redis cache store when things go wrong: cancellations, shutdown, Redis frozen, down or back.

On Python 3.11 redis-py wraps each send in `asyncio.wait_for`, which can swallow a cancellation
that lands at the wrong step, so a cancelled caller runs on. The store tests below cancel at every
step of a command in turn (k event-loop steps after it starts), so the one bad step is always
hit. The gateway tests drive a real gateway against a redis-server of their own, which they
freeze (SIGSTOP), kill and restart. Timeouts only turn a hang into a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import bifrost_cache
import numpy as np
import orjson
import pytest
from bifrost_cache.catalog import Meta
from bifrost_cache.store_redis import RedisStore
from bifrost_cache.stores import Entry, Known, StoreError

from bifrost_py.periodic import Periodics
from bifrost_py.storage import Storage, StorageClosed
from bifrost_py.testing import free_port, provider_config, running_gateway, wait_for_port

HANG = 30.0  # seconds after which a wait counts as a hang
MODEL = "claude-sonnet-4-20250514"


class RedisServer:
    """A redis-server of one test's own, to freeze, kill and start again on the same port."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.binary = binary
        self.workdir = workdir
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def kill(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def freeze(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGCONT)


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.fail("redis-server is not installed (.ci/run installs Debian's redis-server)")
    server = RedisServer(binary, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.thaw()
        server.kill()


def entry(key: str) -> Entry:
    meta = Meta(key, "s", "p", 100.0, 2e9, "m", "anthropic", 5)
    return Entry(meta, b'{"k":"%s"}' % key.encode(), np.arange(8, dtype=np.float32) / 10)


async def steps(count: int) -> None:
    for _ in range(count):
        await asyncio.sleep(0)


async def opened(url: str, prefix: str = "") -> RedisStore:
    """A store on a Storage of its own (a gateway of its own), as the cache plugin opens it."""
    store = RedisStore(Storage(), url, prefix or f"test:{uuid.uuid4().hex}:", 1000)
    await store.open()
    await store.load(now=0.0)
    return store


async def closed(store: RedisStore) -> None:
    """What a gateway's stop does: the plugin's shutdown, then the storage closes the client."""
    kv = store.kv
    await asyncio.wait_for(store.close(), HANG)
    assert store.client is None
    await asyncio.wait_for(store.storage.close(), HANG)
    assert kv is not None
    with pytest.raises(StorageClosed):
        await kv.run(lambda r: r.ping())


# ---------------------------------------------------------------- the store: cancellation


async def test_a_stopped_feed_loop_ends_whatever_step_it_was_at(redis_url: str) -> None:
    store = await opened(redis_url)
    try:
        for k in range(30):
            follower = store.follow(lambda known: None, Periodics().every)
            assert follower is not None
            await steps(k)
            await asyncio.wait_for(follower.stop(), HANG)
            assert not follower.running, f"stopped {k} steps in, the feed loop went on reading"
            assert follower.failures == 0
    finally:
        await closed(store)


async def test_a_cancelled_lookup_or_store_leaves_at_once_and_redis_keeps_working(redis_url: str) -> None:
    store = await opened(redis_url)
    await store.put(entry("kept"))
    calls = {"lookup": lambda k: store.fetch("kept", now=200.0),
             "store": lambda k: store.put(entry(f"new-{k}"))}
    try:
        for what, call in calls.items():
            for k in range(20):
                task = asyncio.create_task(call(k))
                await steps(k)
                if task.done():
                    continue
                task.cancel()
                done, _ = await asyncio.wait({task}, timeout=HANG)
                assert done and task.cancelled(), f"a {what} cancelled {k} steps in went on as if not"
                found = await asyncio.wait_for(store.fetch("kept", now=200.0), HANG)
                assert found is not None and found[1] == b'{"k":"kept"}'
    finally:
        await closed(store)


async def test_close_waits_for_a_store_whose_caller_left(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    store = await opened(redis_url, prefix)
    task = asyncio.create_task(store.put(entry("orphan")))
    await steps(2)
    task.cancel()
    await closed(store)
    other = await opened(redis_url, prefix)
    try:
        found = await other.fetch("orphan", now=200.0)
        assert found is not None, "the write went through to its end, the caller's leaving notwithstanding"
    finally:
        await closed(other)


# ---------------------------------------------------------------- the store: Redis away


async def test_store_fails_fast_while_redis_is_down_and_works_once_it_is_back(
        own_redis: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    store = await opened(own_redis.url)
    learned: list[Known] = []
    follower = store.follow(learned.extend, Periodics().every)
    assert follower is not None
    try:
        await store.put(entry("before"))
        own_redis.kill()
        with pytest.raises(StoreError):
            await asyncio.wait_for(store.fetch("before", now=200.0), HANG)
        with pytest.raises(StoreError):
            await asyncio.wait_for(store.put(entry("during")), HANG)
        assert any("Redis" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
        own_redis.start()
        await asyncio.wait_for(store.put(entry("after")), HANG)
        found = await store.fetch("after", now=200.0)
        assert found is not None and found[1] == b'{"k":"after"}'
        await asyncio.wait_for(until(lambda: "after" in {k.meta.key for k in learned}), HANG)
    finally:
        await asyncio.wait_for(follower.stop(), HANG)
        await closed(store)


async def until(condition: Any) -> None:
    while not condition():
        await asyncio.sleep(0.02)


# ---------------------------------------------------------------- the gateway


def gateway_config(upstream: Any, tmp_path: Path, redis_url: str, **cache: Any) -> dict[str, Any]:
    return {
        "admin": {"token": "admin-t"},
        "storage": {"logs": f"sqlite:///{tmp_path}/gateway-{uuid.uuid4().hex}.db", "redis": redis_url},
        "providers": provider_config(upstream.url),
        "cache": {"enabled": True, "redis_prefix": f"test:{uuid.uuid4().hex}:", **cache},
    }


async def start(start_gateway: Any, cfg: dict[str, Any]) -> Any:
    gw = await start_gateway(cfg, plugins=[bifrost_cache], builtins=False)
    gw.cache = gw.gateway.plugins.pm.get_plugin("cache")
    return gw


async def ask(gw: Any, text: str) -> dict[str, str]:
    """One request through the Anthropic SDK (which fails on any 5xx); the response headers."""
    client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-a", max_retries=0)
    raw = await client.messages.with_raw_response.create(
        model=MODEL, max_tokens=200, messages=[{"role": "user", "content": text}])
    await raw.parse()
    await asyncio.wait_for(gw.cache.settled(), HANG)
    return dict(raw.headers)


async def upstream_requests(upstream: Any) -> int:
    _, _, body = await upstream.get("/_mock/stats")
    return int(orjson.loads(body)["requests"])


async def test_a_client_hanging_up_during_a_stalled_lookup_breaks_nothing(
        start_gateway: Any, mock_upstream: Any, tmp_path: Path, own_redis: RedisServer) -> None:
    gw = await start(start_gateway, gateway_config(mock_upstream, tmp_path, own_redis.url, mode="exact"))
    assert (await ask(gw, "What is a B-tree?"))["x-bf-cache"] == "miss"
    own_redis.freeze()  # the next lookup waits on Redis
    body = {"model": MODEL, "max_tokens": 200, "messages": [{"role": "user", "content": "What is a B-tree?"}]}
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as session:
        with pytest.raises(TimeoutError):  # the client gives up and hangs up
            await session.post(gw.url + "/anthropic/v1/messages", json=body, headers={"x-api-key": "vk-a"})
    own_redis.thaw()
    headers = await asyncio.wait_for(ask(gw, "What is a B-tree?"), HANG)
    assert headers["x-bf-cache"] == "hit"
    assert (await asyncio.wait_for(ask(gw, "What is a trie?"), HANG))["x-bf-cache"] == "miss"
    assert (await asyncio.wait_for(ask(gw, "What is a trie?"), HANG))["x-bf-cache"] == "hit"
    assert await upstream_requests(mock_upstream) == 2


async def test_shutdown_with_redis_frozen_and_a_lookup_in_flight_completes(
        mock_upstream: Any, tmp_path: Path, own_redis: RedisServer) -> None:
    cfg = gateway_config(mock_upstream, tmp_path, own_redis.url)
    async with contextlib.AsyncExitStack() as stack:
        gw = await stack.enter_async_context(running_gateway(cfg, plugins=[bifrost_cache], builtins=False))
        gw.cache = gw.gateway.plugins.pm.get_plugin("cache")
        store = gw.cache.cache.store
        await ask(gw, "What is a heap?")
        own_redis.freeze()
        in_flight = asyncio.create_task(ask(gw, "What is a heap?"))
        await asyncio.wait_for(until(lambda: store.kv.waiting), HANG)  # the lookup waits on Redis
        await asyncio.wait_for(stack.aclose(), HANG)
    assert store.client is None, "the Redis client is closed"
    headers = await asyncio.wait_for(in_flight, HANG)
    assert headers["x-bf-cache"] == "miss", "a Redis that does not answer is a miss, served by the provider"


async def test_redis_down_is_a_miss_and_the_cache_works_again_once_it_is_back(
        start_gateway: Any, mock_upstream: Any, tmp_path: Path, own_redis: RedisServer,
        caplog: pytest.LogCaptureFixture) -> None:
    cfg = gateway_config(mock_upstream, tmp_path, own_redis.url)
    one, two = await start(start_gateway, cfg), await start(start_gateway, cfg)
    assert (await ask(one, "What is consistent hashing?"))["x-bf-cache"] == "miss"
    assert (await ask(two, "What is consistent hashing?"))["x-bf-cache"] == "hit"

    own_redis.kill()
    assert (await ask(one, "What is consistent hashing?"))["x-bf-cache"] == "miss"
    assert (await ask(one, "What is a bloom filter?"))["x-bf-cache"] == "miss"
    assert any("Redis" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert one.cache.cache.stats()["not_stored"].get("store_error", 0) == 2
    async with aiohttp.ClientSession(headers={"authorization": "Bearer admin-t"}) as session, \
            session.delete(one.url + "/api/cache") as response:
        assert response.status == 503, "emptying a shared cache Redis cannot reach is not a success"
        assert "the cache store could not delete" in (await response.json())["error"]["message"]

    own_redis.start()  # empty: what it held is gone
    assert (await ask(one, "What is a bloom filter?"))["x-bf-cache"] == "miss"
    assert (await ask(two, "What is a bloom filter?"))["x-bf-cache"] == "hit"
    key = one.cache.cache.catalog.newest(1, None)[0].key
    index = two.cache.cache.index
    await asyncio.wait_for(until(lambda: any(key in part.rows for part in index.partitions.values())), HANG)
    headers = await ask(two, "what's a bloom filter")
    assert headers["x-bf-cache"] == "hit" and headers["x-bf-cache-match"] == "semantic", \
        "instance two follows the feed again after the restart"
