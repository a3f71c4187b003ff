"""`gateway.every(interval, fn, name=...)`: background work on a timer that shutdown never cuts.

    async def flush() -> None:
        await db.executemany("INSERT ...", journal.drain())

    gateway.every(settings.flush_interval, flush, name="costlog: flushing the journal")

A round is never cancelled half-way: a Redis command or a SQL transaction cut off in the middle
can leave a shared connection unusable (and closing it can then hang). Stopping (the gateway
does it before any plugin's shutdown hook; `Periodic.stop()` does it earlier) lets the round in
progress finish, then runs one final round, so the last state (a journal, counters) is written
while the storage is still open. A round that raises is logged and the next one runs on time; a
round that returns DONE ends the task for good (work that finishes: building an index).

`interval` is seconds, or a function read before every wait (a setting that can change, or a
pause that depends on the last round). The first round runs after one interval, or at once
with `now=True`; `wake()` starts the next round without waiting for the rest of the interval.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Iterator

log = logging.getLogger("bifrost_py.periodic")


class _Done(enum.Enum):
    DONE = "done"


DONE = _Done.DONE
"""Returned by a round: the work is finished, no more rounds (and no final one)."""

Round = Callable[[], Awaitable[object]]
Interval = float | Callable[[], float]


class Periodic:
    """One periodic task (made by `gateway.every`; see the module docstring)."""

    def __init__(self, interval: Interval, fn: Round, *, name: str, now: bool = False,
                 final: bool = True) -> None:
        if not callable(interval) and interval <= 0:
            raise ValueError(f"{name}: the interval must be more than 0 seconds, got {interval!r}")
        self.name = name
        self.fn = fn
        self.final = final
        self.rounds = 0  # rounds that ran to their end (failed ones included)
        self.failures = 0
        self._interval = interval
        self._now = now
        self._stopping = asyncio.Event()
        self._woken = asyncio.Event()
        self._waiter: asyncio.Future[None] | None = None  # the pause under way, if any
        self._done = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        """Start the loop (`gateway.every` does it); needs a running event loop."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=self.name)

    @property
    def running(self) -> bool:
        """True until it stopped or a round returned DONE."""
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Run the next round now rather than at the end of the interval."""
        self._woken.set()
        self._end_pause()

    async def stop(self) -> None:
        """Let the round in progress finish, run the final round, end. Idempotent; a stopper
        that is cancelled meanwhile leaves, the loop still ends as said."""
        self._stopping.set()
        self._end_pause()
        if self._task is not None:
            await asyncio.shield(self._task)

    def interval(self) -> float:
        """Seconds until the next round, as of now."""
        return float(self._interval() if callable(self._interval) else self._interval)

    async def _run(self) -> None:
        if not self._now:
            await self._wait()
        while not self._stopping.is_set():
            if await self._round() is DONE:
                return
            await self._wait()
        if self.final:
            await self._round()

    async def _wait(self) -> None:
        """The pause between two rounds: one future and one timer handle, ended by the timer,
        `wake()` or `stop()` (a few hundred rounds a second across plugins must cost next to
        nothing: no tasks per pause)."""
        try:
            seconds = max(0.0, self.interval())
        except Exception:
            log.exception("%s: reading the interval failed; waiting 60 s", self.name)
            seconds = 60.0
        if not (self._woken.is_set() or self._stopping.is_set()):
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            timer = loop.call_later(seconds, _end, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        self._woken.clear()

    def _end_pause(self) -> None:
        if self._waiter is not None:
            _end(self._waiter)

    async def _round(self) -> object:
        try:
            outcome = await self.fn()
        except Exception:
            self.failures += 1
            log.exception("%s: a round failed; the next one runs as planned", self.name)
            outcome = None
        self.rounds += 1
        if outcome is DONE:
            self._done = True
        return outcome


def _end(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Periodics:
    """The periodic tasks of one gateway; `stop()` stops them, the last started first."""

    def __init__(self) -> None:
        self._all: list[Periodic] = []

    def every(self, interval: Interval, fn: Round, *, name: str, now: bool = False,
              final: bool = True) -> Periodic:
        """A started Periodic; call it from a coroutine (a startup hook, not configure)."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(f"gateway.every({name!r}) needs a running event loop: call it from "
                               "bifrost_startup, not bifrost_configure") from None
        periodic = Periodic(interval, fn, name=name, now=now, final=final)
        self._all.append(periodic)
        periodic.start()
        return periodic

    async def stop(self) -> None:
        """Stop every task (each finishes its round and runs its final one), newest first."""
        for periodic in reversed(self._all):
            await periodic.stop()
        self._all.clear()

    def __iter__(self) -> Iterator[Periodic]:
        return iter(list(self._all))
