"""The guards' counters in Redis count what the in-process counters count, whichever of two
instances each request reaches: the loop detector's sliding window and the spend-rate alarm's
minute buckets, checked against guards.py's counters (the model) for any sequence."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import pytest
from bifrost_alerts.guards import LoopDetector, SpendRateGuard, too_fast
from bifrost_alerts.settings import LoopGuard, SpendRate
from bifrost_alerts.shared_counters import LOOP_PREFIX, RATE_PREFIX, SharedCounters
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.storage import Storage

START = 1_764_900_000.0


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


class Tasks:
    """A spawn like the gateway's: the tasks it started, to wait for."""

    def __init__(self) -> None:
        self.running: list[asyncio.Task[Any]] = []

    def __call__(self, work: Any) -> asyncio.Task[Any]:
        self.running.append(asyncio.get_running_loop().create_task(work))
        return self.running[-1]

    async def done(self) -> None:
        while self.running:
            await self.running.pop()


@pytest.fixture
async def storage() -> AsyncIterator[Storage]:
    storage = Storage()
    try:
        yield storage
    finally:
        await storage.close()


async def two_instances(storage: Storage, url: str, clock: Clock | None) -> list[SharedCounters]:
    kv = await storage.redis(url)
    spawn = asyncio.get_running_loop().create_task
    return [SharedCounters(kv, spawn, clock), SharedCounters(kv, spawn, clock)]


STEP = st.one_of(st.floats(0, 90), st.integers(0, 31).map(lambda s: s * 10.0), st.just(0.0))
LOOP_OPS = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), st.integers(0, 1), STEP), max_size=60)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=LOOP_OPS, within=st.sampled_from([30.0, 60.0, 300.0]))
async def test_a_loop_count_split_across_two_instances_is_the_count_of_one(
        redis_url: str, storage: Storage, ops: list[tuple[int, int, int, float]], within: float) -> None:
    clock = Clock()
    instances = await two_instances(storage, redis_url, clock)
    model = LoopDetector(LoopGuard(repeats=3, within=within))
    run = os.urandom(6).hex()
    for instance, session, request, step in ops:
        clock.now += step
        name, shape = f"{run}-s{session}", f"request-{request}"
        assert await instances[instance].count_loop(name, shape, within) == model.count(name, shape, clock.now)


async def test_a_send_exactly_one_window_old_still_counts(redis_url: str, storage: Storage) -> None:
    clock = Clock()
    [one, other] = await two_instances(storage, redis_url, clock)
    session = os.urandom(6).hex()
    assert await one.count_loop(session, "same", 60.0) == 1
    clock.now += 60.0
    assert await other.count_loop(session, "same", 60.0) == 2     # as LoopDetector: older than the window goes
    clock.now += 0.001
    assert await one.count_loop(session, "same", 60.0) == 2


AMOUNT = st.floats(0.001, 50, allow_nan=False)
RATE_STEP = st.one_of(st.floats(0, 120), st.integers(0, 130).map(lambda m: m * 60.0), st.floats(0, 3 * 86400))
RATE_OPS = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 1), AMOUNT, RATE_STEP), max_size=60)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=RATE_OPS, baseline=st.sampled_from([600.0, 3600.0, 86400.0]))
async def test_a_spend_rate_split_across_two_instances_is_the_rate_of_one(
        redis_url: str, storage: Storage, ops: list[tuple[int, int, float, float]], baseline: float) -> None:
    clock = Clock()
    instances = await two_instances(storage, redis_url, clock)
    model = SpendRateGuard(SpendRate(max_per_hour=0.0, baseline=baseline))   # always answers its figures
    run = os.urandom(6).hex()
    for instance, key, amount, step in ops:
        clock.now += step
        name = f"{run}-k{key}"
        last_hour, before, first_seen, now = await instances[instance].add_spend(name, amount, baseline)
        expected = model.add(name, amount, clock.now)   # (last hour's spend, usual hourly spend)
        found = too_fast(model.settings, last_hour, before, first_seen, now)
        assert found == pytest.approx(expected, rel=1e-9, abs=1e-9)


async def test_the_counts_use_redis_clock_and_expire_with_their_window(redis_server: Any, storage: Storage) -> None:
    [one, other] = await two_instances(storage, redis_server.url, None)
    session = os.urandom(6).hex()
    assert [await c.count_loop(session, "same", 30.0) for c in (one, other, one)] == [1, 2, 3]
    assert await one.count_loop(session, "another", 30.0) == 1
    last_hour, before, first_seen, now = await other.add_spend(session, 2.5, 86400.0)
    assert (last_hour, before) == (2.5, 0.0) and first_seen == now
    assert (await one.add_spend(session, 1.0, 86400.0))[:2] == (3.5, 0.0)
    client: Any = (await storage.redis(redis_server.url)).client
    loop_ttls = [await client.pttl(key) for key in await client.keys(LOOP_PREFIX + "*")]
    assert len(loop_ttls) == 2 and all(0 < ttl <= 31_000 for ttl in loop_ttls)
    rate_ttl = await client.pttl(RATE_PREFIX + session)
    assert 86_400_000 < rate_ttl <= (86_400 + 2 * 3600) * 1000


async def test_a_burst_of_counts_that_only_alert_is_sent_in_a_few_pipelines(redis_server: Any,
                                                                             storage: Storage) -> None:
    kv = await storage.redis(redis_server.url)
    tasks = Tasks()
    counters = SharedCounters(kv, tasks)
    counts: list[int | None] = []
    figures: list[Any] = []
    for _ in range(1200):   # as many requests at once: no connection each, no count lost
        counters.queue_loop("burst", "same", 60.0, counts.append)
    counters.queue_spend("dev", 0.5, 86400.0, figures.append)
    await tasks.done()
    assert counts == list(range(1, 1201))
    assert figures[0][:2] == (0.5, 0.0)
    stats = await kv.client.info("commandstats")
    evalsha, evals = stats["cmdstat_evalsha"], stats.get("cmdstat_eval", {"calls": 0})
    # each count ran once: by EVALSHA, or (a script Redis did not have yet) by the EVAL that loads it
    assert evalsha["calls"] - evalsha["failed_calls"] + evals["calls"] == 1201
    assert (await kv.client.info("stats"))["total_connections_received"] <= 3


async def test_a_redis_that_restarted_empty_runs_each_count_once(redis_server: Any, storage: Storage) -> None:
    """A restarted Redis has lost the scripts: the counts it refused run once it has them again
    (none twice); the counts start again from what it holds, nothing."""
    kv = await storage.redis(redis_server.url)
    tasks = Tasks()
    counters = SharedCounters(kv, tasks)
    assert [await counters.count_loop("s", "same", 60.0) for _ in range(3)] == [1, 2, 3]
    redis_server.stop()
    redis_server.start()
    counts: list[int | None] = []
    for _ in range(600):
        counters.queue_loop("s", "same", 60.0, counts.append)
    await tasks.done()
    assert counts == list(range(1, 601))
