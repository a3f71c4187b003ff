"""Counters in Redis, shared by every gateway instance and worker: one budget, not N of them.

Admission and settlement are each one Lua script, so Redis runs them atomically: no instance can
slip a request in between another's check and its hold. Every key carries the hash tag `{bfgov}`,
so all of them live in one slot and the scripts also work on a Redis Cluster.

    {bfgov}:m:<meter>    hash  u = used, r = held          expires after its window (plus grace)
    {bfgov}:t:<ticket>   JSON  [[meter key, amount, charge], ...] of one admission
    {bfgov}:leases       zset  ticket -> lease deadline

An instance that dies cannot settle what it holds. So each ticket has a lease, which its
instance renews while the request runs; the admission script reaps tickets whose lease ran out:
money, tokens and requests are charged at the amount held (the provider may have billed them),
in-flight slots are released.

(Amounts are negated as `0 - x`, never `-x`: Lua would turn -0 into "-0", which HINCRBY refuses.)

No command here is ever cancelled half-way: with redis-py 8, cancelling a command in flight and
then closing the client can hang forever. Admission and settlement run shielded (enforcement.py),
reads are shielded here, and the lease renewer stops between rounds (repeater.py).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Sequence
from typing import Any

import orjson

from .counters import FOREVER, GRACE, Admission, Claim
from .repeater import Repeater

PREFIX = "{bfgov}:"
LEASES = PREFIX + "leases"
REAP_PER_ADMISSION = 16

_REAP = """
local function reap(leases, prefix, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, REAP_PER_ADMISSION)
  for _, t in ipairs(expired) do
    local payload = redis.call('GET', prefix .. 't:' .. t)
    if payload then
      for _, item in ipairs(cjson.decode(payload)) do
        if redis.call('EXISTS', item[1]) == 1 then
          local amount = tonumber(item[2])
          redis.call('HINCRBY', item[1], 'r', 0 - amount)
          if item[3] == '1' then redis.call('HINCRBY', item[1], 'u', amount) end
        end
      end
      redis.call('DEL', prefix .. 't:' .. t)
    end
    redis.call('ZREM', leases, t)
  end
end
""".replace("REAP_PER_ADMISSION", str(REAP_PER_ADMISSION))

# KEYS: leases, ticket key, meter keys...   ARGV: now, lease deadline, ticket, prefix, payload,
# then per claim: limit, amount, strict (1/0), expire-at (Unix seconds, 0 = never)
ADMIT = _REAP + """
local now = tonumber(ARGV[1])
reap(KEYS[1], ARGV[4], now)
local n = #KEYS - 2
for i = 1, n do
  local base = 5 + (i - 1) * 4
  local limit, amount = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local v = redis.call('HMGET', KEYS[i + 2], 'u', 'r')
  local used, held = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  local ok
  if ARGV[base + 3] == '1' then ok = used + held + amount <= limit else ok = used < limit end
  if not ok then return {i, used, held} end
end
for i = 1, n do
  local base = 5 + (i - 1) * 4
  redis.call('HINCRBY', KEYS[i + 2], 'r', ARGV[base + 2])
  if ARGV[base + 4] ~= '0' then redis.call('EXPIREAT', KEYS[i + 2], ARGV[base + 4]) end
end
redis.call('SET', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return {0, 0, 0}
"""

# KEYS: leases, ticket key   ARGV: ticket, actual per claim...
SETTLE = """
local payload = redis.call('GET', KEYS[2])
if not payload then return 0 end
for i, item in ipairs(cjson.decode(payload)) do
  if redis.call('EXISTS', item[1]) == 1 then
    redis.call('HINCRBY', item[1], 'r', 0 - tonumber(item[2]))
    if item[3] == '1' then redis.call('HINCRBY', item[1], 'u', ARGV[i + 1]) end
  end
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""


class RedisCounters:
    """The CounterStore on a Redis server (`storage.redis`)."""

    def __init__(self, url: str, *, lease: float = 120.0) -> None:
        self.url = url
        self.lease = lease
        self.instance = os.urandom(6).hex()
        self.redis: Any = None
        self.open_tickets: set[str] = set()
        self._shas: dict[str, str] = {}
        self._renewer: Repeater | None = None
        self._ids = 0

    async def open(self) -> None:
        import redis.asyncio as aioredis

        self.redis = aioredis.from_url(self.url, decode_responses=False)
        await self.redis.ping()
        for script in (ADMIT, SETTLE):
            self._shas[script] = await self.redis.script_load(script)
        self._renewer = Repeater(self.lease / 4, self.renew, "renewing leases in Redis")
        self._renewer.start()

    async def close(self) -> None:
        if self._renewer is not None:
            await self._renewer.stop()
        if self.redis is not None:
            await self.redis.aclose()

    async def admit(self, claims: Sequence[Claim]) -> Admission:
        now = time.time()
        self._ids += 1
        ticket = f"{self.instance}.{self._ids}"
        keys = [LEASES, PREFIX + "t:" + ticket] + [PREFIX + "m:" + c.meter for c in claims]
        payload = orjson.dumps([[keys[i + 2], str(c.amount), "0" if c.gauge else "1"] for i, c in enumerate(claims)])
        args: list[Any] = [repr(now), repr(now + self.lease), ticket, PREFIX, payload]
        for claim in claims:
            args += [claim.limit, claim.amount, 1 if claim.strict else 0, _expire_at(claim)]
        refused, used, held = await self._run(ADMIT, keys, args)
        if refused:
            return Admission(None, int(refused) - 1, int(used), int(held))
        self.open_tickets.add(ticket)
        return Admission(ticket)

    async def settle(self, ticket: str, actuals: Sequence[int]) -> bool:
        self.open_tickets.discard(ticket)
        done = await self._run(SETTLE, [LEASES, PREFIX + "t:" + ticket], [ticket, *actuals])
        return bool(done)

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA, loading the script again if Redis forgot it (a restart, SCRIPT FLUSH).
        Called directly rather than through redis-py's Script helper: a third cheaper."""
        from redis.exceptions import NoScriptError

        try:
            return await self.redis.evalsha(self._shas[script], len(keys), *keys, *args)
        except NoScriptError:
            self._shas[script] = await self.redis.script_load(script)
            return await self.redis.evalsha(self._shas[script], len(keys), *keys, *args)

    async def read(self, meters: Sequence[str]) -> list[tuple[int, int]]:
        # Shielded: redis-py can hang on close after a command was cancelled half-way (an
        # admin client hanging up must not do that to the gateway's connection pool).
        return await asyncio.shield(self._read(meters))

    async def _read(self, meters: Sequence[str]) -> list[tuple[int, int]]:
        pipe = self.redis.pipeline(transaction=False)
        for meter in meters:
            pipe.hmget(PREFIX + "m:" + meter, "u", "r")
        rows = await pipe.execute()
        return [(int(u or 0), int(r or 0)) for u, r in rows]

    async def renew(self) -> None:
        """Keep the leases of this instance's running requests alive."""
        tickets = list(self.open_tickets)
        if not tickets:
            return
        deadline = time.time() + self.lease
        for start in range(0, len(tickets), 500):
            chunk = tickets[start:start + 500]
            await self.redis.zadd(LEASES, {t: deadline for t in chunk}, xx=True)


def _expire_at(claim: Claim) -> int:
    if claim.gauge or claim.expires == FOREVER:
        return 0
    return int(claim.expires + GRACE)
