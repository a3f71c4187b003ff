"""The counter store: for any interleaving of admissions and settlements, strict claims never
push a meter past its limit, admission is all-or-nothing, and every hold is released exactly
once. The same properties are checked against MemoryCounters and against RedisCounters on a
real redis-server."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from bifrost_governance.counters import Claim, CounterStore, MemoryCounters
from bifrost_governance.journal import CounterJournal
from governance_testing import OwnRedisCounters, connect
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

LIMITS = [50, 120, 7, 1000]


@st.composite
def operations(draw: Any) -> list[tuple[Any, ...]]:
    """("admit", meter indices, amounts, fractions of the amounts really used) or
    ("settle", which pending ticket) or ("again", which settled ticket)."""
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 40))):
        kind = draw(st.sampled_from(["admit", "admit", "settle", "again"]))
        if kind == "admit":
            meters = draw(st.lists(st.integers(0, len(LIMITS) - 1), min_size=1, max_size=4, unique=True))
            amounts = [draw(st.integers(0, 60)) for _ in meters]
            used = [draw(st.floats(0, 1)) for _ in meters]
            ops.append(("admit", meters, amounts, used))
        else:
            ops.append((kind, draw(st.integers(0, 1000))))
    return ops


@dataclass
class Reference:
    """What the counters must hold, computed the obvious way."""

    used: list[int] = field(default_factory=lambda: [0] * len(LIMITS))
    held: list[int] = field(default_factory=lambda: [0] * len(LIMITS))


async def run(store: CounterStore, ops: list[tuple[Any, ...]], prefix: str, *, strict: bool = True) -> None:
    ref = Reference()
    pending: list[tuple[str, list[int], list[int], list[int]]] = []
    settled: list[str] = []
    names = [f"{prefix}:m{i}" for i in range(len(LIMITS))]
    for op in ops:
        if op[0] == "admit":
            _, meters, amounts, fractions = op
            claims = [Claim(names[m], LIMITS[m], a, strict=strict) for m, a in zip(meters, amounts)]
            admission = await store.admit(claims)
            expected_fit = all(
                (ref.used[m] + ref.held[m] + a <= LIMITS[m]) if strict else ref.used[m] < LIMITS[m]
                for m, a in zip(meters, amounts)
            )
            assert admission.ok == expected_fit
            if admission.ok:
                for m, a in zip(meters, amounts):
                    ref.held[m] += a
                actuals = [int(a * f) for a, f in zip(amounts, fractions)]
                pending.append((admission.ticket, meters, amounts, actuals))
            else:
                first = next(i for i, (m, a) in enumerate(zip(meters, amounts))
                             if not ((ref.used[m] + ref.held[m] + a <= LIMITS[m]) if strict else ref.used[m] < LIMITS[m]))
                assert admission.refused == first
                assert (admission.used, admission.held) == (ref.used[meters[first]], ref.held[meters[first]])
        elif op[0] == "settle" and pending:
            ticket, meters, amounts, actuals = pending.pop(op[1] % len(pending))
            assert await store.settle(ticket, actuals) is True
            for m, a, u in zip(meters, amounts, actuals):
                ref.held[m] -= a
                ref.used[m] += u
            settled.append(ticket)
        elif op[0] == "again" and settled:
            ticket = settled[op[1] % len(settled)]
            assert await store.settle(ticket, [0] * 4) is False, "a ticket settles exactly once"
        values = await store.read(names)
        assert values == list(zip(ref.used, ref.held))
        if strict:
            assert all(u + h <= limit for (u, h), limit in zip(values, LIMITS)), "spend never passes a cap"
    for ticket, meters, amounts, actuals in pending:
        assert await store.settle(ticket, actuals) is True
    assert all(held == 0 for _, held in await store.read(names)), "every hold was released"


@settings(max_examples=300, deadline=None)
@given(ops=operations())
async def test_memory_counters_strict(ops: list[tuple[Any, ...]]) -> None:
    await run(MemoryCounters(), ops, "t")


@settings(max_examples=100, deadline=None)
@given(ops=operations())
async def test_memory_counters_soft_checks_spend_only(ops: list[tuple[Any, ...]]) -> None:
    await run(MemoryCounters(), ops, "t", strict=False)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations())
async def test_redis_counters_strict(redis_url: str, ops: list[tuple[Any, ...]]) -> None:
    store = OwnRedisCounters(redis_url)
    await store.open()
    try:
        await run(store, ops, os.urandom(6).hex())
    finally:
        await store.close()


async def test_two_redis_instances_racing_never_overshoot(redis_url: str) -> None:
    """Two gateway instances, 200 concurrent admissions: exactly limit // amount get in."""
    stores = [OwnRedisCounters(redis_url), OwnRedisCounters(redis_url)]
    for store in stores:
        await store.open()
    meter = "race:" + os.urandom(6).hex()
    try:
        claims = [Claim(meter, 1000, 7)]
        results = await asyncio.gather(*(stores[i % 2].admit(claims) for i in range(200)))
        admitted = [r for r in results if r.ok]
        assert len(admitted) == 1000 // 7
        assert (await stores[0].read([meter]))[0] == (0, 7 * len(admitted))
        await asyncio.gather(*(stores[i % 2].settle(r.ticket, [5]) for i, r in enumerate(admitted)))
        assert (await stores[1].read([meter]))[0] == (5 * len(admitted), 0)
    finally:
        for store in stores:
            await store.close()


async def test_redis_lease_of_a_vanished_instance_is_charged_and_slots_freed(redis_url: str) -> None:
    dead = OwnRedisCounters(redis_url, lease=0.2)
    alive = OwnRedisCounters(redis_url)
    await dead.open()
    await alive.open()
    spend, slots = "lease:usd:" + os.urandom(4).hex(), "lease:slots:" + os.urandom(4).hex()
    try:
        held = await dead.admit([Claim(spend, 100, 30), Claim(slots, 2, 1, gauge=True)])
        assert held.ok
        dead.open_tickets.clear()          # the instance "dies": nobody renews its lease
        await asyncio.sleep(0.3)
        assert (await alive.admit([Claim(spend, 100, 1)])).ok   # the admission reaps expired leases
        assert await alive.read([spend, slots]) == [(30, 1), (0, 0)], "spend charged at its hold, slot freed"
        assert await dead.settle(held.ticket, [10, 0]) is False, "a reaped ticket is not settled twice"
    finally:
        await dead.close()
        await alive.close()


async def test_redis_leases_are_renewed_while_a_request_runs(redis_url: str) -> None:
    store = OwnRedisCounters(redis_url, lease=0.4)
    await store.open()
    meter = "renew:" + os.urandom(4).hex()
    try:
        held = await store.admit([Claim(meter, 100, 30)])
        for _ in range(4):          # 0.6 s in total, longer than the lease; renewed every 0.1 s
            await asyncio.sleep(0.15)
            await store.admit([Claim("renew:other", 100, 0)])
        assert await store.read([meter]) == [(0, 30)], "still held, not reaped"
        assert await store.settle(held.ticket, [12]) is True
        assert await store.read([meter]) == [(12, 0)]
    finally:
        await store.close()


async def test_journal_persists_spend_and_charges_orphaned_holds(tmp_path: Any) -> None:
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    counters = MemoryCounters()
    journal = CounterJournal(db, counters)
    done = counters.admit_now([Claim("b:key:a:monthly:1", 100, 40, expires=time.time() + 86400)])
    counters.settle_now(done.ticket, [25])
    counters.admit_now([Claim("b:key:a:monthly:1", 100, 10, expires=time.time() + 86400)])   # never settled
    counters.admit_now([Claim("key:a:in_flight", 3, 1, gauge=True)])
    counters.admit_now([Claim("b:key:a:daily:1", 100, 5, expires=time.time() - 7200)])      # long over
    await journal.flush()
    await db.close()

    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    restored = MemoryCounters()
    await CounterJournal(db, restored).load()
    await db.close()
    assert await restored.read(["b:key:a:monthly:1"]) == [(35, 0)], "the crash's hold is charged, not lost"
    assert await restored.read(["key:a:in_flight"]) == [(0, 0)], "in-flight slots are not persisted"
    assert "b:key:a:daily:1" not in restored.meters, "windows that ended are not loaded"


async def test_journal_stop_flushes_and_forgets_expired_counters(tmp_path: Any) -> None:
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    counters = MemoryCounters()
    journal = CounterJournal(db, counters)
    old = counters.admit_now([Claim("old", 10, 1, expires=time.time() - 7200)])
    counters.settle_now(old.ticket, [1])
    counters.admit_now([Claim("new", 10, 0, expires=time.time() + 60)])
    await journal.close()
    assert "old" not in counters.meters
    rows = await db.fetch("SELECT meter FROM gov_counters ORDER BY meter")
    await db.close()
    assert [tuple(row) for row in rows] == [("new",)]


@pytest.mark.parametrize("url", ["sqlite", "postgres"])
async def test_journal_round_trips_on_both_databases(url: str, tmp_path: Any, request: Any) -> None:
    address = f"sqlite:///{tmp_path}/g.db" if url == "sqlite" else request.getfixturevalue("postgres_url")
    db = await connect(address)
    counters = MemoryCounters()
    meter = "pg:" + os.urandom(4).hex()
    ticket = counters.admit_now([Claim(meter, 10**15, 10**14, expires=time.time() + 60)]).ticket
    counters.settle_now(ticket, [123_456_789_012])
    await CounterJournal(db, counters).flush()
    again = MemoryCounters()
    await CounterJournal(db, again).load()
    await db.close()
    assert await again.read([meter]) == [(123_456_789_012, 0)]
