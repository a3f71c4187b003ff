"""The queue between the request path and the store, and the task that empties it in batches.

The request path only appends to a bounded deque (`offer`): at most `queue_size` rows and, with
`logging.bodies: true`, at most `queue_body_mb` of logged bodies. When the store is slow or down
the deque fills and further rows are dropped, counted (metric) and reported (a log line at most every
few seconds): the gateway keeps serving. The writer is a group commit: once a row is queued it
waits `flush_interval` (20 ms by default) for company, or less once `batch_size` rows are
queued, then writes everything queued (up to `batch_size` rows) in one transaction. So a row
reaches the store within tens of milliseconds and a crash loses only what was queued in its last
interval and write, while a transaction (and the hand-over to the store's thread) is paid once
per interval instead of once per request under light load; under heavy load the batches grow by
themselves. `flush_interval: 0` writes as soon as the writer is free. `close()` writes
everything still queued before the store is closed.

A failed write is retried with back-off when the store is down or busy (`Store.fault`). When the
store refuses a row instead (a value it cannot take), retrying would stall the log for everyone:
the batch is split until that row is alone, the rest is written, and the row is written once
more with its values made storable, or dropped; both are counted (bifrost_log_rows_rejected)
and logged (at most every DROP_LOG_EVERY seconds).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable
from typing import Any

from .columns import escaped_row, record
from .metrics import Metrics
from .rows import Row
from .settings import Settings
from .stores import ROW, UNKNOWN, Store
from .text import escaped

log = logging.getLogger("bifrost_py.costlog")

DROP_LOG_EVERY = 10.0  # seconds between "dropped rows" (and "refused rows") log lines
RETRY_FIRST, RETRY_MAX = 0.1, 5.0
CLOSE_ATTEMPTS = 3  # at shutdown a store that keeps failing gets this many more tries
UNKNOWN_RETRIES = 3  # an error neither about the rows nor the store: retries before splitting


class BatchWriter:
    def __init__(
        self, store: Store, settings: Settings, metrics: Metrics, publish: Callable[[list[Row]], None]
    ) -> None:
        self.store = store
        self.capacity = settings.queue_size
        self.body_capacity = settings.queue_body_bytes
        self.body_bytes = 0  # of the logged bodies in the queue
        self.batch_size = settings.batch_size
        self.flush_interval = settings.flush_interval
        self.metrics = metrics
        self.publish = publish
        self.rows: collections.deque[Row] = collections.deque()
        self.dropped = 0
        self.written = 0
        self.escaped = 0  # rows the store refused, written with their text escaped
        self.unwritable = 0  # rows the store refused even escaped: dropped
        self._drop_log = Throttle(DROP_LOG_EVERY)
        self._reject_log = Throttle(DROP_LOG_EVERY)
        self._wake = asyncio.Event()  # something is queued
        self._gathering: asyncio.Future[None] | None = None  # a partial batch waiting for company
        self._closing = False
        self._task: asyncio.Task[None] | None = None
        self._depth = 0  # the queue depth last shown by the gauge (which starts at 0)

    # ------------------------------------------------------------------ request path

    def offer(self, rows: list[Row]) -> None:
        """Queue one request's rows; drop (and count) what does not fit. Never waits."""
        queue = self.rows
        for row in rows:
            size = _body_bytes(row)
            if len(queue) >= self.capacity or (size and self.body_bytes + size > self.body_capacity):
                self._drop(1)
            else:
                queue.append(row)
                self.body_bytes += size
        self._wake.set()
        if self._gathering is not None and len(queue) >= self.batch_size:
            _release(self._gathering)  # a whole batch is queued: do not wait for the interval

    def _drop(self, count: int) -> None:
        self.dropped += count
        self.metrics.dropped.inc(count)
        reported = self._drop_log.note(count)
        if reported:
            log.warning(
                "request log: dropped %d row(s): the queue to the log store is full (%d rows or %d MB of "
                "bodies; store slow or down)",
                reported,
                self.capacity,
                self.body_capacity // 2**20,
            )

    # ------------------------------------------------------------------ the task

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="costlog-writer")

    async def close(self) -> None:
        """Write everything queued, then stop."""
        self._closing = True
        self._wake.set()
        if self._gathering is not None:
            _release(self._gathering)
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            if not self.rows:
                if self._closing:
                    return
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.flush_interval and len(self.rows) < self.batch_size and not self._closing:
                await self._gather()
            batch = [self.rows.popleft() for _ in range(min(self.batch_size, len(self.rows)))]
            if self.body_bytes:
                self.body_bytes -= sum(_body_bytes(row) for row in batch)
            depth = len(self.rows)
            if depth != self._depth:  # (a gauge's set takes a lock: not when it would not change)
                self.metrics.queue_depth.set(depth)
                self._depth = depth
            try:
                await self._write(batch)
            except Exception:  # a bug must not stop logging for good
                log.exception("request log: a batch of %d row(s) could not be handled", len(batch))
                self._drop(len(batch))

    async def _gather(self) -> None:
        """Wait `flush_interval`, or less if a whole batch is queued or the writer closes (one
        future and one timer: asyncio.wait_for would start a task per batch)."""
        loop = asyncio.get_running_loop()
        self._gathering = waiter = loop.create_future()
        timer = loop.call_later(self.flush_interval, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._gathering = None

    async def _write(self, batch: list[Row]) -> None:
        """Write a batch. When the store refuses it for a row's sake, the batch is split in
        halves until the rows it refuses are alone (O(log n) inserts per bad row, in order, so
        ids still follow the queue); each of those is written once more escaped, or dropped.
        A store that is down gets the same part again, with back-off."""
        parts: collections.deque[tuple[list[Row], list[tuple[Any, ...]]]] = collections.deque()
        parts.append(self._records(batch))
        whole = True
        while parts:
            rows, records = parts.popleft()
            try:
                refused = await self._insert(rows, records, retry_unknown=whole)
            except _GaveUp:
                self._drop(len(rows) + sum(len(part[0]) for part in parts))
                return
            whole = False
            if refused is None:
                continue
            if len(rows) > 1:
                half = len(rows) // 2
                parts.appendleft((rows[half:], records[half:]))
                parts.appendleft((rows[:half], records[:half]))
            else:
                try:
                    await self._rescue(rows[0], refused)
                except _GaveUp:
                    self._drop(1 + sum(len(part[0]) for part in parts))
                    return

    def _records(self, batch: list[Row]) -> tuple[list[Row], list[tuple[Any, ...]]]:
        """The batch's rows and their records; a row whose values cannot even be put in a record
        is replaced by its escaped copy (and counted as such)."""
        records = []
        for index, row in enumerate(batch):
            try:
                records.append(record(row))
            except Exception as exc:  # noqa: BLE001 - a value of a type no column takes
                batch[index] = row = escaped_row(row)
                records.append(record(row))
                self._rejected(row, exc, written=True)
        return batch, records

    async def _insert(self, rows: list[Row], records: list[tuple[Any, ...]], *, retry_unknown: bool) -> Exception | None:
        """Insert the records, retrying with back-off while the store is unavailable; None when
        they are written, the store's error when it refuses them. At shutdown a store that
        keeps failing gets CLOSE_ATTEMPTS more tries (_GaveUp)."""
        delay = RETRY_FIRST
        failures = failures_closing = 0
        while True:
            try:
                ids = await self.store.insert(records)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any driver's error: never crash the writer
                failures += 1
                self.metrics.write_errors.inc()
                fault = self.store.fault(exc)
                if fault == ROW or (fault == UNKNOWN and (not retry_unknown or failures > UNKNOWN_RETRIES)):
                    return exc
                failures_closing += self._closing
                if failures_closing > CLOSE_ATTEMPTS:
                    log.error("request log: giving up on %d row(s) at shutdown: %s", len(rows), exc)
                    raise _GaveUp from exc
                if failures == 1 or failures % 10 == 0:
                    log.warning("request log: writing %d row(s) failed (%s); retrying", len(rows), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        for row, row_id in zip(rows, ids):
            row["id"] = row_id
        self.written += len(rows)
        self.metrics.written.inc(len(rows))
        self.publish(rows)
        return None

    async def _rescue(self, row: Row, refused: Exception) -> None:
        """The one row of a batch the store refused: once more with every value made storable
        (text escaped, impossible numbers as NULL); if even that is refused, it is dropped."""
        clean = escaped_row(row)
        try:
            again = await self._insert([clean], [record(clean)], retry_unknown=False)
        except _GaveUp:
            raise
        except Exception as exc:  # noqa: BLE001 - a bug here must cost this row only
            again = exc
        self._rejected(row, again or refused, written=again is None)

    def _rejected(self, row: Row, error: Exception, *, written: bool) -> None:
        """Count a row the store refused (written escaped, or dropped) and log it now and then."""
        if written:
            self.escaped += 1
            self.metrics.rows_escaped.inc()
        else:
            self.unwritable += 1
            self.metrics.rows_unwritable.inc()
        reported = self._reject_log.note(1)
        if reported:
            log.warning(
                "request log: the store refused %d row(s) as they were; the last, of request %s (%s: %s), was %s",
                reported,
                _printable(row.get("request_id")),
                type(error).__name__,
                _printable(str(error))[:200],
                "written with its text escaped" if written else "dropped: not even its escaped copy could be written",
            )


class _GaveUp(Exception):
    """The store failed at shutdown more than CLOSE_ATTEMPTS times: the rest is dropped."""


class Throttle:
    """Counts events and allows one log line about them per `every` seconds."""

    __slots__ = ("every", "last", "pending")

    def __init__(self, every: float) -> None:
        self.every = every
        self.last = -every
        self.pending = 0

    def note(self, count: int) -> int:
        """Add `count` events; how many to report now (0: not yet)."""
        self.pending += count
        now = time.monotonic()
        if now - self.last < self.every:
            return 0
        reported, self.pending, self.last = self.pending, 0, now
        return reported


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


def _printable(value: object) -> str:
    return escaped(str(value))


def _body_bytes(row: Row) -> int:
    """What a row's logged bodies weigh in the queue (0 unless `logging.bodies` is on)."""
    request, response = row.get("request_body"), row.get("response_body")
    return (len(request) if request else 0) + (len(response) if response else 0)
