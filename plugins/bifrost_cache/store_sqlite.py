"""Entries in SQLite, in the gateway's own database file unless `cache.sqlite` names one, opened
through `gateway.storage` (WAL, one writer shared with the other plugins using the file, reads
on reader connections that never wait behind a write).

Writes are queued and committed in batches off the request path by a `gateway.every` task
every WRITE_SECONDS (a round is never cut half-way and the last one runs at shutdown), each
batch one all-or-nothing transaction; a body that is not committed yet is served from
`_pending`, so an answer can be hit the moment it is stored. A fixed cadence rather than a
wake-up per write: under load one transaction carries many answers, and a request costs no
extra event-loop round trip (measured with bench.instructions: waking the task per write
cost ~1.5% of a request's instructions with every plugin on).
`flush()` commits what is queued itself, so it never depends on that task still running.
The in-memory index is rebuilt from the table on start (`load`). With several workers
(`server.workers`), each worker polls for the rows the others added (`follow`, another
periodic task) and asks the table on a local miss, so exact hits work across workers within
WRITE_SECONDS and semantic ones within `SYNC_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from itertools import groupby
from typing import Any

from bifrost_py.periodic import Periodic
from bifrost_py.storage import SQLiteDatabase, Storage, StorageUnavailable

from .catalog import Meta
from .stores import Apply, Entry, Every, Known, StoreError, vector_bytes, vector_from

log = logging.getLogger("bifrost_py.cache")
SYNC_SECONDS = 2.0
WRITE_SECONDS = 0.05  # between two batches: other workers see an exact entry within this
PURGE_SECONDS = 60.0
_COLUMNS = "key, scope, partition, created, expires, model, provider, size, hits"
SCHEMA = (
    """CREATE TABLE IF NOT EXISTS cache_entries (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        key TEXT NOT NULL UNIQUE,
        scope TEXT NOT NULL,
        partition TEXT,
        created REAL NOT NULL,
        expires REAL NOT NULL,
        last_used REAL NOT NULL,
        hits INTEGER NOT NULL DEFAULT 0,
        model TEXT NOT NULL DEFAULT '',
        provider TEXT NOT NULL DEFAULT '',
        size INTEGER NOT NULL DEFAULT 0,
        vector BLOB,
        body BLOB NOT NULL
    )""",
    "CREATE INDEX IF NOT EXISTS cache_entries_expires ON cache_entries (expires)",
    "CREATE INDEX IF NOT EXISTS cache_entries_scope ON cache_entries (scope)",
)


def _meta(row: Any) -> Meta:
    key, scope, partition, created, expires, model, provider, size, hits = row[:9]
    return Meta(key, scope, partition, created, expires, model, provider, size, hits)


class SQLiteStore:
    name = "sqlite"

    def __init__(self, storage: Storage, path: str, every: Every, *, shared: bool = False) -> None:
        self.storage = storage
        self.path = path
        self.every = every
        self.shared = shared
        self.db: SQLiteDatabase | None = None
        self._ops: list[tuple[str, Any]] = []
        self._pending: dict[str, tuple[Meta, bytes]] = {}
        self._writing = asyncio.Lock()  # one batch at a time: the writer's round or a flush
        self._writer: Periodic | None = None
        self._seq = 0
        self._purged = time.time()

    async def open(self) -> None:
        db = await self.storage.sqlite(self.path)
        await db.write_in_thread(lambda conn: [conn.execute(statement) for statement in SCHEMA])
        self.db = db
        self._writer = self.every(WRITE_SECONDS, self.flush, name=f"cache: writing entries to {self.path}")

    async def close(self) -> None:
        """Stop the writer (its round in progress ends, its final one commits what is queued),
        commit anything queued since; the database itself is the gateway's to close."""
        if self._writer is not None:
            await self._writer.stop()
        await self.flush()
        self.db = None

    # ------------------------------------------------------------------ reads

    async def load(self, now: float) -> list[Known]:
        """Every live entry, least recently used first (the order the catalog wants)."""
        assert self.db is not None
        self._seq = int(await self.db.fetchval("SELECT COALESCE(MAX(seq), 0) FROM cache_entries") or 0)
        query = f"SELECT {_COLUMNS}, vector FROM cache_entries WHERE expires > ? ORDER BY last_used"
        return [Known(_meta(row), vector_from(row[9])) for row in await self.db.fetch(query, now)]

    async def fetch(self, key: str, now: float) -> tuple[Meta, bytes] | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending if pending[0].expires > now else None
        assert self.db is not None
        query = f"SELECT {_COLUMNS}, body FROM cache_entries WHERE key = ? AND expires > ?"
        try:
            row = await self.db.fetchone(query, key, now)
        except (StorageUnavailable, sqlite3.Error) as exc:  # busy beyond busy_timeout: a miss, not a 500
            log.warning("cache: reading %s failed (%s); answering a miss", self.path, exc)
            raise StoreError(str(exc)) from exc
        return None if row is None else (_meta(row), bytes(row[9]))

    def follow(self, apply: Apply, every: Every) -> Periodic | None:
        """With several workers: learn the entries the others stored, every SYNC_SECONDS."""
        if not self.shared:
            return None

        async def poll() -> None:
            apply(await self._since(time.time()))

        return every(SYNC_SECONDS, poll, name="cache: learning other workers' entries", final=False)

    async def _since(self, now: float) -> list[Known]:
        assert self.db is not None
        query = f"SELECT {_COLUMNS}, vector, seq FROM cache_entries WHERE seq > ? AND expires > ? ORDER BY seq"
        rows = await self.db.fetch(query, self._seq, now)
        if rows:
            self._seq = max(self._seq, max(int(row[10]) for row in rows))
        return [Known(_meta(row), vector_from(row[9])) for row in rows]

    # ------------------------------------------------------------------ writes (batched)

    async def put(self, entry: Entry) -> list[str]:
        self._pending[entry.meta.key] = (entry.meta, entry.body)
        self._queue("put", entry)
        return []

    def touch(self, key: str, now: float) -> None:
        self._queue("touch", (key, now))

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            self._pending.pop(key, None)
        if keys:
            self._queue("delete", list(keys))

    async def clear(self, scope: str | None) -> int:
        await self.flush()
        assert self.db is not None
        try:
            if scope is None:
                return await self.db.execute("DELETE FROM cache_entries")
            return await self.db.execute("DELETE FROM cache_entries WHERE scope = ?", scope)
        except (StorageUnavailable, sqlite3.Error) as exc:
            raise StoreError(f"the SQLite cache store could not delete: {exc}") from exc

    async def flush(self) -> None:
        """Commit every queued write (the writer's round; tests and shutdown call it too)."""
        while self._ops:
            async with self._writing:
                ops, self._ops = self._ops, []
                if ops:
                    await self._commit(ops)
        async with self._writing:  # a batch another caller took is committed too
            pass

    def _queue(self, kind: str, item: Any) -> None:
        self._ops.append((kind, item))

    async def _commit(self, ops: list[tuple[str, Any]]) -> None:
        try:
            await self._write(ops)
        except Exception:  # the batch was rolled back whole: these entries are not cached
            log.exception("cache: writing %d change(s) to %s failed", len(ops), self.path)
        for kind, item in ops:
            if kind == "put" and self._pending.get(item.meta.key, (None,))[0] is item.meta:
                del self._pending[item.meta.key]

    async def _write(self, ops: list[tuple[str, Any]]) -> None:
        """Apply `ops` in order (a delete and a re-put of one key must not swap), runs of one
        kind of change as one executemany, all in one transaction in the writer's thread."""
        assert self.db is not None
        runs: list[tuple[str, list[tuple[Any, ...]]]] = []
        for kind, items in groupby(ops, key=lambda op: op[0]):
            batch = [item for _, item in items]
            if kind == "put":
                runs.append((_INSERT, [_row(entry) for entry in batch]))
            elif kind == "touch":
                runs.append((_TOUCH, [(now, key) for key, now in batch]))
            else:
                runs.append((_DELETE, [(key,) for keys in batch for key in keys]))
        now = time.time()
        if now - self._purged > PURGE_SECONDS:
            self._purged = now
            runs.append(("DELETE FROM cache_entries WHERE expires <= ?", [(now,)]))

        def write(conn: sqlite3.Connection) -> None:
            for sql, rows in runs:
                conn.executemany(sql, rows)

        await self.db.write_in_thread(write)


_INSERT = (
    "INSERT OR REPLACE INTO cache_entries (key, scope, partition, created, expires, last_used, hits,"
    " model, provider, size, vector, body) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?)"
)
_TOUCH = "UPDATE cache_entries SET last_used = ?, hits = hits + 1 WHERE key = ?"
_DELETE = "DELETE FROM cache_entries WHERE key = ?"


def _row(entry: Entry) -> tuple[Any, ...]:
    meta = entry.meta
    return (
        meta.key, meta.scope, meta.partition, meta.created, meta.expires, meta.created,
        meta.model, meta.provider, meta.size, vector_bytes(entry.vector), entry.body,
    )
