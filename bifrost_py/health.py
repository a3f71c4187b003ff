"""Provider health: what a failover plugin publishes and a routing plugin reads, typed.

Each provider has a `ProviderHealth` (`gateway.providers[name].health`) holding, per model, the
circuit the failover plugin keeps for that target:

    provider.health.publish(model, TargetHealth(Circuit.OPEN, reopens_at=now + cooldown,
                                                details={"recent_failures": 5}))
    if provider.health.is_open(model): ...          # routing: leave the target out
    provider.health.circuit(model)                  # Circuit.CLOSED when nothing was published

An open circuit with a `reopens_at` turns half-open by itself at that moment (on the health's
clock, time.monotonic unless a test sets another), so the publisher need not publish again
just because a cooldown ended. The admin API shows `describe()` under the provider's `state`,
as `{"circuit": {model: {"state": ..., "retry_in_seconds": ..., **details}}}`.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any


class Circuit(enum.StrEnum):
    """A target's circuit breaker: closed (in use), open (left out), half-open (one probe)."""

    CLOSED = "closed"
    HALF_OPEN = "half_open"
    OPEN = "open"


@dataclass(frozen=True, slots=True)
class TargetHealth:
    """One target's published health. `reopens_at`: when an open circuit lets a probe through
    (on the ProviderHealth's clock), None while only a new publish may change it. `details`
    are shown in the admin API beside the state (failure counts, the last error)."""

    circuit: Circuit = Circuit.CLOSED
    reopens_at: float | None = None
    details: Mapping[str, Any] = field(default_factory=dict)

    def circuit_at(self, now: float) -> Circuit:
        if self.circuit is Circuit.OPEN and self.reopens_at is not None and now >= self.reopens_at:
            return Circuit.HALF_OPEN
        return self.circuit


class ProviderHealth:
    """The published health of one provider's targets, by model name."""

    __slots__ = ("_targets", "clock")

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._targets: dict[str, TargetHealth] = {}

    def publish(self, model: str, health: TargetHealth) -> None:
        """Replace what is known of `model`'s target."""
        self._targets[model] = health

    def clear(self, model: str | None = None) -> None:
        """Forget `model`'s target (every target when None): it counts as closed again."""
        if model is None:
            self._targets.clear()
        else:
            self._targets.pop(model, None)

    def get(self, model: str) -> TargetHealth | None:
        return self._targets.get(model)

    def circuit(self, model: str) -> Circuit:
        """The target's circuit now; CLOSED when nothing was published for it."""
        health = self._targets.get(model)
        return Circuit.CLOSED if health is None else health.circuit_at(self.clock())

    def is_open(self, model: str) -> bool:
        """True while the target's circuit is open (the request path's check: one dict lookup
        when nothing is open)."""
        health = self._targets.get(model)
        if health is None or health.circuit is not Circuit.OPEN:
            return False
        return health.reopens_at is None or self.clock() < health.reopens_at

    def __bool__(self) -> bool:
        return bool(self._targets)

    def describe(self) -> dict[str, Any]:
        """For the admin API (`state` of /api/providers); {} when nothing was published."""
        if not self._targets:
            return {}
        now = self.clock()
        circuits: dict[str, Any] = {}
        for model, health in self._targets.items():
            retry_in = max(0.0, health.reopens_at - now) if health.reopens_at is not None else 0.0
            state = health.circuit_at(now)
            shown: dict[str, Any] = {"state": str(state)}  # first, and ours whatever the details say
            shown.update(health.details)
            shown["state"] = str(state)
            if health.reopens_at is not None or "retry_in_seconds" not in shown:
                shown["retry_in_seconds"] = round(retry_in if state is Circuit.OPEN else 0.0, 1)
            circuits[model] = shown
        return {"circuit": circuits}
