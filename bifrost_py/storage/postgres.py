"""PostgreSQL for plugins: one asyncpg pool per URL, shared by every plugin that names it.

The `Database` methods take `?` placeholders (renumbered once per statement text and
remembered); `pool` is the asyncpg pool itself, for what only PostgreSQL has (COPY, LISTEN,
advisory locks). `write(fn)` runs `fn(tx)` on one pooled connection inside one transaction, in
a task of its own, so a cancelled caller never cuts it half-way; `tx.connection` is that
asyncpg connection.

A server that is down, starting, stopping, full, read-only, or a transaction that lost a race
(serialization failure, deadlock, lock timeout) is StorageUnavailable, with asyncpg's error as
its cause: nothing to do with the statement, worth trying again later. Every other error
(a constraint, a value a column refuses) is raised as asyncpg raised it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base

from .errors import StorageClosed, StorageUnavailable
from .sql import Dialect, Row, numbered

T = TypeVar("T")

POOL_MIN, POOL_MAX = 1, 8  # shared by every plugin on the URL (each used to open 1..4 of its own)
_CACHE_LIMIT = 1000  # renumbered statement texts remembered

# Nothing to do with the statement: the server or the transaction, try again later.
_UNAVAILABLE = (
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.LockNotAvailableError,
    asyncpg.InterfaceError,  # a connection closed under us (but not asyncpg's DataError: below)
    OSError,
    TimeoutError,
)


class PostgresDatabase:
    """A PostgreSQL database opened through `gateway.storage`."""

    dialect: Dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._sql: dict[str, str] = {}
        self._writes: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def open(self) -> None:
        try:
            self._pool = await asyncpg.create_pool(self.url, min_size=POOL_MIN, max_size=POOL_MAX)
        except Exception as exc:
            raise self._mapped(exc) from exc

    @property
    def pool(self) -> asyncpg.Pool:
        """The asyncpg pool (for COPY and other PostgreSQL-only work; never close it)."""
        if self._pool is None or self._closed:
            raise StorageClosed("PostgreSQL is closed")
        return self._pool

    def numbered(self, sql: str) -> str:
        """`sql` with `$n` placeholders, remembered (statements are few and repeated)."""
        found = self._sql.get(sql)
        if found is None:
            found = numbered(sql)
            if len(self._sql) < _CACHE_LIMIT:
                self._sql[sql] = found
        return found

    # ------------------------------------------------------------------ Database

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._call(lambda pool: _count(pool.execute(self.numbered(sql), *args)))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)

        async def many(tx: PostgresTransaction) -> None:
            await tx.executemany(sql, batch)

        await self.write(many)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self._call(lambda pool: pool.fetch(self.numbered(sql), *args))
        return rows

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._call(lambda pool: pool.fetchrow(self.numbered(sql), *args))
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._call(lambda pool: pool.fetchval(self.numbered(sql), *args))

    async def write(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """`await fn(tx)` in one transaction on one pooled connection, to its end even if the
        caller is cancelled meanwhile; `tx` is a PostgresTransaction."""
        pool = self.pool
        task = asyncio.get_running_loop().create_task(self._transaction(pool, fn))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        task.add_done_callback(_retrieve)
        try:
            return await asyncio.shield(task)
        except Exception as exc:
            raise self._mapped(exc) from exc

    async def _transaction(self, pool: asyncpg.Pool, fn: Callable[[Any], Awaitable[T]]) -> T:
        async with pool.acquire() as connection, connection.transaction():
            return await fn(PostgresTransaction(connection, self))

    async def _call(self, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        try:
            return await fn(self.pool)
        except Exception as exc:
            raise self._mapped(exc) from exc

    async def close(self) -> None:
        """Let the transactions under way finish, then close the pool (the gateway calls this)."""
        self._closed = True
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    def _mapped(self, exc: Exception) -> Exception:
        """StorageUnavailable for an error about the server, not the statement; else `exc`."""
        if isinstance(exc, asyncpg_base.DataError) or not isinstance(exc, _UNAVAILABLE):
            return exc
        if isinstance(exc, StorageUnavailable):
            return exc
        return StorageUnavailable(f"PostgreSQL: {exc or type(exc).__name__}")


class PostgresTransaction:
    """The `tx` of `PostgresDatabase.write(fn)`; `connection` is the asyncpg connection."""

    __slots__ = ("_db", "connection")

    def __init__(self, connection: asyncpg.Connection, db: PostgresDatabase) -> None:
        self.connection = connection
        self._db = db

    async def execute(self, sql: str, *args: Any) -> int:
        return await _count(self.connection.execute(self._db.numbered(sql), *args))

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        await self.connection.executemany(self._db.numbered(sql), list(rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        rows: list[Row] = await self.connection.fetch(self._db.numbered(sql), *args)
        return rows

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self.connection.fetchrow(self._db.numbered(sql), *args)
        return row


async def _count(status: Awaitable[str]) -> int:
    """Rows changed, from a command status like `UPDATE 3` or `INSERT 0 1` (0 for DDL)."""
    text = await status
    last = text.rsplit(" ", 1)[-1] if text else ""
    return int(last) if last.isdigit() else 0


def _retrieve(future: asyncio.Future[Any]) -> None:
    if not future.cancelled():
        future.exception()
