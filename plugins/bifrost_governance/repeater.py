"""Background work on a timer: counter flushes, lease renewals, entity syncs.

Stopping never cancels a round half-way: a Redis command or an SQLite transaction cut off in the
middle can leave its connection unusable (and closing it can then hang), so `stop()` lets the
round in progress finish and then ends the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger("bifrost_governance")


class Repeater:
    """Awaits `work()` every `interval` seconds until `stop()`."""

    def __init__(self, interval: float, work: Callable[[], Awaitable[object]], what: str) -> None:
        self.interval = interval
        self.work = work
        self.what = what
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None

    async def _run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set():
                return
            try:
                await self.work()
            except Exception:  # a hiccup of the database or Redis: the next round tries again
                log.exception("governance: %s failed; will retry", self.what)
