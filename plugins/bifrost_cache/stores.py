"""Where entries live, behind one small interface, and the choice among the backends.

    memory   this process only, gone on restart (tests, benchmarks)
    sqlite   one machine: a table beside the logs; the in-memory index is rebuilt from it on
             start; with several workers each one also reads the others' new entries
    redis    several instances: entries, their LRU order and a feed of new entries in Redis

Every backend stores the answer body (an Anthropic message as JSON), the entry's metadata and
its vector (float32 bytes; None for entries that only match exactly). Work on a timer (the
SQLite writer, following other instances' entries) runs as `gateway.every` tasks: never cut
half-way, stopped before the plugins' shutdown.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .catalog import Meta

if TYPE_CHECKING:
    from bifrost_py.periodic import Periodic
    from bifrost_py.storage import Storage

    from .settings import CacheSettings


@dataclass(slots=True)
class Entry:
    meta: Meta
    body: bytes
    vector: np.ndarray | None = None


@dataclass(slots=True)
class Known:
    """An entry as the index learns it (at start-up, or from another instance): no body."""

    meta: Meta
    vector: np.ndarray | None


Apply = Callable[[list[Known]], None]
Every = Callable[..., "Periodic"]  # gateway.every (or bifrost_py.periodic.Periodics().every)


class StoreError(Exception):
    """The store could not answer (Redis down, restarted, too slow): the lookup is a miss and the
    answer is not stored; the request itself goes on. The store has already logged it."""


class Store(Protocol):
    name: str
    shared: bool  # other processes write here too: a local miss is worth asking the store

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def load(self, now: float) -> list[Known]: ...

    async def fetch(self, key: str, now: float) -> tuple[Meta, bytes] | None: ...

    async def put(self, entry: Entry) -> list[str]: ...

    def touch(self, key: str, now: float) -> None: ...

    async def delete(self, keys: list[str]) -> None: ...

    async def clear(self, scope: str | None) -> int: ...

    def follow(self, apply: Apply, every: Every) -> Periodic | None:
        """Hand the entries other processes store to `apply` from now on, as a periodic task
        made with `every`; None when nobody else writes here."""

    async def flush(self) -> None: ...


def vector_bytes(vector: np.ndarray | None) -> bytes | None:
    return None if vector is None else np.asarray(vector, dtype="<f4").tobytes()


def vector_from(raw: bytes | None) -> np.ndarray | None:
    return None if not raw else np.frombuffer(raw, dtype="<f4").astype(np.float32)


def make_store(settings: CacheSettings, storage: Storage, every: Every, *, workers: int = 1) -> Store:
    """The configured backend; SQLite and Redis through `storage` (the gateway's: shared with the
    other plugins, closed by the gateway), timers through `every` (the gateway's)."""
    if settings.backend == "redis":
        from .store_redis import RedisStore

        return RedisStore(storage, settings.redis_url, settings.redis_prefix, settings.max_entries)
    if settings.backend == "memory":
        from .store_memory import MemoryStore

        return MemoryStore()
    from .store_sqlite import SQLiteStore

    return SQLiteStore(storage, settings.sqlite_path, every, shared=workers > 1)


