"""Lock-out after repeated failed sign-ins, counted per account and per client address, in the
store every instance of the gateway shares.

`attempts` failures of one subject (`user:<name>` or `address:<ip>`) within `window` seconds
lock it until the oldest of those failures is `window` old; a successful sign-in clears its
account's count. The count lives where every gateway on the same storage sees it:

- `SqlLockout`: the accounts' database (`storage.logs`, SQLite or PostgreSQL), table
  `accounts_failures`, one row per failure. Rows older than the window are swept by a
  `gateway.every` task, so the table holds at most the failures of the last window.
- `RedisLockout`: when `storage.redis` is configured, a sorted set per subject that expires
  with its window (nothing to sweep).

Two gateways on one database lock out together, and a restart does not reset a lock. Subjects
are stored as SHA-256 hashes: the table never holds the names and addresses people typed. Times
are wall-clock seconds (`time.time`), the one clock several machines share.
"""

from __future__ import annotations

import math
import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from ..storage import Database, RedisClient
from .store import create_tables, digest

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS accounts_failures (
        subject TEXT NOT NULL, at DOUBLE PRECISION NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS accounts_failures_subject ON accounts_failures (subject, at)",
    "CREATE INDEX IF NOT EXISTS accounts_failures_at ON accounts_failures (at)",
)
REDIS_PREFIX = "bifrost:lockout:"


class Lockout(ABC):
    """The rule; subclasses keep the failures (`_nth_newest`, `_add`, `_clear`, `sweep`)."""

    def __init__(self, attempts: int = 5, window: float = 900.0, clock: Callable[[], float] = time.time) -> None:
        self.attempts = attempts
        self.window = window
        self.clock = clock

    async def retry_after(self, *keys: str) -> float:
        """Seconds until every one of `keys` may try again; 0 when none is locked."""
        since = self.clock() - self.window
        wait = 0.0
        for key in keys:
            nth = await self._nth_newest(digest(key), since)
            if nth is not None:
                wait = max(wait, nth - since)
        return wait

    async def failed(self, *keys: str) -> None:
        await self._add([digest(key) for key in keys], self.clock())

    async def succeeded(self, key: str) -> None:
        await self._clear(digest(key))

    @abstractmethod
    async def _nth_newest(self, subject: str, since: float) -> float | None:
        """The time of the `attempts`-th newest failure of `subject` after `since`, if there are that many."""

    @abstractmethod
    async def _add(self, subjects: list[str], now: float) -> None: ...

    @abstractmethod
    async def _clear(self, subject: str) -> None: ...

    async def sweep(self) -> None:
        """Forget failures older than the window."""


class SqlLockout(Lockout):
    def __init__(self, db: Database, attempts: int = 5, window: float = 900.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(attempts, window, clock)
        self.db = db

    async def create_schema(self) -> None:
        await create_tables(self.db, SCHEMA)

    async def _nth_newest(self, subject: str, since: float) -> float | None:
        found = await self.db.fetchval(
            "SELECT at FROM accounts_failures WHERE subject = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?",
            subject, since, self.attempts - 1)
        return None if found is None else float(found)

    async def _add(self, subjects: list[str], now: float) -> None:
        await self.db.executemany("INSERT INTO accounts_failures VALUES (?, ?)", [(s, now) for s in subjects])

    async def _clear(self, subject: str) -> None:
        await self.db.execute("DELETE FROM accounts_failures WHERE subject = ?", subject)

    async def sweep(self) -> None:
        await self.db.execute("DELETE FROM accounts_failures WHERE at <= ?", self.clock() - self.window)


class RedisLockout(Lockout):
    def __init__(self, kv: RedisClient, attempts: int = 5, window: float = 900.0,
                 clock: Callable[[], float] = time.time) -> None:
        super().__init__(attempts, window, clock)
        self.kv = kv

    async def _nth_newest(self, subject: str, since: float) -> float | None:
        found = await self.kv.run(lambda r: r.zrevrangebyscore(
            REDIS_PREFIX + subject, "+inf", f"({since!r}", start=self.attempts - 1, num=1, withscores=True),
            what="lock-out check")
        return float(found[0][1]) if found else None

    async def _add(self, subjects: list[str], now: float) -> None:
        ttl = math.ceil(self.window) + 1

        async def add(r: Any) -> Any:
            async with r.pipeline(transaction=True) as pipe:
                for subject in subjects:
                    name = REDIS_PREFIX + subject
                    pipe.zadd(name, {f"{now!r}:{secrets.token_hex(4)}": now})
                    pipe.zremrangebyscore(name, "-inf", now - self.window)
                    pipe.expire(name, ttl)
                return await pipe.execute()

        await self.kv.run(add, what="lock-out count")

    async def _clear(self, subject: str) -> None:
        await self.kv.run(lambda r: r.delete(REDIS_PREFIX + subject), what="lock-out clear")
