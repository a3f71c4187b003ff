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

The Redis client is the gateway's (`gateway.storage.redis`); every command goes through its
`run()`, so nothing is cut half-way and an unavailable Redis is StorageUnavailable.
"""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bifrost_py.storage.redis import RedisClient

LOOP_PREFIX = "bifrost:alerts:loop:"
RATE_PREFIX = "bifrost:alerts:rate:"
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


class SharedCounters:
    """The loop and spend-rate counts of every instance, in one Redis server."""

    def __init__(self, kv: RedisClient, clock: Callable[[], float] | None = None) -> None:
        """`clock`: the time windows are measured with; None (the default) is Redis' own clock.
        Tests pass their own."""
        self.kv = kv
        self.clock = clock
        self._loop: Any = kv.client.register_script(LOOP)
        self._rate: Any = kv.client.register_script(RATE)
        self._instance = os.urandom(6).hex()
        self._ids = itertools.count()

    def _now(self) -> str:
        return "" if self.clock is None else repr(self.clock())

    async def count_loop(self, session: str, fingerprint: str, within: float) -> int:
        """Count one send of the request `fingerprint` in `session`; how many were sent within
        the last `within` seconds, across instances (this one included)."""
        digest = hashlib.blake2b(f"{session}\0{fingerprint}".encode(), digest_size=16).hexdigest()
        args = [self._now(), repr(within), f"{self._instance}.{next(self._ids)}", MAX_SENDS]
        count = await self.kv.run(lambda r: self._loop(keys=[LOOP_PREFIX + digest], args=args, client=r),
                                  what="counting a loop guard")
        return int(count)

    async def add_spend(self, key: str, amount: float, baseline: float) -> tuple[float, float, float, float]:
        """Add `amount` to virtual key `key`'s spend; (last hour's spend, the spend before it
        within `baseline` seconds, when the key was first seen, now), across instances."""
        args = [self._now(), repr(amount), repr(baseline)]
        last, before, first, now = await self.kv.run(
            lambda r: self._rate(keys=[RATE_PREFIX + key], args=args, client=r), what="counting a spend rate")
        return float(last), max(0.0, float(before)), float(first), float(now)
