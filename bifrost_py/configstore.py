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
    ItemSection  what one plugin keeps in an ItemStore, followed: `reload` reads the items under
                a lock and hands them to the subclass's `load_items`; a change is checked, stored
                and reloaded before it returns. The alerts plugin's run-time settings are one.
    EditableSection  an ItemSection: the entries of one list in a plugin's config section (`routing.rules`,
                `failover.chains`): the YAML file's first, read-only, then the stored ones in
                their order. Every change, and every reload, is validated by reading the whole
                section, YAML and stored entries together, with the plugin's own `read_settings`:
                the function that reads the file, so an entry the file would refuse is refused
                with the same message. The settings read are handed to `apply` in one step.

The provider registry (providerregistry.py) follows its own store (secrets sealed) with a
Follower; the routing and failover plugins keep their rules and chains in an ItemStore.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import orjson

from .config import SQLITE_PREFIX
from .configschema import Problems, Section
from .periodic import Periodic
from .storage import Database, Transaction

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.configstore")

RELOAD_SECONDS = 2.0


class Versioned(Protocol):
    async def version(self) -> int: ...


S = TypeVar("S", bound=Versioned)
T = TypeVar("T")


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
    `version` to the version it applied. `stale()`, when given, asks for a reload too (what the
    stored settings were checked against has changed)."""

    def __init__(self, gateway: Gateway, what: str, make: Callable[[Database], Awaitable[S]],
                 reload: Callable[[], Awaitable[None]], stale: Callable[[], bool] | None = None) -> None:
        self.gateway = gateway
        self.what = what
        self._make = make
        self._reload = reload
        self._stale = stale
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
        elif await self.store.version() != self.version or (self._stale is not None and self._stale()):
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


Entry = tuple[str, dict[str, Any]]  # (name, settings as written, without the name)
NAME = re.compile(r"^[A-Za-z0-9*?\[][^\x00-\x1f/]{0,127}$")


class ChangeRefused(Exception):
    """A change refused: `status` (400, 404, 409) and one line per problem."""

    def __init__(self, status: int, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.problems = problems or []


@dataclass(frozen=True, slots=True)
class Shape:
    """How one list of a config section is written. `name_field` names an entry in the API
    (`name` of a rule, `model` of a chain); `from_yaml(raw section)` lists the file's entries;
    `combine(raw section, entries)` writes the section with `entries` in the list's place. An
    entry's other fields are passed on as given, so the reader reports a misspelt one as the
    file's "unknown key"."""

    section: str
    kind: str
    name_field: str
    from_yaml: Callable[[dict[str, Any]], list[Entry]]
    combine: Callable[[dict[str, Any], list[Entry]], dict[str, Any]]


class ItemSection:
    """What a plugin keeps in the ItemStore of `kind`, followed across instances. `reload` reads
    the version and the items under one lock and hands the items to `load_items` (the
    subclass's); the version counts as applied once that returned, so items it could not take
    are read again at the next check. `stale` as for Follower."""

    def __init__(self, gateway: Gateway, what: str, kind: str, stale: Callable[[], bool] | None = None) -> None:
        self.gateway = gateway
        self.follower: Follower[ItemStore] = Follower(gateway, what, lambda db: ItemStore.opened(db, kind),
                                                      self.reload, stale)
        self._lock = asyncio.Lock()

    def load_items(self, rows: list[StoredItem]) -> None:
        raise NotImplementedError

    async def reload(self) -> None:
        async with self._lock:
            store = self.follower.store
            if store is None:
                return
            version, rows = await store.load()
            self.load_items(rows)
            self.follower.version = version

    async def _put(self, name: str, data: dict[str, Any], problems: list[str]) -> None:
        """Store `data` as item `name` and put it in service, unless the settings with it have
        `problems` (a 400 listing them)."""
        if problems:
            raise ChangeRefused(400, "; ".join(problems), problems)
        await (await self.follower.open()).put(name, data)
        await self.reload()

    async def _remove(self, name: str) -> None:
        await (await self.follower.open()).delete(name)
        await self.reload()


class EditableSection(ItemSection, Generic[T]):
    """YAML entries (read-only) followed by stored ones, validated and applied as one section."""

    VIEW_ONLY = ("source", "read_only", "problems", "position")

    def __init__(self, gateway: Gateway, shape: Shape, reader: Callable[[Section, Gateway], T],
                 apply: Callable[[T], None]) -> None:
        kind = f"{shape.section}.{shape.kind}"
        super().__init__(gateway, kind, kind, self._providers_changed)
        self.shape = shape
        self.reader = reader
        self._apply_settings = apply
        raw = gateway.config.sections.get(shape.section)
        self.yaml_raw: dict[str, Any] = dict(raw) if isinstance(raw, dict) else {}
        self.yaml = shape.from_yaml(self.yaml_raw)
        self.stored: list[StoredItem] = []
        self.broken: dict[str, list[str]] = {}   # stored entries that no longer validate, left out
        self._writing = asyncio.Lock()
        self._checked_against = -1   # the gateway's providers_version the entries were checked against

    # ------------------------------------------------------------------ reading and applying

    def check(self, entries: list[Entry]) -> tuple[T, list[str]]:
        """The settings of the section with `entries` after the file's, and its problems (as
        `bifrost-py check` would list them for a file holding all of them)."""
        problems = Problems()
        section = Section(self.shape.combine(self.yaml_raw, [*self.yaml, *entries]), self.shape.section, problems)
        settings = self.reader(section, self.gateway)
        section.done()
        return settings, problems.items

    def _providers_changed(self) -> bool:
        """Entries are checked against the providers: one added, edited or deleted at run time
        (here or on another instance) may make a stored entry valid, or invalid."""
        return self.gateway.providers_version != self._checked_against

    def load_items(self, rows: list[StoredItem]) -> None:
        self._checked_against = self.gateway.providers_version
        good: list[Entry] = [(row.name, row.data) for row in rows]
        broken: dict[str, list[str]] = {}
        settings, problems = self.check(good)
        if problems:  # one by one (quadratic, so only then): an entry that no longer validates is left out
            good = []
            for row in rows:
                _, problems = self.check([*good, (row.name, row.data)])
                if problems:
                    broken[row.name] = problems
                    log.error("%s: stored entry %r is not valid, left out: %s", self.follower.what, row.name,
                              "; ".join(problems))
                else:
                    good.append((row.name, row.data))
            settings, _ = self.check(good)
        self._apply_settings(settings)
        self.stored, self.broken = rows, broken

    def view(self) -> list[dict[str, Any]]:
        """Every entry in evaluation order: the file's, then the stored ones."""
        field = self.shape.name_field
        out = [{field: name, **data, "source": "config", "read_only": True, "problems": []}
               for name, data in self.yaml]
        out += [{field: row.name, **row.data, "source": "ui", "read_only": False,
                 "problems": self.broken.get(row.name, [])} for row in self.stored]
        for position, entry in enumerate(out):
            entry["position"] = position
        return out

    def one(self, name: str) -> dict[str, Any]:
        for entry in self.view():
            if entry[self.shape.name_field] == name:
                return entry
        raise ChangeRefused(404, f"no {self._what()} named {name!r}")

    # ------------------------------------------------------------------ changes

    async def create(self, body: dict[str, Any]) -> dict[str, Any]:
        async with self._writing:  # one change at a time: checked against what the last one left
            await self.follower.open()  # the stored entries loaded (a first change opens the store)
            name = body.get(self.shape.name_field)
            if not isinstance(name, str) or not NAME.match(name):
                raise ChangeRefused(400, f"{self.shape.name_field}: required, 1-128 characters, no '/' "
                                         "or control characters")
            self._not_yaml(name)
            if any(row.name == name for row in self.stored):
                raise ChangeRefused(409, f"a {self._what()} named {name!r} already exists: PUT changes it")
            await self._write(name, self._data(body), [*self._entries(), (name, self._data(body))])
            return self.one(name)

    async def update(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self._writing:  # one change at a time: checked against what the last one left
            await self.follower.open()  # the stored entries loaded (a first change opens the store)
            self._not_yaml(name)
            if not any(row.name == name for row in self.stored):
                raise ChangeRefused(404, f"no {self._what()} named {name!r}")
            given = body.get(self.shape.name_field, name)
            if given != name:
                raise ChangeRefused(400, f"{self.shape.name_field}: cannot be changed; create a new one and delete this")
            data = self._data(body)
            entries = [(row.name, data if row.name == name else row.data) for row in self.stored
                       if row.name == name or row.name not in self.broken]
            await self._write(name, data, entries)
            return self.one(name)

    async def delete(self, name: str) -> None:
        async with self._writing:  # one change at a time: checked against what the last one left
            await self.follower.open()  # the stored entries loaded (a first change opens the store)
            self._not_yaml(name)
            if not any(row.name == name for row in self.stored):
                raise ChangeRefused(404, f"no {self._what()} named {name!r}")
            await self._remove(name)

    async def reorder(self, names: object) -> list[dict[str, Any]]:
        async with self._writing:  # one change at a time: checked against what the last one left
            await self.follower.open()  # the stored entries loaded (a first change opens the store)
            stored = [row.name for row in self.stored]
            if (not isinstance(names, list) or not all(isinstance(n, str) for n in names)
                    or sorted(names) != sorted(stored) or len(set(names)) != len(names)):
                raise ChangeRefused(400, f"order: must list each entry added here exactly once ({', '.join(stored) or 'none'}); "
                                         "the config file's come first and keep their order")
            await (await self.follower.open()).reorder(names)
            await self.reload()
            return self.view()

    async def _write(self, name: str, data: dict[str, Any], entries: list[Entry]) -> None:
        await self._put(name, data, self.check(entries)[1])

    def _entries(self) -> list[Entry]:
        """The stored entries that validate, in order (broken ones are not in service)."""
        return [(row.name, row.data) for row in self.stored if row.name not in self.broken]

    def _data(self, body: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in body.items() if k != self.shape.name_field and k not in self.VIEW_ONLY}

    def _not_yaml(self, name: str) -> None:
        if any(n == name for n, _ in self.yaml):
            raise ChangeRefused(409, f"{self._what()} {name!r} comes from the config file: it is read-only "
                                     "here; change it there and restart")

    def _what(self) -> str:
        return self.shape.kind.rstrip("s")


__all__ = ["RELOAD_SECONDS", "ChangeRefused", "EditableSection", "Follower", "ItemSection", "ItemStore", "Shape",
           "StoredItem", "store_wanted"]
