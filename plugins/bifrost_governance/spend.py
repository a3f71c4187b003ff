"""The durable record of budget spend when the counters live in Redis (`gov_spend`).

Redis is fast and shared, but a Redis restarted without persistence (or FLUSHALL) forgets every
budget's spend, and the gateway would admit from zero. So each instance also writes what settled
on every budget meter to the database at `storage.logs`, the way the memory store's journal does:
settlements add to a dictionary in memory (no I/O on the request path), and every
`flush_interval` the sums are added to the table in one transaction.

Rows are keyed by (meter, generation): the Redis generation the amount was counted in ('' when
Redis had no data set at all). A rebuild for a new generation G gives each meter the sum of its
rows of every generation but G, which is exactly what G's counters did not count themselves
(redis_rebuild.py). Additions are not idempotent: a flush whose commit went through but whose
answer was lost is added again next time. That errs on the side of spend (never on overshoot).

The plugin runs `flush` every `flush_interval` (`gateway.every`) and once more in its shutdown
hook, after the Redis store gave back its last tickets.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bifrost_py.storage import Database

log = logging.getLogger("bifrost_governance")

_ADD = (
    "INSERT INTO gov_spend (meter, gen, used, expires) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (meter, gen) DO UPDATE SET used = gov_spend.used + excluded.used, expires = excluded.expires"
)
_TOTALS = (
    "SELECT meter, SUM(used), MAX(expires) FROM gov_spend "
    "WHERE gen <> ? AND (expires IS NULL OR expires > ?) GROUP BY meter"
)
_FORGET = "DELETE FROM gov_spend WHERE expires IS NOT NULL AND expires <= ?"
FORGET_EVERY = 600    # flushes between deletions of rows whose meters expired (a minute at 100 ms)


class SpendLog:
    """Write-behind of settled budget amounts, per (meter, generation)."""

    def __init__(self, db: Database, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.clock = clock
        self.pending: dict[tuple[str, str], int] = {}      # (meter, generation) -> amount
        self.expires: dict[str, float | None] = {}         # meter -> when its key expires
        self._flushes = 0

    def add(self, meter: str, gen: str, amount: int, expires: float | None) -> None:
        """Record `amount` settled on `meter` (in generation `gen`); `expires`: when the meter's
        key expires, Unix seconds (None: never). On the request path: memory only."""
        key = (meter, gen)
        self.pending[key] = self.pending.get(key, 0) + amount
        self.expires[meter] = expires

    async def flush(self) -> None:
        batch, self.pending = self.pending, {}
        expires, self.expires = self.expires, {}
        if batch:
            try:
                await self.db.executemany(_ADD, [(m, g, a, expires[m]) for (m, g), a in batch.items()])
            except BaseException:
                for (meter, gen), amount in batch.items():   # written next time
                    self.add(meter, gen, amount, expires[meter])
                raise
        self._flushes += 1
        if self._flushes % FORGET_EVERY == 0:
            await self.db.execute(_FORGET, self.clock())

    async def totals(self, excluding: str, now: float) -> list[tuple[str, int, float | None]]:
        """(meter, spend, expires) of every meter still alive at `now`, summed over every
        generation but `excluding`."""
        rows = await self.db.fetch(_TOTALS, excluding, now)
        return [(meter, int(used), None if expires is None else float(expires)) for meter, used, expires in rows]
