"""The SQLite log store: WAL mode, one connection that writes (in batches, one transaction
each) and a few that read, so queries from the admin API neither queue behind a write nor behind
each other (a dashboard asks for five aggregates at once).

Each write also adds the batch to the usage rollup (`rollup.py`) in the same transaction."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite

from .. import rollup
from ..columns import COLUMNS, INDEXES, NAMES, SQLITE_TYPES, TABLE
from . import PRUNE_CHUNK, ROW, STORE, UNKNOWN, Fault, python_fault

BUSY_TIMEOUT_MS = 5000
READERS = 3
_INSERT = f"INSERT INTO {TABLE} ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})"
_ADD = rollup.upsert("sqlite")
_SUBTRACT = rollup.upsert("sqlite", subtract=True)
_SOURCE = ", ".join(rollup.SOURCE)


class SQLiteStore(rollup.RollupReadiness):
    dialect = "sqlite"

    def __init__(self, path: str, grain: int = rollup.GRAIN) -> None:
        self.path = path
        self.grain = grain
        self._writer: aiosqlite.Connection | None = None
        self._readers: list[aiosqlite.Connection] = []
        self._idle: asyncio.Queue[aiosqlite.Connection] | None = None
        self._write_lock = asyncio.Lock()  # an insert's transaction and a prune never interleave
        self._rollup_ready = False

    async def open(self) -> None:
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        self._writer = await self._connect()
        await self._writer.execute("PRAGMA journal_mode=WAL")
        await self._writer.execute("PRAGMA synchronous=NORMAL")
        await self._create_schema(self._writer)
        self._idle = asyncio.Queue()
        for _ in range(READERS):
            reader = await self._connect()
            self._readers.append(reader)
            self._idle.put_nowait(reader)

    async def _connect(self) -> aiosqlite.Connection:
        connection = await aiosqlite.connect(self.path, isolation_level=None, factory=rollup.RollupConnection)
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
        # The rollup and its state in one transaction: the rows it must be built from are
        # exactly those present when it is created (other processes wait for the lock).
        await db.execute("BEGIN IMMEDIATE")
        try:
            for statement in rollup.schema("sqlite", self.grain):
                await db.execute(statement)
            async with db.execute(f"SELECT grain FROM {rollup.STATE} WHERE id = 1") as cursor:
                self.grain = int((await cursor.fetchone())[0])  # type: ignore[index]
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise

    async def close(self) -> None:
        for connection in (*self._readers, self._writer):
            if connection is not None:
                await connection.close()
        self._readers = []
        self._idle = None
        self._writer = None

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        db = self._writer
        assert db is not None, "store not open"
        async with self._write_lock:
            return await self._insert(db, records)

    async def _insert(self, db: aiosqlite.Connection, records: list[tuple[Any, ...]]) -> list[int]:
        cells = rollup.params(rollup.fold_records(records, self.grain), "sqlite")
        await db.execute("BEGIN IMMEDIATE")
        try:
            await db.executemany(_INSERT, records)
            async with db.execute("SELECT last_insert_rowid()") as cursor:
                last = (await cursor.fetchone())[0]  # type: ignore[index]
            await db.executemany(_ADD, cells)
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise
        # One transaction holding the write lock: the new rowids are consecutive.
        return list(range(last - len(records) + 1, last + 1))

    def fault(self, error: Exception) -> Fault:
        """sqlite3 refuses a value while binding it (UnicodeEncodeError for a surrogate,
        OverflowError beyond 64 bits, ProgrammingError for an unsupported type) or through a
        constraint; "database is locked", a full disk or an I/O error are OperationalError, and
        a closed connection is a ValueError (aiosqlite) or a ProgrammingError saying so."""
        found = python_fault(error)
        if found is not None:
            return found
        if isinstance(error, (sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError)):
            return ROW
        if isinstance(error, sqlite3.ProgrammingError):
            return STORE if "closed" in str(error) else ROW
        if isinstance(error, sqlite3.OperationalError):
            return STORE
        if isinstance(error, ValueError):
            return STORE if "connection" in str(error).lower() else ROW
        return UNKNOWN

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        idle = self._idle
        assert idle is not None, "store not open"
        db = await idle.get()
        try:
            async with db.execute(sql, tuple(params)) as cursor:
                names = [d[0] for d in cursor.description]
                return [dict(zip(names, row)) for row in await cursor.fetchall()]
        finally:
            idle.put_nowait(db)

    async def delete_before(self, ts: float) -> int:
        """Rows before `ts` go; the rollup loses the buckets before the cut, and the rows of
        the bucket the cut falls in are subtracted from it."""
        db = self._writer
        assert db is not None, "store not open"
        cut = rollup.bucket_of(ts, self.grain)
        total = 0
        while True:  # in chunks, so a big prune never holds the write lock for long
            async with (
                self._write_lock,
                db.execute(
                    f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE ts < ? LIMIT {PRUNE_CHUNK})",
                    (cut,),
                ) as cursor,
            ):
                deleted = cursor.rowcount
            total += deleted
            if deleted < PRUNE_CHUNK:
                break
        async with self._write_lock:
            await db.execute(f"DELETE FROM {rollup.ROLLUP} WHERE bucket < ? AND bucket <> ?", (cut, rollup.NO_TS))
        while ts > cut:
            async with self._write_lock:
                deleted = await self._subtract_chunk(db, cut, ts)
            total += deleted
            if deleted < PRUNE_CHUNK:
                break
        return total

    async def _subtract_chunk(self, db: aiosqlite.Connection, start: float, end: float) -> int:
        chosen = f"SELECT id FROM {TABLE} WHERE ts >= ? AND ts < ? ORDER BY id LIMIT {PRUNE_CHUNK}"
        await db.execute("BEGIN IMMEDIATE")
        try:
            built_to, boundary = await self._state(db)
            async with db.execute(f"SELECT id, {_SOURCE} FROM {TABLE} WHERE id IN ({chosen})", (start, end)) as cursor:
                rows = list(await cursor.fetchall())
            # Rows the rollup has not been built from yet are not in it.
            counted = [row[1:] for row in rows if not built_to < row[0] <= boundary]
            await db.executemany(_SUBTRACT, rollup.params(rollup.fold(counted, self.grain), "sqlite", subtract=True))
            await db.execute(f"DELETE FROM {rollup.ROLLUP} WHERE bucket = ? AND attempts = 0", (rollup.bucket_of(start, self.grain),))
            await db.execute(f"DELETE FROM {TABLE} WHERE id IN ({chosen})", (start, end))
            await db.execute("COMMIT")
        except BaseException:
            await _rollback(db)
            raise
        return len(rows)

    async def _state(self, db: aiosqlite.Connection) -> tuple[int, int]:
        async with db.execute(f"SELECT built_to, boundary FROM {rollup.STATE} WHERE id = 1") as cursor:
            row = await cursor.fetchone()
        return (0, 0) if row is None else (int(row[0]), int(row[1]))

    # ------------------------------------------------------------------ rollup

    async def build_rollup_step(self) -> int | None:
        """Fold the next chunk of older rows into the rollup, in one transaction; about how many
        rows are left to do (0: done), None when there was nothing to do."""
        db = self._writer
        assert db is not None, "store not open"
        async with self._write_lock:
            await db.execute("BEGIN IMMEDIATE")
            try:
                built_to, boundary = await self._state(db)
                if built_to >= boundary:
                    await db.execute("COMMIT")
                    self._rollup_ready = True
                    return None
                async with db.execute(
                    f"SELECT id, {_SOURCE} FROM {TABLE} WHERE id > ? AND id <= ? ORDER BY id LIMIT {rollup.BUILD_CHUNK}",
                    (built_to, boundary),
                ) as cursor:
                    rows = list(await cursor.fetchall())
                await db.executemany(_ADD, rollup.params(rollup.fold((row[1:] for row in rows), self.grain), "sqlite"))
                done = rows[-1][0] if len(rows) == rollup.BUILD_CHUNK else boundary
                await db.execute(f"UPDATE {rollup.STATE} SET built_to = ? WHERE id = 1", (done,))
                await db.execute("COMMIT")
            except BaseException:
                await _rollback(db)
                raise
        self._rollup_ready = done >= boundary
        return boundary - done  # ids, not rows: an estimate


async def _rollback(db: aiosqlite.Connection) -> None:
    with contextlib.suppress(sqlite3.OperationalError):  # no transaction was open (BEGIN failed)
        await db.execute("ROLLBACK")
