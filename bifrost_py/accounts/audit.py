"""The audit log: who changed what, when, and what it looked like before and after.

The guard records every admin request that is not a read (POST, PUT, PATCH, DELETE), whoever
made it and whatever its answer: the author, their role and how they signed in, the route and
the resource it named, the status, the client address, the request body and, where the route
can say, the resource before and after. Secrets are masked before anything is stored (`mask`).
Kept in the gateway's logging database (`storage.logs`), beside the request log, in the table
`audit_log`.
"""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from ..storage import Database, Row
from .store import create_tables

SCHEMA = (
    """CREATE TABLE IF NOT EXISTS audit_log (
        id TEXT PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, actor TEXT NOT NULL, role TEXT NOT NULL,
        via TEXT NOT NULL, method TEXT NOT NULL, path TEXT NOT NULL, action TEXT NOT NULL, resource TEXT NOT NULL,
        status INTEGER NOT NULL, address TEXT NOT NULL, request TEXT, before TEXT, after TEXT)""",
    "CREATE INDEX IF NOT EXISTS audit_log_ts ON audit_log (ts)",
)
COLUMNS = ("id", "ts", "actor", "role", "via", "method", "path", "action", "resource", "status", "address",
           "request", "before", "after")
JSON_COLUMNS = ("request", "before", "after")
# Field names whose values are secrets wherever they appear in a body or a snapshot (a whole
# name, or its last part after - or _): password, client_secret, x-api-key, session_token,
# secret_access_key, access_key_id, a key's `value`, `current` (the old password of a change),
# and everything under `headers` (a provider's extra headers carry credentials).
SECRET_NAME = re.compile(r"(?:^|[-_])(?:pass(?:word|phrase)?|secret|token|key|value|credentials?|auth|authorization"
                         r"|access_key_id|key_sha256|current|headers|cookie)$", re.IGNORECASE)
MASK = "••••"
MAX_STORED = 64 * 1024  # characters of one body or snapshot; a bigger one is stored cut


def mask(value: Any, secret: bool = False) -> Any:
    """`value` with every secret replaced: a string under a secret-sounding name keeps only its
    last four characters when it is long enough to spare them."""
    if isinstance(value, dict):
        return {k: mask(v, secret or bool(SECRET_NAME.search(str(k)))) for k, v in value.items()}
    if isinstance(value, list):
        return [mask(v, secret) for v in value]
    if secret and isinstance(value, str) and value:
        return MASK + value[-4:] if len(value) >= 16 else MASK
    return value


def _stored(value: Any) -> str | None:
    if value is None:
        return None
    text = json.dumps(mask(value), ensure_ascii=False, default=str)
    return text if len(text) <= MAX_STORED else json.dumps({"truncated": text[:MAX_STORED]})


@dataclass(frozen=True, slots=True)
class AuditEntry:
    actor: str
    role: str
    via: str
    method: str
    path: str
    action: str
    resource: str
    status: int
    address: str
    request: Any = None
    before: Any = None
    after: Any = None


@dataclass(frozen=True, slots=True)
class AuditQuery:
    actor: str = ""
    action: str = ""        # a route, e.g. "PATCH /governance/keys/{name}", or a part of one
    resource: str = ""
    since: float | None = None
    until: float | None = None
    limit: int = 100
    before_id: str = ""     # paging: entries older than this one


class AuditLog:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create_schema(self) -> None:
        await create_tables(self.db, SCHEMA)

    async def record(self, entry: AuditEntry) -> str:
        entry_id = f"{time.time_ns():020d}-{secrets.token_hex(4)}"  # sorts by time, unique across instances
        await self.db.execute(
            f"INSERT INTO audit_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})",
            entry_id, time.time(), entry.actor, entry.role, entry.via, entry.method, entry.path, entry.action,
            entry.resource, entry.status, entry.address, _stored(entry.request), _stored(entry.before),
            _stored(entry.after))
        return entry_id

    async def query(self, q: AuditQuery) -> list[dict[str, Any]]:
        where: list[str] = []
        args: list[Any] = []
        for column, value in (("actor", q.actor), ("resource", q.resource)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if q.action:
            where.append("action LIKE ?")
            args.append(f"%{q.action.replace('%', '')}%")  # a filter, not a pattern
        if q.since is not None:
            where.append("ts >= ?")
            args.append(q.since)
        if q.until is not None:
            where.append("ts < ?")
            args.append(q.until)
        if q.before_id:
            where.append("id < ?")
            args.append(q.before_id)
        sql = f"SELECT {', '.join(COLUMNS)} FROM audit_log"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = await self.db.fetch(sql + " ORDER BY id DESC LIMIT ?", *args, q.limit)
        return [entry_dict(r) for r in rows]


def entry_dict(row: Row) -> dict[str, Any]:
    entry = {c: row[c] for c in COLUMNS}
    for column in JSON_COLUMNS:
        entry[column] = json.loads(entry[column]) if entry[column] else None
    entry["time"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(entry["ts"])))
    return entry


def as_csv(entries: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["time", *COLUMNS])
    for e in entries:
        writer.writerow([e["time"], *(json.dumps(e[c], ensure_ascii=False) if c in JSON_COLUMNS and e[c] is not None
                                      else _cell(e[c]) for c in COLUMNS)])
    return out.getvalue()


def _cell(value: Any) -> Any:
    """Spreadsheets run a cell starting with = + - @ as a formula: such text is quoted."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@"):
        return "'" + value
    return "" if value is None else value
