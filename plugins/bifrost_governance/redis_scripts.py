"""The Lua scripts of the Redis counter store (redis_counters.py has the key layout and the why).

Every script that counts checks the *generation* first: the id of the data set Redis holds now.
A Redis that lost its data (restarted without persistence, FLUSHALL) has none, so no script can
admit against counters that forgot their spend (redis_rebuild.py gives it a new generation).

(Amounts are negated as `0 - x`, never `-x`: Lua would turn -0 into "-0", which HINCRBY refuses.
Amounts travel as strings: cjson would round numbers to 14 digits.)
"""

from __future__ import annotations

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

-- item: {meter, amount held, kind ('b' budget, 'g' in-flight slot, 'w' sliding window), extra
-- (a budget: its key's expire-at, '0' = never; a window: the entry's member)}.
-- here: the hold was taken in generation gen. If not, the hold went with the data Redis lost:
-- there is nothing to release, only the charge to make (windows restarted empty: nothing).
-- -> a budget charged: what its meter has spent now (settled + base), else nil.
local function settle_item(prefix, gen, item, actual, here)
  local h = prefix .. gen .. ':m:' .. item[1]
  if item[3] == 'w' then
    if not here then return end
    local z = prefix .. gen .. ':w:' .. item[1]
    local score = redis.call('ZSCORE', z, item[4])
    if not score then return end     -- slid out of the window (or expired): counts no more
    if tonumber(actual) ~= 0 then    -- a released attempt leaves nothing behind
      -- added before the held entry goes: a zset emptied would be deleted, and lose its expiry
      redis.call('ZADD', z, score, string.match(item[4], '^(.*)|%d+|%a$') .. '|' .. actual .. '|s')
      redis.call('HINCRBY', h, 'u', actual)
    end
    redis.call('ZREM', z, item[4])
    redis.call('HINCRBY', h, 'r', int(0 - tonumber(item[2])))
    return
  end
  local base
  if here then
    -- the hold's admission put 'r' in this hash: none means its window ended long ago
    local v = redis.call('HMGET', h, 'r', 'b')
    if not v[1] then return end
    base = v[2]
    redis.call('HINCRBY', h, 'r', int(0 - tonumber(item[2])))
  end
  if item[3] == 'b' and tonumber(actual) ~= 0 then
    local u = redis.call('HINCRBY', h, 'u', actual)
    if not here then
      if item[4] ~= '0' then redis.call('EXPIREAT', h, item[4]) end
      base = redis.call('HGET', h, 'b')
    end
    return u + (tonumber(base) or 0)
  end
end
"""

# Tickets whose lease ran out are settled at what they hold; what that charged to budgets is
# queued on the `reaped` list, for an instance to add to the durable record (spend.py).
_REAP = _COMMON + """
local function reap(leases, prefix, gen, reaped, now)
  local expired = redis.call('ZRANGEBYSCORE', leases, '-inf', now, 'LIMIT', 0, REAP_PER_ADMISSION)
  for _, t in ipairs(expired) do
    local payload = redis.call('GET', prefix .. 't:' .. t)
    if payload then
      local p = cjson.decode(payload)
      -- (a ticket of a version before generations is a bare list: dropped, nothing to match)
      for _, item in ipairs(p.i or {}) do
        settle_item(prefix, gen, item, item[2], p.g == gen)
        if item[3] == 'b' and tonumber(item[2]) ~= 0 then
          redis.call('RPUSH', reaped, cjson.encode({item[1], item[2], gen, item[4]}))
        end
      end
      redis.call('DEL', prefix .. 't:' .. t)
    end
    redis.call('ZREM', leases, t)
  end
end
""".replace("REAP_PER_ADMISSION", str(REAP_PER_ADMISSION))

# KEYS: leases, ticket key, ready key, reaped list
# ARGV: now, lease deadline, ticket, prefix, payload, window clock ('' = Redis' TIME), generation,
#       the claims as one JSON list of string lists: meter, limit, amount, strict (1/0), expire-at
#       (Unix seconds, 0 = never), sliding window seconds (0 = fixed window), member
# (One JSON argument rather than eight per claim: redis-py encodes and packs each argument in
# Python, the client's largest cost per command. The meter keys are built here, like the settle
# script's; every key shares the hash tag {bfgov}, so all live in one slot, also on a Cluster.)
# -> {-1, ready generation or ''} when the generation is not (or no longer) the one given
ADMIT = _REAP + """
local gen = ARGV[7]
local ready = redis.call('GET', KEYS[3])
if ready ~= gen then return {-1, ready or ''} end
reap(KEYS[1], ARGV[4], gen, KEYS[4], tonumber(ARGV[1]))
local wnow = clock(ARGV[6])
local claims = cjson.decode(ARGV[8])
local n = #claims
local meters, windows = ARGV[4] .. gen .. ':m:', ARGV[4] .. gen .. ':w:'
local refused, refused_used, refused_held, wait = 0, 0, 0, 0
local seen = {}   -- per claim: held, when its keys expire (a window), its expire-at (a budget)
for i = 1, n do
  local c = claims[i]
  local h, z = meters .. c[1], windows .. c[1]
  local limit, amount = tonumber(c[2]), tonumber(c[3])
  local strict, window = c[4] == '1', tonumber(c[6])
  if window > 0 then trim(h, z, wnow - window) end
  local v = redis.call('HMGET', h, 'u', 'r', 'b', 'x', 'e')
  local used, held = (tonumber(v[1]) or 0) + (tonumber(v[3]) or 0), tonumber(v[2]) or 0
  seen[i] = {held, tonumber(v[4]), v[5]}
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
-- Amounts are added with HINCRBY (exact to 64 bits, where Lua's numbers stop at 53). Expiry is
-- set only when it changes: a budget's expire-at (e: as last set; it moves with a session's use,
-- and a new period is a new meter), a window's keys once less than a window is left (x: when
-- they expire, on the window's clock; renewed to two windows).
for i = 1, n do
  local c = claims[i]
  local h, z = meters .. c[1], windows .. c[1]
  local window = tonumber(c[6])
  redis.call('HINCRBY', h, 'r', c[3])
  if window > 0 then
    -- kept in time order even if the clock stepped back: later, never sooner
    local last = redis.call('ZRANGE', z, -1, -1, 'WITHSCORES')
    local at = wnow
    if #last > 0 and tonumber(last[2]) > at then at = tonumber(last[2]) end
    redis.call('ZADD', z, string.format('%.17g', at), c[7])
    -- (no last entry: the zset is new, or emptied by a trim and so deleted: it needs its expiry)
    local x = seen[i][2]
    if #last == 0 or not x or x - wnow < window then
      redis.call('HSET', h, 'w', c[6], 'x', string.format('%.17g', wnow + 2 * window))
      local ttl = math.ceil(2 * window * 1000)
      redis.call('PEXPIRE', z, ttl)
      redis.call('PEXPIRE', h, ttl)
    end
  elseif c[5] ~= '0' and seen[i][3] ~= c[5] then
    redis.call('HSET', h, 'e', c[5])
    redis.call('EXPIREAT', h, c[5])
  end
end
redis.call('SET', KEYS[2], ARGV[5])
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
return {0, 0, 0, '0'}
"""

# KEYS: leases, ticket key, generation key
# ARGV: ticket, prefix, the ticket's payload as admitted ('' = not known here), actual per item...
# -> {status, generation, {meter, spent, ...}}: 1 settled; 2 charged into a generation newer than
#    the hold's (the hold went with data Redis lost); 0 nothing left to settle (settled before, or
#    its lease ran out and it was charged at its hold); -1 no generation: Redis lost its data,
#    nothing counted. The list names each budget charged and what its meter has spent now (the
#    budget watchers' figure, so publishing needs no READ of its own).
SETTLE = _COMMON + """
local gen = redis.call('GET', KEYS[3])
local payload = redis.call('GET', KEYS[2])
redis.call('DEL', KEYS[2])
redis.call('ZREM', KEYS[1], ARGV[1])
if not gen then return {-1, ''} end
local p
if payload then
  p = cjson.decode(payload)
else
  if ARGV[3] == '' then return {0, gen} end
  p = cjson.decode(ARGV[3])
  if p.g == gen then return {0, gen} end
end
local here = p.g == gen
local spent = {}
for i, item in ipairs(p.i) do
  local now_spent = settle_item(ARGV[2], gen, item, ARGV[i + 3], here)
  if now_spent then spent[#spent + 1] = item[1]; spent[#spent + 1] = int(now_spent) end
end
if here then return {1, gen, spent} end
return {2, gen, spent}
"""

# KEYS: ready key, then per meter: meter key, window key   ARGV: window clock, generation
# -> {0, {settled, base, held, admission time of the oldest entry still counted or ''}...},
#    or {-1, ready generation or ''}
READ = _COMMON + """
local ready = redis.call('GET', KEYS[1])
if ready ~= ARGV[2] then return {-1, ready or ''} end
local wnow = clock(ARGV[1])
local out = {0}
for i = 2, #KEYS, 2 do
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
  local v = redis.call('HMGET', h, 'u', 'b', 'r')
  out[#out + 1] = {v[1] or '0', v[2] or '0', v[3] or '0', oldest}
end
return out
"""

# KEYS: generation key, ready key   ARGV: a new generation
# -> the generation being rebuilt: the one already begun (by a rebuild that did not finish), or
#    the new one
BEGIN = """
local gen = redis.call('GET', KEYS[1])
if gen then return gen end
redis.call('SET', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return ARGV[1]
"""

# KEYS: generation key   ARGV: generation, prefix, then per meter: meter, spend, expire-at (0 = never)
# Sets each meter's base (b: spend counted outside this generation). Absolute: running it twice
# changes nothing. -> 0 if the generation changed meanwhile (Redis lost its data again)
BASES = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
for i = 3, #ARGV, 3 do
  local h = ARGV[2] .. ARGV[1] .. ':m:' .. ARGV[i]
  redis.call('HSET', h, 'b', ARGV[i + 1])
  if ARGV[i + 2] ~= '0' then redis.call('EXPIREAT', h, ARGV[i + 2]) end
end
return 1
"""

# KEYS: generation key, ready key   ARGV: generation -> 1 when it is now the ready one
READY = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[2], ARGV[1])
return 1
"""

# KEYS: lock   ARGV: owner -> the lock is released only by whoever holds it
UNLOCK = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""

SCRIPTS = (ADMIT, SETTLE, READ, BEGIN, BASES, READY, UNLOCK)
