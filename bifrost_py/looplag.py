"""How late the event loop runs what is due: `bifrost_event_loop_lag_seconds`, and a stall log.

Every stream the gateway relays waits on this one loop: a callback that holds it (a big JSON
parse, a synchronous write, a garbage-collector pass over many live objects) delays every
other client's next event by as long. The sampler measures that cheaply: a timer asks to be
woken `interval` seconds from now and records how much later it actually ran (one
`call_at` and one histogram observation per interval; nothing per request).

    lag = LoopLag(gateway.metrics)      # registers the histogram; the gateway does this
    lag.start()                         # on the running loop (Gateway.start)
    lag.stop()                          # Gateway.stop

Debugging a stall: with `BIFROST_LOOP_STALL_MS=20` in the environment (0 or unset: off), a
watchdog thread also logs every stall longer than that many milliseconds, with the stack the
loop's thread was in while it stalled (what caused it, not the sampler's own frame), how long
it lasted, and how much of it the loop's thread spent on a CPU (Linux): little means it was
waiting, for a CPU on a loaded machine or for the GIL another thread held, not computing.
The stack is a sample taken during the stall: one long callback shows as itself, a burst of
many short ones (hundreds of streams opening at once) as whichever ran at that moment. The sampler then wakes every few milliseconds, so keep it for debugging.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from types import FrameType

from prometheus_client import CollectorRegistry, Histogram

log = logging.getLogger("bifrost_py.looplag")

METRIC = "bifrost_event_loop_lag_seconds"
INTERVAL = 0.25  # seconds between samples without the stall log
BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
ENV = "BIFROST_LOOP_STALL_MS"


def stall_threshold(environ: Mapping[str, str] | None = None) -> float | None:
    """Seconds from BIFROST_LOOP_STALL_MS, or None when the stall log is off. A value that is
    not a number is reported once and leaves it off."""
    raw = (os.environ if environ is None else environ).get(ENV, "").strip()
    if not raw:
        return None
    try:
        ms = float(raw)
    except ValueError:
        log.warning("%s=%r is not a number of milliseconds; the loop stall log stays off", ENV, raw)
        return None
    return ms / 1000 if ms > 0 else None


class LoopLag:
    """The loop-lag sampler (and, when `stall_after` is set, the stall watchdog)."""

    def __init__(self, registry: CollectorRegistry, *, interval: float = INTERVAL,
                 stall_after: float | None = None) -> None:
        self.histogram = Histogram(METRIC, "How late the event loop ran a timer that was due (seconds)",
                                   buckets=BUCKETS, registry=registry)
        self.stall_after = stall_after
        # The watchdog needs a heartbeat well inside the threshold to see a stall while it lasts.
        self.interval = min(interval, stall_after / 4) if stall_after else interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due = 0.0
        self._watchdog: Watchdog | None = None

    def start(self) -> None:
        """Begin sampling on the running loop (idempotent)."""
        if self._handle is not None:
            return
        self._loop = asyncio.get_running_loop()
        if self.stall_after:
            self._watchdog = Watchdog(threading.get_ident(), self.stall_after, self.interval,
                                      native_id=threading.get_native_id())
            self._watchdog.start()
        self._schedule()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        if self._watchdog is not None:
            self._watchdog.stop()
            self._watchdog = None

    def _schedule(self) -> None:
        assert self._loop is not None
        self._due = self._loop.time() + self.interval
        self._handle = self._loop.call_at(self._due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        self.histogram.observe(max(0.0, self._loop.time() - self._due))
        if self._watchdog is not None:
            self._watchdog.beat()
        self._schedule()


class Watchdog(threading.Thread):
    """Watches the loop's heartbeat from a thread of its own. When a beat is half the threshold
    late it takes the loop thread's stack (the stall is in progress: that stack is its cause);
    when the loop beats again it logs the stack if the stall lasted beyond the threshold."""

    def __init__(self, loop_thread: int, threshold: float, interval: float, *, native_id: int | None = None) -> None:
        super().__init__(name="bifrost-loop-watchdog", daemon=True)
        self.loop_thread = loop_thread
        self.loop_native_id = native_id
        self.threshold = threshold
        self.interval = interval
        self._last = time.monotonic()
        self._stopped = threading.Event()
        self.stalls = 0  # stalls logged (tests read it)

    def beat(self) -> None:
        self._last = time.monotonic()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        check = max(self.threshold / 4, 0.001)
        caught: list[str] | None = None
        since = caught_at = 0.0
        cpu_at: int | None = None
        while not self._stopped.wait(check):
            last = self._last
            late = time.monotonic() - last - self.interval
            if caught is None and late > self.threshold / 2:  # a stall may be starting: its stack now
                frame = sys._current_frames().get(self.loop_thread)
                caught, since = _stack(frame), last
                caught_at, cpu_at = time.monotonic(), self._cpu_ns()
            elif caught is not None and last != since:  # the loop beat again: how long was it?
                lasted = max(0.0, last - since - self.interval)
                if lasted > self.threshold:
                    self.stalls += 1
                    log.warning("event loop stalled for %.0f ms (over %.0f ms)%s; the loop was in:\n%s",
                                lasted * 1000, self.threshold * 1000, self._on_cpu(cpu_at, time.monotonic() - caught_at),
                                "".join(caught).rstrip())
                caught = None

    def _cpu_ns(self) -> int | None:
        """The loop thread's time on a CPU so far (Linux: /proc/self/task/TID/schedstat), or None."""
        if self.loop_native_id is None:
            return None
        try:
            with open(f"/proc/self/task/{self.loop_native_id}/schedstat") as stat:
                return int(stat.read().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def _on_cpu(self, before: int | None, seconds: float) -> str:
        """', its thread ran N of the last M ms': how much of the stall the loop's thread was
        computing; the rest it waited for a CPU (a loaded machine) or for the GIL (another thread)."""
        after = self._cpu_ns()
        if before is None or after is None or seconds <= 0:
            return ""
        on_cpu = min((after - before) / 1e9, seconds)  # the kernel's count may run a tick ahead
        return f", its thread on a CPU for {on_cpu * 1000:.0f} of its last {seconds * 1000:.0f} ms"


def _stack(frame: FrameType | None) -> list[str]:
    return traceback.format_stack(frame) if frame is not None else ["  (the loop's thread has no frame)\n"]
