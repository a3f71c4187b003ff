"""Counters in Redis, shared by every gateway instance and worker: one budget, not N of them.

Admission and settlement are each one Lua script, so Redis runs them atomically: no instance can
slip a request in between another's check and its hold. Every key carries the hash tag `{bfgov}`,
so all of them live in one slot and the scripts also work on a Redis Cluster.

    {bfgov}:m:<meter>    hash  u = used, r = held          expires after its window (plus grace)
    {bfgov}:w:<meter>    zset  sliding window (rate limits): member `<ticket>/<i>|<amount>|p` (held)
                               or `...|<amount>|s` (settled), score = admission time
    {bfgov}:t:<ticket>   JSON  [[meter key, amount, charge(, member, window key)], ...] of one admission
    {bfgov}:leases       zset  ticket -> lease deadline

A sliding window's hash keeps the running sums of its zset (u: settled, r: held) and its length
(w, seconds). Each script that touches it first trims the entries that slid out (ZRANGEBYSCORE
up to now - window, subtracting their amounts, then ZREMRANGEBYSCORE): amortised O(1) per
admission. Both keys expire `window` after the last admission. Sliding windows are measured with
Redis' own clock (TIME), so instances whose clocks disagree still share one exact window.

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
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from .counters import FOREVER, GRACE, Admission, Claim
from .repeater import Repeater

PREFIX = "{bfgov}:"
LEASES = PREFIX + "leases"
REAP_PER_ADMISSION = 16

# Shared by the scripts: the sliding-window clock, trimming a window, settling one item.
_COMMON = """
local function clock(given)
  if given ~= '' then return tonumber(given) end
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function int(x) return string.format('%d', x) end

local function trim(h, z, edge)
  local gone = redis.call('ZRANGEBYSCORE', z, '-inf', edge)
  if #gone == 0 then return end
  local du, dr = 0, 0
  for _, m in ipairs(gone) do
    local a, s = string.match(m, '|(%d+)|(%a)$')
    if s == 'p' then dr = dr + tonumber(a) else du = du + tonumber(a) end
  end
  redis.call('ZREMRANGEBYSCORE', z, '-inf', edge)
  if du ~= 0 then redis.call('HINCRBY', h, 'u', int(0 - du)) end
  if dr ~= 0 then redis.call('HINCRBY', h, 'r', int(0 - dr)) end
end

-- item: [meter key, amount held, charge '1'/'0'(, member, window key)];
-- actual: what to charge, an integer as a string
local function settle_item(item, actual)
  if item[4] then
    local score = redis.call('ZSCORE', item[5], item[4])
    if not score then return end     -- slid out of the window (or expired): counts no more
    redis.call('ZREM', item[5], item[4])
    if tonumber(actual) ~= 0 then    -- a released attempt leaves nothing behind
      redis.call('ZADD', item[5], score, string.match(item[4], '^(.*)|%d+|%a$') .. '|' .. actual .. '|s')
      redis.call('HINCRBY', item[1], 'u', actual)
    end
    redis.call('HINCRBY', item[1], 'r', int(0 - tonumber(item[2])))
    return
  end
  if redis.call('EXISTS', item[1]) == 1 then
    redis.call('HINCRBY', item[1], 'r', int(0 - tonumber(item[2])))
    if item[3] == '1' then redis.call('HINCRBY', item[1], 'u', actual) end
  end
end
"""

_REAP = _COMMON + """
local function reap(leases, prefix, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, REAP_PER_ADMISSION)
  for _, t in ipairs(expired) do
    local payload = redis.call('GET', prefix .. 't:' .. t)
    if payload then
      for _, item in ipairs(cjson.decode(payload)) do
        settle_item(item, item[2])    -- charged at what it held
      end
      redis.call('DEL', prefix .. 't:' .. t)
    end
    redis.call('ZREM', leases, t)
  end
end
""".replace("REAP_PER_ADMISSION", str(REAP_PER_ADMISSION))

# KEYS: leases, ticket key, then per claim: meter key, window key
# ARGV: now, lease deadline, ticket, prefix, payload, window clock ('' = Redis' TIME),
#       then per claim: limit, amount, strict (1/0), expire-at (Unix seconds, 0 = never),
#       sliding window seconds (0 = fixed window), member
ADMIT = _REAP + """
local now = tonumber(ARGV[1])
reap(KEYS[1], ARGV[4], now)
local wnow = clock(ARGV[6])
local n = (#KEYS - 2) / 2
local refused, refused_used, refused_held, wait = 0, 0, 0, 0
local fresh = {}
for i = 1, n do
  local base = 6 + (i - 1) * 6
  local h, z = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local limit, amount = tonumber(ARGV[base + 1]), tonumber(ARGV[base + 2])
  local strict, window = ARGV[base + 3] == '1', tonumber(ARGV[base + 5])
  if window > 0 then trim(h, z, wnow - window) end
  local v = redis.call('HMGET', h, 'u', 'r', 'w')
  local used, held = tonumber(v[1]) or 0, tonumber(v[2]) or 0
  fresh[i] = not v[3]
  local ok
  if strict then ok = used + held + amount <= limit else ok = used < limit end
  if not ok then
    if refused == 0 then refused, refused_used, refused_held = i, used, held end
    if window > 0 then
      -- the seconds until enough entries (oldest first) slide out for this claim to fit
      local need
      if strict then need = used + held + amount - limit else need = used - limit + 1 end
      local fit_in = window
      local freed, start, found = 0, 0, false
      while not found do
        local batch = redis.call('ZRANGE', z, start, start + 63, 'WITHSCORES')
        if #batch == 0 then break end
        for j = 1, #batch, 2 do
          local a, s = string.match(batch[j], '|(%d+)|(%a)$')
          if strict or s == 's' then freed = freed + tonumber(a) end
          if freed >= need then
            fit_in = math.max(0, tonumber(batch[j + 1]) + window - wnow)
            found = true
            break
          end
        end
        start = start + 64
      end
      if fit_in > wait then wait = fit_in end
    end
  end
end
-- the first claim that does not fit names the refusal; the wait is until every sliding one fits
if refused > 0 then
  return {refused, int(refused_used), int(refused_held), string.format('%.17g', wait)}
end
for i = 1, n do
  local base = 6 + (i - 1) * 6
  local h, z = KEYS[1 + 2 * i], KEYS[2 + 2 * i]
  local window = tonumber(ARGV[base + 5])
  redis.call('HINCRBY', h, 'r', ARGV[base + 2])
  if window > 0 then
    -- kept in time order even if the clock stepped back: later, never sooner
    local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
    local at = wnow
    if #last > 0 and tonumber(last[2]) > at then at = tonumber(last[2]) end
    redis.call('ZADD', z, string.format('%.17g', at), ARGV[base + 6])
    if fresh[i] then redis.call('HSET', h, 'w', ARGV[base + 5]) end
    local ttl = math.ceil(window * 1000)
    redis.call('PEXPIRE', z, ttl)
    redis.call('PEXPIRE', h, ttl)
  elseif ARGV[base + 4] ~= '0' then
    redis.call('EXPIREAT', h, ARGV[base + 4])
  end
end
redis.call('SET', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return {0, 0, 0, '0'}
"""

# KEYS: leases, ticket key   ARGV: ticket, actual per claim...
SETTLE = _COMMON + """
local payload = redis.call('GET', KEYS[2])
if not payload then return 0 end
for i, item in ipairs(cjson.decode(payload)) do
  settle_item(item, ARGV[i + 1])
end
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
"""

# KEYS: per meter: meter key, window key   ARGV: window clock ('' = Redis' TIME)
# -> per meter: used, held, admission time of the oldest entry still counted ('' if none)
READ = _COMMON + """
local wnow = clock(ARGV[1])
local out = {}
for i = 1, #KEYS, 2 do
  local h, z = KEYS[i], KEYS[i + 1]
  local window = tonumber(redis.call('HGET', h, 'w'))
  local oldest = ''
  if window then
    trim(h, z, wnow - window)
    local start = 0
    while oldest == '' do
      local batch = redis.call('ZRANGE', z, start, start + 63, 'WITHSCORES')
      if #batch == 0 then break end
      for j = 1, #batch, 2 do
        if string.match(batch[j], '|(%d+)|%a$') ~= '0' then oldest = batch[j + 1]; break end
      end
      start = start + 64
    end
  end
  local v = redis.call('HMGET', h, 'u', 'r')
  out[#out + 1] = {v[1] or '0', v[2] or '0', oldest}
end
return out
"""


class RedisCounters:
    """The CounterStore on a Redis server (`storage.redis`)."""

    def __init__(self, url: str, *, lease: float = 120.0, clock: Callable[[], float] | None = None) -> None:
        """`clock`: the time sliding windows are measured with; None (the default) is Redis' own
        clock, the same for every instance. Tests pass their own."""
        self.url = url
        self.lease = lease
        self.clock = clock
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
        for script in (ADMIT, SETTLE, READ):
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
        keys = [LEASES, PREFIX + "t:" + ticket]
        items: list[list[str]] = []
        args: list[Any] = [repr(now), repr(now + self.lease), ticket, PREFIX, b"",
                           "" if self.clock is None else repr(self.clock())]
        for i, claim in enumerate(claims):
            meter, window = PREFIX + "m:" + claim.meter, PREFIX + "w:" + claim.meter
            keys += (meter, window)
            if claim.window:
                member = f"{ticket}/{i}|{claim.amount}|p"
                items.append([meter, str(claim.amount), "1", member, window])
                args += [claim.limit, claim.amount, 1 if claim.strict else 0, 0, repr(claim.window), member]
            else:
                items.append([meter, str(claim.amount), "0" if claim.gauge else "1"])
                args += [claim.limit, claim.amount, 1 if claim.strict else 0, _expire_at(claim), 0, ""]
        args[4] = orjson.dumps(items)
        refused, used, held, wait = await self._run(ADMIT, keys, args)
        if refused:
            return Admission(None, int(refused) - 1, int(used), int(held), float(wait))
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
        return [(used, held) for used, held, _ in await self.read_windows(meters)]

    async def read_windows(self, meters: Sequence[str]) -> list[tuple[int, int, float | None]]:
        # Shielded: redis-py can hang on close after a command was cancelled half-way (an
        # admin client hanging up must not do that to the gateway's connection pool).
        return await asyncio.shield(self._read(meters))

    async def _read(self, meters: Sequence[str]) -> list[tuple[int, int, float | None]]:
        if not meters:
            return []
        keys = [key for meter in meters for key in (PREFIX + "m:" + meter, PREFIX + "w:" + meter)]
        rows = await self._run(READ, keys, ["" if self.clock is None else repr(self.clock())])
        return [(int(u), int(r), float(oldest) if oldest else None) for u, r, oldest in rows]

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
