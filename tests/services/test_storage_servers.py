"""`gateway.storage` for PostgreSQL and Redis: one pool / one client per URL, shared and closed
once; transactions all or nothing; a server that is down is StorageUnavailable, never a hang."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bifrost_py.storage import PostgresDatabase, Storage, StorageClosed, StorageUnavailable
from bifrost_py.testing import RedisServer, free_port
from tests.conftest import fresh_postgres


@pytest.fixture
async def pg_url(postgres_url: str) -> str:
    return await fresh_postgres(postgres_url)


async def test_two_plugins_naming_one_postgres_share_one_pool_closed_once(pg_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    first = await store.postgres(pg_url)
    second = await store.sql(pg_url.replace("postgresql://", "postgres://"))
    assert first is second
    pool = first.pool
    await store.close()
    assert pool.is_closing()
    with pytest.raises(StorageClosed):
        await first.fetchval("SELECT 1")


async def test_postgres_takes_question_mark_placeholders_and_rolls_back(pg_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    try:
        db: PostgresDatabase = await store.postgres(pg_url)
        await db.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
        assert await db.execute("INSERT INTO t VALUES (?, ?) ON CONFLICT (k) DO UPDATE SET v = t.v + 1", "a", 1) == 1

        async def half(tx: Any) -> None:
            await tx.execute("UPDATE t SET v = 100")
            await tx.execute("INSERT INTO t VALUES (?, ?)", "b", None)

        with pytest.raises(asyncpg.NotNullViolationError):
            await db.write(half)
        assert await db.fetchval("SELECT v FROM t WHERE k = ?", "a") == 1
        with pytest.raises(asyncpg.UniqueViolationError):
            await db.executemany("INSERT INTO t VALUES (?, ?)", [("c", 1), ("c", 2)])
        assert await db.fetchval("SELECT count(*) FROM t") == 1
        row = await db.fetchone("SELECT k, v FROM t")
        assert row is not None and dict(row) == {"k": "a", "v": 1}
    finally:
        await store.close()


async def test_a_cancelled_caller_cannot_cut_a_postgres_transaction(pg_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    try:
        db = await store.postgres(pg_url)
        await db.execute("CREATE TABLE t (k TEXT)")
        entered = asyncio.Event()

        async def slow(tx: Any) -> None:
            await tx.execute("INSERT INTO t VALUES ('a')")
            entered.set()
            await asyncio.sleep(0.1)
            await tx.execute("INSERT INTO t VALUES ('b')")

        caller = asyncio.create_task(db.write(slow))
        await entered.wait()
        caller.cancel()
        with pytest.raises(asyncio.CancelledError):
            await caller
        await asyncio.sleep(0.2)
        assert [r["k"] for r in await db.fetch("SELECT k FROM t ORDER BY k")] == ["a", "b"]
    finally:
        await store.close()


async def test_a_postgres_nobody_listens_on_is_unavailable(tmp_path: Path) -> None:
    store = Storage(tmp_path)
    with pytest.raises(StorageUnavailable):
        await store.postgres(f"postgresql://nobody:secret@127.0.0.1:{free_port()}/x")
    assert store.opened() == []
    await store.close()


async def test_two_plugins_naming_one_redis_share_one_client_closed_once(redis_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    first, second = await asyncio.gather(store.redis(redis_url), store.redis(redis_url))
    assert first is second
    await first.run(lambda r: r.set(b"services:k", b"v"))
    assert await second.run(lambda r: r.get(b"services:k")) == b"v"
    assert store.opened() == [redis_url]
    await store.close()
    with pytest.raises(StorageClosed):
        await first.run(lambda r: r.ping())


async def test_a_redis_that_goes_down_is_unavailable_then_answers_again(redis_server: RedisServer,
                                                                        tmp_path: Path) -> None:
    store = Storage(tmp_path)
    try:
        kv = await store.redis(redis_server.url)
        assert await kv.run(lambda r: r.ping())
        redis_server.stop()
        with pytest.raises(StorageUnavailable):
            await asyncio.wait_for(kv.run(lambda r: r.get(b"x"), what="lookup"), 10)
        assert not kv.available
        redis_server.start()
        assert await kv.run(lambda r: r.ping())
        assert kv.available
    finally:
        await store.close()


async def test_a_cancelled_redis_caller_leaves_the_command_to_finish(redis_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_url)

    async def slow(r: Any) -> None:
        await asyncio.sleep(0.1)
        await r.set(b"services:late", b"1")

    caller = asyncio.create_task(kv.run(slow))
    await asyncio.sleep(0.01)
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    await store.close()  # waits for the command
    check = await Storage(tmp_path).redis(redis_url)
    assert await check.run(lambda r: r.get(b"services:late")) == b"1"
    await check.close()
