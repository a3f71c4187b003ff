"""After a failed attempt: retry the same target, rotate its key, move to the next target, or stop.

The order of preference, for a failure that allows another try:

1. another API key of the same provider, at once (a refused key, or a rate-limited one);
2. the same target again, after exponential backoff with jitter or the upstream's
   `retry-after` (when it is no longer than `retry_after_cap`), at most `retries` times;
3. the next target of the chain, at once.

Nothing is ever scheduled past the request's deadline (`call.deadline`): a retry that would
wait past it becomes a move to the next target, and past the deadline the request stops.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from bifrost_py.context import Advice, Attempt, Call, StashKey, Target

from . import chains
from .failures import RETRYABLE, Kind, retry_after
from .settings import Backoff, FailoverSettings

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway


@dataclass(slots=True)
class CallMemory:
    """What failover remembers across the attempts of one call."""

    retries: dict[tuple[str, str], int] = field(default_factory=dict)   # (provider, model) -> used
    tried_keys: dict[str, set[str]] = field(default_factory=dict)       # provider -> key names
    forced: set[tuple[str, str]] = field(default_factory=set)           # open targets used anyway
    probes: set[tuple[str, str]] = field(default_factory=set)           # half-open probes held


MEMORY = StashKey[CallMemory]("failover")


def memory(call: Call) -> CallMemory:
    found = call.stash.get(MEMORY)
    if found is None:
        found = CallMemory()
        call.stash[MEMORY] = found
    return found


def backoff_delay(backoff: Backoff, retry_number: int, rng: random.Random) -> float:
    """Delay before retry `retry_number` (from 1): base * 2**(n-1) capped at max, equal jitter."""
    ceiling = min(backoff.max, backoff.base * 2.0 ** min(retry_number - 1, 64))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Decider:
    """Turns a failed attempt into Advice. Holds no per-request state of its own."""

    def __init__(self, settings: FailoverSettings, gateway: Gateway, *, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self.settings = settings
        self.gateway = gateway
        self.rng = rng or random.Random()
        self.clock = clock  # perf_counter, like call.deadline

    def decide(self, attempt: Attempt, kind: Kind, circuit_open: bool) -> Advice:
        call = attempt.call
        if call.deadline is not None and self.clock() >= call.deadline:
            return Advice(Advice.STOP, reason="the request's deadline has passed")
        if kind == Kind.REFUSED_BY_PLUGIN:
            return Advice(Advice.NEXT, reason=f"refused by plugin '{attempt.outcome.refused_by}'")
        if kind in (Kind.KEY_REFUSED, Kind.NO_KEY):
            return self._other_key(attempt, "the provider refused the key") or Advice(
                Advice.NEXT, reason="the provider has no usable key left")
        if kind == Kind.CONTEXT_WINDOW:
            return self._larger_window(attempt)
        if kind not in RETRYABLE:
            return Advice(Advice.STOP, reason="not a failure another attempt can fix")
        if kind == Kind.RATE_LIMITED:
            rotated = self._other_key(attempt, "rate limited")
            if rotated is not None:
                return rotated
        if circuit_open:
            return Advice(Advice.NEXT, reason=f"the circuit of {attempt.target} is open")
        return self._retry_same(attempt) or Advice(Advice.NEXT, reason="retries of this target used up")

    def _other_key(self, attempt: Attempt, why: str) -> Advice | None:
        """The same target with another of the provider's keys not yet tried in this call."""
        provider = self.gateway.providers.get(attempt.target.provider)
        if provider is None or len(provider.keys) < 2:
            return None
        tried = memory(attempt.call).tried_keys.setdefault(provider.name, set())
        if attempt.key_name:
            tried.add(attempt.key_name)
        key = provider.keys.pick(exclude=tried)
        if key is None:
            return None
        tried.add(key.name)
        target = replace(attempt.target, key_name=key.name)
        return Advice(Advice.RETRY, target=target, reason=f"{why}: trying key '{key.name}'")

    def _retry_same(self, attempt: Attempt) -> Advice | None:
        settings = self.settings
        target = attempt.target
        used = memory(attempt.call).retries
        key = (target.provider, target.model)
        count = used.get(key, 0)
        if count >= settings.retries:
            return None
        wait = retry_after(attempt.outcome.error)
        if wait is not None and wait > settings.retry_after_cap:
            return None  # waiting that long is worse than another target
        delay = wait if wait is not None else backoff_delay(settings.backoff, count + 1, self.rng)
        deadline = attempt.call.deadline
        if deadline is not None and self.clock() + delay > deadline:
            return None
        used[key] = count + 1
        return Advice(Advice.RETRY, delay=delay, target=target,
                      reason=f"retry {count + 1} of {settings.retries} after {delay:.2f}s")

    def _larger_window(self, attempt: Attempt) -> Advice:
        """The first configured larger-window target not tried yet in this call."""
        table = self.settings.context_window_fallbacks
        model = attempt.target.model
        entries = chains.lookup(table, model)
        if entries is None:  # on a fallback already: the chain of the model the client asked for
            model = attempt.call.model
            entries = chains.lookup(table, model)
        tried = {(a.target.provider, a.target.model) for a in attempt.call.attempts}
        for entry in entries or ():
            found = chains.resolve_entry(entry, model, self.gateway)
            if found is not None and (found.provider, found.model) not in tried:
                larger = Target(found.provider, found.model, rule=chains.rule_for(chains.SOURCE_CONTEXT))
                return Advice(Advice.RETRY, target=larger, reason="the prompt does not fit: trying a larger window")
        return Advice(Advice.STOP, reason="the prompt does not fit and no larger window is configured")
