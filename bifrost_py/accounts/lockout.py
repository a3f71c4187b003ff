"""Lock-out after repeated failed sign-ins, counted per account and per client address.

Failures older than `window` no longer count, so a lock clears by itself after a while; a
successful sign-in clears its account's count. Counted in this process's memory: with several
workers or instances each counts its own (an attacker gets `attempts` tries per process and
window, still nowhere near a guessing rate).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable

MAX_TRACKED = 100_000  # names and addresses come from callers: the table must not grow with them


class Lockout:
    def __init__(self, attempts: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> float:
        """Seconds until any of `keys` may try again; 0 when none is locked."""
        now = self.clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if times is not None and len(times) >= self.attempts:
                wait = max(wait, times[0] + self.window - now)
        return wait

    def failed(self, *keys: str) -> None:
        now = self.clock()
        if len(self._failures) >= MAX_TRACKED:
            self._forget_old(now)
        for key in keys:
            times = self._failures.setdefault(key, deque(maxlen=self.attempts))
            times.append(now)

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] + self.window <= now:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _forget_old(self, now: float) -> None:
        for key in list(self._failures):
            self._recent(key, now)
        if len(self._failures) >= MAX_TRACKED:  # all recent: drop the oldest half
            for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[: MAX_TRACKED // 2]:
                del self._failures[key]
