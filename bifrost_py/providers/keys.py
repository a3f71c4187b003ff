"""A provider's pool of API keys: weighted choice, and keys put aside after a refusal."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass

from ..config import ProviderKey


@dataclass(slots=True)
class KeyState:
    key: ProviderKey
    aside_until: float = 0.0     # monotonic time; 0 = usable
    reason: str = ""


class KeyPool:
    """Chooses a key by weight among those not put aside; `put_aside` is how the failover
    plugin rotates away from a rate-limited or refused key."""

    def __init__(self, keys: list[ProviderKey], *, rng: random.Random | None = None) -> None:
        self.states = [KeyState(key) for key in keys]
        self._by_name = {state.key.name: state for state in self.states}
        self._rng = rng or random.Random()

    def __len__(self) -> int:
        return len(self.states)

    def get(self, name: str) -> ProviderKey | None:
        state = self._by_name.get(name)
        return state.key if state else None

    def usable(self, exclude: frozenset[str] | set[str] = frozenset()) -> list[ProviderKey]:
        now = time.monotonic()
        return [s.key for s in self.states
                if s.key.enabled and s.aside_until <= now and s.key.name not in exclude]

    def has_usable(self) -> bool:
        """Whether `usable()` would hold a key, without building the list (failover's admission
        asks it of every target's provider on every request). A key never put aside (or
        restored: `aside_until` 0) is usable without reading the clock."""
        now = -1.0
        for state in self.states:
            if state.key.enabled:
                until = state.aside_until
                if until == 0.0:
                    return True
                if now < 0.0:
                    now = time.monotonic()
                if until <= now:
                    return True
        return False

    def pick(self, exclude: frozenset[str] | set[str] = frozenset()) -> ProviderKey | None:
        """A usable key drawn by weight (zero weights only when nothing else is left)."""
        states = self.states
        if len(states) == 1 and not exclude:  # a provider's one key (the usual case): no list, no draw
            state = states[0]
            key = state.key
            if key.enabled and (state.aside_until == 0.0 or state.aside_until <= time.monotonic()):
                return key
            return None
        keys = self.usable(exclude)
        if not keys:
            return None
        if len(keys) == 1:
            return keys[0]
        weights = [k.weight for k in keys]
        if not any(weights):
            return self._rng.choice(keys)
        return self._rng.choices(keys, weights=weights)[0]

    def put_aside(self, name: str, seconds: float, reason: str = "") -> None:
        state = self._by_name.get(name)
        if state is not None:
            state.aside_until = time.monotonic() + seconds
            state.reason = reason

    def restore(self, name: str) -> None:
        state = self._by_name.get(name)
        if state is not None:
            state.aside_until = 0.0
            state.reason = ""

    def describe(self) -> list[dict[str, object]]:
        """For the admin API: masked keys and whether each is usable now."""
        now = time.monotonic()
        return [
            {
                "name": s.key.name,
                "key": s.key.masked,
                "weight": s.key.weight,
                "enabled": s.key.enabled,
                "usable": s.key.enabled and s.aside_until <= now,
                "aside_for_seconds": max(0.0, round(s.aside_until - now, 1)),
                "reason": s.reason if s.aside_until > now else "",
            }
            for s in self.states
        ]
