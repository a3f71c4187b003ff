"""The admin API of the request log (under /api, admin token checked by the core):

GET /api/logs                  rows, newest first, filtered, cursor-paginated
GET /api/logs/export           the same rows as CSV (all of them, streamed)
GET /api/logs/stream           server-sent events of new rows (EventSource: ?token=)
GET /api/logs/{request_id}     one request: every attempt, bodies included when kept
                               (and the caller's role may read them: not finance, not viewers)
GET /api/usage                 aggregates grouped by key, team, customer, model, provider,
                               session, client, day or hour; by session each group also
                               has the session's key, team, client and first/last seen;
                               ?sort=cost|requests|last_seen, ?top=N (the rest summed)
GET /api/usage/summary         what the dashboard shows: spend today/week/month, requests,
                               error rate, latency, cache hits, savings, fallbacks

A team manager reads only their teams' rows, in every one of these (`scoped`): the lists,
figures, exports and the live stream are filtered on the server, and a request of another
team is a 404, as an unknown one.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    choice,
    flag,
    json_response,
    principal,
    require_started,
    text,
    whole_number,
)

from .columns import BODIES, INT64, NAMES
from .filters import PARAMETERS, Filters, parse_filters, parse_time
from .live import LiveHub
from .present import Presenter, iso
from .queries import GROUPS, MAX_PAGE, LogQueries
from .report import limited

if TYPE_CHECKING:
    from .plugin import CostLog

DEFAULT_PAGE = 50
KEEPALIVE = 15.0
SSE_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
CSV_COLUMNS = ("id", "timestamp", *[n for n in NAMES if n not in BODIES], "cost", "currency")
# /api/usage?sort=: how groups are ranked (first = first shown)
SORTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "cost": lambda g: (-g["cost_usd"], -g["requests"]),
    "requests": lambda g: (-g["requests"], -g["cost_usd"]),
    "last_seen": lambda g: -(g.get("last_ts") or 0.0),
}


class LogApi:
    def __init__(self, plugin: CostLog) -> None:
        self.plugin = plugin

    @property
    def queries(self) -> LogQueries:
        return require_started(self.plugin.queries, "the request log")

    @property
    def present(self) -> Presenter:
        return self.plugin.presenter

    @property
    def hub(self) -> LiveHub:
        return self.plugin.hub

    def routes(self) -> list[AdminRoute]:
        paging = {
            **PARAMETERS,
            "cursor": "next_cursor of the previous page",
            "limit": f"rows per page (default {DEFAULT_PAGE}, at most {MAX_PAGE})",
            "bodies": "true: include logged bodies",
        }
        by = f"group by: {', '.join(GROUPS)} (default model)"
        # Fixed paths before /logs/{request_id}, which would otherwise match "export" and "stream".
        return [
            AdminRoute(
                "GET",
                "/logs",
                self.logs,
                "Request log rows (one per attempt), newest first",
                paging,
                tag="logs",
            ),
            AdminRoute(
                "GET",
                "/logs/export",
                self.export,
                "Request log rows as CSV",
                PARAMETERS,
                tag="logs",
                access="export",  # admins and finance
            ),
            AdminRoute(
                "GET",
                "/logs/stream",
                self.stream,
                "New request log rows as server-sent events",
                {**PARAMETERS, "after": "replay rows after this id first (or Last-Event-ID)"},
                tag="logs",
                query_token=True,  # an EventSource cannot send headers: the one route that takes ?token=
            ),
            AdminRoute(
                "GET",
                "/logs/{request_id}",
                self.request,
                "Every attempt of one request",
                tag="logs",
            ),
            AdminRoute(
                "GET",
                "/usage",
                self.usage,
                "Requests, tokens, cost and latency percentiles by group",
                {**PARAMETERS, "by": by, "sort": "order of the groups: cost (default), requests or last_seen "
                 "(by session: most recently seen first)", "top": "only the first N groups; the rest summed as `others`"},
                tag="usage",
            ),
            AdminRoute(
                "GET",
                "/usage/summary",
                self.summary,
                "Spend today/this week/this month and the dashboard's figures",
                {**PARAMETERS, "since": "window of the figures (default 24h)"},
                tag="usage",
            ),
        ]

    # ------------------------------------------------------------------ rows

    async def logs(self, request: web.Request) -> web.StreamResponse:
        query = request.query
        filters = scoped(request, parse_filters(query))
        limit = whole_number(query, "limit", default=DEFAULT_PAGE, minimum=1, maximum=MAX_PAGE) or DEFAULT_PAGE
        cursor = whole_number(query, "cursor", default=None, minimum=1, maximum=INT64[1])
        bodies = flag(query, "bodies", default=False) and principal(request).may("bodies")
        rows = await self.queries.page(filters, cursor=cursor, limit=limit, bodies=bodies)
        next_cursor = str(rows[-1]["id"]) if len(rows) == limit else None
        return json_response(
            {
                "rows": [self.present.row(r) for r in rows],
                "next_cursor": next_cursor,
                "currency": self.present.currency(),
            }
        )

    async def request(self, request: web.Request) -> web.StreamResponse:
        request_id = text(request.match_info, "request_id") or ""
        who = principal(request)
        rows = [r for r in await self.queries.request(request_id) if who.sees(r.get("team"))]
        if not rows:
            raise AdminError(404, f"no log rows for request {request_id!r} (not written yet, pruned, or unknown)")
        if not who.may("bodies"):
            rows = [{k: v for k, v in r.items() if k not in BODIES} for r in rows]
        shown = [self.present.row(r) for r in rows]
        final = next((r for r in shown if r["final"]), shown[-1])
        total = sum((r["cost_usd"] or 0.0) for r in shown)
        return json_response(
            {
                "request_id": request_id,
                "attempts": shown,
                "final": final,
                "cost_usd": total,
                "cost": self.present.amount(total),
                "currency": self.present.currency(),
            }
        )

    async def export(self, request: web.Request) -> web.StreamResponse:
        filters = scoped(request, parse_filters(request.query))
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
        response = web.StreamResponse(
            headers={
                "content-type": "text/csv; charset=utf-8",
                "content-disposition": f'attachment; filename="bifrost-logs-{stamp}.csv"',
            }
        )
        await response.prepare(request)
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        async for rows in self.queries.every(filters):
            for raw in rows:
                row = self.present.row(raw)
                row["currency"] = self.present.code
                writer.writerow([_csv_value(row.get(name)) for name in CSV_COLUMNS])
            await response.write(buffer.getvalue().encode())
            buffer.seek(0)
            buffer.truncate()
        await response.write(buffer.getvalue().encode())
        await response.write_eof()
        return response

    async def stream(self, request: web.Request) -> web.StreamResponse:
        filters = scoped(request, parse_filters(request.query))
        after = request.headers.get("last-event-id") or request.query.get("after")
        last_id = whole_number({"after": after or ""}, "after", default=None, minimum=0, maximum=INT64[1])
        response = web.StreamResponse(headers=SSE_HEADERS)
        await response.prepare(request)
        subscriber = self.hub.subscribe(filters.accepts)
        stopping = self.plugin.gateway.stopping  # streams end as the server starts to shut down
        try:
            await response.write(b"retry: 2000\n: connected\n\n")
            if last_id is not None:
                replayed = await self.queries.after(filters, last_id)
                await self._send_rows(response, replayed)
                last_id = replayed[-1]["id"] if replayed else last_id
            while not self.hub.closed.is_set() and not stopping.is_set():
                try:
                    await _wait(subscriber.ready, stopping, KEEPALIVE)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                rows, missed = subscriber.take()
                if missed:
                    await response.write(
                        b"event: lagged\ndata: " + orjson.dumps({"missed": missed}) + b"\n\n"
                    )
                if last_id is not None:
                    rows = [r for r in rows if r["id"] > last_id]
                await self._send_rows(response, rows)
        except (ConnectionResetError, ConnectionError):
            pass  # the viewer went away
        finally:
            self.hub.unsubscribe(subscriber)
        return response

    async def _send_rows(self, response: web.StreamResponse, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        parts = []
        for row in rows:
            shown = self.present.row({k: v for k, v in row.items() if k not in BODIES})
            parts.append(b"id: %d\nevent: row\ndata: %s\n\n" % (row["id"], orjson.dumps(shown)))
        await response.write(b"".join(parts))

    # ------------------------------------------------------------------ aggregates

    async def usage(self, request: web.Request) -> web.StreamResponse:
        filters = scoped(request, parse_filters(request.query))
        by = choice(request.query, "by", GROUPS, default="model") or "model"
        order = choice(request.query, "sort", tuple(SORTS), default="cost") or "cost"
        top = whole_number(request.query, "top", default=None, minimum=1, maximum=MAX_PAGE)
        if order == "last_seen" and by != "session":
            raise AdminError(400, "sort=last_seen: only with by=session")
        groups, totals = await self.queries.usage_and_totals(filters, by)
        rank = SORTS[order]
        if order != "cost":
            groups.sort(key=rank)  # stable: ties keep the spend order
        shown, others = limited(groups, top, rank)
        return json_response(
            {
                "by": by,
                "sort": order,
                "groups": [self.present.aggregate(g) for g in shown],
                "others": None if others is None else self.present.aggregate(others),
                "totals": self.present.aggregate(totals),
                "currency": self.present.currency(),
            }
        )

    async def summary(self, request: web.Request) -> web.StreamResponse:
        now = time.time()
        filters = scoped(request, parse_filters(request.query, now=now))
        if filters.since is None:
            filters = replace(filters, since=parse_time("since", "24h", now))
        spend = await self.queries.spend(filters, now)
        figures = self.present.aggregate(await self.queries.totals(filters))
        starts = self.queries.period_starts(now)
        return json_response(
            {
                "currency": self.present.currency(),
                "timezone": str(self.queries.zone),
                "spend": {
                    name: {
                        "since": iso(starts[name]),
                        "cost_usd": usd,
                        "cost": self.present.amount(usd),
                        "display": self.present.format_money(usd),
                    }
                    for name, usd in spend.items()
                },
                "window": {"since": iso(filters.since), "until": iso(filters.until or now)},
                **{
                    k: figures[k]
                    for k in (
                        "requests",
                        "attempts",
                        "errors",
                        "error_rate",
                        "p50_ms",
                        "p95_ms",
                        "cache_hits",
                        "cache_hit_rate",
                        "saved_by_cache_usd",
                        "saved_by_cache",
                        "saved_by_routing_usd",
                        "saved_by_routing",
                        "saved_total_usd",
                        "saved_total",
                        "without_gateway_usd",
                        "without_gateway",
                        "savings_rate",
                        "savings_unpriced",
                        "fallbacks",
                        "unpriced",
                        "cost_usd",
                        "cost",
                        "input_tokens",
                        "output_tokens",
                        "cache_read_tokens",
                        "cache_write_tokens",
                    )
                },
            }
        )


def scoped(request: web.Request, filters: Filters) -> Filters:
    """`filters` narrowed to what the caller may read: a team manager their teams' rows only.
    One team (or one asked for) stays a plain `team` filter, which the rollup answers."""
    who = principal(request)
    if not who.scoped:
        return filters
    teams = tuple(who.teams)
    if filters.team is not None:
        return filters if filters.team in teams else replace(filters, teams=())
    if len(teams) == 1:
        return replace(filters, team=teams[0])
    return replace(filters, teams=teams)


async def _wait(event: asyncio.Event, stopping: asyncio.Event, timeout: float) -> None:
    """Until `event` or `stopping` is set; TimeoutError after `timeout` seconds."""
    waiters = [asyncio.ensure_future(event.wait()), asyncio.ensure_future(stopping.wait())]
    try:
        done, _ = await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    if not done:
        raise TimeoutError


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value
