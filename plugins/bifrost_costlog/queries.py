"""Reading the log back: pages of rows, one request, aggregates with latency percentiles, the
spend summary. Shared by the admin API and `bifrost-py report`.

Aggregates come from a usage rollup (`rollup.py`) when one can answer them: the main rollup
grouped by key, team, customer, model, provider, day or hour (or not grouped), filtered by
nothing but those names (a team manager's teams too) and the time range; the sessions rollup
grouped or filtered by session or client app (and key, team, customer, day, hour). The whole
buckets (hours) of the range are read from the rollup, the rows of the partial buckets at its
ends from the log, and both are added up here. Sums are those of the raw rows; percentiles come
from the rollup's histograms (within rollup.ERROR_BOUND).

Anything else (another filter, by session with a model filter, a range without one whole
bucket, a rollup still being built) is computed from the log rows, with exact nearest-rank
percentiles from window functions that SQLite (3.25+) and PostgreSQL both have.

Grouped by session, each group also says which key(s), team(s) and client app(s) the session
used and when it was first and last seen (`session_details`).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bifrost_py.clients import client_sql

from . import rollup
from .columns import BODIES, NAMES, TABLE
from .filters import Filters
from .rollup import Cell
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
    "client": client_sql("client_app"),  # the app (codex, gemini-cli, claude-code...), not its release
    "none": "substr(request_id, 1, 0)",  # '' for every row; PostgreSQL refuses a constant here
}
TIME_GROUPS = {"day": ("%Y-%m-%d", "YYYY-MM-DD"), "hour": ("%Y-%m-%d %H:00", "YYYY-MM-DD HH24:00")}
GROUPS = (*[g for g in GROUP_COLUMNS if g != "none"], *TIME_GROUPS)
INT_FIELDS = rollup.INTS       # the figures of a usage group: what the rollup sums, too
FLOAT_FIELDS = rollup.FLOATS
MAX_PAGE = 1000
# What each rollup can answer: these filters, these groups (a filter or group -> its column).
ROLLUP_FILTERS = frozenset({"key", "team", "customer", "provider", "model", "since", "until", "teams"})
ROLLUP_NAMES = {"key": "key_name", "team": "team", "customer": "customer", "provider": "provider"}
SESSION_FILTERS = frozenset({"key", "team", "customer", "session", "client", "since", "until", "teams"})
SESSION_NAMES = {"key": "key_name", "team": "team", "customer": "customer", "session": "session_id", "client": "client"}
NAMES_OF = {rollup.MAIN: ROLLUP_NAMES, rollup.SESSIONS: SESSION_NAMES}
SESSION_DETAILS = ("key", "team", "client")  # what a session group also names (`session_details`)


@dataclass(slots=True)
class RollupPlan:
    where: str  # the rollup rows: names and whole buckets
    params: list[Any]
    edges: list[tuple[float | None, float | None]]  # (since, until) of log rows to add to them
    shape: rollup.Shape = rollup.MAIN  # which rollup


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
        groups, _ = await self.usage_and_totals(filters, by, totals=False)
        return groups

    async def totals(self, filters: Filters) -> dict[str, Any]:
        """The same figures over every matching row, as one group."""
        rows = await self.usage(filters, "none")
        return rows[0] if rows else _typed({"grp": ""})

    async def usage_and_totals(
        self, filters: Filters, by: str, *, totals: bool = True
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """`usage` and `totals` together (from the rollup: one read for both)."""
        groups, found = await self._usage_and_totals(filters, by, totals=totals)
        if by == "session" and groups:
            details = await self.session_details(filters)
            for group in groups:
                group.update(details.get(group["group"]) or _no_details())
        return groups, found

    async def _usage_and_totals(
        self, filters: Filters, by: str, *, totals: bool = True
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        self.group_expression(by)  # a bad `by` is a ValueError whichever way is taken
        plan = await self.rollup_plan(filters, by)
        if plan is None:
            groups = await self.raw_usage(filters, by)
            if not totals:
                return groups, {}
            if by == "none":
                return groups, groups[0] if groups else _typed({"grp": ""})
            # When the groups need the rows, the totals may not (a second pass over a million
            # rows costs seconds): from a rollup when one can answer.
            whole = await self.rollup_plan(filters, "none")
            if whole is not None:
                return groups, _summed(await self._rollup_cells(whole, filters, "none")).as_row("")
            found = await self.raw_usage(filters, "none")
            return groups, found[0] if found else _typed({"grp": ""})
        cells = await self._rollup_cells(plan, filters, by)
        groups = [cell.as_row(group) for group, cell in cells.items()]
        null_first = self.store.dialect != "postgres"  # where ORDER BY puts NULL groups

        def label(group: Any) -> tuple[bool, str]:
            return (group is not None, group or "") if null_first else (group is None, group or "")

        if by in TIME_GROUPS:
            groups.sort(key=lambda g: label(g["group"]))
        else:
            groups.sort(key=lambda g: (-g["cost_usd"], -g["requests"], label(g["group"])))
        return groups, (_summed(cells) if totals else Cell()).as_row("")

    async def raw_usage(self, filters: Filters, by: str) -> list[dict[str, Any]]:
        """`usage` from the log rows, whatever the filters."""
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
  SUM(savings_unpriced) AS savings_unpriced,
  MIN(CASE WHEN final = 1 AND rn >= 0.50 * n THEN request_ms END) AS p50_ms,
  MIN(CASE WHEN final = 1 AND rn >= 0.95 * n THEN request_ms END) AS p95_ms
FROM (
  SELECT {group} AS grp, final, status, input_tokens, output_tokens, cache_read_tokens,
    cache_write_tokens, cost_usd, price_unknown, cache_hit, saved_usd, requested_cost_usd, fallback,
    savings_unpriced, request_ms,
    ROW_NUMBER() OVER (PARTITION BY {group}, final ORDER BY request_ms) AS rn,
    COUNT(*) OVER (PARTITION BY {group}, final) AS n
  FROM {TABLE} WHERE {where}
) ranked
GROUP BY grp
ORDER BY {order}"""
        return [_typed(row) for row in await self.store.fetch(sql, params)]

    # ------------------------------------------------------------------ the rollup

    async def rollup_plan(self, filters: Filters, by: str) -> RollupPlan | None:
        """How a rollup answers these filters and group, None when none can."""
        shape = shape_for(filters, by)
        if shape is None:
            return None
        grain = getattr(self.store, "grain", rollup.GRAIN)
        if by in TIME_GROUPS and self._offset() % grain:
            return None  # the zone's hours cut through the rollup's buckets (made for another zone)
        low = high = None
        edges: list[tuple[float | None, float | None]] = []
        if filters.since is not None:
            low = math.ceil(filters.since / grain) * grain
            if low < filters.since:
                low += grain
            if filters.since < low:
                edges.append((filters.since, float(low)))
        if filters.until is not None:
            high = math.floor(filters.until / grain) * grain
            if high > filters.until:
                high -= grain
            if high < filters.until:
                edges.append((float(high), filters.until))
        if low is not None and high is not None and low >= high:
            return None  # not one whole bucket: the log rows are few
        ready = getattr(self.store, "rollup_ready", None)
        if ready is None or not await ready(shape):
            return None
        where, params = self._rollup_where(filters, shape)
        if low is not None:
            where += " AND bucket >= ?"
            params.append(int(low))
        if high is not None:
            where += " AND bucket < ?"
            params.append(int(high))
        if low is not None or high is not None:
            where += " AND bucket <> ?"  # rows without a timestamp are in no time range
            params.append(rollup.NO_TS)
        return RollupPlan(where, params, edges, shape)

    def _rollup_where(self, filters: Filters, shape: rollup.Shape = rollup.MAIN) -> tuple[str, list[Any]]:
        parts = ["1=1"]
        params: list[Any] = []
        for name, column in NAMES_OF[shape].items():
            value = getattr(filters, name)
            if value is not None:
                parts.append(f"{column} = ? AND (nulls & {shape.bits[column]}) = 0")
                params.append(value)
        if filters.teams is not None:
            if filters.teams:
                marks = ", ".join("?" * len(filters.teams))
                parts.append(f"team IN ({marks}) AND (nulls & {shape.bits['team']}) = 0")
                params += filters.teams
            else:
                parts.append("1=0")
        if filters.model is not None:
            parts.append(
                "(" + " OR ".join(
                    f"({column} = ? AND (nulls & {rollup.DIM_BITS[column]}) = 0)"
                    for column in ("model", "requested_model", "answered_model")
                ) + ")"
            )
            params += [filters.model] * 3
        return " AND ".join(parts), params

    def _rollup_group(self, by: str, shape: rollup.Shape = rollup.MAIN) -> str:
        if by == "none":
            return "substr(key_name, 1, 0)"
        if by in TIME_GROUPS:
            offset = self._offset()
            sqlite_format, postgres_format = TIME_GROUPS[by]
            if self.store.dialect == "postgres":
                label = f"to_char(to_timestamp(bucket + {offset}) AT TIME ZONE 'UTC', '{postgres_format}')"
            else:
                label = f"strftime('{sqlite_format}', bucket + {offset}, 'unixepoch')"
            return f"CASE WHEN bucket = {rollup.NO_TS} THEN NULL ELSE {label} END"
        return rollup.dim_expression(NAMES_OF[shape].get(by, by), shape)

    def _group_of(self, by: str, key: tuple[Any, ...], shape: rollup.Shape = rollup.MAIN) -> Any:
        """The group of a fold key (log rows at the ends of a range)."""
        if by == "none":
            return ""
        if by in TIME_GROUPS:
            if key[0] == rollup.NO_TS:
                return None
            moment = datetime.fromtimestamp(key[0] + self._offset(), UTC)
            return moment.strftime(TIME_GROUPS[by][0])
        return rollup.dims_of(key, shape)[NAMES_OF[shape].get(by, by)]

    async def _rollup_cells(self, plan: RollupPlan, filters: Filters, by: str) -> dict[Any, Cell]:
        shape = plan.shape
        group = self._rollup_group(by, shape)
        sums = ", ".join(f"SUM({name}) AS {name}" for name in rollup.SUMS)
        postgres = self.store.dialect == "postgres"
        hist = "" if postgres else ", costlog_hist_sum(hist) AS hist"
        sql = f"SELECT {group} AS grp, {sums}{hist} FROM {shape.table} WHERE {plan.where} GROUP BY grp"
        cells: dict[Any, Cell] = {}
        for row in await self.store.fetch(sql, plan.params):
            cells[row["grp"]] = Cell(
                [int(row[name] or 0) for name in rollup.INTS],
                [float(row[name] or 0.0) for name in rollup.FLOATS],
                {} if postgres else rollup.blob_to_counts(row["hist"]),
            )
        if postgres:
            # Each group's histogram as two arrays (bins, counts): one row per group, not one per
            # group and bin (thousands of sessions times a hundred bins).
            sql = (
                f"SELECT grp, array_agg(bin ORDER BY bin) AS bins, array_agg(n ORDER BY bin) AS ns FROM ("
                f"SELECT {group} AS grp, hist_lo + u.k - 1 AS bin, SUM(u.n) AS n FROM {shape.table} "
                f"CROSS JOIN LATERAL unnest(hist) WITH ORDINALITY AS u(n, k) "
                f"WHERE {plan.where} AND hist IS NOT NULL GROUP BY 1, 2) AS binned WHERE n <> 0 GROUP BY grp"
            )
            for row in await self.store.fetch(sql, plan.params):
                if row["grp"] in cells:
                    cells[row["grp"]].counts = dict(zip(map(int, row["bins"]), map(int, row["ns"])))
        for key, cell in (await self._edge_cells(plan, filters)).items():
            _add_cell(cells, self._group_of(by, key, shape), cell)
        return cells

    async def _edge_cells(self, plan: RollupPlan, filters: Filters) -> dict[tuple[Any, ...], Cell]:
        """The log rows of the partial buckets at the ends of the range, folded like the rollup."""
        shape = plan.shape
        source = ", ".join(shape.source)
        cells: dict[tuple[Any, ...], Cell] = {}
        for since, until in plan.edges:
            where, params = replace(filters, since=since, until=until).where()
            rows = await self.store.fetch(f"SELECT {source} FROM {TABLE} WHERE {where}", params)
            folded = rollup.fold([tuple(row[name] for name in shape.source) for row in rows], self.store.grain, shape)
            for key, cell in folded.items():
                _add_cell(cells, key, cell)
        return cells

    async def session_details(self, filters: Filters) -> dict[Any, dict[str, Any]]:
        """Per session id (None: rows without one): the key(s), team(s) and client app(s) its
        rows name (one, or several joined by ", "; None when none does) and the first and last
        time seen, from the sessions rollup when it can answer, else from the rows."""
        found: dict[Any, dict[str, Any]] = {}

        def add(session: Any, names: dict[str, Any], first: Any, last: Any) -> None:
            seen = found.get(session)
            if seen is None:
                seen = found[session] = {name: set() for name in SESSION_DETAILS} | {"first_ts": None, "last_ts": None}
            for name in SESSION_DETAILS:
                if names.get(name):  # NULL, and '' for no client app, name nothing
                    seen[name].add(names[name])
            if first is not None and (seen["first_ts"] is None or first < seen["first_ts"]):
                seen["first_ts"] = float(first)
            if last is not None and (seen["last_ts"] is None or last > seen["last_ts"]):
                seen["last_ts"] = float(last)

        plan = await self.rollup_plan(filters, "session")
        if plan is not None and plan.shape is rollup.SESSIONS:
            shape = plan.shape
            columns = {name: rollup.dim_expression(column, shape) for name, column in SESSION_NAMES.items()}
            sql = (
                f"SELECT {columns['session']} AS grp, {columns['key']} AS key, {columns['team']} AS team, "
                f"client, MIN(first_ts) AS first_ts, MAX(last_ts) AS last_ts FROM {shape.table} "
                f"WHERE {plan.where} GROUP BY 1, 2, 3, 4"
            )
            for row in await self.store.fetch(sql, plan.params):
                add(row["grp"], row, row["first_ts"], row["last_ts"])
            for key, cell in (await self._edge_cells(plan, filters)).items():
                names = rollup.dims_of(key, shape)
                add(names["session_id"], {name: names[SESSION_NAMES[name]] for name in SESSION_DETAILS},
                    cell.first, cell.last)
        else:
            where, params = filters.where()
            sql = (
                f"SELECT session_id AS grp, key_name AS key, team, {client_sql('client_app')} AS client, "
                f"MIN(ts) AS first_ts, MAX(ts) AS last_ts FROM {TABLE} WHERE {where} GROUP BY 1, 2, 3, 4"
            )
            for row in await self.store.fetch(sql, params):
                add(row["grp"], row, row["first_ts"], row["last_ts"])
        return {
            session: {name: ((", ".join(sorted(value)) or None) if isinstance(value, set) else value)
                      for name, value in seen.items()}
            for session, seen in found.items()
        }

    async def spend(self, filters: Filters, now: float) -> dict[str, float]:
        """USD spent since the start of today, this week (Monday) and this month, in the
        configured time zone."""
        starts = self.period_starts(now)
        base = replace(filters, since=None, until=None)
        plan = await self.rollup_plan(base, "none")
        if plan is not None:
            return await self._rollup_spend(base, starts, plan.shape)
        where, params = base.where()
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

    async def _rollup_spend(
        self, filters: Filters, starts: dict[str, float], shape: rollup.Shape = rollup.MAIN
    ) -> dict[str, float]:
        """Whole buckets from the rollup, the rest of a period's first bucket from the log."""
        grain = self.store.grain
        lows = {name: math.ceil(start / grain) * grain for name, start in starts.items()}
        for name, start in starts.items():
            if lows[name] < start:
                lows[name] += grain
        where, params = self._rollup_where(filters, shape)
        sql = (
            "SELECT "
            + ", ".join(f"SUM(CASE WHEN bucket >= ? THEN cost_usd ELSE 0 END) AS {name}" for name in starts)
            + f" FROM {shape.table} WHERE {where} AND bucket >= ? AND bucket <> ?"
        )
        rows = await self.store.fetch(
            sql, [*(int(v) for v in lows.values()), *params, int(min(lows.values())), rollup.NO_TS]
        )
        row = rows[0] if rows else {}
        spent = {name: float(row.get(name) or 0.0) for name in starts}
        edges = {name: (start, float(lows[name])) for name, start in starts.items() if start < lows[name]}
        if edges:
            where, params = filters.where()
            sql = (
                "SELECT "
                + ", ".join(
                    f"SUM(CASE WHEN ts >= ? AND ts < ? THEN COALESCE(cost_usd, 0) ELSE 0 END) AS {name}"
                    for name in edges
                )
                + f" FROM {TABLE} WHERE {where} AND ts >= ? AND ts < ?"
            )
            bounds = [float(v) for edge in edges.values() for v in edge]
            rows = await self.store.fetch(
                sql,
                [*bounds, *params, min(e[0] for e in edges.values()), max(e[1] for e in edges.values())],
            )
            row = rows[0] if rows else {}
            for name in edges:
                spent[name] += float(row.get(name) or 0.0)
        return spent

    def period_starts(self, now: float) -> dict[str, float]:
        local = datetime.fromtimestamp(now, self.zone)
        today = local.replace(hour=0, minute=0, second=0, microsecond=0)
        week = today - timedelta(days=today.weekday())
        month = today.replace(day=1)
        return {"today": today.timestamp(), "week": week.timestamp(), "month": month.timestamp()}


def shape_for(filters: Filters, by: str) -> rollup.Shape | None:
    """The rollup that answers these filters and group: the main one when it can (it is the
    one with models and providers), else the sessions one; None when neither can."""
    asked = {item.name for item in fields(Filters) if getattr(filters, item.name) is not None}
    if (by in ROLLUP_NAMES or by in ("model", "none", *TIME_GROUPS)) and asked <= ROLLUP_FILTERS:
        return rollup.MAIN
    if (by in SESSION_NAMES or by in ("none", *TIME_GROUPS)) and asked <= SESSION_FILTERS:
        return rollup.SESSIONS
    return None


def _add_cell(cells: dict[Any, Cell], key: Any, cell: Cell) -> None:
    found = cells.get(key)
    if found is None:
        cells[key] = cell
    else:
        found.add(cell)


def _no_details() -> dict[str, Any]:
    return {name: None for name in (*SESSION_DETAILS, "first_ts", "last_ts")}


def _summed(cells: dict[Any, Cell]) -> Cell:
    total = Cell()
    for cell in cells.values():
        total.add(cell)
    return total


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
