"""Reading the log back: pages of rows, one request, aggregates with latency percentiles, the
spend summary. Shared by the admin API and `bifrost-py report`.

Percentiles are nearest-rank, computed in SQL with window functions that SQLite (3.25+) and
PostgreSQL both have, so neither store ships every latency to Python.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .columns import BODIES, NAMES, TABLE
from .filters import Filters
from .stores import Store

LIST_COLUMNS = ", ".join(["id", *[n for n in NAMES if n not in BODIES]])
ALL_COLUMNS = ", ".join(["id", *NAMES])
GROUP_COLUMNS = {
    "key": "key_name",
    "team": "team",
    "customer": "customer",
    "model": "model",
    "provider": "provider",
    "session": "session_id",
    "none": "substr(request_id, 1, 0)",  # '' for every row; PostgreSQL refuses a constant here
}
TIME_GROUPS = {"day": ("%Y-%m-%d", "YYYY-MM-DD"), "hour": ("%Y-%m-%d %H:00", "YYYY-MM-DD HH24:00")}
GROUPS = (*[g for g in GROUP_COLUMNS if g != "none"], *TIME_GROUPS)
INT_FIELDS = (
    "attempts",
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "unpriced",
    "cache_hits",
    "fallbacks",
)
FLOAT_FIELDS = ("cost_usd", "saved_by_cache_usd", "saved_by_routing_usd")
MAX_PAGE = 1000


class LogQueries:
    def __init__(self, store: Store, timezone: str) -> None:
        self.store = store
        self.zone = ZoneInfo(timezone)

    # ------------------------------------------------------------------ rows

    async def page(
        self, filters: Filters, *, cursor: int | None, limit: int, bodies: bool = False
    ) -> list[dict[str, Any]]:
        """Rows newest first (highest id first), after `cursor` (an id from the previous page)."""
        where, params = filters.where()
        if cursor is not None:
            where += " AND id < ?"
            params.append(int(cursor))
        columns = ALL_COLUMNS if bodies else LIST_COLUMNS
        sql = f"SELECT {columns} FROM {TABLE} WHERE {where} ORDER BY id DESC LIMIT {int(limit)}"
        return await self.store.fetch(sql, params)

    async def after(self, filters: Filters, last_id: int, limit: int = MAX_PAGE) -> list[dict[str, Any]]:
        """Rows written after `last_id`, oldest first (a live stream catching up)."""
        where, params = filters.where()
        sql = f"SELECT {LIST_COLUMNS} FROM {TABLE} WHERE {where} AND id > ? ORDER BY id LIMIT {int(limit)}"
        return await self.store.fetch(sql, [*params, int(last_id)])

    async def request(self, request_id: str) -> list[dict[str, Any]]:
        sql = f"SELECT {ALL_COLUMNS} FROM {TABLE} WHERE request_id = ? ORDER BY attempt, id"
        return await self.store.fetch(sql, [request_id])

    async def every(self, filters: Filters, *, bodies: bool = False) -> AsyncIterator[list[dict[str, Any]]]:
        """All matching rows, newest first, a page at a time (the CSV export)."""
        cursor = None
        while True:
            rows = await self.page(filters, cursor=cursor, limit=MAX_PAGE, bodies=bodies)
            if rows:
                yield rows
            if len(rows) < MAX_PAGE:
                return
            cursor = rows[-1]["id"]

    # ------------------------------------------------------------------ aggregates

    def group_expression(self, by: str) -> str:
        if by in GROUP_COLUMNS:
            return GROUP_COLUMNS[by]
        if by not in TIME_GROUPS:
            raise ValueError(f"by: expected one of {', '.join(GROUPS)}, got {by!r}")
        offset = self._offset()
        sqlite_format, postgres_format = TIME_GROUPS[by]
        if self.store.dialect == "postgres":
            return f"to_char(to_timestamp(ts + {offset}) AT TIME ZONE 'UTC', '{postgres_format}')"
        return f"strftime('{sqlite_format}', ts + {offset}, 'unixepoch')"

    def _offset(self) -> int:
        """The configured time zone's current UTC offset in seconds (days and hours of a report
        are cut at this offset; a DST change inside the window shifts by an hour)."""
        delta = datetime.now(self.zone).utcoffset() or timedelta(0)
        return int(delta.total_seconds())

    async def usage(self, filters: Filters, by: str) -> list[dict[str, Any]]:
        """Per group: requests, attempts, errors, tokens, cost, unpriced rows, cache hits and
        savings, fallbacks, and p50/p95 of the whole request's latency (final rows)."""
        group = self.group_expression(by)
        where, params = filters.where()
        order = "grp" if by in TIME_GROUPS else "cost_usd DESC, requests DESC, grp"
        sql = f"""
SELECT grp,
  COUNT(*) AS attempts,
  SUM(final) AS requests,
  SUM(CASE WHEN final = 1 AND status >= 400 THEN 1 ELSE 0 END) AS errors,
  SUM(input_tokens) AS input_tokens,
  SUM(output_tokens) AS output_tokens,
  SUM(cache_read_tokens) AS cache_read_tokens,
  SUM(cache_write_tokens) AS cache_write_tokens,
  SUM(COALESCE(cost_usd, 0)) AS cost_usd,
  SUM(price_unknown) AS unpriced,
  SUM(cache_hit) AS cache_hits,
  SUM(COALESCE(saved_usd, 0)) AS saved_by_cache_usd,
  SUM(CASE WHEN requested_cost_usd IS NOT NULL THEN requested_cost_usd - COALESCE(cost_usd, 0) ELSE 0 END)
    AS saved_by_routing_usd,
  SUM(fallback) AS fallbacks,
  MIN(CASE WHEN final = 1 AND rn >= 0.50 * n THEN request_ms END) AS p50_ms,
  MIN(CASE WHEN final = 1 AND rn >= 0.95 * n THEN request_ms END) AS p95_ms
FROM (
  SELECT {group} AS grp, final, status, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, cost_usd, price_unknown, cache_hit, saved_usd, requested_cost_usd, fallback,
    request_ms,
    ROW_NUMBER() OVER (PARTITION BY {group}, final ORDER BY request_ms) AS rn,
    COUNT(*) OVER (PARTITION BY {group}, final) AS n
  FROM {TABLE} WHERE {where}
) ranked
GROUP BY grp
ORDER BY {order}"""
        return [_typed(row) for row in await self.store.fetch(sql, params)]

    async def totals(self, filters: Filters) -> dict[str, Any]:
        """The same figures over every matching row, as one group."""
        rows = await self.usage(filters, "none")
        return rows[0] if rows else _typed({"grp": ""})

    async def spend(self, filters: Filters, now: float) -> dict[str, float]:
        """USD spent since the start of today, this week (Monday) and this month, in the
        configured time zone."""
        starts = self.period_starts(now)
        where, params = replace(filters, since=None, until=None).where()
        sql = (
            "SELECT "
            + ", ".join(
                f"SUM(CASE WHEN ts >= ? THEN COALESCE(cost_usd, 0) ELSE 0 END) AS {name}" for name in starts
            )
            + f" FROM {TABLE} WHERE {where} AND ts >= ?"
        )
        values = [float(v) for v in starts.values()]
        rows = await self.store.fetch(sql, [*values, *params, min(values)])
        row = rows[0] if rows else {}
        return {name: float(row.get(name) or 0.0) for name in starts}

    def period_starts(self, now: float) -> dict[str, float]:
        local = datetime.fromtimestamp(now, self.zone)
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        week = today - timedelta(days=today.weekday())
        month = today.replace(day=1)
        return {"today": today.timestamp(), "week": week.timestamp(), "month": month.timestamp()}


def _typed(row: dict[str, Any]) -> dict[str, Any]:
    """Driver-neutral numbers (PostgreSQL's SUM of BIGINT is a Decimal; SQLite's SUM of nothing
    is NULL)."""
    out: dict[str, Any] = {"group": row.get("grp")}
    for name in INT_FIELDS:
        out[name] = int(row.get(name) or 0)
    for name in FLOAT_FIELDS:
        out[name] = float(row.get(name) or 0.0)
    for name in ("p50_ms", "p95_ms"):
        value = row.get(name)
        out[name] = None if value is None else float(value)
    return out
