"""Redis tickets cannot live forever: a ticket's lease is renewed only while its attempt is in
flight in this process (the task that took it still runs) and never past `hold_max_age`; past
either, the lease runs out and the next admission charges it at what it held. On a real
redis-server."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bifrost_governance.counters import Claim
from bifrost_governance.redis_counters import LEASES, RedisCounters
from governance_testing import OwnRedisCounters

LEASE = 0.5


async def lease_of(store: RedisCounters, ticket: str) -> float | None:
    score = await store.redis.zscore(LEASES, ticket)
    return None if score is None else float(score)


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 10.0) -> None:
    """Wait for a condition that only the passing of time (a lease running out) can bring."""
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.05)


def meter() -> str:
    return "lease:usd:" + os.urandom(5).hex()


async def test_a_ticket_whose_task_ended_is_not_renewed_and_is_charged_when_its_lease_runs_out(redis_url: str) -> None:
    expired: list[int] = []
    store = OwnRedisCounters(redis_url, lease=LEASE, on_expired=expired.append)
    await store.open()
    budget, other = meter(), meter()
    try:
        async def leaked() -> str:      # an attempt that ends without settling (a bug elsewhere)
            admission = await store.admit([Claim(budget, 1000, 300)], asyncio.current_task())
            assert admission.ticket is not None
            return admission.ticket

        ticket = await asyncio.create_task(leaked())
        running = asyncio.Event()
        finish = asyncio.Event()

        async def in_flight() -> None:  # an attempt still streaming
            admission = await store.admit([Claim(other, 1000, 200)], asyncio.current_task())
            assert admission.ticket is not None
            running.set()
            await finish.wait()
            await store.settle(admission.ticket, [150])

        streaming = asyncio.create_task(in_flight())
        await running.wait()
        await store.renew()
        assert expired == [1], "the ended attempt's hold is counted as expired, once"
        await store.renew()
        assert expired == [1]
        # the leaked ticket's lease runs out; the running one's keeps being renewed
        await until(lambda: _expired_and_reaped(store, ticket))
        assert await store.read([budget, other]) == [(300, 0), (0, 200)], "charged at its hold; the other still held"
        assert await store.settle(ticket, [10]) is False, "a late settlement charges nothing twice"
        finish.set()
        await streaming
        assert await store.read([budget, other]) == [(300, 0), (150, 0)]
    finally:
        await store.close()


async def _expired_and_reaped(store: RedisCounters, ticket: str) -> bool:
    """Renew (as the background round does), then admit something so that expired leases are
    reaped; true once `ticket`'s lease is gone."""
    await store.renew()
    admission = await store.admit([Claim(meter(), 10, 0)])
    assert admission.ticket is not None
    await store.settle(admission.ticket, [0])
    return await lease_of(store, ticket) is None


async def test_no_ticket_is_renewed_past_hold_max_age(redis_url: str) -> None:
    store = OwnRedisCounters(redis_url, lease=LEASE, max_age=0.2)
    await store.open()
    budget = meter()
    try:
        admission = await store.admit([Claim(budget, 1000, 300)], asyncio.current_task())   # this task runs on
        assert admission.ticket is not None
        await store.renew()
        assert await lease_of(store, admission.ticket) is not None, "young: renewed"
        await until(lambda: _expired_and_reaped(store, admission.ticket))   # type: ignore[arg-type]
        assert await store.read([budget]) == [(300, 0)]
    finally:
        await store.close()


async def test_a_clean_close_gives_leaked_holds_back_instead_of_charging_them(redis_url: str) -> None:
    budget = meter()
    store = OwnRedisCounters(redis_url, lease=60.0)
    await store.open()
    admission = await store.admit([Claim(budget, 1000, 300)])
    assert admission.ticket is not None
    await store.close()
    other = OwnRedisCounters(redis_url)
    await other.open()
    try:
        assert await other.read([budget]) == [(0, 0)]
        assert await lease_of(other, admission.ticket) is None
    finally:
        await other.close()


async def test_renewal_of_many_tickets_keeps_all_of_them(redis_url: str) -> None:
    """Renewals go out in chunks: every ticket in flight is renewed, whatever their number."""
    store = OwnRedisCounters(redis_url, lease=60.0)
    await store.open()
    budget = meter()
    try:
        tickets: list[Any] = []
        for _ in range(1200):
            admission = await store.admit([Claim(budget, 10**9, 1)], asyncio.current_task())
            tickets.append(admission.ticket)
        before = time.time()
        await store.renew()
        scores = await store.redis.zmscore(LEASES, tickets)
        assert all(score is not None and float(score) >= before + 59 for score in scores)
        for ticket in tickets:
            await store.settle(ticket, [1])
        assert await store.read([budget]) == [(1200, 0)]
    finally:
        await store.close()
