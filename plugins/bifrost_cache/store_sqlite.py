"""Entries in SQLite (WAL), in the gateway's own database file unless `cache.sqlite` names one.

Writes go through one background writer that commits in batches, off the request path; a body
that is not committed yet is served from `_pending`, so an answer can be hit the moment it is
stored. The in-memory index is rebuilt from the table on start (`load`). With several workers
(`server.workers`), each worker polls for the rows the others added (`follow`) and asks the
table on a local miss, so exact hits work across workers at once and semantic ones within
`SYNC_SECONDS`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from itertools import groupby
from typing import Any

import aiosqlite

from .catalog import Meta
from .stores import Apply, Entry, Known, StoreError, vector_bytes, vector_from

log = logging.getLogger("bifrost_py.cache")
SYNC_SECONDS = 2.0
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

    def __init__(self, path: str, *, shared: bool = False) -> None:
        self.path = path
        self.shared = shared
        self.db: aiosqlite.Connection | None = None
        self._ops: list[tuple[str, Any]] = []
        self._pending: dict[str, tuple[Meta, bytes]] = {}
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._writer: asyncio.Task[None] | None = None
        self._seq = 0
        self._purged = time.time()

    async def open(self) -> None:
        folder = os.path.dirname(self.path)
        if folder and self.path != ":memory:":
            os.makedirs(folder, exist_ok=True)
        self.db = await aiosqlite.connect(self.path)
        for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
            await self.db.execute(f"PRAGMA {pragma}")
        for statement in SCHEMA:
            await self.db.execute(statement)
        await self.db.commit()
        self._writer = asyncio.get_running_loop().create_task(self._write_loop())

    async def close(self) -> None:
        await self.flush()
        if self._writer is not None:
            self._writer.cancel()
            await asyncio.gather(self._writer, return_exceptions=True)
        if self.db is not None:
            await self.db.close()
            self.db = None

    # ------------------------------------------------------------------ reads

    async def load(self, now: float) -> list[Known]:
        """Every live entry, least recently used first (the order the catalog wants)."""
        assert self.db is not None
        async with self.db.execute("SELECT COALESCE(MAX(seq), 0) FROM cache_entries") as cursor:
            row = await cursor.fetchone()
            self._seq = int(row[0]) if row else 0
        query = f"SELECT {_COLUMNS}, vector FROM cache_entries WHERE expires > ? ORDER BY last_used"
        async with self.db.execute(query, (now,)) as cursor:
            return [Known(_meta(row), vector_from(row[9])) async for row in cursor]

    async def fetch(self, key: str, now: float) -> tuple[Meta, bytes] | None:
        pending = self._pending.get(key)
        if pending is not None:
            return pending if pending[0].expires > now else None
        assert self.db is not None
        query = f"SELECT {_COLUMNS}, body FROM cache_entries WHERE key = ? AND expires > ?"
        try:
            async with self.db.execute(query, (key, now)) as cursor:
                row = await cursor.fetchone()
        except sqlite3.Error as exc:  # a database busy beyond busy_timeout: a miss, not a 500
            log.warning("cache: reading %s failed (%s); answering a miss", self.path, exc)
            raise StoreError(str(exc)) from exc
        return None if row is None else (_meta(row), bytes(row[9]))

    async def follow(self, apply: Apply) -> None:
        """With several workers: learn the entries the others stored (runs until cancelled)."""
        if not self.shared:
            return
        while True:
            await asyncio.sleep(SYNC_SECONDS)
            try:
                apply(await self._since(time.time()))
            except Exception:
                log.exception("cache: reading other workers' entries failed")

    async def _since(self, now: float) -> list[Known]:
        assert self.db is not None
        query = f"SELECT {_COLUMNS}, vector, seq FROM cache_entries WHERE seq > ? AND expires > ? ORDER BY seq"
        async with self.db.execute(query, (self._seq, now)) as cursor:
            rows = await cursor.fetchall()
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
                cursor = await self.db.execute("DELETE FROM cache_entries")
            else:
                cursor = await self.db.execute("DELETE FROM cache_entries WHERE scope = ?", (scope,))
            await self.db.commit()
        except sqlite3.Error as exc:
            await self._rollback()
            raise StoreError(f"the SQLite cache store could not delete: {exc}") from exc
        return int(cursor.rowcount or 0)

    async def flush(self) -> None:
        """Wait until every queued write is committed."""
        while self._ops or not self._idle.is_set():
            self._wake.set()
            await self._idle.wait()
            if self._ops:
                await asyncio.sleep(0)

    def _queue(self, kind: str, item: Any) -> None:
        self._ops.append((kind, item))
        self._idle.clear()
        self._wake.set()

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            ops, self._ops = self._ops, []
            try:
                await self._write(ops)
            except Exception:
                log.exception("cache: writing %d change(s) to %s failed", len(ops), self.path)
                # An open transaction would keep SQLite's write lock from every other writer of
                # this file (the cost log, governance): end it; these entries are not cached.
                await self._rollback()
            for kind, item in ops:
                if kind == "put" and self._pending.get(item.meta.key, (None,))[0] is item.meta:
                    del self._pending[item.meta.key]
            if not self._ops:
                self._idle.set()

    async def _rollback(self) -> None:
        try:
            if self.db is not None:
                await self.db.rollback()
        except sqlite3.Error:
            log.exception("cache: rolling back %s failed", self.path)

    async def _write(self, ops: list[tuple[str, Any]]) -> None:
        """Apply `ops` in order (a delete and a re-put of one key must not swap), runs of one
        kind of change as one executemany, all in one transaction."""
        assert self.db is not None
        for kind, items in groupby(ops, key=lambda op: op[0]):
            batch = [item for _, item in items]
            if kind == "put":
                await self.db.executemany(_INSERT, [_row(entry) for entry in batch])
            elif kind == "touch":
                await self.db.executemany(_TOUCH, [(now, key) for key, now in batch])
            else:
                await self.db.executemany(_DELETE, [(key,) for keys in batch for key in keys])
        now = time.time()
        if now - self._purged > PURGE_SECONDS:
            self._purged = now
            await self.db.execute("DELETE FROM cache_entries WHERE expires <= ?", (now,))
        await self.db.commit()


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
