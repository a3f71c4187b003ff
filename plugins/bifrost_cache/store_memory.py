"""Entries in this process's memory only: nothing survives a restart."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .catalog import Meta
from .stores import Apply, Entry, Every, Known

if TYPE_CHECKING:
    from bifrost_py.periodic import Periodic


class MemoryStore:
    name = "memory"
    shared = False

    def __init__(self) -> None:
        self.bodies: dict[str, tuple[Meta, bytes]] = {}

    async def open(self) -> None:
        """Nothing to open."""

    async def close(self) -> None:
        self.bodies.clear()

    async def load(self, now: float) -> list[Known]:
        return []

    async def fetch(self, key: str, now: float) -> tuple[Meta, bytes] | None:
        found = self.bodies.get(key)
        return found if found is not None and found[0].expires > now else None

    async def put(self, entry: Entry) -> list[str]:
        self.bodies[entry.meta.key] = (entry.meta, entry.body)
        return []

    def touch(self, key: str, now: float) -> None:
        """The catalog keeps the LRU order; nothing else to record."""

    async def delete(self, keys: list[str]) -> None:
        for key in keys:
            self.bodies.pop(key, None)

    async def clear(self, scope: str | None) -> int:
        doomed = [k for k, (meta, _) in self.bodies.items() if scope is None or meta.scope == scope]
        await self.delete(doomed)
        return len(doomed)

    def follow(self, apply: Apply, every: Every) -> Periodic | None:
        """Nobody else writes here."""
        return None

    async def flush(self) -> None:
        """Writes are immediate."""
