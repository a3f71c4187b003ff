"""Giving a Redis that lost its data its budgets' spend back, before anything is admitted.

Redis keeps a *generation*: `{bfgov}:gen` names the data set, `{bfgov}:ready` says it may be
admitted against. Both are plain keys without expiry, so they vanish only with the rest of the
data (a restart without persistence, FLUSHALL; an `allkeys-*` eviction policy would break this,
as it would break any counter). Every admission checks `ready` inside its script: without it,
admission fails closed (503) until a rebuild has run:

    1. one instance at a time (lock `{bfgov}:rebuild`, expiring, released by its holder only)
    2. BEGIN: a new generation G, not ready. Settlements from here on are counted in G.
    3. wait two write-behind intervals: what instances settled before G began (and could not
       count, or counted in the generation Redis lost) reaches `gov_spend` (spend.py)
    4. each budget meter of G gets as its base `b` the spend of every generation but G
       (HSET: absolute, so a second rebuild of G, after the first one's instance died, does
       the same again and nothing twice)
    5. READY: G may be admitted against (unless Redis lost its data again meanwhile)

Rate-limit windows and in-flight counts start empty in G: they are about the last minutes, and
their holds went with the data. Counters of a version before generations (an upgrade: Redis kept
its data, but under other names) are adopted by the first rebuild, so an upgrade keeps the spend. Holds of requests still running are gone too; when those
requests settle, their real cost is charged into G (SETTLE, status 2).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from .redis_scripts import BASES, BEGIN, READY, UNLOCK
from .spend import SpendLog

log = logging.getLogger("bifrost_governance")

PREFIX = "{bfgov}:"
GEN = PREFIX + "gen"
READY_KEY = PREFIX + "ready"
LOCK = PREFIX + "rebuild"
LOCK_MS = 30_000        # a rebuild whose instance died is taken over after this
POLL = 0.1              # while another instance rebuilds: how often to look whether it is done
RETRY = 1.0             # after a failed rebuild (database or Redis down)
CHUNK = 1000            # meters per BASES call
LEGACY = PREFIX + "m:"  # counters of a version before generations

Run = Callable[[str, list[str], list[Any]], Awaitable[Any]]


class CountersRebuilding(Exception):
    """Redis has no ready generation: its counters are being rebuilt (answered 503)."""

    def __init__(self) -> None:
        super().__init__("governance counters are being rebuilt from the database after Redis lost its data; "
                         "refusing until they are, rather than admitting against forgotten spend")


class Rebuild:
    """Finds the ready generation, rebuilding it first when there is none."""

    def __init__(self, redis: Any, run: Run, spend: SpendLog | None, wait: float, instance: str) -> None:
        self.redis = redis
        self.run = run
        self.spend = spend
        self.wait = wait
        self.instance = instance
        self.stopping = asyncio.Event()

    async def ready(self) -> str | None:
        """The ready generation, or None."""
        ready, gen = await self.redis.mget(READY_KEY, GEN)
        return ready.decode() if ready is not None and ready == gen else None

    async def ensure(self) -> tuple[str, bool] | None:
        """(the ready generation, whether this call rebuilt it); None when stopping first."""
        while not self.stopping.is_set():
            ready = await self.ready()
            if ready is not None:
                return ready, False
            if await self.redis.set(LOCK, self.instance, nx=True, px=LOCK_MS):
                try:
                    gen = await self._rebuild()
                finally:
                    await self.run(UNLOCK, [LOCK], [self.instance])
                if gen is not None:
                    return gen, True
            else:
                await self.pause(POLL)    # another instance is rebuilding
        return None

    async def _rebuild(self) -> str | None:
        gen = (await self.run(BEGIN, [GEN, READY_KEY], [os.urandom(4).hex()])).decode()
        log.warning("governance: Redis has no ready counters (it lost its data, or this is its first use): "
                    "rebuilding budget spend from the database as generation %s", gen)
        await self.pause(self.wait)
        rows: list[tuple[str, int, float | None]] = []
        if self.spend is not None:
            await self.adopt_legacy(self.spend)
            await self.spend.flush()
            rows = await self.spend.totals(gen, time.time())
        for start in range(0, len(rows), CHUNK):
            args: list[Any] = [gen, PREFIX]
            for meter, used, expires in rows[start:start + CHUNK]:
                args += [meter, used, 0 if expires is None else int(expires)]
            if not await self.run(BASES, [GEN], args):
                return None      # Redis lost its data again: start over
        if not await self.run(READY, [GEN, READY_KEY], [gen]):
            return None
        log.warning("governance: generation %s ready; %d budget meters restored", gen, len(rows))
        return gen

    async def adopt_legacy(self, spend: SpendLog) -> None:
        """Budget counters of a version before generations (`{bfgov}:m:<meter>`, found once,
        after an upgrade): their spend goes to the durable record, then the keys go. (A crash
        between the two counts it twice: too much rather than too little.)"""
        legacy = [key async for key in self.redis.scan_iter(match=LEGACY + "*", count=500)]
        if not legacy:
            return
        for key in legacy:
            used, window = await self.redis.hmget(key, "u", "w")
            if window is None and used is not None and int(used) > 0:
                ttl = await self.redis.ttl(key)
                spend.add(key[len(LEGACY):].decode(), "legacy", int(used), None if ttl < 0 else time.time() + ttl)
        await spend.flush()
        for start in range(0, len(legacy), CHUNK):
            await self.redis.delete(*legacy[start:start + CHUNK])
        log.warning("governance: adopted %d counters kept by an earlier version", len(legacy))

    async def pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stopping.wait(), seconds)
