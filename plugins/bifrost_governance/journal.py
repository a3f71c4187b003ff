"""What governance keeps in the database: counters (write-behind) and API-made entities.

Counters live in memory for speed; every `flush_interval` the ones that changed are written in
one transaction, and once more on shutdown, so a restart mid-month keeps the month's spend.

What a restart charges depends on how the process ended:

    crash (SIGKILL, OOM, power)   the record has each counter's `held` as of the last flush: the
                                  requests in flight then may have been billed, so loading charges
                                  it as spent (budgets never overshoot), once: the next flush
                                  writes the charged amount as `used` and nothing held.
    clean shutdown (SIGTERM)      the server waits for the requests in flight, which settle, so
                                  whatever is still held then belongs to no running request: a
                                  hold that leaked. The last flush writes every counter without
                                  its holds, so a restart charges nothing that was not spent.

A crash loses at most the last interval's changes (what settled in it is charged at its hold).

Rate-limit windows are written as deltas: each entry of a window's log is a row of
`gov_window_entries` (meter, entry number, admitted at, amount), written when it is admitted
(at its hold) and again when it settles; entries that slid out are deleted by number range. So
a flush costs what changed since the last one, not the length of every changed log (a window
of a minute at 100 requests/s is 6,000 entries: rewriting it as JSON ten times a second cost
more than the requests themselves). The window's `gov_windows` row keeps its length and expiry;
a log of the old format (its entries as JSON there) is read once and written again as rows.

The plugin runs `flush` every `flush_interval` (`gateway.every`, without the periodic task's own
final round) and `close()` in its shutdown hook, after the settlements under way have finished.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson

from bifrost_py.storage import Database

from .counters import FOREVER, GRACE, MemoryCounters, WindowChanges
from .entities import KINDS
from .settings import Entity, entity_dict, read_entity

log = logging.getLogger("bifrost_governance")

_UPSERT_COUNTER = (
    "INSERT INTO gov_counters (meter, used, held, expires) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (meter) DO UPDATE SET used = excluded.used, held = excluded.held, expires = excluded.expires"
)
_UPSERT_WINDOW = (
    "INSERT INTO gov_windows (meter, seconds, entries, expires) VALUES (?, ?, '[]', ?) "
    "ON CONFLICT (meter) DO UPDATE SET seconds = excluded.seconds, entries = excluded.entries, "
    "expires = excluded.expires"
)
_UPSERT_ENTRY = (
    "INSERT INTO gov_window_entries (meter, seq, admitted, amount) VALUES (?, ?, ?, ?) "
    "ON CONFLICT (meter, seq) DO UPDATE SET admitted = excluded.admitted, amount = excluded.amount"
)
_BUMP_VERSION = (
    "INSERT INTO gov_meta (name, value) VALUES ('version', 1) "
    "ON CONFLICT (name) DO UPDATE SET value = gov_meta.value + 1"
)


class CounterJournal:
    """Write-behind persistence of `MemoryCounters` to the `gov_counters` table."""

    def __init__(self, db: Database, counters: MemoryCounters) -> None:
        self.db = db
        self.counters = counters

    async def load(self) -> int:
        now = self.counters.clock()
        rows = await self.db.fetch("SELECT meter, used, held, expires FROM gov_counters")
        live = [
            (meter, int(used), int(held), FOREVER if expires is None else float(expires))
            for meter, used, held, expires in rows
            if expires is None or float(expires) + GRACE > now
        ]
        self.counters.restore(live)
        written: dict[str, list[tuple[int, float, int]]] = {}
        for meter, seq, admitted, amount in await self.db.fetch(
            "SELECT meter, seq, admitted, amount FROM gov_window_entries ORDER BY meter, seq"
        ):
            written.setdefault(meter, []).append((int(seq), float(admitted), int(amount)))
        windows = []
        for meter, seconds, entries, expires in await self.db.fetch(
            "SELECT meter, seconds, entries, expires FROM gov_windows"
        ):
            if float(expires) <= now:
                continue  # (its entries are deleted below: the window starts again from number 0)
            if meter in written:
                windows.append((meter, float(seconds), written[meter], True))
            else:  # the journal's old format: the whole log as JSON, written again as entries
                logged = [(seq, float(t), int(a)) for seq, (t, a) in enumerate(orjson.loads(entries))]
                windows.append((meter, float(seconds), logged, False))
        self.counters.restore_windows(windows)
        loaded = {meter for meter, *_ in windows}
        stale = [(meter,) for meter in written if meter not in loaded]
        if stale:
            await self.db.executemany("DELETE FROM gov_window_entries WHERE meter = ?", stale)
        return len(live) + len(windows)

    async def close(self) -> None:
        """The last flush, once the periodic flushes have stopped: what is left, without any
        holds (on a clean shutdown no request is running any more, see above)."""
        self.counters.mark_held()
        await self.flush(settled_only=True)

    async def flush(self, settled_only: bool = False) -> None:
        rows = self.counters.take_dirty(settled_only)
        windows = self.counters.take_dirty_windows(settled_only)
        try:
            if rows or windows:
                await self._write(_statements(rows, windows))
        except BaseException:
            self.counters.dirty.update(m for m, *_ in rows)   # write them next time
            self.counters.untake_windows(windows)
            raise
        gone = self.counters.forget_expired(self.counters.clock())
        if gone:
            await self.db.executemany("DELETE FROM gov_counters WHERE meter = ?", [(m,) for m in gone])
            await self.db.executemany("DELETE FROM gov_windows WHERE meter = ?", [(m,) for m in gone])
            await self.db.executemany("DELETE FROM gov_window_entries WHERE meter = ?", [(m,) for m in gone])


    async def _write(self, statements: list[tuple[str, list[tuple[Any, ...]]]]) -> None:
        """The statements in one transaction; on SQLite in one trip to its writer thread."""
        if self.db.dialect == "sqlite":
            def run(conn: Any) -> None:
                for sql, rows in statements:
                    conn.executemany(sql, rows)

            await self.db.write_in_thread(run)  # type: ignore[attr-defined]
            return

        async def run_async(tx: Any) -> None:
            for sql, rows in statements:
                await tx.executemany(sql, rows)

        await self.db.write(run_async)


def _statements(counters: list[tuple[str, int, int, float]],
                windows: list[WindowChanges]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    """What one flush writes: the changed counters; of the sliding windows, the entries admitted
    or settled since the last flush, each window's row, and the entries that slid out removed."""
    statements: list[tuple[str, list[tuple[Any, ...]]]] = []
    if counters:
        statements.append((_UPSERT_COUNTER, [(m, u, h, None if e == FOREVER else e) for m, u, h, e in counters]))
    entries = [(w.meter, seq, admitted, amount) for w in windows for seq, admitted, amount in w.entries]
    if entries:
        statements.append((_UPSERT_ENTRY, entries))
    if windows:
        statements.append((_UPSERT_WINDOW, [(w.meter, w.seconds, w.expires) for w in windows]))
    slid = [(w.meter, w.below) for w in windows if w.below is not None]
    if slid:
        statements.append(("DELETE FROM gov_window_entries WHERE meter = ? AND seq < ?", slid))
    return statements


class EntityStore:
    """Customers, teams and keys created through the admin API, one row each (`gov_entities`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def load(self) -> dict[str, dict[str, Entity]]:
        found: dict[str, dict[str, Entity]] = {kind: {} for kind in KINDS}
        for kind, name, data in await self.db.fetch("SELECT kind, name, data FROM gov_entities"):
            if kind not in found:
                continue
            entity, problems = read_entity(kind, name, orjson.loads(data))
            if entity is None:
                log.error("stored %s %r is not valid any more and is ignored: %s", kind, name, "; ".join(problems))
                continue
            found[kind][name] = entity
        return found

    async def save(self, kind: str, entity: Entity) -> None:
        now = time.time()
        data = orjson.dumps(entity_dict(entity)).decode()
        await self.db.execute(
            "INSERT INTO gov_entities (kind, name, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
            "ON CONFLICT (kind, name) DO UPDATE SET data = excluded.data, updated_at = excluded.updated_at",
            kind, entity.name, data, now, now,
        )
        await self.db.execute(_BUMP_VERSION)

    async def delete(self, kind: str, name: str) -> None:
        await self.db.execute("DELETE FROM gov_entities WHERE kind = ? AND name = ?", kind, name)
        await self.db.execute(_BUMP_VERSION)

    async def version(self) -> int:
        rows = await self.db.fetch("SELECT value FROM gov_meta WHERE name = 'version'")
        return int(rows[0][0]) if rows else 0
