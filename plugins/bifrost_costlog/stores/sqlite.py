"""The SQLite log store: WAL mode, one connection that writes (in batches, one transaction
each) and one that reads, so queries from the admin API do not queue behind a write."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from ..columns import COLUMNS, INDEXES, NAMES, SQLITE_TYPES, TABLE
from . import PRUNE_CHUNK

BUSY_TIMEOUT_MS = 5000
_INSERT = f"INSERT INTO {TABLE} ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})"


class SQLiteStore:
    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._write_lock = asyncio.Lock()  # an insert's transaction and a prune never interleave

    async def open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.execute("PRAGMA synchronous=NORMAL")
        await self._create_schema(self._writer)
        self._reader = await self._connect()

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None)
        await connection.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return connection

    async def _create_schema(self, db: aiosqlite.Connection) -> None:
        columns = ", ".join(f"{name} {SQLITE_TYPES[kind]}" for name, kind in COLUMNS)
        await db.execute(
            f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {columns})"
        )
        async with db.execute(f"PRAGMA table_info({TABLE})") as cursor:
            present = {row[1] for row in await cursor.fetchall()}
        for name, kind in COLUMNS:  # a database made by an older version gains new columns
            if name not in present:
                await db.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {SQLITE_TYPES[kind]}")
        for index in INDEXES:
            await db.execute(
                f"CREATE INDEX IF NOT EXISTS {TABLE}_{'_'.join(index)} ON {TABLE} ({', '.join(index)})"
            )

    async def close(self) -> None:
        for connection in (self._reader, self._writer):
            if connection is not None:
                await connection.close()
        self._reader = self._writer = None

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        db = self._writer
        assert db is not None, "store not open"
        async with self._write_lock:
            return await self._insert(db, records)

    async def _insert(self, db: aiosqlite.Connection, records: list[tuple[Any, ...]]) -> list[int]:
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(_INSERT, records)
            async with db.execute("SELECT last_insert_rowid()") as cursor:
                last = (await cursor.fetchone())[0]  # type: ignore[index]
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise
        # One transaction holding the write lock: the new rowids are consecutive.
        return list(range(last - len(records) + 1, last + 1))

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        db = self._reader
        assert db is not None, "store not open"
        async with db.execute(sql, tuple(params)) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in await cursor.fetchall()]

    async def delete_before(self, ts: float) -> int:
        db = self._writer
        assert db is not None, "store not open"
        total = 0
        while True:  # in chunks, so a big prune never holds the write lock for long
            async with (
                self._write_lock,
                db.execute(
                    f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE ts < ? LIMIT {PRUNE_CHUNK})",
                    (ts,),
                ) as cursor,
            ):
                deleted = cursor.rowcount
            total += deleted
            if deleted < PRUNE_CHUNK:
                return total


async def _rollback(db: aiosqlite.Connection) -> None:
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open (BEGIN failed)
        await db.execute("ROLLBACK")
