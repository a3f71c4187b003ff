"""What a restart charges, with the counters in memory and their journal in SQLite: a clean stop
charges nothing that was not spent (not even a hold that leaked), a crash charges the holds of
the requests then in flight once and only once. And a hold that outlived its attempt does not
block a budget until the next restart: two sweeps later it is charged at what it held."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bifrost_governance.counters import Claim, MemoryCounters
from bifrost_governance.journal import CounterJournal
from governance_testing import connect

from bifrost_py.storage import Database

BUDGET = "key:a:usd:monthly:0"
WINDOW = "key:a:tok:60s"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def start(db: Database, clock: Clock) -> tuple[MemoryCounters, CounterJournal]:
    counters = MemoryCounters(clock, max_age=3600.0)
    journal = CounterJournal(db, counters)    # flushed by hand: no timer in these tests
    await journal.load()
    return counters, journal


async def state(db: Database, clock: Clock) -> tuple[tuple[int, int], tuple[int, int, float | None]]:
    """What a process started now on this database sees: (used, held) of the budget and the window."""
    counters, _ = await start(db, clock)
    budget = (await counters.read([BUDGET]))[0]
    window = (await counters.read_windows([WINDOW]))[0]
    return budget, window


async def spend(counters: MemoryCounters, clock: Clock, amount: int, actual: int) -> None:
    admission = counters.admit_now([Claim(BUDGET, 1000, amount), Claim(WINDOW, 1000, amount, window=60.0)])
    assert admission.ticket is not None
    clock.now += 1
    counters.settle_now(admission.ticket, [actual, actual])


async def test_a_clean_stop_charges_nothing_extra_not_even_a_leaked_hold(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    try:
        counters, journal = await start(db, clock)
        await spend(counters, clock, 100, 40)
        await journal.flush()                        # the periodic flush sees a hold in flight...
        leaked = counters.admit_now([Claim(BUDGET, 1000, 300), Claim(WINDOW, 1000, 300, window=60.0)])
        assert leaked.ok                             # ...and this one is never settled (a bug)
        await journal.flush()
        await journal.close()                         # SIGTERM: requests are over, this is a leak
        assert await state(db, clock) == ((40, 0), (40, 0, 1000.0))
        # and again: restarting twice changes nothing
        _, journal = await start(db, clock)
        await journal.close()
        assert await state(db, clock) == ((40, 0), (40, 0, 1000.0))
    finally:
        await db.close()


async def test_after_a_crash_the_holds_in_flight_are_charged_once(tmp_path: Path) -> None:
    clock = Clock(1000.0)
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    try:
        counters, journal = await start(db, clock)
        await spend(counters, clock, 100, 40)
        in_flight = counters.admit_now([Claim(BUDGET, 1000, 300), Claim(WINDOW, 1000, 300, window=60.0)])
        assert in_flight.ok
        await journal.flush()
        # SIGKILL: no stop. The next process charges the hold (the provider may have billed it)...
        assert await state(db, clock) == ((340, 0), (340, 0, 1000.0))
        counters, journal = await start(db, clock)
        await journal.flush()
        # ...and crashes too, right after its first flush: still charged once, not twice
        assert await state(db, clock) == ((340, 0), (340, 0, 1000.0))
        counters, journal = await start(db, clock)
        await spend(counters, clock, 10, 10)
        await journal.close()
        assert await state(db, clock) == ((350, 0), (350, 0, 1000.0))
    finally:
        await db.close()


async def ended_task_holds(counters: MemoryCounters, claims: list[Claim]) -> str:
    """A hold taken by a task that then ends without settling it (what a bug would leave)."""

    async def attempt() -> str:
        admission = await counters.admit(claims, asyncio.current_task())
        assert admission.ticket is not None
        return admission.ticket

    return await asyncio.create_task(attempt())


async def test_a_hold_whose_attempt_ended_is_charged_after_two_sweeps_and_only_once() -> None:
    counters = MemoryCounters(Clock(1000.0))
    claims = [Claim(BUDGET, 1000, 300), Claim("key:a:in_flight", 1, 1, gauge=True), Claim(WINDOW, 1000, 300, window=60.0)]
    ticket = await ended_task_holds(counters, claims)
    assert counters.sweep() == 0, "seen stale once: a settlement on its way still gets there first"
    assert counters.settle_now(ticket, [120, 0, 120]) is True
    assert counters.sweep() == 0 and await counters.read([BUDGET, "key:a:in_flight"]) == [(120, 0), (0, 0)]

    ticket = await ended_task_holds(counters, claims)
    assert counters.sweep() == 0
    assert counters.sweep() == 1
    assert await counters.read([BUDGET, "key:a:in_flight", WINDOW]) == [(420, 0), (0, 0), (420, 0)], \
        "charged at its hold; the in-flight slot given back"
    assert counters.settle_now(ticket, [5, 0, 5]) is False, "a late settlement charges nothing twice"
    assert await counters.read([BUDGET]) == [(420, 0)]


async def test_a_hold_of_a_running_attempt_stays_until_hold_max_age() -> None:
    clock = Clock(1000.0)
    counters = MemoryCounters(clock, max_age=600.0)
    admission = await counters.admit([Claim(BUDGET, 1000, 300)], asyncio.current_task())   # this task runs on
    for _ in range(3):
        assert counters.sweep() == 0
    assert await counters.read([BUDGET]) == [(0, 300)]
    clock.now += 601
    assert counters.sweep() == 0
    assert counters.sweep() == 1
    assert await counters.read([BUDGET]) == [(300, 0)]
    assert admission.ticket is not None and counters.settle_now(admission.ticket, [10]) is False


async def test_holds_without_a_task_are_kept_until_hold_max_age() -> None:
    """(Callers outside any task, e.g. a synchronous tool: only the age applies.)"""
    clock = Clock(1000.0)
    counters = MemoryCounters(clock, max_age=60.0)
    counters.admit_now([Claim(BUDGET, 1000, 300)])
    assert counters.sweep() == 0 and counters.sweep() == 0
    clock.now += 61
    assert counters.sweep() == 0 and counters.sweep() == 1
