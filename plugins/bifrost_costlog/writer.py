"""The queue between the request path and the store, and the task that empties it in batches.

The request path only appends to a bounded deque (`offer`): at most `queue_size` rows and, with
`logging.bodies: true`, at most `queue_body_mb` of logged bodies. When the store is slow or down
the deque fills and further rows are dropped, counted (metric) and reported (a log line at most every
few seconds): the gateway keeps serving. The writer is a group commit: whenever it is free it
writes everything queued (up to `batch_size` rows) in one transaction, so a row reaches the store
within milliseconds and a crash loses only what was queued during the last write, while under
load the batches grow by themselves. `flush_interval` > 0 makes a partial batch wait that long
for company instead (fewer, larger transactions; more to lose on a crash). A failed write is
retried with back-off. `close()` writes everything still queued before the store is closed.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable

from .columns import record
from .metrics import Metrics
from .rows import Row
from .settings import Settings
from .stores import Store

log = logging.getLogger("bifrost_py.costlog")

DROP_LOG_EVERY = 10.0  # seconds between "dropped rows" log lines
RETRY_FIRST, RETRY_MAX = 0.1, 5.0
CLOSE_ATTEMPTS = 3  # at shutdown a store that keeps failing gets this many more tries


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
        self._dropped_unlogged = 0
        self._last_drop_log = 0.0
        self._wake = asyncio.Event()  # something is queued
        self._full = asyncio.Event()  # a whole batch is queued: do not wait for the interval
        self._closing = False
        self._task: asyncio.Task[None] | None = None

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
        if len(queue) >= self.batch_size:
            self._full.set()

    def _drop(self, count: int) -> None:
        self.dropped += count
        self.metrics.dropped.inc(count)
        self._dropped_unlogged += count
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_EVERY:
            log.warning(
                "request log: dropped %d row(s): the queue to the log store is full (%d rows or %d MB of "
                "bodies; store slow or down)",
                self._dropped_unlogged,
                self.capacity,
                self.body_capacity // 2**20,
            )
            self._dropped_unlogged = 0
            self._last_drop_log = now

    # ------------------------------------------------------------------ the task

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name="costlog-writer")

    async def close(self) -> None:
        """Write everything queued, then stop."""
        self._closing = True
        self._wake.set()
        self._full.set()
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
                self._full.clear()
                try:
                    await asyncio.wait_for(self._full.wait(), self.flush_interval)
                except TimeoutError:
                    pass
            batch = [self.rows.popleft() for _ in range(min(self.batch_size, len(self.rows)))]
            if self.body_bytes:
                self.body_bytes -= sum(_body_bytes(row) for row in batch)
            self.metrics.queue_depth.set(len(self.rows))
            try:
                await self._write(batch)
            except Exception:  # a bug must not stop logging for good
                log.exception("request log: a batch of %d row(s) could not be handled", len(batch))
                self._drop(len(batch))

    async def _write(self, batch: list[Row]) -> None:
        records = [record(row) for row in batch]
        delay = RETRY_FIRST
        failures = failures_closing = 0
        while True:
            try:
                ids = await self.store.insert(records)
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any driver's error: retry, never crash the writer
                failures += 1
                self.metrics.write_errors.inc()
                failures_closing += self._closing
                if failures_closing > CLOSE_ATTEMPTS:
                    log.error("request log: giving up on %d row(s) at shutdown: %s", len(batch), exc)
                    self._drop(len(batch))
                    return
                if failures == 1 or failures % 10 == 0:
                    log.warning("request log: writing %d row(s) failed (%s); retrying", len(batch), exc)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RETRY_MAX)
        for row, row_id in zip(batch, ids):
            row["id"] = row_id
        self.written += len(batch)
        self.metrics.written.inc(len(batch))
        self.publish(batch)


def _body_bytes(row: Row) -> int:
    """What a row's logged bodies weigh in the queue (0 unless `logging.bodies` is on)."""
    request, response = row.get("request_body"), row.get("response_body")
    return (len(request) if request else 0) + (len(response) if response else 0)
