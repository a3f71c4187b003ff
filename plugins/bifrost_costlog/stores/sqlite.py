"""The SQLite log store, on the gateway's shared SQLite service (`gateway.storage`, WAL, one
writer thread per file, a few query-only readers): a batch is one transaction in the writer's
thread (`SQLiteDatabase.write_in_thread`), and queries from the admin API run on the readers, so
they neither queue behind a write nor behind each other (a dashboard asks for five aggregates at
once).

Each write also adds the batch to the usage rollup (`rollup.py`) in the same transaction; the
rollup's SQL functions are registered on every connection of the file through
`SQLiteDatabase.create_function` / `create_aggregate`."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from bifrost_py.storage import SQLiteDatabase, Storage, StorageError, StorageUnavailable

from .. import rollup
from ..columns import COLUMNS, INDEXES, NAMES, SQLITE_TYPES, TABLE
from . import PRUNE_CHUNK, ROW, STORE, UNKNOWN, Fault, SharedStore, python_fault

_INSERT = f"INSERT INTO {TABLE} ({', '.join(NAMES)}) VALUES ({', '.join('?' * len(NAMES))})"
_ADD = {shape: rollup.upsert("sqlite", shape=shape) for shape in rollup.SHAPES}
_SUBTRACT = {shape: rollup.upsert("sqlite", subtract=True, shape=shape) for shape in rollup.SHAPES}
_READ = ", ".join(rollup.READ)


# INSERTs that leave out the NULL columns of a record (a column left out is NULL: none has a
# default), per the types of its values: sqlite3 binds a NULL through its adapter, a dict
# lookup and a Python call each, and a row has some ten of them. A few such statements serve
# nearly every row; past _SHAPES_KEPT of them a record is inserted with every column.
_INSERT_WITHOUT: dict[tuple[type, ...], str] = {}
_SHAPES_KEPT = 32


def _insert_one(record: tuple[Any, ...]) -> tuple[str, Sequence[Any]]:
    """The statement and parameters that insert `record` (in column order) as one row."""
    kinds = tuple(map(type, record))
    sql = _INSERT_WITHOUT.get(kinds)
    if sql is None:
        present = [name for name, value in zip(NAMES, record) if value is not None]
        if not present or len(_INSERT_WITHOUT) >= _SHAPES_KEPT:
            return _INSERT, record
        sql = _INSERT_WITHOUT[kinds] = (
            f"INSERT INTO {TABLE} ({', '.join(present)}) VALUES ({', '.join('?' * len(present))})"
        )
    return sql, [value for value in record if value is not None]


class SQLiteStore(SharedStore):
    dialect = "sqlite"
    db: SQLiteDatabase

    async def _open(self, storage: Storage) -> None:
        db = await storage.sqlite(self.url)
        await rollup.register_functions(db)
        self.grain = await db.write_in_thread(lambda conn: _create_schema(conn, self.grain))
        self.db = db

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        cells = {
            shape: rollup.params(rollup.fold_records(records, self.grain, shape), "sqlite", shape=shape)
            for shape in rollup.SHAPES
        }

        def write(conn: sqlite3.Connection) -> list[int]:
            last: int | None
            if len(records) == 1:  # light load: a batch of one row, its id from the cursor
                last = conn.execute(*_insert_one(records[0])).lastrowid
            else:
                conn.executemany(_INSERT, records)
                last = conn.execute("SELECT last_insert_rowid()").fetchone()[0]
            for shape, added in cells.items():
                conn.executemany(_ADD[shape], added)
            assert last is not None  # (an INSERT's cursor holds its row's id)
            # One transaction on the file's one writer: the new rowids are consecutive.
            return list(range(last - len(records) + 1, last + 1))

        return await self.db.write_in_thread(write)

    def fault(self, error: Exception) -> Fault:
        """The storage service raises StorageUnavailable for a file that cannot be used now
        (locked, busy, full, an I/O error, closed). sqlite3 refuses a value while binding it
        (UnicodeEncodeError for a surrogate, OverflowError beyond 64 bits, ProgrammingError for
        an unsupported type) or through a constraint."""
        if isinstance(error, StorageUnavailable):
            return STORE
        if isinstance(error, StorageError):
            return UNKNOWN
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
            return ROW
        return UNKNOWN

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        args = tuple(params)

        def read(conn: sqlite3.Connection) -> list[dict[str, Any]]:
            cursor = conn.execute(sql, args)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

        return await self.db.read_in_thread(read)

    async def delete_before(self, ts: float) -> int:
        """Rows before `ts` go; the rollup loses the buckets before the cut, and the rows of
        the bucket the cut falls in are subtracted from it."""
        db = self.db
        cut = rollup.bucket_of(ts, self.grain)
        total = 0
        whole = f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE ts < ? LIMIT {PRUNE_CHUNK})"
        while True:  # in chunks, so a big prune never holds the writer for long
            deleted = await db.write_in_thread(lambda conn: conn.execute(whole, (cut,)).rowcount)
            total += deleted
            if deleted < PRUNE_CHUNK:
                break
        for shape in rollup.SHAPES:
            await db.execute(f"DELETE FROM {shape.table} WHERE bucket < ? AND bucket <> ?", cut, rollup.NO_TS)
        while ts > cut:
            deleted = await db.write_in_thread(lambda conn: self._subtract_chunk(conn, cut, ts))
            total += deleted
            if deleted < PRUNE_CHUNK:
                break
        return total

    def _subtract_chunk(self, conn: sqlite3.Connection, start: float, end: float) -> int:
        chosen = f"SELECT id FROM {TABLE} WHERE ts >= ? AND ts < ? ORDER BY id LIMIT {PRUNE_CHUNK}"
        rows = conn.execute(f"SELECT id, {_READ} FROM {TABLE} WHERE id IN ({chosen})", (start, end)).fetchall()
        bucket = rollup.bucket_of(start, self.grain)
        for shape in rollup.SHAPES:
            built_to, boundary = _state(conn, shape)
            # Rows a rollup has not been built from yet are not in it.
            counted = rollup.pick((tuple(row)[1:] for row in rows if not built_to < row[0] <= boundary), shape)
            cells = rollup.fold(counted, self.grain, shape)
            conn.executemany(_SUBTRACT[shape], rollup.params(cells, "sqlite", subtract=True, shape=shape))
            conn.execute(f"DELETE FROM {shape.table} WHERE bucket = ? AND attempts = 0", (bucket,))
            if shape.seen:
                conn.execute(rollup.clamp_first_seen(shape, "sqlite"), (end, bucket))
        conn.execute(f"DELETE FROM {TABLE} WHERE id IN ({chosen})", (start, end))
        return len(rows)

    # ------------------------------------------------------------------ rollup

    async def build_rollup_step(self) -> int | None:
        """Fold the next chunk of older rows into the rollup, in one transaction; about how many
        rows are left to do (0: done), None when there was nothing to do."""

        def step(conn: sqlite3.Connection) -> dict[int, tuple[int, int]]:
            progress = {}
            for shape in rollup.SHAPES:
                built_to, boundary = _state(conn, shape)
                if built_to >= boundary:
                    continue
                rows = conn.execute(
                    f"SELECT id, {_READ} FROM {TABLE} WHERE id > ? AND id <= ? ORDER BY id LIMIT {rollup.BUILD_CHUNK}",
                    (built_to, boundary),
                ).fetchall()
                cells = rollup.fold(rollup.pick((tuple(row)[1:] for row in rows), shape), self.grain, shape)
                conn.executemany(_ADD[shape], rollup.params(cells, "sqlite", shape=shape))
                done = rows[-1][0] if len(rows) == rollup.BUILD_CHUNK else boundary
                conn.execute(f"UPDATE {rollup.STATE} SET built_to = ? WHERE id = ?", (done, shape.state_id))
                progress[shape.state_id] = (done, boundary)
            return progress

        return self._built(await self.db.write_in_thread(step))


def _create_schema(conn: sqlite3.Connection, grain: int) -> int:
    """The table, columns a database made by an older version lacks, the indexes and the rollup,
    in one transaction (the rows the rollup must be built from are exactly those present when it
    is created; other processes wait for the lock). The rollup's grain, as first created."""
    columns = ", ".join(f"{name} {SQLITE_TYPES[kind]}" for name, kind in COLUMNS)
    conn.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, {columns})")
    present = {row[1] for row in conn.execute(f"PRAGMA table_info({TABLE})").fetchall()}
    for name, kind in COLUMNS:
        if name not in present:
            conn.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {SQLITE_TYPES[kind]}")
    for index in INDEXES:
        conn.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_{'_'.join(index)} ON {TABLE} ({', '.join(index)})")
    for statement in rollup.schema("sqlite", grain):
        conn.execute(statement)
    rollup.upgrade_sqlite(conn)
    return int(conn.execute(f"SELECT grain FROM {rollup.STATE} WHERE id = 1").fetchone()[0])


def _state(conn: sqlite3.Connection, shape: rollup.Shape) -> tuple[int, int]:
    row = conn.execute(f"SELECT built_to, boundary FROM {rollup.STATE} WHERE id = ?", (shape.state_id,)).fetchone()
    return (0, 0) if row is None else (int(row[0]), int(row[1]))
