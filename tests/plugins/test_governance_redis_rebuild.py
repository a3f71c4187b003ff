"""A Redis that lost its data gets every budget's spend back from the database before anything
is admitted against it: settlements are written behind to `gov_spend` by generation, the loss is
noticed (no ready generation), admission fails closed until one instance has rebuilt, and the
rebuild counts everything once, whoever runs it and however often. Each test has a redis-server
of its own (FLUSHALL, restarts) and a SQLite database."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from bifrost_governance.counters import Claim
from bifrost_governance.redis_counters import RedisCounters
from bifrost_governance.redis_rebuild import GEN, READY_KEY, CountersRebuilding
from bifrost_governance.spend import SpendLog
from governance_testing import OwnRedisCounters, connect
from redis.exceptions import RedisError

from bifrost_py.periodic import Periodic
from bifrost_py.storage import Database
from bifrost_py.testing import RedisServer

CAP = 1000
FAR = 2_000_000_000          # a budget window that ends far in the future
BUDGET = Claim("key:a:usd:monthly:0", CAP, 0, expires=FAR)


def budget(amount: int, meter: str = BUDGET.meter) -> Claim:
    return BUDGET._replace(meter=meter, amount=amount)


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await connect(f"sqlite:///{tmp_path}/gov.db")
    yield database
    await database.close()


@contextlib.asynccontextmanager
async def instance(url: str, db: Database, interval: float | None = 0.05) -> AsyncIterator[tuple[RedisCounters, SpendLog]]:
    """One gateway instance's store: Redis counters and their write-behind every `interval`
    (None: only by hand and by the rebuild), which a rebuild waits for as the plugin does."""
    spend = SpendLog(db)
    writer = Periodic(interval, spend.flush, name="writing spend", final=False) if interval is not None else None
    if writer is not None:
        writer.start()
    store = OwnRedisCounters(url, spend=spend, rebuild_wait=2 * (interval or 0.05) + 0.1)
    await store.open()
    try:
        yield store, spend
    finally:
        if writer is not None:
            await writer.stop()
        await store.close()
        await spend.flush()


async def charge(store: RedisCounters, amount: int, actual: int) -> None:
    admission = await store.admit([budget(amount)])
    assert admission.ticket is not None
    assert await store.settle(admission.ticket, [actual])


async def flushall(store: RedisCounters) -> None:
    await store.redis.flushall()


async def rebuilt(store: RedisCounters) -> None:
    """Wait for the rebuild this store started (its task: an event, not a sleep)."""
    assert store._rebuilding is not None
    await store._rebuilding
    assert store.gen is not None


async def test_settlements_are_written_behind_per_generation(redis_server: RedisServer, db: Database) -> None:
    async with instance(redis_server.url, db, interval=None) as (store, spend):
        await charge(store, 300, 120)
        await charge(store, 300, 0)
        gauge = await store.admit([Claim("key:a:in_flight", 5, 1, gauge=True)])
        assert gauge.ticket is not None and await store.settle(gauge.ticket, [0])
        assert spend.pending == {(BUDGET.meter, store.gen): 120}, "only budget spend, nothing per request I/O"
        await spend.flush()
        rows = await db.fetch("SELECT meter, gen, used, expires FROM gov_spend")
        assert [tuple(row) for row in rows] == [(BUDGET.meter, store.gen, 120, FAR + 3600.0)]


async def test_after_flushall_admission_fails_closed_then_refuses_at_the_cap(redis_server: RedisServer,
                                                                             db: Database) -> None:
    async with instance(redis_server.url, db) as (store, spend):
        await charge(store, 900, 900)
        await spend.flush()
        before = store.gen
        await flushall(store)
        with pytest.raises(CountersRebuilding):
            await store.admit([budget(50)])
        with pytest.raises(CountersRebuilding):
            await store.read([BUDGET.meter])
        await rebuilt(store)
        assert store.gen != before
        assert await store.read([BUDGET.meter]) == [(900, 0)], "the spend is back"
        refused = await store.admit([budget(101)])
        assert not refused.ok and (refused.used, refused.held) == (900, 0), "would overshoot: refused at the cap"
        await charge(store, 100, 100)
        assert await store.read([BUDGET.meter]) == [(1000, 0)]


async def test_a_redis_restarted_without_persistence_is_noticed_without_traffic(redis_server: RedisServer,
                                                                                db: Database) -> None:
    async with instance(redis_server.url, db, interval=None) as (store, _):
        await charge(store, 700, 650)
        redis_server.stop()
        redis_server.start()
        for _ in range(100):          # the connection pool reconnects within a round or two
            with contextlib.suppress(RedisError, OSError):
                await store.maintain()    # what the background round does every lease / 4
                break
            await asyncio.sleep(0.05)
        await rebuilt(store)
        assert await store.read([BUDGET.meter]) == [(650, 0)], "unflushed spend is flushed by the rebuild"


async def test_two_instances_rebuilding_at_once_restore_the_spend_once(redis_server: RedisServer,
                                                                       db: Database) -> None:
    async with instance(redis_server.url, db) as (one, _), instance(redis_server.url, db) as (two, _):
        await charge(one, 400, 300)
        await charge(two, 400, 200)
        await flushall(one)
        results = await asyncio.gather(one.admit([budget(1)]), two.admit([budget(1)]), return_exceptions=True)
        assert all(isinstance(r, CountersRebuilding) for r in results), results
        await asyncio.gather(rebuilt(one), rebuilt(two))
        assert one.gen == two.gen
        assert await one.read([BUDGET.meter]) == await two.read([BUDGET.meter]) == [(500, 0)]


async def test_a_request_in_flight_across_the_loss_is_charged_into_the_new_generation(redis_server: RedisServer,
                                                                                      db: Database) -> None:
    async with instance(redis_server.url, db) as (store, _):
        await charge(store, 200, 100)
        running = await store.admit([budget(300), Claim("key:a:tok:60s", 10**6, 300, window=60.0)])
        assert running.ticket is not None
        await flushall(store)
        with pytest.raises(CountersRebuilding):
            await store.admit([budget(1)])
        await rebuilt(store)
        assert await store.read([BUDGET.meter, "key:a:tok:60s"]) == [(100, 0), (0, 0)], \
            "its hold went with the data; the rate-limit window restarts empty"
        assert await store.settle(running.ticket, [250, 250]) is True
        assert await store.read([BUDGET.meter]) == [(350, 0)], "its real cost is charged when it ends"
        # and a second loss counts it once more, not twice
        await flushall(store)
        with pytest.raises(CountersRebuilding):
            await store.admit([budget(1)])
        await rebuilt(store)
        assert await store.read([BUDGET.meter]) == [(350, 0)]


async def test_what_settles_while_redis_has_no_data_is_counted_by_the_rebuild(redis_server: RedisServer,
                                                                              db: Database) -> None:
    async with instance(redis_server.url, db) as (store, _):
        running = await store.admit([budget(300)])
        assert running.ticket is not None
        await flushall(store)
        assert await store.settle(running.ticket, [280]) is False, "nothing to count it in yet"
        await rebuilt(store)                   # noticed by the settlement itself
        assert await store.read([BUDGET.meter]) == [(280, 0)]


async def test_a_rebuild_left_half_done_by_a_dead_instance_is_finished_by_the_next(redis_server: RedisServer,
                                                                                   db: Database) -> None:
    async with instance(redis_server.url, db) as (store, spend):
        await charge(store, 500, 450)
        await spend.flush()
    # An instance began generation "dead0001", set part of the bases, and died (its lock expired).
    redis_server.stop()
    redis_server.start()
    import redis.asyncio as aioredis

    client: Any = aioredis.from_url(redis_server.url)
    await client.set(GEN, "dead0001")
    await client.hset("{bfgov}:dead0001:m:" + BUDGET.meter, mapping={"b": 450, "u": 7})   # 7 settled in it since
    await client.aclose()
    async with instance(redis_server.url, db) as (store, spend):
        assert store.gen == "dead0001"
        assert await store.read([BUDGET.meter]) == [(457, 0)], "bases set again (no double count), its own 7 kept"


async def test_spend_rows_of_ended_windows_are_not_restored(redis_server: RedisServer, db: Database) -> None:
    async with instance(redis_server.url, db) as (store, spend):
        old = Claim("key:a:usd:daily:0", CAP, 300, expires=1000.0)     # a window that ended in 1970
        admission = await store.admit([old, budget(300)])
        assert admission.ticket is not None and await store.settle(admission.ticket, [300, 300])
        await spend.flush()
        await flushall(store)
        with pytest.raises(CountersRebuilding):
            await store.admit([budget(1)])
        await rebuilt(store)
        assert await store.read([old.meter, BUDGET.meter]) == [(0, 0), (300, 0)]
        assert not await store.redis.exists("{bfgov}:" + (store.gen or "") + ":m:" + old.meter)


async def test_a_reaped_hold_of_a_dead_instance_reaches_the_durable_record(redis_server: RedisServer,
                                                                           db: Database) -> None:
    async with instance(redis_server.url, db, interval=None) as (alive, spend):
        dead = OwnRedisCounters(redis_server.url, lease=0.05)
        await dead.open()
        held = await dead.admit([budget(300)])
        assert held.ticket is not None
        dead.open_tickets.clear()          # it died: nobody renews or settles
        assert dead.renewer is not None
        await dead.renewer.stop()
        await dead.storage.close()
        await asyncio.sleep(0.1)           # its lease runs out (time passing is the point)
        await charge(alive, 10, 10)        # this admission reaps it
        await alive.maintain()             # moves the reaped charge to the write-behind
        assert spend.pending == {(BUDGET.meter, alive.gen): 310}
        await flushall(alive)
        with pytest.raises(CountersRebuilding):
            await alive.admit([budget(1)])
        await rebuilt(alive)
        assert await alive.read([BUDGET.meter]) == [(310, 0)]


async def test_the_ready_marker_is_what_admission_checks(redis_server: RedisServer, db: Database) -> None:
    """Deleting only `ready` (a rebuild begun elsewhere) stops admission everywhere at once."""
    async with instance(redis_server.url, db) as (store, _):
        gen = store.gen
        await store.redis.delete(READY_KEY)
        with pytest.raises(CountersRebuilding):
            await store.admit([budget(1)])
        await rebuilt(store)
        assert store.gen == gen and (await store.redis.get(GEN)).decode() == gen, "the begun generation is finished"



async def test_the_rebuild_reads_sqlite_and_postgresql_alike(redis_server: RedisServer, logs_url: str) -> None:
    database = await connect(logs_url)
    try:
        async with instance(redis_server.url, database) as (store, _):
            await charge(store, 900, 800)
            never = Claim("customer:c:usd:never:0", 10**12, 5)      # a lifetime budget: no expiry
            admission = await store.admit([never])
            assert admission.ticket is not None and await store.settle(admission.ticket, [5])
            await flushall(store)
            with pytest.raises(CountersRebuilding):
                await store.admit([budget(1)])
            await rebuilt(store)
            assert await store.read([BUDGET.meter, never.meter]) == [(800, 0), (5, 0)]
            assert await store.redis.ttl("{bfgov}:" + (store.gen or "") + ":m:" + never.meter) == -1
    finally:
        await database.close()


async def test_an_upgrade_keeps_the_spend_counted_by_the_version_before_generations(redis_server: RedisServer,
                                                                                    db: Database) -> None:
    import redis.asyncio as aioredis

    client: Any = aioredis.from_url(redis_server.url)
    legacy = "{bfgov}:m:" + BUDGET.meter
    await client.hset(legacy, mapping={"u": 600, "r": 0})
    await client.expireat(legacy, FAR)
    await client.hset("{bfgov}:m:key:a:req:60s", mapping={"u": 3, "r": 0, "w": 60})      # a rate limit
    await client.hset("{bfgov}:m:key:a:in_flight", mapping={"r": 1})                        # a slot
    # a ticket of the old format, its lease run out: reaping it must not break admission
    await client.set("{bfgov}:t:old.1", '[["' + legacy + '", "5", "1"]]')
    await client.zadd("{bfgov}:leases", {"old.1": 1.0})
    await client.aclose()
    async with instance(redis_server.url, db) as (store, _):
        assert await store.read([BUDGET.meter, "key:a:req:60s", "key:a:in_flight"]) == [(600, 0), (0, 0), (0, 0)]
        refused = await store.admit([budget(401)])
        assert not refused.ok and refused.used == 600
        await charge(store, 400, 400)
        assert await store.redis.zscore("{bfgov}:leases", "old.1") is None
        assert not await store.redis.exists(legacy)
        # the adopted spend is in the durable record: a later loss keeps it
        await flushall(store)
        with pytest.raises(CountersRebuilding):
            await store.admit([budget(1)])
        await rebuilt(store)
        assert await store.read([BUDGET.meter]) == [(1000, 0)]
