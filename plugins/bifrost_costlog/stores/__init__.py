"""Where log rows are kept: SQLite (one machine, no set-up) or PostgreSQL (several instances).

Both speak the same small interface, and every query is written once with `?` placeholders in
SQL both understand; the PostgreSQL store renumbers them. `open_store` picks by URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol


class Store(Protocol):
    """What the writer, the query API and the report need from a store."""

    dialect: str  # "sqlite" or "postgres": the few SQL expressions that differ are chosen by it

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        """Write rows (tuples in `columns.NAMES` order) in one transaction; their new ids."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def delete_before(self, ts: float) -> int:
        """Delete rows that started before epoch `ts`; how many went."""
        ...


def open_store(url: str) -> Store:
    """A store for `storage.logs` (not opened yet)."""
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url)
    from .sqlite import SQLiteStore

    return SQLiteStore(sqlite_path(url))


def sqlite_path(url: str) -> str:
    """`sqlite:///bifrost.db` -> `bifrost.db` (relative), `sqlite:////var/x.db` -> `/var/x.db`."""
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise ValueError(f"storage.logs: expected sqlite:///PATH, got {url!r}")
    return url[len("sqlite:///") :]


PRUNE_CHUNK = 5000
