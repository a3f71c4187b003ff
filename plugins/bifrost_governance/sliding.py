"""Sliding windows of the in-memory counter store (rate limits; counters.py explains them): the
log of one meter, when a refused claim will fit, and how much of a log the journal keeps."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .counters import Claim


def wait_for(claim: Claim, used: int, held: int, entries: Iterable[Sequence[Any]], now: float) -> float:
    """Seconds until enough of a sliding window's entries (oldest first: admitted at, amount,
    pending) have left it for `claim` to fit, assuming nothing else happens. An entry admitted
    at `t` stops counting at `t + window`. Strict: every entry frees its amount; soft: only
    settled ones (holds do not count against a soft claim)."""
    need = used + held + claim.amount - claim.limit if claim.strict else used - claim.limit + 1
    if need <= 0:
        return 0.0
    freed = 0
    for entry in entries:
        if claim.strict or not entry[2]:
            freed += entry[1]
            if freed >= need:
                return max(0.0, entry[0] + claim.window - now)
    return claim.window     # cannot happen while amount <= limit; a full window is then safe


class Window:
    """One sliding-window meter in memory: the log of admissions still inside the window, as
    tuples `(admitted at, amount, pending)` (tuples of numbers: the garbage collector stops
    tracking them, so a long log costs no collector time). Entry number `seq` is at index
    `seq - base`; settling replaces it there (near the recent end: deque indexing is cheap)."""

    __slots__ = ("base", "held", "log", "seconds", "used")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.log: deque[tuple[float, int, bool]] = deque()
        self.base = 0          # the number of entries that slid out
        self.used = 0
        self.held = 0

    def prune(self, now: float) -> None:
        log = self.log
        edge = now - self.seconds
        while log and log[0][0] <= edge:
            _, amount, pending = log.popleft()
            self.base += 1
            if pending:
                self.held -= amount
            else:
                self.used -= amount

    def oldest(self) -> float | None:
        """When the oldest entry that still counts something was admitted."""
        for entry in self.log:
            if entry[1]:
                return entry[0]
        return None


PERSISTED_ENTRIES = 1024


def compact(logged: list[tuple[float, int]], seconds: float) -> list[tuple[float, int]]:
    """At most about PERSISTED_ENTRIES entries of a window's log, for the journal: beyond that,
    entries within 1/PERSISTED_ENTRIES of the window of each other are merged and stamped with
    the latest admission time among them. So a restored window may keep an amount up to
    seconds/PERSISTED_ENTRIES longer than it should, never shorter: never more than the limit."""
    if len(logged) <= PERSISTED_ENTRIES:
        return logged
    width = seconds / PERSISTED_ENTRIES
    merged: list[tuple[float, int]] = []
    bucket = None
    for admitted, amount in logged:
        slot = math.floor(admitted / width)
        if slot == bucket:
            merged[-1] = (admitted, merged[-1][1] + amount)
        else:
            merged.append((admitted, amount))
            bucket = slot
    return merged
