"""The PostgreSQL log store, for several gateway instances writing one log.

Rows go in with COPY (the fastest path asyncpg has); their ids are drawn from the table's
sequence first, so the writer knows them (the live stream sends them) and they stay unique and
increasing per batch across instances.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import asyncpg

from ..columns import COLUMNS, INDEXES, NAMES, POSTGRES_TYPES, TABLE
from . import PRUNE_CHUNK

_SCHEMA_LOCK = 0x6263_6C6F  # pg_advisory_xact_lock key: instances starting together create once
_PLACEHOLDER = re.compile(r"\?")


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...` (our SQL has no `?` inside literals)."""
    counter = iter(range(1, 10_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)


class PostgresStore:
    dialect = "postgres"

    def __init__(self, url: str) -> None:
        self.url = url
        self._pool: asyncpg.Pool | None = None
        self._sql: dict[str, str] = {}

    async def open(self) -> None:
        self._pool = await asyncpg.create_pool(self.url, min_size=1, max_size=4)
        async with self._pool.acquire() as connection, connection.transaction():
            await connection.execute(f"SELECT pg_advisory_xact_lock({_SCHEMA_LOCK})")
            await self._create_schema(connection)

    async def _create_schema(self, connection: asyncpg.Connection) -> None:
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
            await connection.execute(
                f"CREATE INDEX IF NOT EXISTS {TABLE}_{'_'.join(index)} ON {TABLE} ({', '.join(index)})"
            )

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        assert self._pool is not None, "store not open"
        async with self._pool.acquire() as connection:
            found = await connection.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{TABLE}', 'id')) AS id FROM generate_series(1, $1)",
                len(records),
            )
            ids = sorted(int(r["id"]) for r in found)
            await connection.copy_records_to_table(
                TABLE, records=[(i, *record) for i, record in zip(ids, records)], columns=("id", *NAMES)
            )
        return ids

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        assert self._pool is not None, "store not open"
        query = self._sql.get(sql)
        if query is None:
            query = self._sql[sql] = numbered(sql)
        async with self._pool.acquire() as connection:
            return [dict(r) for r in await connection.fetch(query, *params)]

    async def delete_before(self, ts: float) -> int:
        assert self._pool is not None, "store not open"
        total = 0
        async with self._pool.acquire() as connection:
            while True:
                status = await connection.execute(
                    f"DELETE FROM {TABLE} WHERE id IN (SELECT id FROM {TABLE} WHERE ts < $1 LIMIT {PRUNE_CHUNK})",
                    float(ts),
                )
                deleted = int(status.split()[-1])
                total += deleted
                if deleted < PRUNE_CHUNK:
                    return total
