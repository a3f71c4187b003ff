"""The alerts' durable state: what was sent (history, deliveries) and which thresholds fired.

"Fired" marks make each threshold fire once per budget window across every instance and
restart: with Redis configured (`storage.redis`), one `SET key 1 NX EXAT <window end>` per mark,
atomic across instances and gone when the window is; else a row in the SQL database, inserted
with ON CONFLICT DO NOTHING (the changed-row count says who won). History and deliveries live in
the SQL database (`alerts.database`, default `storage.logs`), in tables prefixed `alerts_`.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

import orjson

from bifrost_py.storage import StorageUnavailable

if TYPE_CHECKING:
    from bifrost_py.storage.redis import RedisClient
    from bifrost_py.storage.sql import Database

    from .channels import Delivery
    from .message import Message

log = logging.getLogger("bifrost_py.alerts")
KEEP_UNWINDOWED = 400 * 86400  # a mark for a budget that never resets: kept about a year

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS alerts_fired (mark TEXT PRIMARY KEY, expires REAL NOT NULL)",
    ("CREATE TABLE IF NOT EXISTS alerts_history (id TEXT PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, "
    "title TEXT NOT NULL, text TEXT NOT NULL, details TEXT NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS alerts_history_ts ON alerts_history (ts)",
    ("CREATE TABLE IF NOT EXISTS alerts_deliveries (message_id TEXT NOT NULL, channel TEXT NOT NULL, "
    "ts REAL NOT NULL, ok INTEGER NOT NULL, attempts INTEGER NOT NULL, status INTEGER, error TEXT NOT NULL, "
    "seconds REAL NOT NULL)"),
    "CREATE INDEX IF NOT EXISTS alerts_deliveries_message ON alerts_deliveries (message_id)",
    "CREATE INDEX IF NOT EXISTS alerts_deliveries_ts ON alerts_deliveries (ts)",
)


class AlertStore:
    def __init__(self, db: Database, redis: RedisClient | None) -> None:
        self.db = db
        self.redis = redis

    async def open(self) -> None:
        for statement in SCHEMA:
            await self.db.execute(statement)

    async def claim(self, mark: str, expires: float | None) -> bool:
        """True for exactly one caller per mark (across instances), until it expires."""
        until = expires if expires is not None else time.time() + KEEP_UNWINDOWED
        if self.redis is not None:
            key = ("bifrost:alerts:fired:" + mark).encode()
            at = max(int(until) + 1, int(time.time()) + 1)
            return bool(await self.redis.run(lambda r: r.set(key, b"1", nx=True, exat=at), what="marking an alert"))
        now = time.time()
        await self.db.execute("DELETE FROM alerts_fired WHERE mark = ? AND expires < ?", mark, now)
        changed = await self.db.execute(
            "INSERT INTO alerts_fired (mark, expires) VALUES (?, ?) ON CONFLICT (mark) DO NOTHING", mark, until)
        return changed == 1

    async def record(self, message: Message) -> None:
        await self.db.execute("INSERT INTO alerts_history (id, ts, kind, title, text, details) VALUES (?, ?, ?, ?, ?, ?)",
                              message.id, message.ts, message.kind, message.title, message.text,
                              orjson.dumps(message.details).decode())

    async def delivered(self, delivery: Delivery) -> None:
        await self.db.execute(
            "INSERT INTO alerts_deliveries (message_id, channel, ts, ok, attempts, status, error, seconds) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            delivery.message_id, delivery.channel, delivery.ts, int(delivery.ok), delivery.attempts, delivery.status,
            delivery.error, delivery.seconds)

    async def history(self, limit: int, kind: str | None = None, before: float | None = None) -> list[dict[str, Any]]:
        """The newest `limit` alerts (of `kind`; older than the time `before`: the next page)."""
        conditions: list[str] = []
        args: list[Any] = []
        if kind:
            conditions.append("kind = ?")
            args.append(kind)
        if before is not None:
            conditions.append("ts < ?")
            args.append(before)
        where = "WHERE " + " AND ".join(conditions) if conditions else ""
        rows = await self.db.fetch(f"SELECT id, ts, kind, title, text, details FROM alerts_history {where} "
                                   "ORDER BY ts DESC LIMIT ?", *args, limit)
        alerts = [{"id": r["id"], "ts": r["ts"], "kind": r["kind"], "title": r["title"], "text": r["text"],
                   "details": orjson.loads(r["details"]), "deliveries": []} for r in rows]
        if alerts:
            by_id = {a["id"]: a for a in alerts}
            marks = ", ".join("?" for _ in alerts)
            for d in await self.db.fetch(f"SELECT * FROM alerts_deliveries WHERE message_id IN ({marks}) ORDER BY ts",
                                         *by_id):
                by_id[d["message_id"]]["deliveries"].append(_delivery(d))
        return alerts

    async def deliveries(self, limit: int, failed_only: bool = False) -> list[dict[str, Any]]:
        where = "WHERE ok = 0" if failed_only else ""
        rows = await self.db.fetch(f"SELECT * FROM alerts_deliveries {where} ORDER BY ts DESC LIMIT ?", limit)
        return [_delivery(r) for r in rows]

    async def prune(self) -> None:
        try:
            await self.db.execute("DELETE FROM alerts_fired WHERE expires < ?", time.time())
        except StorageUnavailable:
            log.warning("alerts: could not prune expired marks (storage unavailable)")


def _delivery(row: Any) -> dict[str, Any]:
    return {"message_id": row["message_id"], "channel": row["channel"], "ts": row["ts"], "ok": bool(row["ok"]),
            "attempts": row["attempts"], "status": row["status"], "error": row["error"], "seconds": row["seconds"]}
