"""Runaway guards: a key spending much faster than usual, a session repeating itself.

These are the in-process counters: what one instance sees. With Redis configured the guards
count in Redis instead (shared_counters.py: the same windows, across instances and restarts),
and fall back to these while Redis cannot answer. The alert each raises is claimed in the shared
store either way, so several instances send it once.

SpendRate: per key, spend in minute buckets over the baseline (default 24 h). The last 60
minutes are compared with `max_per_hour` and with `multiple` × the key's usual hourly spend (the
spend before the last hour, divided by the hours of history seen, at least one).

LoopDetector: per session, a fingerprint of the request's last turn (model, the last two
messages with tool-call ids and cache markers removed). An agent stuck in a loop sends the same
turn again and again; a normal multi-turn session adds a different one each time.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from .settings import LoopGuard, SpendRate

VOLATILE = frozenset({"id", "tool_use_id", "cache_control", "signature", "call_id"})
MAX_TRACKED = 50_000


class SpendRateGuard:
    def __init__(self, settings: SpendRate) -> None:
        self.settings = settings
        self.minutes: dict[str, dict[int, float]] = {}
        self.first_seen: dict[str, float] = {}

    def add(self, key: str, amount: float, now: float | None = None) -> tuple[float, float] | None:
        """Record `amount` for `key`; (last hour's spend, usual hourly spend) when that is too fast."""
        now = time.time() if now is None else now
        minute = int(now // 60)
        buckets = self.minutes.setdefault(key, {})
        if len(self.minutes) > MAX_TRACKED:
            self._forget(minute)
        self.first_seen.setdefault(key, now)
        buckets[minute] = buckets.get(minute, 0.0) + amount
        horizon = minute - int(self.settings.baseline // 60) - 60
        for old in [m for m in buckets if m <= horizon]:
            del buckets[old]
        last_hour = sum(v for m, v in buckets.items() if m > minute - 60)
        before = sum(v for m, v in buckets.items() if m <= minute - 60)
        return too_fast(self.settings, last_hour, before, self.first_seen[key], now)

    def _forget(self, minute: int) -> None:
        stale = [k for k, b in self.minutes.items() if not b or max(b) < minute - 60]
        for key in stale:
            del self.minutes[key]
            self.first_seen.pop(key, None)


def too_fast(settings: SpendRate, last_hour: float, before: float, first_seen: float,
             now: float) -> tuple[float, float] | None:
    """(last hour's spend, usual hourly spend) when the last hour is over the alarm, else None.
    `before`: the spend before the last hour within the baseline; the usual hourly spend is it
    divided by the hours of history seen (at least one)."""
    hours = max(1.0, min(settings.baseline, now - first_seen - 3600) / 3600)
    usual = before / hours
    if settings.max_per_hour is not None and last_hour > settings.max_per_hour:
        return last_hour, usual
    if (settings.multiple is not None and usual > 0 and last_hour > settings.multiple * usual
            and last_hour >= settings.min_hourly):
        return last_hour, usual
    return None


class LoopDetector:
    def __init__(self, settings: LoopGuard) -> None:
        self.settings = settings
        self.seen: dict[tuple[str, str], deque[float]] = {}

    def add(self, session: str, body: dict[str, Any], now: float | None = None) -> int:
        """Count this request in its session; how many near-identical ones were sent within the
        window (this one included)."""
        return self.count(session, fingerprint(body), now)

    def count(self, session: str, shape: str, now: float | None = None) -> int:
        """`add` for a request whose fingerprint is known."""
        now = time.monotonic() if now is None else now
        key = (session, shape)
        times = self.seen.get(key)
        if times is None:
            if len(self.seen) >= MAX_TRACKED:
                self._forget(now)
            times = self.seen[key] = deque()
        times.append(now)
        while times and times[0] < now - self.settings.within:
            times.popleft()
        return len(times)

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self.seen.items() if not t or t[-1] < now - self.settings.within]:
            del self.seen[key]
        if len(self.seen) >= MAX_TRACKED:
            self.seen.clear()


def fingerprint(body: dict[str, Any]) -> str:
    """The request's last turn, without what differs between two sends of the same turn."""
    messages = body.get("messages") or body.get("input") or body.get("contents") or []
    tail = messages[-2:] if isinstance(messages, list) else messages
    shape = {"model": body.get("model"), "tail": _strip(tail)}
    return hashlib.blake2b(orjson.dumps(shape, option=orjson.OPT_SORT_KEYS), digest_size=16).hexdigest()


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value
