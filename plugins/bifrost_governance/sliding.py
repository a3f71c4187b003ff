"""Sliding windows of the in-memory counter store (rate limits; counters.py explains them): the
log of one meter, when a refused claim will fit, and a window rebuilt from the journal."""

from __future__ import annotations

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
    `seq - base`; settling replaces it there (near the recent end: deque indexing is cheap).
    `changed`: the entry numbers admitted or settled since the journal last wrote them (it
    writes only those, see journal.py); `written_base`: `base` when the journal last removed
    the entries that slid out."""

    __slots__ = ("base", "changed", "held", "log", "seconds", "used", "written_base")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.log: deque[tuple[float, int, bool]] = deque()
        self.base = 0          # the number of entries that slid out
        self.used = 0
        self.held = 0
        self.changed: set[int] = set()
        self.written_base = 0

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

    def last_counted(self, settled_only: bool) -> float | None:
        """When the newest entry that still counts something was admitted (with `settled_only`,
        holds count nothing)."""
        for entry in reversed(self.log):
            if entry[1] and not (settled_only and entry[2]):
                return entry[0]
        return None


def restored(seconds: float, entries: Iterable[Sequence[Any]], edge: float) -> Window:
    """A window rebuilt from the journal's entries `(number, admitted at, amount)` in number
    order, all settled, without those admitted at or before `edge`. A number missing in between
    (never written) comes back as an entry of 0, so that numbers keep matching positions."""
    window = Window(seconds)
    log = window.log
    for seq, admitted, amount in entries:
        if admitted <= edge:
            continue
        if not log:
            window.base = window.written_base = seq
        else:
            while window.base + len(log) < seq:
                log.append((log[-1][0], 0, False))
        log.append((admitted, amount, False))
        window.used += amount
    return window
