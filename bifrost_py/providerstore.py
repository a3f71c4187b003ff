"""Providers created at run time, kept in the gateway's database (`storage.logs`: SQLite or
PostgreSQL, through `gateway.storage`), their secrets sealed (secrets.py).

One row per provider: its settings exactly as they would be written under `providers.NAME` in
the YAML file (so one reader, `config.provider_from_dict`, validates both), with every secret
field sealed, plus whether it is enabled. Every write also bumps one version number in the same
transaction: other gateway instances on the same database compare it every few seconds and
reload when it moved.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from .secrets import SecretBox, is_sealed
from .storage import Database, Transaction

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS bf_providers (
        name TEXT PRIMARY KEY, data TEXT NOT NULL, enabled INTEGER NOT NULL,
        created_at DOUBLE PRECISION NOT NULL, updated_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS bf_provider_meta (name TEXT PRIMARY KEY, value BIGINT NOT NULL)""",
)
BUMP = ("INSERT INTO bf_provider_meta (name, value) VALUES ('version', 1) "
        "ON CONFLICT (name) DO UPDATE SET value = bf_provider_meta.value + 1")
SECRET_FIELDS = ("access_key_id", "secret_access_key", "session_token")


@dataclass(frozen=True, slots=True)
class StoredProvider:
    """One provider of the store, secrets in plain text (in memory only)."""

    name: str
    data: dict[str, Any]
    enabled: bool
    created_at: float
    updated_at: float


def sealed(data: dict[str, Any], box: Callable[[], SecretBox], name: str) -> dict[str, Any]:
    """`data` with every secret sealed: key values, AWS credentials, header values."""
    return _each_secret(data, lambda value: value if is_sealed(value) else box().seal(value, f"provider:{name}"))


def opened(data: dict[str, Any], box: Callable[[], SecretBox], name: str) -> dict[str, Any]:
    return _each_secret(data, lambda value: box().open(value, f"provider:{name}") if is_sealed(value) else value)


def _each_secret(data: dict[str, Any], change: Callable[[str], str]) -> dict[str, Any]:
    out = dict(data)
    for field in SECRET_FIELDS:
        if isinstance(out.get(field), str) and out[field]:
            out[field] = change(out[field])
    if isinstance(out.get("keys"), list):
        out["keys"] = [{**key, "value": change(key["value"])} if isinstance(key, dict) and isinstance(
            key.get("value"), str) and key["value"] else key for key in out["keys"]]
    if isinstance(out.get("headers"), dict):
        out["headers"] = {k: change(v) if isinstance(v, str) and v else v for k, v in out["headers"].items()}
    return out


class ProviderStore:
    """The `bf_providers` table; values go in sealed and come out opened. The master key is
    read (and its file created) only when a secret is first sealed or opened."""

    def __init__(self, db: Database, master_key: Callable[[], SecretBox]) -> None:
        self.db = db
        self._master_key = master_key
        self._box: SecretBox | None = None

    @property
    def box(self) -> SecretBox:
        if self._box is None:
            self._box = self._master_key()
        return self._box

    @box.setter
    def box(self, box: SecretBox | None) -> None:
        self._box = box

    def _current(self) -> SecretBox:
        return self.box

    async def create_tables(self) -> None:
        for statement in SCHEMA:
            await self.db.execute(statement)

    async def version(self) -> int:
        value = await self.db.fetchval("SELECT value FROM bf_provider_meta WHERE name = 'version'")
        return int(value or 0)

    async def load(self) -> tuple[int, list[StoredProvider]]:
        """The version and every stored provider, oldest first."""
        rows = await self.db.fetch("SELECT name, data, enabled, created_at, updated_at FROM bf_providers "
                                   "ORDER BY created_at, name")
        version = await self.version()
        return version, [StoredProvider(row["name"], opened(orjson.loads(row["data"]), self._current, row["name"]),
                                        bool(row["enabled"]), float(row["created_at"]), float(row["updated_at"]))
                         for row in rows]

    async def put(self, name: str, data: dict[str, Any], enabled: bool) -> None:
        raw = orjson.dumps(sealed(data, self._current, name)).decode()
        now = time.time()

        async def write(tx: Transaction) -> None:
            await tx.execute(
                "INSERT INTO bf_providers (name, data, enabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET data = excluded.data, enabled = excluded.enabled, "
                "updated_at = excluded.updated_at", name, raw, int(enabled), now, now)
            await tx.execute(BUMP)

        await self.db.write(write)

    async def delete(self, name: str) -> bool:
        async def write(tx: Transaction) -> int:
            gone = await tx.execute("DELETE FROM bf_providers WHERE name = ?", name)
            await tx.execute(BUMP)
            return gone

        return bool(await self.db.write(write))

    async def reseal(self, new_box: SecretBox) -> int:
        """Every stored secret opened with this store's key and sealed under `new_box`, in one
        transaction (all rows or none); the number of providers re-encrypted."""
        rows = await self.db.fetch("SELECT name, data FROM bf_providers")
        changed = [(orjson.dumps(sealed(opened(orjson.loads(row["data"]), self._current, row["name"]),
                                        lambda: new_box, row["name"])).decode(), row["name"]) for row in rows]

        async def write(tx: Transaction) -> None:
            for data, name in changed:
                await tx.execute("UPDATE bf_providers SET data = ? WHERE name = ?", data, name)
            await tx.execute(BUMP)

        await self.db.write(write)
        self.box = new_box
        return len(changed)
