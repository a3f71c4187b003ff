"""The SQLite and Redis stores on their own: write-behind, rebuild on start, shared feed."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from pathlib import Path

import numpy as np
import pytest
from bifrost_cache.catalog import Meta
from bifrost_cache.store_redis import RedisStore
from bifrost_cache.store_sqlite import SQLiteStore
from bifrost_cache.stores import Entry, Known, StoreError

from bifrost_py.storage import Storage
from bifrost_py.storage import sqlite as storage_sqlite


def entry(key: str, *, scope: str = "s", expires: float = 2e9, vector: bool = True) -> Entry:
    vec = np.arange(8, dtype=np.float32) / 10 if vector else None
    return Entry(Meta(key, scope, "p" if vector else None, 100.0, expires, "m", "anthropic", 5), b'{"k":"%s"}' % key.encode(), vec)


async def test_sqlite_serves_pending_writes_and_rebuilds_after_reopen(tmp_path: Path) -> None:
    path = str(tmp_path / "cache.db")
    storage = Storage(tmp_path)
    store = SQLiteStore(storage, path)
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
    again = SQLiteStore(storage, path)
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
    one, two = (SQLiteStore(storage, path, shared=True) for storage in storages)
    for store in (one, two):
        await store.open()
        await store.load(now=0.0)
    learned: list[Known] = []
    follower = asyncio.create_task(two.follow(learned.extend))
    await one.put(entry("from-one"))
    await one.flush()
    for _ in range(300):
        if learned:
            break
        await asyncio.sleep(0.01)
    follower.cancel()
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
    follower = asyncio.create_task(two.follow(learned.extend))
    assert await one.put(entry("x")) == []
    await one.put(entry("y"))
    assert await one.put(entry("z")) == ["x"], "the least recently stored key beyond max_entries"
    for _ in range(300):
        if len(learned) == 3:
            break
        await asyncio.sleep(0.01)
    follower.cancel()
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
    store = SQLiteStore(storage, str(tmp_path / "cache.db"))
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
