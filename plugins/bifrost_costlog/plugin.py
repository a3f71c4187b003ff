"""The cost log plugin: one priced row per attempt, written off the request path, read back by
the admin API and `bifrost-py report`, summed up in Prometheus metrics.

Hooks used, and why:
    pre_attempt    only with logging.bodies: watch a stream to keep the text the client got
    post_attempt   price the attempt and build its row (runs last, so it sees the final outcome)
    request_end    complete the request's rows (final flag, duration, rows for requests that
                   never reached an attempt), record metrics, queue the rows for the writer

Successful count_tokens calls are not logged (free, answered without a model); refused ones are.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from bifrost_py import hookimpl
from bifrost_py.admin import AdminRoute
from bifrost_py.context import COUNT_TOKENS, Attempt, Call
from bifrost_py.periodic import DONE, Periodic
from bifrost_py.settings import load_settings

from .api import LogApi
from .filters import Filters
from .live import LiveHub
from .metrics import Metrics
from .present import Presenter
from .queries import GROUPS, LogQueries
from .report import render
from .rows import ROWS, STREAM_BODY, RowBuilder, StreamBody
from .settings import SECTION, Settings, read_settings
from .stores import Store, open_store
from .writer import BatchWriter

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

log = logging.getLogger("bifrost_py.costlog")

ROLLUP_BUILD_PAUSE = 0.02  # seconds between two chunks of the rollup build (writes go in between)
ROLLUP_RETRY = 60.0  # seconds before building the rollup again after a failed chunk


class CostLog:
    """One per gateway; every resource it opens in startup is closed in shutdown."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = Settings()
        self.builder: RowBuilder | None = None
        self.metrics: Metrics | None = None
        self.presenter = Presenter("USD", 1.0, gateway.format_money)
        self.hub = LiveHub()
        self.store: Store | None = None
        self.writer: BatchWriter | None = None
        self.queries: LogQueries | None = None
        self._periodic: list[Periodic] = []
        self._rollup_failed = False
        self._rollup_started = 0.0
        self._rollup_announced = False

    # ------------------------------------------------------------------ start-up

    @hookimpl
    def bifrost_configure(self, gateway: Gateway) -> None:
        self.settings = settings = load_settings(gateway, SECTION, read_settings)
        self.builder = RowBuilder(gateway.prices, settings, gateway.providers)  # live: providers added at run time count
        self.metrics = Metrics(gateway.metrics, settings.max_label_values)
        self.presenter = Presenter(settings.currency_code, settings.currency_per_usd, gateway.format_money)
        _check_timezone(gateway, settings.timezone)

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        assert self.metrics is not None
        store = open_store(self.settings.logs_url, self.settings.timezone, gateway.storage)
        await store.open()
        self.store = store
        self.queries = LogQueries(store, self.settings.timezone)
        self.writer = BatchWriter(store, self.settings, self.metrics, self.hub.publish)
        self.writer.start()
        self._rollup_started = time.monotonic()
        self._periodic = [
            gateway.every(self.settings.prune_interval, self._prune, name="costlog: retention", now=True, final=False),
            gateway.every(self._rollup_pause, self._build_rollup_step, name="costlog: building the usage rollup",
                          now=True, final=False),
        ]

    @hookimpl
    async def bifrost_shutdown(self, gateway: Gateway) -> None:
        """Runs after every other plugin's (the cost log is first in order): all rows are in.
        The gateway stopped the periodic rounds before (none is cut half-way); the writer
        writes everything still queued; the database is the gateway's to close."""
        self.hub.close()
        for periodic in self._periodic:
            await periodic.stop()  # already stopped by the gateway: returns at once
        self._periodic = []
        if self.writer is not None:
            await self.writer.close()
            writer = self.writer
            log.info(
                "request log: %d row(s) written (%d with their text escaped), %d dropped, %d refused by the store",
                writer.written, writer.escaped, writer.dropped, writer.unwritable,
            )
            self.writer = None
        if self.store is not None:
            await self.store.close()
            self.store = None
            self.queries = None

    async def _prune(self) -> None:
        """logging.retention: delete old rows at start-up, then every prune_interval."""
        store = self.store
        if store is None:
            return
        try:
            deleted = await store.delete_before(time.time() - self.settings.retention)
        except Exception as exc:  # noqa: BLE001 - retention tries again next round
            log.warning("request log: pruning old rows failed: %s", exc)
            return
        if deleted:
            log.info("request log: pruned %d row(s) older than the retention period", deleted)

    def _rollup_pause(self) -> float:
        return ROLLUP_RETRY if self._rollup_failed else ROLLUP_BUILD_PAUSE

    async def _build_rollup_step(self) -> object:
        """A database written by an older version gets its usage rollup built from the rows
        already there: a chunk per round, with pauses, so that writes and queries go on
        meanwhile (aggregates are read from the rows until it is done)."""
        store = self.store
        if store is None:
            return DONE
        try:
            left = await store.build_rollup_step()
        except Exception as exc:  # noqa: BLE001 - try again later; queries use the rows meanwhile
            self._rollup_failed = True
            log.warning("request log: building the usage rollup failed (%s); retrying in a minute", exc)
            return None
        self._rollup_failed = False
        if left is None:
            if self._rollup_announced:
                log.info("request log: usage rollup built in %.0f s", time.monotonic() - self._rollup_started)
            return DONE
        if not self._rollup_announced:
            log.info("request log: building the usage rollup from the rows already logged (~%d)", left)
            self._rollup_announced = True
        return None

    # ------------------------------------------------------------------ per request

    # tryfirst here and trylast on the post and end hooks: entered before any plugin can refuse
    # or reply, so every ending (refusals and cache hits included) is logged, after the others.
    @hookimpl(tryfirst=True)
    async def bifrost_pre_attempt(self, attempt: Attempt) -> None:
        if self.settings.bodies and attempt.call.stream:
            observer = StreamBody(self.settings.max_body_bytes)
            attempt.stash[STREAM_BODY] = observer
            attempt.observe_stream(observer)

    @hookimpl(trylast=True)
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        assert self.builder is not None
        row = self.builder.attempt_row(attempt)
        stash = attempt.call.stash
        rows = stash.get(ROWS)
        if rows is None:
            stash[ROWS] = [row]
        else:
            rows.append(row)

    @hookimpl(trylast=True)
    async def bifrost_request_end(self, call: Call) -> None:
        assert self.builder is not None and self.metrics is not None
        if call.endpoint == COUNT_TOKENS and call.error is None:
            return  # free, and no model answered: counting it would skew requests and latency
        rows = self.builder.finish(call, call.stash.pop(ROWS, None))
        self.metrics.record(rows)
        writer = self.writer
        if writer is not None:
            writer.offer(rows)
        else:
            log.warning(
                "request log: request %s ended while the log is closed; its rows are lost", call.request_id
            )
            self.metrics.dropped.inc(len(rows))

    # ------------------------------------------------------------------ admin and reports

    @hookimpl
    def bifrost_admin_routes(self, gateway: Gateway) -> list[AdminRoute]:
        return LogApi(self).routes()

    @hookimpl
    async def bifrost_report(
        self, gateway: Gateway, since: float, by: str, fmt: str, top: int | None
    ) -> str | None:
        """The report over the last `since` seconds. In a running gateway (scheduled reports)
        it reads the open log; in `bifrost-py report`, where the gateway is configured but not
        started, it opens the log on `gateway.storage` for this one read (no writer, no
        retention, no rollup build: the caller closes the storage)."""
        if by not in GROUPS:
            raise ValueError(f"--by: expected one of {', '.join(GROUPS)}")
        until = time.time()
        filters = Filters(since=until - since)
        queries = self.queries
        if queries is not None:
            groups, totals = await queries.usage_and_totals(filters, by)
        else:
            store = open_store(self.settings.logs_url, self.settings.timezone, gateway.storage)
            await store.open()
            try:
                groups, totals = await LogQueries(store, self.settings.timezone).usage_and_totals(filters, by)
            finally:
                await store.close()
        return render(
            groups, totals, by=by, since=until - since, until=until, fmt=fmt, presenter=self.presenter, top=top
        )


def _check_timezone(gateway: Gateway, name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        gateway.problems.add(
            "currency.timezone", f"unknown time zone {name!r} (use an IANA name like Asia/Kolkata)"
        )
