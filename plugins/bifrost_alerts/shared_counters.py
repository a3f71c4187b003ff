"""The guards' counters in Redis, shared by every gateway instance and worker, kept across restarts.

With `storage.redis` set, the loop detector and the spend-rate alarm count in Redis, so a session
whose requests a load balancer (or `serve --workers`) splits between instances is counted once,
whole. Each count is one Lua script (atomic: two instances cannot both see the count that
crosses the limit), measured with Redis' own clock (TIME), so instances whose clocks disagree
share one window. The windows are those of the in-process counters (guards.py), which stay the
fallback: without Redis, and while Redis cannot answer, each instance counts what it sees.

    bifrost:alerts:loop:<digest of session and request>   zset  one member per send, score = when;
        sends older than the window are trimmed on each count; expires a window after the last
    bifrost:alerts:rate:<virtual key>                      hash  <minute> = spend in that minute,
        t = sum of the minute fields, o = oldest minute kept, f = when the key was first seen;
        minutes older than the baseline plus an hour are dropped as time moves on (amortised:
        each minute once); expires when nothing was added for the baseline plus two hours

A count that only alerts is queued (`queue_loop`, `queue_spend`): one task at a time sends what
is queued at once (up to BATCH scripts, one write), off the request path, so a burst of requests
makes a few round trips, not one connection each. A count that may refuse (`count_loop`) is
awaited: one round trip on the request path.

The Redis client is the gateway's (`gateway.storage.redis`); every script goes through its
pipelined connection (`script()`, `scripts()`: shared with governance and the cache), so nothing
is cut half-way, a script Redis forgot is loaded again, and an unavailable Redis is
StorageUnavailable.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import os
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from bifrost_py.storage import StorageUnavailable

if TYPE_CHECKING:
    from bifrost_py.storage.redis import RedisClient

log = logging.getLogger("bifrost_py.alerts")
LOOP_PREFIX = "bifrost:alerts:loop:"
RATE_PREFIX = "bifrost:alerts:rate:"
BATCH = 500         # scripts per pipeline of queued counts
MAX_SENDS = 10_000   # sends kept per session and request within the window (enough to count past any limit)

_NOW = """
local now = tonumber(ARGV[1])
if not now then
  local t = redis.call('TIME')
  now = tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function num(x) return string.format('%.17g', x) end
"""

# KEYS[1] zset; ARGV: now ('' = Redis' clock), window (s), member. Returns the sends in the window.
LOOP = _NOW + """
local key, within = KEYS[1], tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', '(' .. num(now - within))
redis.call('ZADD', key, num(now), ARGV[3])
local count = redis.call('ZCARD', key)
if count > tonumber(ARGV[4]) then
  redis.call('ZREMRANGEBYRANK', key, 0, count - tonumber(ARGV[4]) - 1)
end
redis.call('PEXPIRE', key, math.ceil(within * 1000) + 1000)
return count
"""

# KEYS[1] hash; ARGV: now ('' = Redis' clock), amount, baseline (s). Returns the last hour's spend,
# the spend before it (within the baseline), when the key was first seen, now.
RATE = _NOW + """
local key, amount = KEYS[1], tonumber(ARGV[2])
local minute = math.floor(now / 60)
local span = math.floor(tonumber(ARGV[3]) / 60) + 60
local horizon = minute - span
local oldest = tonumber(redis.call('HGET', key, 'o')) or minute
local total = tonumber(redis.call('HGET', key, 't')) or 0
if oldest <= horizon then
  if horizon - oldest > span then
    for _, field in ipairs(redis.call('HKEYS', key)) do
      local m = tonumber(field)
      if m and m <= horizon then
        total = total - tonumber(redis.call('HGET', key, field))
        redis.call('HDEL', key, field)
      end
    end
  else
    for m = oldest, horizon do
      local v = redis.call('HGET', key, m)
      if v then
        total = total - tonumber(v)
        redis.call('HDEL', key, m)
      end
    end
  end
  oldest = horizon + 1
end
redis.call('HINCRBYFLOAT', key, minute, ARGV[2])
total = total + amount
redis.call('HSET', key, 't', num(total), 'o', oldest)
redis.call('HSETNX', key, 'f', num(now))
local fields = {}
for m = minute - 59, minute do fields[#fields + 1] = m end
local last = 0
for _, v in ipairs(redis.call('HMGET', key, unpack(fields))) do
  if v then last = last + tonumber(v) end
end
redis.call('PEXPIRE', key, (span + 60) * 60000)
return {num(last), num(total - last), redis.call('HGET', key, 'f'), num(now)}
"""


Spend = tuple[float, float, float, float]   # last hour's spend, spend before it, first seen, now
Queued = tuple[str, str, list[Any], Callable[[Any], None]]   # script, key, args, what to do with its reply


class SharedCounters:
    """The loop and spend-rate counts of every instance, in one Redis server."""

    def __init__(self, kv: RedisClient, spawn: Callable[[Coroutine[Any, Any, None]], asyncio.Task[Any]],
                 clock: Callable[[], float] | None = None) -> None:
        """`spawn`: runs the task that sends queued counts (the gateway's, which stop() waits
        for). `clock`: the time windows are measured with; None (the default) is Redis' own
        clock. Tests pass their own."""
        self.kv = kv
        self.spawn = spawn
        self.clock = clock
        self._instance = os.urandom(6).hex()
        self._ids = itertools.count()
        self._queued: list[Queued] = []
        self._sending: asyncio.Task[Any] | None = None

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    def _loop_call(self, session: str, fingerprint: str, within: float) -> tuple[str, str, list[Any]]:
        digest = hashlib.blake2b(f"{session}\0{fingerprint}".encode(), digest_size=16).hexdigest()
        return LOOP, LOOP_PREFIX + digest, [self._now(), repr(within), f"{self._instance}.{next(self._ids)}",
                                                  MAX_SENDS]

    def _spend_call(self, key: str, amount: float, baseline: float) -> tuple[str, str, list[Any]]:
        return RATE, RATE_PREFIX + key, [self._now(), repr(amount), repr(baseline)]

    async def count_loop(self, session: str, fingerprint: str, within: float) -> int:
        """Count one send of the request `fingerprint` in `session`; how many were sent within
        the last `within` seconds, across instances (this one included)."""
        script, key, args = self._loop_call(session, fingerprint, within)
        return int(await self.kv.script(script, [key], args, what="counting a loop guard"))

    async def add_spend(self, key: str, amount: float, baseline: float) -> Spend:
        """Add `amount` to virtual key `key`'s spend; (last hour's spend, the spend before it
        within `baseline` seconds, when the key was first seen, now), across instances."""
        script, name, args = self._spend_call(key, amount, baseline)
        return _spend(await self.kv.script(script, [name], args, what="counting a spend rate"))

    def queue_loop(self, session: str, fingerprint: str, within: float, then: Callable[[int | None], None]) -> None:
        """`count_loop` off the request path: `then(count)`, or `then(None)` if Redis failed."""
        self._queue(*self._loop_call(session, fingerprint, within), lambda reply: then(_or_none(int, reply)))

    def queue_spend(self, key: str, amount: float, baseline: float, then: Callable[[Spend | None], None]) -> None:
        """`add_spend` off the request path: `then(figures)`, or `then(None)` if Redis failed."""
        self._queue(*self._spend_call(key, amount, baseline), lambda reply: then(_or_none(_spend, reply)))

    def _queue(self, script: str, key: str, args: list[Any], then: Callable[[Any], None]) -> None:
        self._queued.append((script, key, args, then))
        if self._sending is None:
            self._sending = self.spawn(self._send())

    async def _send(self) -> None:
        try:
            while self._queued:
                batch, self._queued = self._queued[:BATCH], self._queued[BATCH:]
                try:
                    replies: list[Any] = await self.kv.scripts([(script, [key], args) for script, key, args, _ in batch],
                                                               what="counting guards")
                except StorageUnavailable:
                    replies = [None] * len(batch)
                failed = next((reply for reply in replies if isinstance(reply, Exception)), None)
                if failed is not None:
                    raise failed
                for (_, _, _, then), reply in zip(batch, replies, strict=True):
                    try:
                        then(reply)
                    except Exception:
                        log.exception("alerts: handling a guard's count failed")
        finally:
            self._sending = None


def _spend(reply: Any) -> Spend:
    last, before, first, now = reply
    return float(last), max(0.0, float(before)), float(first), float(now)


def _or_none(parse: Callable[[Any], Any], reply: Any) -> Any:
    return None if reply is None else parse(reply)
