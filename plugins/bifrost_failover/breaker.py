"""Circuit breakers, one per target (provider, model), so that requests skip a target that keeps
failing instead of paying its timeout each time.

    closed ──N failures within the window──▶ open ──cooldown passed──▶ half-open
      ▲                                        ▲                          │
      └────────── the probe succeeded ─────────┴──── the probe failed ────┘

Half-open lets exactly one request through (the probe); the others keep skipping the target
until the probe's result is in. A success of an attempt sent to an open target on purpose
(because every target was open) closes it too; the plugin reports only such trial successes,
not those of attempts that were already under way when the circuit opened. The clock is
injected so tests need not sleep through cooldowns.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .settings import Circuit

CLOSED = "closed"
HALF_OPEN = "half_open"
OPEN = "open"
STATE_NUMBERS = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

Key = tuple[str, str]  # (provider, model)


@dataclass(slots=True)
class Breaker:
    failures: deque[float] = field(default_factory=deque)
    opened_at: float | None = None
    probe: str | None = None          # request id of the call holding the half-open probe
    last_error: str = ""
    times_opened: int = 0


class BreakerBoard:
    """Every target's breaker. Not thread-safe: one event loop owns it."""

    def __init__(self, circuit: Circuit, clock: Callable[[], float] = time.monotonic) -> None:
        self.circuit = circuit
        self.clock = clock
        self._breakers: dict[Key, Breaker] = {}
        # The targets whose circuit is not closed: while it is empty (nearly always), every
        # target is admitted without looking at its breaker.
        self.opened: set[Key] = set()

    def _get(self, key: Key) -> Breaker:
        breaker = self._breakers.get(key)
        if breaker is None:
            breaker = self._breakers[key] = Breaker()
        return breaker

    def state(self, key: Key) -> str:
        breaker = self._breakers.get(key)
        if breaker is None or breaker.opened_at is None:
            return CLOSED
        if self.clock() - breaker.opened_at < self.circuit.cooldown:
            return OPEN
        return HALF_OPEN

    def retry_in(self, key: Key) -> float:
        """Seconds until an open target lets a probe through (0 unless open)."""
        breaker = self._breakers.get(key)
        if breaker is None or breaker.opened_at is None:
            return 0.0
        return max(0.0, breaker.opened_at + self.circuit.cooldown - self.clock())

    def admits(self, key: Key, holder: str) -> bool:
        """May a request (`holder`, a request id) use this target now? Closed: yes. Open: no.
        Half-open: only while no other request holds the probe."""
        state = self.state(key)
        if state == CLOSED:
            return True
        if state == OPEN:
            return False
        probe = self._get(key).probe
        return probe is None or probe == holder

    def claim_probe(self, key: Key, holder: str) -> bool:
        """An attempt is about to go to a half-open target: it becomes the probe unless another
        request already is. Held until its result is in or `release`."""
        if self.state(key) != HALF_OPEN:
            return False
        breaker = self._get(key)
        if breaker.probe is None:
            breaker.probe = holder
        return breaker.probe == holder

    def record_failure(self, key: Key, reason: str) -> bool:
        """Count a failure; True when this failure opened (or re-opened) the circuit."""
        now = self.clock()
        breaker = self._get(key)
        breaker.last_error = reason
        if breaker.opened_at is not None:
            reopened = self.state(key) == HALF_OPEN
            breaker.opened_at = now
            self.opened.add(key)
            breaker.probe = None
            breaker.times_opened += reopened
            return reopened
        window_start = now - self.circuit.window
        failures = breaker.failures
        failures.append(now)
        while failures and failures[0] < window_start:
            failures.popleft()
        if len(failures) < self.circuit.failures:
            return False
        breaker.opened_at = now
        breaker.times_opened += 1
        failures.clear()
        self.opened.add(key)
        return True

    def record_success(self, key: Key) -> bool:
        """A success; True when it closed an open or half-open circuit."""
        breaker = self._breakers.get(key)
        if breaker is None or breaker.opened_at is None:
            return False
        breaker.opened_at = None
        breaker.probe = None
        breaker.failures.clear()
        self.opened.discard(key)
        return True

    def release(self, holder: str) -> None:
        """The request ended: give back any probe it held without reporting on it."""
        for breaker in self._breakers.values():
            if breaker.probe == holder:
                breaker.probe = None

    def targets(self) -> Iterator[Key]:
        return iter(list(self._breakers))

    def snapshot(self, key: Key) -> dict[str, object]:
        """What the admin API shows for one target."""
        breaker = self._get(key)
        now = self.clock()
        recent = sum(1 for t in breaker.failures if t >= now - self.circuit.window)
        return {
            "state": self.state(key),
            "recent_failures": recent,
            "failures_to_open": self.circuit.failures,
            "retry_in_seconds": round(self.retry_in(key), 1),
            "times_opened": breaker.times_opened,
            "last_error": breaker.last_error,
        }
