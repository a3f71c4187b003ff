"""Counters in Redis, shared by every gateway instance and worker: one budget, not N of them.

Admission and settlement are each one Lua script (redis_scripts.py), so Redis runs them
atomically: no instance can slip a request in between another's check and its hold. Every key
carries the hash tag `{bfgov}`, so all of them live in one slot and the scripts also work on a
Redis Cluster.

    {bfgov}:gen / :ready       the generation of the data set (redis_rebuild.py)
    {bfgov}:<gen>:m:<meter>    hash  u = settled in this generation, b = spend restored from the
                               database (before it), r = held, e = the expire-at last set
                               expires after its window (plus grace)
    {bfgov}:<gen>:w:<meter>    zset  sliding window (rate limits): member `<ticket>/<i>|<amount>|p`
                               (held) or `...|<amount>|s` (settled), score = admission time
    {bfgov}:t:<ticket>         JSON  {g: generation, i: [[meter, amount, kind, extra], ...]}
    {bfgov}:leases             zset  ticket -> lease deadline
    {bfgov}:reaped             list  budget charges made by reaping, for the durable record

A sliding window's hash keeps the running sums of its zset (u: settled, r: held), its length
(w, seconds) and when both keys expire (x, on the window's clock). Each script that touches it
first trims the entries that slid out (ZRANGEBYSCORE up to now - window, subtracting their
amounts, then ZREMRANGEBYSCORE): amortised O(1) per admission. Both keys expire one to two
windows after the last admission: an admission that finds less than a window left renews them
to two (so most admissions set no expiry at all; a budget's hash gets its EXPIREAT only when its
expire-at changes). Sliding windows are measured with
Redis' own clock (TIME), so instances whose clocks disagree still share one exact window.

An instance that dies cannot settle what it holds. So each ticket has a lease, which its
instance renews while the attempt is in flight (liveness.py: its task still runs, and it is
younger than `hold_max_age`); the admission script reaps tickets whose lease ran out: money,
tokens and requests are charged at the amount held (the provider may have billed them),
in-flight slots are released. A ticket the instance stopped renewing (a hold that outlived its
attempt) ends the same way.

What settles on budgets is also written to the database (spend.py), so that a Redis that lost
its data gets it back before admitting again (redis_rebuild.py).

The Redis client is the gateway's (`gateway.storage.redis`, shared with the cache, closed by
the gateway). No command here is ever cancelled half-way: the scripts go through the client's
pipelined connection (`script()`: a cancelled caller leaves, its command still ends), reads
through its `run()`, and `maintain` runs as a periodic task (`gateway.every`), which shutdown
never cuts.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

import orjson
from redis.exceptions import RedisError

from bifrost_py.storage import RedisClient, StorageError

from .counters import FOREVER, GRACE, Admission, Claim
from .liveness import Owner, over
from .redis_rebuild import GEN, PREFIX, READY_KEY, RETRY, CountersRebuilding, Rebuild
from .redis_scripts import ADMIT, READ, SCRIPTS, SETTLE
from .spend import SpendLog

log = logging.getLogger("bifrost_governance")

LEASES = PREFIX + "leases"
REAPED = PREFIX + "reaped"
BUDGET, GAUGE, WINDOW = "b", "g", "w"
SPENT_KEPT = 10_000   # budget meters whose spent a settlement told us, before forgetting them all


@dataclass(slots=True)
class OpenTicket:
    """A ticket this instance admitted and has not settled yet."""

    payload: bytes                 # as stored in Redis: generation and items
    items: list[list[str]]         # [meter, amount, kind, extra] per claim
    owner: Owner                   # the attempt's task
    admitted: float                # time.monotonic()
    stopped: float | None = None   # when renewal stopped (the hold outlived its attempt)


class RedisCounters:
    """The CounterStore on a Redis server (`storage.redis`)."""

    def __init__(self, kv: RedisClient, *, lease: float = 120.0, clock: Callable[[], float] | None = None,
                 max_age: float = 3600.0, spend: SpendLog | None = None, rebuild_wait: float = 0.3,
                 on_expired: Callable[[int], None] | None = None,
                 on_rebuilt: Callable[[], None] | None = None) -> None:
        """`clock`: the time sliding windows are measured with; None (the default) is Redis' own
        clock, the same for every instance. Tests pass their own. `spend`: the durable record of
        budget spend (None: nothing to rebuild from). `rebuild_wait`: how long a rebuild waits for
        every instance's write-behind (two of its intervals)."""
        self.kv = kv
        self.lease = lease
        self.clock = clock
        self.max_age = max_age
        self.spend = spend
        self.rebuild_wait = rebuild_wait
        self.on_expired = on_expired
        self.on_rebuilt = on_rebuilt
        self.instance = os.urandom(6).hex()
        self.redis: Any = None
        self.gen: str | None = None
        self.open_tickets: dict[str, OpenTicket] = {}
        self._rebuild: Rebuild | None = None
        self._rebuilding: asyncio.Task[None] | None = None
        self._ids = 0
        self.spent: dict[str, int] = {}    # budget meter -> spent, as its latest settlement here saw

    async def open(self) -> None:
        """Load the scripts and find the ready generation (rebuilding it first if Redis has
        none). The owner then runs `maintain` every `lease / 4` seconds."""
        self.redis = self.kv.client
        for script in SCRIPTS:
            await self.kv.run(partial(_load, script), what="setup")
        self._rebuild = Rebuild(self.redis, self._run, self.spend, self.rebuild_wait, self.instance)
        await self._find_generation()

    async def close(self) -> None:
        """Give back what is still held (once `maintain` no longer runs). On a clean shutdown no
        attempt is running any more, so these are holds that leaked: not spend. The client
        stays open: the gateway closes it."""
        if self._rebuild is not None:
            self._rebuild.stopping.set()
        if self._rebuilding is not None:
            await self._rebuilding
        for ticket, entry in list(self.open_tickets.items()):
            try:
                await self.settle(ticket, [0] * len(entry.items))
            except (RedisError, StorageError, OSError):   # Redis is gone: the lease runs out instead
                log.warning("governance: could not release ticket %s on shutdown", ticket)
                break

    # ------------------------------------------------------------------ the generation

    async def _find_generation(self) -> None:
        assert self._rebuild is not None
        found = await self._rebuild.ensure()
        if found is not None:
            self.gen, rebuilt = found
            if rebuilt and self.on_rebuilt is not None:
                self.on_rebuilt()

    def _lost(self, ready: bytes) -> None:
        """A script found another generation than ours ready (adopt it), or none (rebuild)."""
        if ready:
            self.gen = ready.decode()
            return
        self.gen = None
        stopping = self._rebuild is None or self._rebuild.stopping.is_set()
        if not stopping and (self._rebuilding is None or self._rebuilding.done()):
            self._rebuilding = asyncio.get_running_loop().create_task(self._rebuild_until_ready())

    async def _rebuild_until_ready(self) -> None:
        assert self._rebuild is not None
        while self.gen is None and not self._rebuild.stopping.is_set():
            try:
                await self._find_generation()
            except Exception:
                log.exception("governance: rebuilding the Redis counters failed; retrying")
                await self._rebuild.pause(RETRY)

    # ------------------------------------------------------------------ admit, settle, read

    async def admit(self, claims: Sequence[Claim], owner: Owner = None) -> Admission:
        for _ in range(2):      # once more if another instance made a new generation ready
            gen = self.gen
            if gen is None:
                raise CountersRebuilding()
            self._ids += 1
            ticket = f"{self.instance}.{self._ids}"
            keys = [LEASES, PREFIX + "t:" + ticket, READY_KEY, REAPED]
            items: list[list[str]] = []
            wanted: list[list[str]] = []
            now = time.time()
            for i, claim in enumerate(claims):
                amount, strict = str(claim.amount), "1" if claim.strict else "0"
                if claim.window:
                    member = f"{ticket}/{i}|{amount}|p"
                    items.append([claim.meter, amount, WINDOW, member])
                    wanted.append([claim.meter, str(claim.limit), amount, strict, "0", repr(claim.window), member])
                else:
                    expire = str(_expire_at(claim))
                    items.append([claim.meter, amount, GAUGE if claim.gauge else BUDGET, expire])
                    wanted.append([claim.meter, str(claim.limit), amount, strict, expire, "0", ""])
            payload = orjson.dumps({"g": gen, "i": items})
            args = [repr(now), repr(now + self.lease), ticket, PREFIX, payload,
                    "" if self.clock is None else repr(self.clock()), gen, orjson.dumps(wanted)]
            result = await self._run(ADMIT, keys, args)
            refused = int(result[0])
            if refused == -1:
                self._lost(result[1])
                continue
            if refused:
                return Admission(None, refused - 1, int(result[1]), int(result[2]), float(result[3]))
            self.open_tickets[ticket] = OpenTicket(payload, items, owner, time.monotonic())
            return Admission(ticket)
        raise CountersRebuilding()

    async def settle(self, ticket: str, actuals: Sequence[int]) -> bool:
        entry = self.open_tickets.pop(ticket, None)
        # The payload as admitted lets the script charge a hold whose data Redis lost; not for a
        # ticket no longer renewed, whose lease may have run out and charged it already.
        known = entry.payload if entry is not None and entry.stopped is None else b""
        status, gen, *rest = await self._run(SETTLE, [LEASES, PREFIX + "t:" + ticket, GEN],
                                             [ticket, PREFIX, known, *actuals])
        status = int(status)
        if rest and rest[0]:
            self._remember_spent(rest[0])
        if status == -1:
            self._lost(b"")
        if entry is not None and status != 0:
            self._record(entry.items, actuals, gen.decode() if status > 0 else "")
        return status > 0

    def _remember_spent(self, pairs: Sequence[bytes]) -> None:
        if len(self.spent) > SPENT_KEPT:
            self.spent.clear()
        for i in range(0, len(pairs) - 1, 2):
            self.spent[pairs[i].decode()] = int(pairs[i + 1])

    def spent_now(self, meters: Sequence[str]) -> list[int] | None:
        """What each budget meter had spent when this instance last settled a charge to it
        (the settle script tells), or None if one of them it has not seen: then READ. Budget
        watchers get this after a settlement instead of a READ round trip of their own."""
        found = [self.spent.get(meter) for meter in meters]
        return None if None in found else [int(value) for value in found if value is not None]

    def _record(self, items: list[list[str]], actuals: Sequence[int], gen: str) -> None:
        """Budget spend to the durable record, counted in generation `gen` ('' = none)."""
        if self.spend is None:
            return
        for item, actual in zip(items, actuals, strict=True):
            if item[2] == BUDGET and actual:
                self.spend.add(item[0], gen, int(actual), None if item[3] == "0" else float(item[3]))

    async def _run(self, script: str, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA on the client's pipelined connection (`RedisClient.script`: a fifth of
        redis-py's cost per command), loading the script again if Redis forgot it."""
        return await self.kv.script(script, keys, args, what="governance")

    async def read(self, meters: Sequence[str]) -> list[tuple[int, int]]:
        return [(used, held) for used, held, _ in await self.read_windows(meters)]

    async def read_windows(self, meters: Sequence[str]) -> list[tuple[int, int, float | None]]:
        # Through run(): an admin client hanging up must not cut a command half-way.
        return await self.kv.run(lambda _: self._read(meters), what="governance usage read")

    async def _read(self, meters: Sequence[str]) -> list[tuple[int, int, float | None]]:
        if not meters:
            return []
        for _ in range(2):
            gen = self.gen
            if gen is None:
                raise CountersRebuilding()
            keys = [READY_KEY]
            keys += [key for meter in meters for key in (PREFIX + gen + ":m:" + meter, PREFIX + gen + ":w:" + meter)]
            result = await self._run(READ, keys, ["" if self.clock is None else repr(self.clock()), gen])
            if int(result[0]) == -1:
                self._lost(result[1])
                continue
            return [(int(u) + int(b), int(r), float(oldest) if oldest else None) for u, b, r, oldest in result[1:]]
        raise CountersRebuilding()

    # ------------------------------------------------------------------ every lease / 4

    async def maintain(self) -> None:
        """Renew the leases of the attempts in flight; notice a Redis that lost its data even
        when no request comes; move reaped charges to the durable record."""
        await self.renew()
        ready = await self.redis.get(READY_KEY)
        if ready is None or ready.decode() != self.gen:
            self._lost(ready or b"")
        await self._drain_reaped()

    async def renew(self) -> None:
        """Keep the leases of this instance's attempts in flight alive, and only theirs."""
        now = time.monotonic()
        live: list[str] = []
        expired = 0
        for ticket, entry in list(self.open_tickets.items()):
            if entry.stopped is None:
                if over(entry.owner, entry.admitted, now, self.max_age):
                    entry.stopped = now
                    expired += 1
                    log.warning("governance: hold %s outlived its attempt; its lease runs out and it is "
                                "charged at what it holds", ticket)
                else:
                    live.append(ticket)
            elif now - entry.stopped > 2 * self.lease:     # reaped by now, or settled late
                del self.open_tickets[ticket]
        if expired and self.on_expired is not None:
            self.on_expired(expired)
        if not live:
            return
        deadline = time.time() + self.lease
        for start in range(0, len(live), 500):
            chunk = live[start:start + 500]
            await self.redis.zadd(LEASES, {t: deadline for t in chunk}, xx=True)

    async def _drain_reaped(self) -> None:
        """Budget charges made by reaping (in any instance's admission) to our write-behind.
        Left in Redis by a store without a durable record, for one that has one."""
        if self.spend is None:
            return
        while entries := await self.redis.lpop(REAPED, 500):
            for raw in entries:
                meter, amount, gen, expire = orjson.loads(raw)
                self.spend.add(meter, gen, int(amount), None if expire == "0" else float(expire))


async def _load(script: str, client: Any) -> str:
    sha: str = await client.script_load(script)
    return sha


def _expire_at(claim: Claim) -> int:
    if claim.gauge or claim.expires == FOREVER:
        return 0
    return int(claim.expires + GRACE)
