"""Sliding rate-limit windows: for any interleaving of admissions, settlements, releases and clock
advances, what was admitted within ANY interval of one window's length never exceeds the limit,
every hold is released exactly once, and the retry-after of a refusal is exact (the claim fits
at now + retry_after, not one second earlier). Checked against MemoryCounters and against
RedisCounters on a real redis-server (also two instances sharing it), with a fake clock."""

from __future__ import annotations

import asyncio
import math
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


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass(frozen=True)
class Meter:
    limit: int
    window: float        # 0: a fixed (budget-like) meter, for mixing the two in one admission
    strict: bool = True


METERS = [
    Meter(5, 60.0),             # requests: 5 a minute
    Meter(100, 60.0),           # tokens: 100 a minute
    Meter(30, 10.0),            # tokens: 30 per 10 s
    Meter(40, 20.0, False),     # soft: spend < limit (holds do not count)
    Meter(10**6, 0.0),          # a budget
]
STEPS = [0.0, 0.5, 1.0, 2.0, 5.0, 9.5, 10.0, 20.0, 30.0, 59.0, 59.5, 60.0, 61.0]


@dataclass
class Entry:
    at: float
    amount: int
    pending: bool = True


@dataclass
class Model:
    """What the store must say, computed the obvious way from the whole history."""

    now: float
    log: list[list[Entry]] = field(default_factory=lambda: [[] for _ in METERS])
    fixed: list[list[int]] = field(default_factory=lambda: [[0, 0] for _ in METERS])

    def counted(self, m: int) -> list[Entry]:
        window = METERS[m].window
        return [e for e in self.log[m] if e.at > self.now - window]

    def state(self, m: int) -> tuple[int, int]:
        if not METERS[m].window:
            return self.fixed[m][0], self.fixed[m][1]
        counted = self.counted(m)
        return sum(e.amount for e in counted if not e.pending), sum(e.amount for e in counted if e.pending)

    def fits(self, m: int, amount: int) -> bool:
        used, held = self.state(m)
        meter = METERS[m]
        return used + held + amount <= meter.limit if meter.strict else used < meter.limit

    def wait(self, m: int, amount: int) -> float:
        """The brute-force answer: the earliest entry time t + window after which it fits."""
        meter = METERS[m]
        for entry in self.counted(m):
            later = entry.at + meter.window
            saved, self.now = self.now, later
            ok = self.fits(m, amount)
            self.now = saved
            if ok:
                return later - self.now
        raise AssertionError("never fits")


@st.composite
def operations(draw: Any) -> list[tuple[Any, ...]]:
    ops: list[tuple[Any, ...]] = []
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.sampled_from(["admit", "admit", "admit", "settle", "settle", "again", "advance"]))
        if kind == "admit":
            meters = draw(st.lists(st.integers(0, len(METERS) - 1), min_size=1, max_size=3, unique=True))
            # Claims never exceed their limit (enforcement.py caps a token claim at the limit).
            amounts = [1 if m == 0 else draw(st.integers(0, min(35, METERS[m].limit))) for m in meters]
            ops.append(("admit", meters, amounts, draw(st.floats(0, 1)), draw(st.booleans())))
        elif kind == "advance":
            ops.append(("advance", draw(st.sampled_from(STEPS))))
        else:
            ops.append((kind, draw(st.integers(0, 1000))))
    return ops


async def check_state(store: CounterStore, model: Model, names: list[str]) -> None:
    rows = await store.read_windows(names)
    for m, (used, held, oldest) in enumerate(rows):
        assert (used, held) == model.state(m), f"meter {m}"
        if METERS[m].window:
            counted = [e.at for e in model.counted(m) if e.amount]
            assert oldest == (counted[0] if counted else None)


def check_intervals(model: Model) -> None:
    """In any interval [t, t + window), what was admitted (held, or settled at no more than
    was held) stays within the limit. The worst intervals start at an admission."""
    for m, meter in enumerate(METERS):
        if not meter.window or not meter.strict:
            continue
        entries = model.log[m]
        for first in entries:
            inside = sum(e.amount for e in entries if first.at <= e.at < first.at + meter.window)
            assert inside <= meter.limit, f"meter {m}: {inside} in one window of {meter.window}s"


async def run(stores: list[CounterStore], clock: Clock, ops: list[tuple[Any, ...]], prefix: str) -> None:
    model = Model(clock.now)
    names = [f"{prefix}:m{i}" for i in range(len(METERS))]
    pending: list[tuple[str, int, list[int], list[int], list[Entry | None], list[int]]] = []
    settled: list[tuple[str, int]] = []

    def claims_of(meters: list[int], amounts: list[int]) -> list[Claim]:
        return [Claim(names[m], METERS[m].limit, a, METERS[m].strict, window=METERS[m].window)
                for m, a in zip(meters, amounts)]

    async def admit(which: int, meters: list[int], amounts: list[int], fraction: float) -> Any:
        expected = all(model.fits(m, a) for m, a in zip(meters, amounts))
        admission = await stores[which].admit(claims_of(meters, amounts))
        assert admission.ok == expected
        if admission.ok:
            entries: list[Entry | None] = []
            for m, a in zip(meters, amounts):
                if METERS[m].window:
                    entry = Entry(clock.now, a)
                    model.log[m].append(entry)
                    entries.append(entry)
                else:
                    model.fixed[m][1] += a
                    entries.append(None)
            # Settled at no more than was held (a released attempt: 0; requests: 0 or 1).
            actuals = [int(a * fraction) for a in amounts]
            pending.append((admission.ticket, which, meters, amounts, entries, actuals))
        else:
            first = next(i for i, (m, a) in enumerate(zip(meters, amounts)) if not model.fits(m, a))
            assert admission.refused == first
            assert (admission.used, admission.held) == model.state(meters[first])
        return admission

    for number, op in enumerate(ops):
        which = number % len(stores)
        if op[0] == "admit":
            _, meters, amounts, fraction, retry = op
            admission = await admit(which, meters, amounts, fraction)
            failing = [(m, a) for m, a in zip(meters, amounts) if not model.fits(m, a)]
            if not admission.ok and all(METERS[m].window for m, _ in failing):
                exact = max(model.wait(m, a) for m, a in failing)
                assert admission.retry_after == pytest.approx(exact, abs=1e-6)
                if retry:       # nothing else happens: one second early fails, on time fits
                    header = max(1, math.ceil(admission.retry_after))
                    start = clock.now
                    if header > 1:
                        clock.now = model.now = start + header - 1
                        assert not (await admit(which, meters, amounts, fraction)).ok, "fits a second early"
                    clock.now = model.now = start + header
                    assert (await admit(which, meters, amounts, fraction)).ok, "does not fit at retry-after"
        elif op[0] == "settle" and pending:
            ticket, owner, meters, amounts, entries, actuals = pending.pop(op[1] % len(pending))
            # Settled through either instance: the ticket lives in the shared store.
            assert await stores[(owner + op[1]) % len(stores)].settle(ticket, actuals) is True
            settle_model(model, meters, amounts, entries, actuals)
            settled.append((ticket, owner))
        elif op[0] == "again" and settled:
            ticket, owner = settled[op[1] % len(settled)]
            assert await stores[owner].settle(ticket, [0] * 3) is False, "a ticket settles exactly once"
        elif op[0] == "advance":
            clock.now += op[1]
            model.now = clock.now
        await check_state(stores[which], model, names)
        check_intervals(model)
    for ticket, owner, meters, amounts, entries, actuals in pending:
        assert await stores[owner].settle(ticket, actuals) is True
        settle_model(model, meters, amounts, entries, actuals)
    check_intervals(model)
    await check_state(stores[0], model, names)
    rows = await stores[0].read_windows(names)
    assert all(held == 0 for _, held, _ in rows), "every hold was released"


def settle_model(model: Model, meters: list[int], amounts: list[int], entries: list[Entry | None],
                 actuals: list[int]) -> None:
    for m, amount, entry, actual in zip(meters, amounts, entries, actuals):
        if entry is not None:
            entry.amount, entry.pending = actual, False
        else:
            model.fixed[m][0] += actual
            model.fixed[m][1] -= amount


@settings(max_examples=400, deadline=None)
@given(ops=operations())
async def test_memory_sliding_windows(ops: list[tuple[Any, ...]]) -> None:
    clock = Clock()
    await run([MemoryCounters(clock)], clock, ops, "t")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations())
async def test_redis_sliding_windows_two_instances(redis_url: str, ops: list[tuple[Any, ...]]) -> None:
    clock = Clock()
    stores = [OwnRedisCounters(redis_url, clock=clock), OwnRedisCounters(redis_url, clock=clock)]
    for store in stores:
        await store.open()
    try:
        await run(stores, clock, ops, "slide:" + os.urandom(6).hex())   # type: ignore[arg-type]
    finally:
        for store in stores:
            await store.close()


# ----------------------------------------------------------------------------- the boundary burst


async def boundary_burst(store: CounterStore, clock: Clock, meter: str) -> None:
    """Limit 5 a minute: 5 at 0:59, the 6th at 1:01 is refused (a fixed clock-minute window would
    have let 5 more in), with retry-after 58: at 1:58 it still does not fit, at 1:59 it does."""
    claim = Claim(meter, 5, 1, window=60.0)
    clock.now = 60 * 28_000_000 + 59.0     # 0:59 of some clock minute
    for _ in range(5):
        assert (await store.admit([claim])).ok
    clock.now += 2                          # 1:01, a new clock minute
    refused = await store.admit([claim])
    assert not refused.ok and (refused.used, refused.held) == (0, 5)
    assert refused.retry_after == pytest.approx(58.0)
    clock.now += 57                         # 1:58
    assert not (await store.admit([claim])).ok
    clock.now += 1                          # 1:59: the burst of 0:59 slid out
    admitted = [await store.admit([claim]) for _ in range(6)]
    assert [a.ok for a in admitted] == [True] * 5 + [False]
    assert admitted[-1].retry_after == pytest.approx(60.0)


async def test_boundary_burst_in_memory() -> None:
    clock = Clock()
    await boundary_burst(MemoryCounters(clock), clock, "burst")


async def test_boundary_burst_in_redis(redis_url: str) -> None:
    clock = Clock()
    store = OwnRedisCounters(redis_url, clock=clock)
    await store.open()
    try:
        await boundary_burst(store, clock, "burst:" + os.urandom(6).hex())
    finally:
        await store.close()


async def test_tokens_slide_out_as_they_were_admitted_and_settle_adjusts_them() -> None:
    clock = Clock(1000.0)
    store = MemoryCounters(clock)
    claim = Claim("tok", 100, 60, window=60.0)
    first = await store.admit([claim])                 # t=1000: holds 60
    clock.now = 1010.0
    assert not (await store.admit([claim])).ok, "60 held + 60 > 100"
    assert await store.settle(first.ticket, [25])      # it really used 25
    second = await store.admit([claim])                # t=1010: 25 used + 60 held
    assert second.ok
    clock.now = 1020.0
    refused = await store.admit([Claim("tok", 100, 40, window=60.0)])
    assert not refused.ok and refused.retry_after == pytest.approx(40.0), "until the 25 of t=1000 slide out"
    failed = await store.admit([Claim("tok", 100, 15, window=60.0)])
    assert failed.ok
    assert await store.settle(failed.ticket, [0])       # a failed attempt releases its hold
    assert await store.settle(failed.ticket, [0]) is False
    assert await store.read_windows(["tok"]) == [(25, 60, 1000.0)]
    clock.now = 1060.0
    assert await store.read_windows(["tok"]) == [(0, 60, 1010.0)]
    assert (await store.admit([Claim("tok", 100, 40, window=60.0)])).ok


async def test_a_hold_older_than_the_window_stops_counting_and_settles_once() -> None:
    clock = Clock(1000.0)
    store = MemoryCounters(clock)
    long_stream = await store.admit([Claim("req", 1, 1, window=60.0)])
    clock.now = 1061.0
    assert await store.read_windows(["req"]) == [(0, 0, None)], "admitted more than a window ago"
    assert (await store.admit([Claim("req", 1, 1, window=60.0)])).ok
    assert await store.settle(long_stream.ticket, [1]) is True
    assert await store.read_windows(["req"]) == [(0, 1, 1061.0)], "the old one is not charged into this window"


async def test_redis_windows_use_redis_time_and_expire_with_the_window(redis_url: str) -> None:
    """Without a clock of its own, the store measures windows with Redis' TIME; the keys of a
    window expire one to two windows after its last admission."""
    store = OwnRedisCounters(redis_url)
    await store.open()
    meter = "ttl:" + os.urandom(6).hex()
    try:
        claim = Claim(meter, 2, 1, window=2.0)
        tickets = [(await store.admit([claim])).ticket for _ in range(2)]
        refused = await store.admit([claim])
        assert not refused.ok and 1.5 < refused.retry_after <= 2.0
        used, held, oldest = (await store.read_windows([meter]))[0]
        assert (used, held) == (0, 2) and oldest is not None and abs(oldest - time.time()) < 5
        assert 0 < await store.redis.pttl(f"{{bfgov}}:{store.gen}:w:" + meter) <= 4000
        assert 0 < await store.redis.pttl(f"{{bfgov}}:{store.gen}:m:" + meter) <= 4000
        await store.settle(tickets[0], [1])
        await store.settle(tickets[1], [0])
        assert (await store.read([meter])) == [(1, 0)]
        await asyncio.sleep(refused.retry_after + 0.05)
        assert (await store.admit([claim])).ok
    finally:
        await store.close()


async def test_redis_lease_of_a_vanished_instance_charges_its_window_entries(redis_url: str) -> None:
    clock = Clock(5000.0)
    dead = OwnRedisCounters(redis_url, lease=0.2, clock=clock)
    alive = OwnRedisCounters(redis_url, clock=clock)
    await dead.open()
    await alive.open()
    meter = "lease:tok:" + os.urandom(4).hex()
    try:
        held = await dead.admit([Claim(meter, 100, 30, window=60.0)])
        assert held.ok
        dead.open_tickets.clear()
        await asyncio.sleep(0.3)
        assert (await alive.admit([Claim(meter, 100, 1, window=60.0)])).ok   # reaps the lease
        assert await alive.read_windows([meter]) == [(30, 1, 5000.0)], "charged at its hold, still dated 5000"
        assert await dead.settle(held.ticket, [10]) is False
        clock.now = 5060.0
        assert await alive.read_windows([meter]) == [(0, 0, None)]
    finally:
        await dead.close()
        await alive.close()


# ----------------------------------------------------------------------------- persistence


async def test_journal_keeps_sliding_windows_across_a_restart(tmp_path: Any) -> None:
    clock = Clock(time.time())
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    counters = MemoryCounters(clock)
    claim = Claim("key:a:req:60s", 3, 1, window=60.0)
    start = clock.now
    done = counters.admit_now([claim])
    counters.settle_now(done.ticket, [1])
    clock.now = start + 30
    counters.admit_now([claim])                     # in flight when the process dies
    released = counters.admit_now([claim])
    counters.settle_now(released.ticket, [0])       # failed: counts nothing
    await CounterJournal(db, counters).flush()
    await db.close()

    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    restored = MemoryCounters(clock)
    await CounterJournal(db, restored).load()
    assert await restored.read_windows(["key:a:req:60s"]) == [(2, 0, start)], "the crash's hold is charged"
    refused = restored.admit_now([claim._replace(amount=2)])
    assert not refused.ok and refused.retry_after == pytest.approx(30.0), "the entry of `start` slides out first"
    clock.now = start + 60
    journal = CounterJournal(db, restored)
    await journal.flush()
    assert await restored.read_windows(["key:a:req:60s"]) == [(1, 0, start + 30)]
    clock.now = start + 90
    restored.forget_expired(clock.now)
    assert "key:a:req:60s" not in restored.windows
    await db.close()


async def test_the_journal_writes_what_changed_and_removes_what_slid_out(tmp_path: Any) -> None:
    clock = Clock(1000.0)
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    counters = MemoryCounters(clock)
    journal = CounterJournal(db, counters)
    claim = Claim("key:a:req:60s", 1000, 2, window=60.0)
    for _ in range(40):                               # one admission a second, settled at 1
        counters.settle_now(counters.admit_now([claim]).ticket or "", [1])
        clock.now += 1
    await journal.flush()
    assert len(counters.take_dirty_windows()) == 0, "nothing changed since"
    in_flight = counters.admit_now([claim])
    taken = counters.take_dirty_windows()
    assert [row.entries for row in taken] == [[(40, 1040.0, 2)]], "only the new entry, at its hold"
    counters.untake_windows(taken)                     # a failed write: taken again next time
    clock.now = 1070.0                                 # the first 11 entries slid out
    assert await counters.read_windows([claim.meter]) == [(29, 2, 1011.0)]
    await journal.flush()
    assert await db.fetchval("SELECT count(*) FROM gov_window_entries") == 30, "29 settled + 1 held"
    assert await db.fetchval("SELECT min(seq) FROM gov_window_entries") == 11

    restored = MemoryCounters(clock)                   # a crash: the hold is charged
    await CounterJournal(db, restored).load()
    assert await restored.read_windows([claim.meter]) == [(31, 0, 1011.0)]
    assert restored.admit_now([claim]).ok
    assert [row.entries for row in restored.take_dirty_windows()] == [[(41, 1070.0, 2)]], "numbers go on"
    counters.settle_now(in_flight.ticket or "", [0])
    await db.close()


async def test_a_window_in_the_old_journal_format_is_read_and_written_as_entries(tmp_path: Any) -> None:
    clock = Clock(1000.0)
    db = await connect(f"sqlite:///{tmp_path}/gov.db")
    await db.execute("INSERT INTO gov_windows (meter, seconds, entries, expires) VALUES (?, ?, ?, ?)",
                     "key:a:req:60s", 60.0, "[[930.0, 5], [950.0, 1], [990.0, 2]]", 1050.0)
    counters = MemoryCounters(clock)
    journal = CounterJournal(db, counters)
    await journal.load()
    assert await counters.read_windows(["key:a:req:60s"]) == [(3, 0, 950.0)], "what slid out is not loaded"
    await journal.flush()
    assert await db.fetchval("SELECT entries FROM gov_windows") == "[]"
    again = MemoryCounters(clock)
    await CounterJournal(db, again).load()
    assert await again.read_windows(["key:a:req:60s"]) == [(3, 0, 950.0)], "and read back from its entries"
    await db.close()


JOURNAL_STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("admit"), st.integers(1, 5)),
        st.tuples(st.just("settle"), st.integers(0, 20), st.integers(0, 5)),
        st.tuples(st.just("advance"), st.floats(0.0, 25.0)),
        st.tuples(st.just("flush")),
        st.tuples(st.just("crash")),
        st.tuples(st.just("stop")),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=JOURNAL_STEPS)
def test_a_restart_after_a_flush_finds_each_window_as_it_was(tmp_path_factory: Any, steps: list[Any]) -> None:
    """Any admissions, settlements, clock steps and restarts: a process that crashes right after
    a flush comes back with each window's admissions counted (holds charged at their amount) and
    dated as before; one stopped cleanly comes back without its holds."""
    asyncio.run(_journal_run(str(tmp_path_factory.mktemp("journal")), steps))


async def _journal_run(directory: str, steps: list[Any]) -> None:
    clock = Clock(1000.0)
    meter = "key:a:tok:60s"
    db = await connect(f"sqlite:///{directory}/gov.db")
    try:
        counters = MemoryCounters(clock)
        journal = CounterJournal(db, counters)
        tickets: list[tuple[str, int]] = []
        for step in steps:
            if step[0] == "admit":
                admission = counters.admit_now([Claim(meter, 10**9, step[1], window=60.0)])
                assert admission.ticket is not None
                tickets.append((admission.ticket, step[1]))
            elif step[0] == "settle" and tickets:
                ticket, amount = tickets.pop(step[1] % len(tickets))
                counters.settle_now(ticket, [min(step[2], amount)])
            elif step[0] == "advance":
                clock.now += step[1]
            elif step[0] == "flush":
                await journal.flush()
            elif step[0] in ("crash", "stop"):
                used, held, oldest = (await counters.read_windows([meter]))[0]
                if step[0] == "crash":
                    await journal.flush()
                    expected = (used + held, 0, oldest)
                else:
                    await journal.close()
                    window = counters.windows.get(meter)
                    settled = [e for e in window.log if not e[2] and e[1]] if window is not None else []
                    expected = (used, 0, settled[0][0] if settled else None)
                counters = MemoryCounters(clock)
                journal = CounterJournal(db, counters)
                await journal.load()
                tickets = []
                assert (await counters.read_windows([meter]))[0] == expected
    finally:
        await db.close()
