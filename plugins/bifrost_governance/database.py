"""The SQL database at `storage.logs`: SQLite (aiosqlite, WAL) by default, PostgreSQL (asyncpg).

Governance keeps only a few small tables of its own there (prefixed `gov_`), so a thin adapter
is enough: statements are written once with `?` placeholders and the Postgres adapter numbers
them. Both speak `INSERT ... ON CONFLICT ... DO UPDATE`.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS gov_entities (
        kind TEXT NOT NULL, name TEXT NOT NULL, data TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (kind, name))""",
    """CREATE TABLE IF NOT EXISTS gov_counters (
        meter TEXT PRIMARY KEY, used BIGINT NOT NULL, held BIGINT NOT NULL, expires DOUBLE PRECISION)""",
    """CREATE TABLE IF NOT EXISTS gov_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
    # Sliding rate-limit windows of the in-memory store: entries = JSON [[admitted at, amount], ...]
    """CREATE TABLE IF NOT EXISTS gov_windows (
        meter TEXT PRIMARY KEY, seconds DOUBLE PRECISION NOT NULL, entries TEXT NOT NULL,
        expires DOUBLE PRECISION NOT NULL)""",
    # With counters in Redis: what settled on each budget meter, by the Redis generation it was
    # counted in ('' = none: Redis had lost its data), so that a Redis that comes back empty can
    # be given its spend again (spend.py). `expires`: when the meter's key expires (NULL: never).
    """CREATE TABLE IF NOT EXISTS gov_spend (
        meter TEXT NOT NULL, gen TEXT NOT NULL, used BIGINT NOT NULL, expires DOUBLE PRECISION,
        PRIMARY KEY (meter, gen))""",
)


class Database(Protocol):
    async def execute(self, sql: str, *args: Any) -> None: ...

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]: ...

    async def close(self) -> None: ...


async def connect(url: str) -> Database:
    """Open the database named by `url` and make sure governance's tables exist."""
    db: Database
    if url.startswith("sqlite://"):
        db = await SQLite.open(sqlite_path(url))
    elif url.startswith(("postgresql://", "postgres://")):
        db = await Postgres.open(url)
    else:
        raise ValueError(f"unsupported database URL {url!r}")
    for statement in SCHEMA:
        await db.execute(statement)
    return db


def sqlite_path(url: str) -> str:
    """`sqlite:///bifrost.db` (relative), `sqlite:////var/lib/bifrost.db` (absolute)."""
    path = url[len("sqlite://"):]
    path = path.removeprefix("/")
    return path if path == ":memory:" else str(Path(path))


class SQLite:
    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.lock = asyncio.Lock()   # one connection: keep other statements out of a batch

    @classmethod
    async def open(cls, path: str) -> SQLite:
        import aiosqlite

        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute("PRAGMA synchronous=NORMAL")
        return cls(conn)

    async def execute(self, sql: str, *args: Any) -> None:
        async with self.lock:
            await self.conn.execute(sql, args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        # Shielded: a caller cancelled half-way must not leave the connection inside BEGIN.
        await asyncio.shield(self._transaction(sql, rows))

    async def _transaction(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """One transaction for the batch: a write-behind flush is all or nothing."""
        async with self.lock:
            await self.conn.execute("BEGIN")
            try:
                await self.conn.executemany(sql, rows)
                await self.conn.execute("COMMIT")
            except Exception:
                # Also when COMMIT itself failed (busy): an open transaction would keep the
                # write lock from every other writer of this file.
                await self.conn.execute("ROLLBACK")
                raise

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        async with self.conn.execute(sql, args) as cursor:
            return [tuple(row) for row in await cursor.fetchall()]

    async def close(self) -> None:
        await self.conn.close()


_PLACEHOLDER = re.compile(r"\?")


def _numbered(sql: str) -> str:
    counter = iter(range(1, 1000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class Postgres:
    def __init__(self, pool: Any) -> None:
        self.pool = pool

    @classmethod
    async def open(cls, url: str) -> Postgres:
        import asyncpg

        return cls(await asyncpg.create_pool(url, min_size=1, max_size=4))

    async def execute(self, sql: str, *args: Any) -> None:
        await self.pool.execute(_numbered(sql), *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await conn.executemany(_numbered(sql), rows)

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        return [tuple(record) for record in await self.pool.fetch(_numbered(sql), *args)]

    async def close(self) -> None:
        await self.pool.close()
