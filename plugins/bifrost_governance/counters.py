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

Two implementations share this interface: `MemoryCounters` here (one process; persisted by
write-behind, see journal.py) and `RedisCounters` (several instances, atomic Lua scripts).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple, Protocol

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


class Admission(NamedTuple):
    """The answer to `admit`: a ticket, or which claim did not fit and the meter's state."""

    ticket: str | None
    refused: int = -1
    used: int = 0
    held: int = 0

    @property
    def ok(self) -> bool:
        return self.ticket is not None


class CounterStore(Protocol):
    """What governance needs from a counter store (memory, Redis, or one of your own)."""

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def admit(self, claims: Sequence[Claim]) -> Admission: ...

    async def settle(self, ticket: str, actuals: Sequence[int]) -> bool: ...

    async def read(self, meters: Sequence[str]) -> list[tuple[int, int]]: ...


def fits(claim: Claim, used: int, held: int) -> bool:
    """The admission rule, in one place (the Lua script says the same)."""
    if claim.strict:
        return used + held + claim.amount <= claim.limit
    return used < claim.limit


class MemoryCounters:
    """Counters in this process's memory. Nothing in `admit` or `settle` awaits, so on one event
    loop each runs to completion before any other request can look: that is the atomicity."""

    def __init__(self) -> None:
        self.meters: dict[str, list[int]] = {}       # meter -> [used, held]
        self.expires: dict[str, float] = {}
        self.gauges: set[str] = set()
        self.tickets: dict[str, tuple[Claim, ...]] = {}
        self.dirty: set[str] = set()
        self._ids = itertools.count(1)

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    async def admit(self, claims: Sequence[Claim]) -> Admission:
        return self.admit_now(claims)

    async def settle(self, ticket: str, actuals: Sequence[int]) -> bool:
        return self.settle_now(ticket, actuals)

    async def read(self, meters: Sequence[str]) -> list[tuple[int, int]]:
        return [tuple(self.meters.get(m, (0, 0))) for m in meters]  # type: ignore[misc]

    def admit_now(self, claims: Sequence[Claim]) -> Admission:
        for index, claim in enumerate(claims):
            used, held = self.meters.get(claim.meter, (0, 0))
            if not fits(claim, used, held):
                return Admission(None, index, used, held)
        for claim in claims:
            counter = self.meters.get(claim.meter)
            if counter is None:
                counter = self.meters[claim.meter] = [0, 0]
                self.expires[claim.meter] = claim.expires
                if claim.gauge:
                    self.gauges.add(claim.meter)
            counter[1] += claim.amount
            self.dirty.add(claim.meter)
        ticket = str(next(self._ids))
        self.tickets[ticket] = tuple(claims)
        return Admission(ticket)

    def settle_now(self, ticket: str, actuals: Sequence[int]) -> bool:
        claims = self.tickets.pop(ticket, None)
        if claims is None:
            return False
        for claim, actual in zip(claims, actuals, strict=True):
            counter = self.meters.get(claim.meter)
            if counter is None:       # forgotten after its window ended: nothing to correct
                continue
            counter[1] -= claim.amount
            if not claim.gauge:
                counter[0] += actual
            self.dirty.add(claim.meter)
        return True

    # ------------------------------------------------------------------ persistence

    def restore(self, rows: Sequence[tuple[str, int, int, float]]) -> None:
        """Load persisted counters. Amounts still held belonged to requests of a process that
        died without settling them: the provider may have billed them, so they are charged as
        spent (their worst case) rather than forgotten. A clean shutdown leaves none."""
        for meter, used, held, expires in rows:
            self.meters[meter] = [used + held, 0]
            self.expires[meter] = expires

    def take_dirty(self) -> list[tuple[str, int, int, float]]:
        """Counters changed since the last call, for the write-behind journal."""
        rows = [
            (m, self.meters[m][0], self.meters[m][1], self.expires.get(m, FOREVER))
            for m in self.dirty
            if m in self.meters and m not in self.gauges
        ]
        self.dirty.clear()
        return rows

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
        return gone
