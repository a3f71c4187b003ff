"""`gateway.storage`: databases and Redis opened by URL, once per gateway, shared by every plugin.

    db = await gateway.storage.sql(gateway.config.logs_url)      # SQLite or PostgreSQL by URL
    db = await gateway.storage.sqlite("sqlite:///cache.db")       # SQLiteDatabase (a path works too)
    pg = await gateway.storage.postgres("postgresql://...")       # PostgresDatabase (pg.pool: asyncpg)
    kv = await gateway.storage.redis("redis://127.0.0.1:6379/0")  # RedisClient

Two plugins that ask for the same URL get the same object: one SQLite writer connection for the
file (their writes are serialized instead of fighting over its lock), one asyncpg pool, one Redis
client. Plugins never close them: the gateway closes each once, after every plugin's shutdown
hook, so a plugin may still write its last state there. A relative SQLite path is relative to
the config file's folder (`config.base_dir`), however the gateway was started.

The SQL databases share one interface (`Database`: `?` placeholders, execute, executemany,
fetch, fetchone, fetchval, and `write(fn)` for a transaction); each also offers what only it has
(SQLiteDatabase.write_in_thread, PostgresDatabase.pool). A store that cannot answer now raises
StorageUnavailable (errors.py) whichever it is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from yarl import URL

from .errors import StorageClosed, StorageError, StorageUnavailable
from .postgres import PostgresDatabase, PostgresTransaction
from .redis import RedisClient
from .sql import Database, Dialect, Row, Transaction, numbered
from .sqlite import MEMORY, SQLiteDatabase

__all__ = [
    "Database", "Dialect", "PostgresDatabase", "PostgresTransaction", "RedisClient", "Row", "SQLiteDatabase",
    "Storage", "StorageClosed", "StorageError", "StorageUnavailable", "Transaction", "numbered", "shown_url",
]

log = logging.getLogger("bifrost_py.storage")
H = TypeVar("H", bound="_Handle")

SQLITE = "sqlite://"
POSTGRES = ("postgresql://", "postgres://")
REDIS = ("redis://", "rediss://", "unix://")


class _Handle(Protocol):
    url: str

    async def open(self) -> None: ...

    async def close(self) -> None: ...


class Storage:
    """Opens each URL once; `close()` closes everything it opened (the gateway calls it)."""

    def __init__(self, base_dir: Path | str | None = None) -> None:
        self.base_dir = Path(base_dir) if base_dir is not None else Path.cwd()
        self._handles: dict[str, asyncio.Task[Any]] = {}  # by normalized URL, in opening order
        self._closed = False

    # ------------------------------------------------------------------ opening

    async def sql(self, url: str) -> SQLiteDatabase | PostgresDatabase:
        """The SQL database `url` names: `sqlite:///PATH` or `postgresql://...`."""
        if url.startswith(SQLITE):
            return await self.sqlite(url)
        if url.startswith(POSTGRES):
            return await self.postgres(url)
        raise ValueError(f"expected a sqlite:///PATH or postgresql:// URL, got {shown_url(url)!r}")

    async def sqlite(self, url: str) -> SQLiteDatabase:
        """`sqlite:///relative.db`, `sqlite:////absolute.db`, `sqlite:///:memory:` or a plain path."""
        path = self.sqlite_path(url)
        key = SQLITE + "/" + path
        return await self._shared(key, lambda: SQLiteDatabase(key, path))

    async def postgres(self, url: str) -> PostgresDatabase:
        if not url.startswith(POSTGRES):
            raise ValueError(f"expected a postgresql:// URL, got {shown_url(url)!r}")
        key = "postgresql://" + url.split("://", 1)[1]
        return await self._shared(key, lambda: PostgresDatabase(key))

    async def redis(self, url: str) -> RedisClient:
        if not url.startswith(REDIS):
            raise ValueError(f"expected a redis:// URL, got {shown_url(url)!r}")
        return await self._shared(url, lambda: RedisClient(url, shown_url(url)))

    def sqlite_path(self, url: str) -> str:
        """The absolute file a SQLite URL (or path) names; relative ones are relative to
        `base_dir` (the config file's folder). `:memory:` stays itself."""
        path = url.removeprefix(SQLITE)
        if url.startswith(SQLITE):
            if not path.startswith("/") or len(path) < 2:
                raise ValueError(f"expected sqlite:///PATH, got {url!r}")
            path = path[1:]  # sqlite:///rel.db -> rel.db, sqlite:////abs.db -> /abs.db
        if path == MEMORY:
            return MEMORY
        return str((self.base_dir / Path(path).expanduser()).resolve())

    async def _shared(self, key: str, make: Callable[[], H]) -> H:
        if self._closed:
            raise StorageClosed(f"the gateway's storage is closed; cannot open {shown_url(key)}")
        task = self._handles.get(key)
        if task is None:
            task = asyncio.get_running_loop().create_task(self._open(key, make()))
            task.add_done_callback(_retrieve)
            self._handles[key] = task
        handle: H = await asyncio.shield(task)  # a caller cancelled meanwhile: the opening goes on
        return handle

    async def _open(self, key: str, handle: H) -> H:
        try:
            await handle.open()
        except BaseException:
            self._handles.pop(key, None)  # a later call tries again
            raise
        log.info("storage: opened %s", shown_url(key))
        return handle

    def opened(self) -> list[str]:
        """The URLs opened so far (passwords hidden), in the order they were first asked for."""
        return [shown_url(key) for key, task in self._handles.items() if task.done() and not task.exception()]

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        """Close everything, the last opened first; a failure is logged and the rest still
        close. Opening anything afterwards raises StorageClosed."""
        self._closed = True
        for key, task in reversed(list(self._handles.items())):
            await _close(key, task)
        self._handles.clear()


async def _close(key: str, task: asyncio.Task[Any]) -> None:
    if not task.done():
        await asyncio.wait([task])
    if task.cancelled() or task.exception() is not None:
        return  # it never opened: nothing to close
    handle: _Handle = task.result()
    try:
        await handle.close()
    except Exception:
        log.exception("storage: closing %s failed", shown_url(key))


def shown_url(url: str) -> str:
    """`url` fit for a log line: its password replaced by ***."""
    try:
        parsed = URL(url)
        return str(parsed.with_password("***")) if parsed.password else url
    except (ValueError, TypeError):
        return url.split("@", 1)[-1] if "@" in url else url


def _retrieve(task: asyncio.Task[Any]) -> None:
    if not task.cancelled():
        task.exception()
