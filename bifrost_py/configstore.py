"""Settings changed at run time: kept in the gateway's database (`storage.logs`, SQLite or
PostgreSQL through `gateway.storage`) and followed by every gateway instance on it.

    Follower    one instance's copy kept current. The store is opened at start when the admin
                API is on (admin.token set), or the database is PostgreSQL, or the SQLite file
                already exists; otherwise at the first change through the admin API, so a
                gateway run from a YAML file alone never creates a database nobody gives it.
                Then every RELOAD_SECONDS the store's version is compared with the one last
                applied, and `reload()` runs when it moved. A store that cannot be opened at
                start (PostgreSQL down) is tried again every RELOAD_SECONDS.
    ItemStore   named JSON documents of one kind (routing rules, failover chains, ...) in the
                order the admin sets, in one table shared by every kind; each write bumps that
                kind's version in the same transaction.

The provider registry (providerregistry.py) follows its own store (secrets sealed) with a
Follower; the routing and failover plugins keep their rules and chains in an ItemStore.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import orjson

from .config import SQLITE_PREFIX
from .periodic import Periodic
from .storage import Database, Transaction

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.configstore")

RELOAD_SECONDS = 2.0


class Versioned(Protocol):
    async def version(self) -> int: ...


S = TypeVar("S", bound=Versioned)


def store_wanted(gateway: Gateway) -> bool:
    """Open the store at start? Yes with an admin API, on PostgreSQL, or when the SQLite file exists."""
    config = gateway.config
    if config.admin_token or not config.logs_url.startswith(SQLITE_PREFIX):
        return True
    path = config.logs_url[len(SQLITE_PREFIX):]
    return path not in ("", ":memory:") and Path(path).exists()


class Follower(Generic[S]):
    """Opens a store on the gateway's database when wanted and reloads when its version moved.
    `make(db)` builds the store (its tables made); `reload()` reads it and applies it, setting
    `version` to the version it applied."""

    def __init__(self, gateway: Gateway, what: str, make: Callable[[Database], Awaitable[S]],
                 reload: Callable[[], Awaitable[None]]) -> None:
        self.gateway = gateway
        self.what = what
        self._make = make
        self._reload = reload
        self.store: S | None = None
        self.version = -1
        self._periodic: Periodic | None = None

    async def start(self) -> None:
        if not store_wanted(self.gateway):
            return  # opened by the first change through the admin API, if one comes
        try:
            await self.open()
        except Exception:  # the next check tries again; the YAML settings serve meanwhile
            log.exception("%s: opening the store failed; trying again in %ss", self.what, RELOAD_SECONDS)
            self._follow()

    async def open(self) -> S:
        """The store, opened (tables made, contents applied) on first use."""
        if self.store is None:
            db = await self.gateway.storage.sql(self.gateway.config.logs_url)
            self.store = await self._make(db)
            self._follow()
            await self._reload()
        return self.store

    def _follow(self) -> None:
        if self._periodic is None:
            self._periodic = self.gateway.every(RELOAD_SECONDS, self.check, final=False,
                                                name=f"{self.what}: following changes of other instances")

    async def check(self) -> None:
        """One round of following: open the store if it is not yet, reload if its version moved."""
        if self.store is None:
            await self.open()
        elif await self.store.version() != self.version:
            await self._reload()


@dataclass(frozen=True, slots=True)
class StoredItem:
    name: str
    data: dict[str, Any]
    position: float
    updated_at: float


SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bf_config_items (
        kind TEXT NOT NULL, name TEXT NOT NULL, position DOUBLE PRECISION NOT NULL, data TEXT NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL,
        PRIMARY KEY (kind, name))""",
    """CREATE TABLE IF NOT EXISTS bf_config_versions (kind TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
)
BUMP = ("INSERT INTO bf_config_versions (kind, value) VALUES (?, 1) "
        "ON CONFLICT (kind) DO UPDATE SET value = bf_config_versions.value + 1")


class ItemStore:
    """The items of one `kind` in `bf_config_items`, in `position` order."""

    def __init__(self, db: Database, kind: str) -> None:
        self.db = db
        self.kind = kind

    @classmethod
    async def opened(cls, db: Database, kind: str) -> ItemStore:
        for statement in SCHEMA:
            await db.execute(statement)
        return cls(db, kind)

    async def version(self) -> int:
        value = await self.db.fetchval("SELECT value FROM bf_config_versions WHERE kind = ?", self.kind)
        return int(value or 0)

    async def load(self) -> tuple[int, list[StoredItem]]:
        """The version and every item, in order. The version is read first: a write landing
        between the two reads is then reloaded once more at the next check, never missed."""
        version = await self.version()
        rows = await self.db.fetch("SELECT name, data, position, updated_at FROM bf_config_items WHERE kind = ? "
                                   "ORDER BY position, name", self.kind)
        return version, [StoredItem(row["name"], orjson.loads(row["data"]), float(row["position"]),
                                    float(row["updated_at"])) for row in rows]

    async def put(self, name: str, data: dict[str, Any]) -> None:
        """Create `name` (last in the order) or replace its data (keeping its place)."""
        raw = orjson.dumps(data).decode()
        now = time.time()

        async def write(tx: Transaction) -> None:
            last = await tx.fetchone("SELECT MAX(position) AS p FROM bf_config_items WHERE kind = ?", self.kind)
            position = float(last["p"]) + 1 if last is not None and last["p"] is not None else 0.0
            await tx.execute(
                "INSERT INTO bf_config_items (kind, name, position, data, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (kind, name) DO UPDATE SET data = excluded.data, "
                "updated_at = excluded.updated_at", self.kind, name, position, raw, now, now)
            await tx.execute(BUMP, self.kind)

        await self.db.write(write)

    async def delete(self, name: str) -> bool:
        async def write(tx: Transaction) -> int:
            gone = await tx.execute("DELETE FROM bf_config_items WHERE kind = ? AND name = ?", self.kind, name)
            await tx.execute(BUMP, self.kind)
            return gone

        return bool(await self.db.write(write))

    async def reorder(self, names: list[str]) -> None:
        """Put the items in the order `names` gives (the caller checked it names each item once)."""
        async def write(tx: Transaction) -> None:
            for position, name in enumerate(names):
                await tx.execute("UPDATE bf_config_items SET position = ? WHERE kind = ? AND name = ?",
                                 float(position), self.kind, name)
            await tx.execute(BUMP, self.kind)

        await self.db.write(write)


__all__ = ["RELOAD_SECONDS", "Follower", "ItemStore", "StoredItem", "store_wanted"]
