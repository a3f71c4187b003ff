"""The SQLite and Redis stores on their own: write-behind, rebuild on start, shared feed."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import bifrost_cache
import numpy as np
import pytest
from bifrost_cache.catalog import Meta
from bifrost_cache.store_redis import RedisStore
from bifrost_cache.store_sqlite import SQLiteStore
from bifrost_cache.stores import Entry, Known, StoreError

from bifrost_py.periodic import Periodics
from bifrost_py.storage import Storage
from bifrost_py.storage import sqlite as storage_sqlite
from bifrost_py.testing import provider_config


def entry(key: str, *, scope: str = "s", expires: float = 2e9, vector: bool = True) -> Entry:
    vec = np.arange(8, dtype=np.float32) / 10 if vector else None
    return Entry(Meta(key, scope, "p" if vector else None, 100.0, expires, "m", "anthropic", 5), b'{"k":"%s"}' % key.encode(), vec)


async def test_sqlite_serves_pending_writes_and_rebuilds_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    storage = Storage(tmp_path)
    store = SQLiteStore(storage, path, Periodics().every)
    await store.open()
    await store.put(entry("a"))
    found = await store.fetch("a", now=200.0)
    assert found is not None and found[1] == b'{"k":"a"}', "served before the writer committed it"
    await store.put(entry("b", scope="other", vector=False))
    await store.put(entry("old", expires=150.0))
    await store.delete(["a"])
    await store.put(entry("a"))  # deleted then stored again in one batch: must survive
    await store.close()
    await storage.close()

    storage = Storage(tmp_path)  # a gateway started again
    again = SQLiteStore(storage, path, Periodics().every)
    await again.open()
    loaded = {k.meta.key: k for k in await again.load(now=200.0)}
    assert set(loaded) == {"a", "b"}, "expired entries are not loaded"
    assert np.allclose(loaded["a"].vector, np.arange(8) / 10) and loaded["b"].vector is None
    assert await again.fetch("old", now=200.0) is None
    assert await again.clear("other") == 1
    assert [k.meta.key for k in await again.load(now=200.0)] == ["a"]
    await again.close()
    await storage.close()


async def test_sqlite_workers_learn_each_others_entries(tmp_path: Path, monkeypatch: object) -> None:
    import bifrost_cache.store_sqlite as module

    monkeypatch.setattr(module, "SYNC_SECONDS", 0.01)  # type: ignore[attr-defined]
    path = str(tmp_path / "cache.db")
    storages = [Storage(tmp_path), Storage(tmp_path)]  # two workers: two processes' own
    one, two = (SQLiteStore(storage, path, Periodics().every, shared=True) for storage in storages)
    for store in (one, two):
        await store.open()
        await store.load(now=0.0)
    learned: list[Known] = []
    follower = two.follow(learned.extend, Periodics().every)
    assert follower is not None
    await one.put(entry("from-one"))
    await one.flush()
    for _ in range(300):
        if learned:
            break
        await asyncio.sleep(0.01)
    await follower.stop()
    assert [k.meta.key for k in learned] == ["from-one"] and learned[0].vector is not None
    for store in (one, two):
        await store.close()
    for storage in storages:
        await storage.close()


async def test_redis_feed_evicts_and_rebuilds(redis_url: str) -> None:
    prefix = f"test:{uuid.uuid4().hex}:"
    one, two = RedisStore(Storage(), redis_url, prefix, 2), RedisStore(Storage(), redis_url, prefix, 2)
    for store in (one, two):
        await store.open()
        await store.load(now=0.0)
    learned: list[Known] = []
    follower = two.follow(learned.extend, Periodics().every)
    assert follower is not None
    assert await one.put(entry("x")) == []
    await one.put(entry("y"))
    assert await one.put(entry("z")) == ["x"], "the least recently stored key beyond max_entries"
    for _ in range(300):
        if len(learned) == 3:
            break
        await asyncio.sleep(0.01)
    await follower.stop()
    assert [k.meta.key for k in learned] == ["x", "y", "z"]
    assert await two.fetch("x", now=200.0) is None
    found = await two.fetch("z", now=200.0)
    assert found is not None and found[0].provider == "anthropic"
    fresh = RedisStore(Storage(), redis_url, prefix, 2)
    await fresh.open()
    assert [k.meta.key for k in await fresh.load(now=200.0)] == ["y", "z"]
    for store in (one, two, fresh):
        await store.close()
        await store.storage.close()


async def test_sqlite_busy_beyond_its_timeout_is_a_store_error(tmp_path: Path, monkeypatch: object) -> None:
    monkeypatch.setattr(storage_sqlite, "BUSY_TIMEOUT_MS", 50)  # type: ignore[attr-defined]
    storage = Storage(tmp_path)
    store = SQLiteStore(storage, str(tmp_path / "cache.db"), Periodics().every)
    await store.open()
    await store.put(entry("a"))
    await store.flush()
    other = sqlite3.connect(tmp_path / "cache.db", isolation_level=None)  # another process writing
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError):
            await store.clear(None)  # the admin route answers 503
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await store.clear(None) == 1
    await store.close()
    await storage.close()


async def test_the_writers_final_round_commits_what_is_queued_when_the_gateway_stops(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    storage, periodics = Storage(tmp_path), Periodics()
    store = SQLiteStore(storage, path, periodics.every)
    await store.open()
    await store.put(entry("last"))
    store.touch("last", 300.0)
    await periodics.stop()  # what the gateway does before any plugin's shutdown hook
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT key, hits FROM cache_entries").fetchall() == [("last", 1)]
    await store.put(entry("after"))  # queued once the writer stopped: close() still commits it
    await store.close()
    with sqlite3.connect(path) as conn:
        assert {k for (k,) in conn.execute("SELECT key FROM cache_entries")} == {"last", "after"}
    await storage.close()


async def test_the_caches_timers_are_the_gateways_periodic_tasks(start_gateway: Any, tmp_path: Path) -> None:
    config = {"storage": {"logs": f"sqlite:///{tmp_path}/logs.db"}, "server": {"workers": 1},
              "providers": provider_config("http://127.0.0.1:9"), "cache": {"enabled": True}}
    gw = await start_gateway(config, plugins=[bifrost_cache], builtins=False)
    names = {periodic.name for periodic in gw.gateway.periodic}
    assert "cache: dropping expired entries" in names
    assert f"cache: writing entries to sqlite:///{tmp_path}/logs.db" in names, names
