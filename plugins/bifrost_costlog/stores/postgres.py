"""The PostgreSQL log store, for several gateway instances writing one log.

The pool is the gateway's (`gateway.storage.postgres`, shared with every plugin on the URL);
each write is one `PostgresDatabase.write` transaction, which a cancelled caller never cuts.
Rows go in with COPY (the fastest path asyncpg has); their ids are drawn from the table's
sequence first, so the writer knows them (the live stream sends them) and they stay unique and
increasing per batch across instances. The same transaction adds the batch to the usage rollup
(`rollup.py`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
from asyncpg.exceptions import _base as asyncpg_base

from bifrost_py.storage import PostgresDatabase, PostgresTransaction, Storage, StorageUnavailable

from .. import rollup
from ..columns import COLUMNS, INDEXES, NAMES, POSTGRES_TYPES, TABLE
from . import PRUNE_CHUNK, ROW, STORE, UNKNOWN, Fault, SharedStore, python_fault

_SCHEMA_LOCK = 0x6263_6C6F  # pg_advisory_xact_lock key: instances starting together create once
_ROLLUP_LOCK = 0x6263_6C70  # building the rollup and pruning it never interleave
_ADD = {shape: rollup.upsert("postgres", shape=shape) for shape in rollup.SHAPES}
_READ = ", ".join(rollup.READ)
# The server refused a value: data exceptions (class 22: NUL in text, out of range), integrity
# violations (23), an index entry too large (54); asyncpg's own DataError: a value it cannot encode.
_ROW_ERRORS = (
    asyncpg.DataError,
    asyncpg.IntegrityConstraintViolationError,
    asyncpg.ProgramLimitExceededError,
    asyncpg_base.DataError,
)
# The server is gone, starting, stopping, full or read-only, or the transaction lost a race:
# nothing to do with the rows.
_STORE_ERRORS = (
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    asyncpg.ReadOnlySQLTransactionError,
    asyncpg.LockNotAvailableError,
)


class PostgresStore(SharedStore):
    dialect = "postgres"
    db: PostgresDatabase

    async def _open(self, storage: Storage) -> None:
        db = await storage.postgres(self.url)

        async def create(tx: PostgresTransaction) -> int:
            connection = tx.connection
            await connection.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            return await _create_schema(connection, self.grain)

        self.grain = await db.write(create)
        self.db = db

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        cells = {
            shape: rollup.params(rollup.fold_records(records, self.grain, shape), "postgres", shape=shape)
            for shape in rollup.SHAPES
        }

        async def write(tx: PostgresTransaction) -> list[int]:
            connection = tx.connection
            found = await connection.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{TABLE}', 'id')) AS id FROM generate_series(1, $1)",
                len(records),
            )
            ids = sorted(int(r["id"]) for r in found)
            await connection.copy_records_to_table(
                TABLE, records=[(i, *record) for i, record in zip(ids, records)], columns=("id", *NAMES)
            )
            for shape, added in cells.items():
                await connection.executemany(_ADD[shape], added)
            return ids

        return await self.db.write(write)

    def fault(self, error: Exception) -> Fault:
        """The storage service raises StorageUnavailable for a server that is down, starting,
        full or read-only and a transaction that lost a race; see _ROW_ERRORS. asyncpg raises
        Python's UnicodeEncodeError for a surrogate and OverflowError beyond 64 bits while
        encoding a row for COPY."""
        if isinstance(error, _ROW_ERRORS):  # before InterfaceError: asyncpg's DataError is one
            return ROW
        if isinstance(error, (StorageUnavailable, *_STORE_ERRORS)):
            return STORE
        found = python_fault(error)
        if found is not None:
            return found
        return ROW if isinstance(error, ValueError) else UNKNOWN

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        return [dict(r) for r in await self.db.fetch(sql, *params)]

    async def delete_before(self, ts: float) -> int:
        """Rows before `ts` go; the rollup loses the buckets before the cut, and the rows of
        the bucket the cut falls in are subtracted from it."""
        db = self.db
        cut = rollup.bucket_of(ts, self.grain)
        total = 0
        while True:
            deleted = await db.execute(
                f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE ts < ? LIMIT {PRUNE_CHUNK})",
                float(cut),
            )
            total += deleted
            if deleted < PRUNE_CHUNK:
                break

        async def whole_buckets(tx: PostgresTransaction) -> None:
            await tx.execute(f"SELECT pg_advisory_xact_lock({_ROLLUP_LOCK})")
            for shape in rollup.SHAPES:
                await tx.execute(f"DELETE FROM {shape.table} WHERE bucket < ? AND bucket <> ?", cut, rollup.NO_TS)

        await db.write(whole_buckets)

        async def subtract(tx: PostgresTransaction) -> int:
            connection = tx.connection
            await connection.execute(f"SELECT pg_advisory_xact_lock({_ROLLUP_LOCK})")
            rows = await connection.fetch(
                f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE ts >= $1 AND ts < $2 "
                f"LIMIT {PRUNE_CHUNK}) RETURNING id, {_READ}",
                float(cut),
                float(ts),
            )
            for shape in rollup.SHAPES:
                built_to, boundary = await _state(connection, shape)
                # Rows a rollup has not been built from yet are not in it.
                counted = rollup.pick((tuple(r)[1:] for r in rows if not built_to < r["id"] <= boundary), shape)
                cells = rollup.fold(counted, self.grain, shape)
                await connection.executemany(
                    _ADD[shape], rollup.params(cells, "postgres", subtract=True, shape=shape)
                )
                await connection.execute(f"DELETE FROM {shape.table} WHERE bucket = $1 AND attempts = 0", cut)
                if shape.seen:
                    await connection.execute(rollup.clamp_first_seen(shape, "postgres"), float(ts), cut)
            return len(rows)

        while ts > cut:
            deleted = await db.write(subtract)
            total += deleted
            if deleted < PRUNE_CHUNK:
                break
        return total

    # ------------------------------------------------------------------ rollup

    async def build_rollup_step(self) -> int | None:
        """Fold the next chunk of older rows into the rollup, in one transaction (instances
        take turns); about how many rows are left (0: done), None when there was nothing to do."""

        async def step(tx: PostgresTransaction) -> dict[int, tuple[int, int]]:
            connection = tx.connection
            await connection.execute(f"SELECT pg_advisory_xact_lock({_ROLLUP_LOCK})")
            progress = {}
            for shape in rollup.SHAPES:
                built_to, boundary = await _state(connection, shape)
                if built_to >= boundary:
                    continue
                rows = await connection.fetch(
                    f"SELECT id, {_READ} FROM {TABLE} WHERE id > $1 AND id <= $2 ORDER BY id LIMIT {rollup.BUILD_CHUNK}",
                    built_to,
                    boundary,
                )
                cells = rollup.fold(rollup.pick((tuple(r)[1:] for r in rows), shape), self.grain, shape)
                await connection.executemany(_ADD[shape], rollup.params(cells, "postgres", shape=shape))
                done = rows[-1]["id"] if len(rows) == rollup.BUILD_CHUNK else boundary
                await connection.execute(f"UPDATE {rollup.STATE} SET built_to = $1 WHERE id = $2", done, shape.state_id)
                progress[shape.state_id] = (done, boundary)
            return progress

        return self._built(await self.db.write(step))


async def _create_schema(connection: asyncpg.Connection, grain: int) -> int:
    """The table, columns a database made by an older version lacks, the indexes and the
    rollup (under the schema lock, in one transaction); the rollup's grain, as first created."""
    columns = ", ".join(f"{name} {POSTGRES_TYPES[kind]}" for name, kind in COLUMNS)
    await connection.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id BIGSERIAL PRIMARY KEY, {columns})")
    present = {
        r["column_name"]
        for r in await connection.fetch(
            "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = current_schema()",
            TABLE,
        )
    }
    for name, kind in COLUMNS:
        if name not in present:
            await connection.execute(f"ALTER TABLE {TABLE} ADD COLUMN {name} {POSTGRES_TYPES[kind]}")
    for index in INDEXES:
        await connection.execute(f"CREATE INDEX IF NOT EXISTS {TABLE}_{'_'.join(index)} ON {TABLE} ({', '.join(index)})")
    for statement in rollup.schema("postgres", grain):
        await connection.execute(statement)
    for statement in rollup.UPGRADE_POSTGRES:
        await connection.execute(statement)
    return int(await connection.fetchval(f"SELECT grain FROM {rollup.STATE} WHERE id = 1"))


async def _state(connection: asyncpg.Connection, shape: rollup.Shape) -> tuple[int, int]:
    row = await connection.fetchrow(f"SELECT built_to, boundary FROM {rollup.STATE} WHERE id = $1", shape.state_id)
    return (0, 0) if row is None else (int(row["built_to"]), int(row["boundary"]))
