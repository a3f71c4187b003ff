"""The counter store: admit a request against every cap at once, settle it when it ends.

A *meter* is one counter of one window (`b:key:dev-pranay:monthly:1764547200`): what was `used`
(settled) and what is `held` (reserved by requests still running). A request brings one `Claim`
per meter that applies to it; `admit` checks all of them and, only if every one fits, holds each
claim's amount, atomically, and hands back a ticket. `settle(ticket, actuals)` releases what was
held and adds what was really used. A ticket settles exactly once; settling it again does nothing.

    strict claim   fits while  used + held + amount <= limit   (never overshoots)
    soft claim     fits while  used < limit                    (what other gateways do)

Amounts are integers: nano-USD for money, tokens, requests, in-flight slots. Integers make the
arithmetic exact in Python and in Redis' Lua alike.

Budgets use *fixed* windows: the meter's name carries the window's start, and a new window is a
new meter. Rate limits use *sliding* windows (`Claim.window` > 0, one meter per limit): the meter
keeps a log of admissions `(admitted at, amount, pending)` in time order; an entry counts while
`admitted at > now - window`. Holds are entries too (pending), so at any moment

    used + held = the amounts of everything admitted in the last `window` seconds

(released attempts count 0, settled ones what they really used). The admission rule above is
applied to these sums, so in ANY interval of length `window` the requests admitted (and, with
actuals no larger than their holds, the tokens) never exceed the limit. A refusal says exactly
when enough of the log will have slid out for the claim to fit (`Admission.retry_after`).
The log is a deque pruned from the front: amortised O(1) per admission.

Two implementations share this interface: `MemoryCounters` here (one process; persisted by
write-behind, see journal.py) and `RedisCounters` (several instances, atomic Lua scripts).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from .liveness import Owner, over
from .sliding import Window, restored, wait_for

FOREVER = math.inf
# Counters outlive their window by this much, so that a request admitted just before the window
# ended still finds its counter when it settles.
GRACE = 3600.0


class Claim(NamedTuple):
    """What one request asks of one meter. (A NamedTuple: several are built per request, and a
    frozen dataclass costs four times as much to construct.)"""

    meter: str
    limit: int
    amount: int
    strict: bool = True
    expires: float = FOREVER    # end of the meter's window (Unix time); kept GRACE longer
    gauge: bool = False         # an in-flight count (max_concurrent): never charged, not persisted
    window: float = 0.0         # > 0: a sliding window of this many seconds (rate limits)


class WindowChanges(NamedTuple):
    """What the journal writes of one sliding window (MemoryCounters.take_dirty_windows)."""

    meter: str
    seconds: float
    entries: list[tuple[int, float, int]]   # (number, admitted at, amount)
    below: int | None                       # entries numbered below this slid out
    expires: float                          # when the newest entry that counts stops counting


class Admission(NamedTuple):
    """The answer to `admit`: a ticket, or which claim did not fit and the meter's state."""

    ticket: str | None
    refused: int = -1
    used: int = 0
    held: int = 0
    retry_after: float = 0.0    # sliding windows: seconds until the refused claim would fit

    @property
    def ok(self) -> bool:
        return self.ticket is not None


class CounterStore(Protocol):
    """What governance needs from a counter store (memory, Redis, or one of your own)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def admit(self, claims: Sequence[Claim], owner: Owner = None) -> Admission:
        """`owner`: the task of the attempt; once it has ended, the hold is no longer in flight
        (liveness.py)."""
        ...

    async def settle(self, ticket: str, actuals: Sequence[int]) -> bool: ...

    async def read(self, meters: Sequence[str]) -> list[tuple[int, int]]: ...

    async def read_windows(self, meters: Sequence[str]) -> list[tuple[int, int, float | None]]:
        """(used, held, admission time of the oldest entry still counted, or None) per meter;
        for a fixed-window meter the third value is None."""
        ...


def fits(claim: Claim, used: int, held: int) -> bool:
    """The admission rule, in one place (the Lua script says the same)."""
    if claim.strict:
        return used + held + claim.amount <= claim.limit
    return used < claim.limit


_ZERO = (0, 0)
_new = tuple.__new__


class MemoryCounters:
    """Counters in this process's memory. Nothing in `admit` or `settle` awaits, so on one event
    loop each runs to completion before any other request can look: that is the atomicity.
    `clock` is the time sliding windows are measured with (tests pass their own)."""

    def __init__(self, clock: Callable[[], float] = time.time, *, max_age: float = 3600.0) -> None:
        self.meters: dict[str, list[int]] = {}       # meter -> [used, held] (fixed windows)
        self.windows: dict[str, Window] = {}         # meter -> sliding window
        self.expires: dict[str, float] = {}
        self.gauges: set[str] = set()
        # ticket -> (claims, None or (window, entry number) of each sliding claim, owner task,
        # admitted at)
        self.tickets: dict[str, tuple[tuple[Claim, ...], list[Any] | None, Owner, float]] = {}
        self.max_age = max_age
        self.stale: set[str] = set()     # tickets the last sweep found no longer in flight
        self.dirty: set[str] = set()
        self.dirty_windows: set[str] = set()
        self.clock = clock
        self._ids = itertools.count(1)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def admit(self, claims: Sequence[Claim], owner: Owner = None) -> Admission:
        return self.admit_now(claims, owner)

    async def settle(self, ticket: str, actuals: Sequence[int]) -> bool:
        return self.settle_now(ticket, actuals)

    async def read(self, meters: Sequence[str]) -> list[tuple[int, int]]:
        return [(used, held) for used, held, _ in await self.read_windows(meters)]

    async def read_windows(self, meters: Sequence[str]) -> list[tuple[int, int, float | None]]:
        now = self.clock()
        rows: list[tuple[int, int, float | None]] = []
        for meter in meters:
            window = self.windows.get(meter)
            if window is not None:
                window.prune(now)
                rows.append((window.used, window.held, window.oldest()))
            else:
                used, held = self.meters.get(meter, _ZERO)
                rows.append((used, held, None))
        return rows

    def _state(self, claim: Claim, now: float) -> tuple[int, int, Window | None]:
        if not claim.window:
            used, held = self.meters.get(claim.meter, _ZERO)
            return used, held, None
        window = self.windows.get(claim.meter)
        if window is None:
            return 0, 0, None
        log = window.log
        if log and log[0][0] <= now - window.seconds:
            window.prune(now)
        return window.used, window.held, window

    def admit_now(self, claims: Sequence[Claim], owner: Owner = None) -> Admission:
        now = self.clock()
        windows = self.windows
        meters = self.meters
        for index, claim in enumerate(claims):       # (the hot path: _state inlined)
            if claim.window:
                window = windows.get(claim.meter)
                if window is None:
                    used = held = 0
                else:
                    log = window.log
                    if log and log[0][0] <= now - window.seconds:
                        window.prune(now)
                    used, held = window.used, window.held
            else:
                used, held = meters.get(claim.meter, _ZERO)
            if not (used + held + claim.amount <= claim.limit if claim.strict else used < claim.limit):
                return self._refuse(claims, index, used, held, now)
        entries: list[Any] | None = None
        for index, claim in enumerate(claims):
            if claim.window:
                window = windows.get(claim.meter)
                if window is None:
                    window = windows[claim.meter] = Window(claim.window)
                log = window.log
                if entries is None:
                    entries = [None] * len(claims)
                seq = window.base + len(log)
                entries[index] = (window, seq)
                window.changed.add(seq)
                # Kept in time order even if the clock stepped back: later, never sooner.
                log.append((now if not log or log[-1][0] <= now else log[-1][0], claim.amount, True))
                window.held += claim.amount
                self.dirty_windows.add(claim.meter)
                continue
            counter = meters.get(claim.meter)
            if counter is None:
                counter = meters[claim.meter] = [0, 0]
                self.expires[claim.meter] = claim.expires
                if claim.gauge:
                    self.gauges.add(claim.meter)
            counter[1] += claim.amount
            self.dirty.add(claim.meter)
        ticket = str(next(self._ids))
        self.tickets[ticket] = (tuple(claims), entries, owner, now)
        return _new(Admission, (ticket, -1, 0, 0, 0.0))   # Admission(ticket), without its Python __new__

    def _refuse(self, claims: Sequence[Claim], refused: int, used: int, held: int, now: float) -> Admission:
        """Claim `refused` does not fit. retry_after: when every sliding claim of the request
        that does not fit now will fit (if nothing else happens)."""
        wait = 0.0
        for claim in claims:
            if not claim.window:
                continue
            u, h, window = self._state(claim, now)
            if not fits(claim, u, h):
                wait = max(wait, claim.window if window is None else wait_for(claim, u, h, window.log, now))
        return Admission(None, refused, used, held, wait)

    def keep_until(self, meter: str, expires: float) -> None:
        """Move a meter's expiry later (a session's: `forget_after` past its last request). The
        Redis store does it in its admission script (EXPIREAT on every admission)."""
        if expires > self.expires.get(meter, expires):
            self.expires[meter] = expires
            self.dirty.add(meter)

    def settle_now(self, ticket: str, actuals: Sequence[int]) -> bool:
        found = self.tickets.pop(ticket, None)
        if found is None:
            return False
        claims, entries, _, _ = found
        for index, (claim, actual) in enumerate(zip(claims, actuals, strict=True)):
            if entries is not None and (entry := entries[index]) is not None:
                window, seq = entry
                at = seq - window.base
                if at >= 0:               # still inside the window (else it stopped counting)
                    log = window.log
                    log[at] = (log[at][0], actual, False)
                    window.held -= claim.amount
                    window.used += actual
                    window.changed.add(seq)
                    self.dirty_windows.add(claim.meter)
                continue
            counter = self.meters.get(claim.meter)
            if counter is None:       # forgotten after its window ended: nothing to correct
                continue
            counter[1] -= claim.amount
            if not claim.gauge:
                counter[0] += actual
            self.dirty.add(claim.meter)
        return True

    def sweep(self) -> int:
        """Settle, at the amounts they hold, the tickets found no longer in flight by this sweep
        and the one before (liveness.py); returns how many."""
        now = self.clock()
        stale = {t for t, (_, _, task, admitted) in self.tickets.items() if over(task, admitted, now, self.max_age)}
        expired = stale & self.stale
        for ticket in expired:
            self.settle_now(ticket, [claim.amount for claim in self.tickets[ticket][0]])
        self.stale = stale - expired
        return len(expired)

    # ------------------------------------------------------------------ persistence

    def restore(self, rows: Sequence[tuple[str, int, int, float]]) -> None:
        """Load persisted counters. Amounts still held belonged to requests of a process that
        died without settling them: the provider may have billed them, so they are charged as
        spent (their worst case) rather than forgotten. A clean shutdown leaves none."""
        for meter, used, held, expires in rows:
            self.meters[meter] = [used + held, 0]
            self.expires[meter] = expires
            if held:
                self.dirty.add(meter)     # the record says so too at the next flush: charged once

    def restore_windows(self, rows: Sequence[tuple[str, float, Sequence[tuple[int, float, int]], bool]]) -> None:
        """Load persisted sliding windows: (meter, seconds, [(number, admitted at, amount), ...]
        in number order, written). Every entry comes back settled (a hold of a crashed process
        is charged). `written` False (a log of the old journal format): the next take writes
        every entry."""
        edge = self.clock()
        for meter, seconds, logged, written in rows:
            window = restored(seconds, logged, edge - seconds)
            if not written:
                window.changed.update(range(window.base, window.base + len(window.log)))
                self.dirty_windows.add(meter)
            self.windows[meter] = window

    def take_dirty_windows(self, settled_only: bool = False) -> list[WindowChanges]:
        """What changed in the sliding windows since the last call, for the journal: per window
        the entries admitted or settled since (holds at their amount, or 0 with `settled_only`,
        which also takes every entry still held), and the entry number below which entries
        slid out (None: none since). Cost: what changed, not the length of the logs."""
        rows = []
        for meter in self.dirty_windows:
            window = self.windows.get(meter)
            if window is None:
                continue
            if settled_only:
                window.changed.update(window.base + i for i, entry in enumerate(window.log) if entry[2])
            log, base = window.log, window.base
            entries = []
            for seq in window.changed:
                at = seq - base
                if at >= 0:       # (else it slid out: removed with the rest below `base`)
                    admitted, amount, pending = log[at]
                    entries.append((seq, admitted, 0 if settled_only and pending else amount))
            window.changed = set()
            below = None
            if base > window.written_base:
                below, window.written_base = base, base
            last = window.last_counted(settled_only)
            rows.append(WindowChanges(meter, window.seconds, entries, below,
                                      0.0 if last is None else last + window.seconds))
        self.dirty_windows.clear()
        return rows

    def untake_windows(self, rows: Sequence[WindowChanges]) -> None:
        """The journal could not write what `take_dirty_windows` gave it: take it again next time."""
        for row in rows:
            window = self.windows.get(row.meter)
            if window is None:
                continue
            window.changed.update(seq for seq, _, _ in row.entries)
            if row.below is not None:
                window.written_base = min(window.written_base, row.below - 1)
            self.dirty_windows.add(row.meter)

    def take_dirty(self, settled_only: bool = False) -> list[tuple[str, int, int, float]]:
        """Counters changed since the last call, for the write-behind journal; with
        `settled_only`, as if nothing were held."""
        rows = [
            (m, self.meters[m][0], 0 if settled_only else self.meters[m][1], self.expires.get(m, FOREVER))
            for m in self.dirty
            if m in self.meters and m not in self.gauges
        ]
        self.dirty.clear()
        return rows

    def mark_held(self) -> None:
        """Mark dirty every counter and window that holds something, so that the next take
        writes them (a clean shutdown writes them without their holds)."""
        self.dirty.update(m for m, (_, held) in self.meters.items() if held and m not in self.gauges)
        self.dirty_windows.update(m for m, window in self.windows.items() if window.held)

    def forget_expired(self, now: float) -> list[str]:
        """Drop counters whose window ended long ago and that nothing holds any more."""
        gone = [
            m for m, until in self.expires.items() if until + GRACE < now and self.meters.get(m, (0, 0))[1] == 0
        ]
        for meter in gone:
            self.meters.pop(meter, None)
            self.expires.pop(meter, None)
            self.gauges.discard(meter)
            self.dirty.discard(meter)
        empty = []
        for meter, window in self.windows.items():
            window.prune(now)
            if not window.log:       # nothing admitted in the last window, nothing pending
                empty.append(meter)
        for meter in empty:
            del self.windows[meter]
            self.dirty_windows.discard(meter)
        return gone + empty
