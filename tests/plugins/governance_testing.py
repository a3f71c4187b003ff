"""Governance's stores wired as the plugin wires them, for tests that drive them directly.

Each "instance" has storage of its own (`bifrost_py.storage.Storage`), so two instances in one
test are two clients of the same Redis, as two gateway processes would be; `maintain` runs as a
periodic task, as `gateway.every` runs it in the plugin.
"""

from __future__ import annotations

from typing import Any

from bifrost_governance.redis_counters import RedisCounters
from bifrost_governance.schema import open_database

from bifrost_py.periodic import Periodic
from bifrost_py.storage import Database, Storage


async def connect(url: str) -> Database:
    """Governance's database at `url` on storage of its own; `await db.close()` when done."""
    return await open_database(Storage(), url)


class OwnRedisCounters(RedisCounters):
    """RedisCounters on a Redis client of its own, renewing its leases every `lease / 4`;
    `close()` also stops the renewal and closes the client (the gateway's job in the plugin)."""

    def __init__(self, url: str, **options: Any) -> None:
        self.storage = Storage()
        self.url = url
        self.renewer: Periodic | None = None
        super().__init__(None, **options)  # type: ignore[arg-type]  # set in open()

    async def open(self) -> None:
        self.kv = await self.storage.redis(self.url)
        await super().open()
        self.renewer = Periodic(self.lease / 4, self.maintain, name="renewing leases", final=False)
        self.renewer.start()

    async def close(self) -> None:
        if self.renewer is not None:
            await self.renewer.stop()
        try:
            await super().close()
        finally:
            await self.storage.close()
