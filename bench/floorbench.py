"""`make bench`'s measurements, every figure taken for the floor (bench/floor.py) and the gateway in
one run, so each is read as a ratio to the floor on the same machine at the same moment.

    throughput   wrk (or, without wrk and in the smoke run, a bounded asyncio client) at c=1 and
                 c=64, JSON and streamed requests; req/s, p50/p99, and the target process's own
                 CPU time (utime + stime from /proc) divided by the requests it served
    streams      N concurrent long streams (the mock paces the events): per relayed event the
                 target's CPU time; p50/p99 time to first byte; p99 over the streams of each
                 stream's worst gap between two events; RSS per open stream (the process's peak
                 RSS while the streams are open, minus its RSS before, over N)

CPU time per request is far steadier than latency on a shared machine: it counts only what the
target process did. Gaps and first bytes are what a client sees, so they include the load of
everything else on the machine (the mock, the client): compare them within one run.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

TICKS = os.sysconf("SC_CLK_TCK")


def family(pid: int) -> list[int]:
    """`pid` and its live descendants: a target run with workers is one parent and N children."""
    found, index = [pid], 0
    while index < len(found):
        try:
            found += [int(c) for c in Path(f"/proc/{found[index]}/task/{found[index]}/children").read_text().split()]
        except OSError:
            pass
        index += 1
    return found


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process and its live children (workers) have used so far."""
    total = 0
    for member in family(pid):
        try:
            fields = Path(f"/proc/{member}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / TICKS


def rss_bytes(pid: int) -> int:
    """Resident memory of the process and its live children (workers)."""
    total = 0
    for member in family(pid):
        try:
            lines = Path(f"/proc/{member}/status").read_text().splitlines()
        except OSError:
            continue
        total += next((int(line.split()[1]) * 1024 for line in lines if line.startswith("VmRSS:")), 0)
    return total


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0..100) by nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[rank]


@dataclass
class Load:
    """One throughput cell."""

    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int
    cpu_us: float = 0.0  # the target's CPU time per request, microseconds


async def pyload(url: str, body: bytes, headers: dict[str, str], concurrency: int, requests: int) -> Load:
    """`requests` POSTs over `concurrency` connections, each answer read whole (a stream too)."""
    latencies: list[float] = []
    errors = 0
    left = requests

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal left, errors
        while left > 0:
            left -= 1
            started = time.perf_counter()
            try:
                async with session.post(url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return Load(len(latencies) / elapsed, percentile(latencies, 50) * 1000, percentile(latencies, 99) * 1000,
                errors, len(latencies))


def measured(pid: int | None, run: Callable[[], Load]) -> Load:
    """`run()`, with the CPU time process `pid` spent meanwhile per request it served."""
    before = cpu_seconds(pid) if pid else 0.0
    result = run()
    if pid and result.requests:
        result.cpu_us = (cpu_seconds(pid) - before) / result.requests * 1e6
    return result


@dataclass
class Streams:
    """The stream scenario's figures for one target."""

    streams: int
    events: int = 0
    errors: int = 0
    cpu_us_per_event: float = 0.0
    ttfb_ms: list[float] = field(default_factory=list)
    worst_gap_ms: list[float] = field(default_factory=list)
    rss_kb_per_stream: float = 0.0

    @property
    def ttfb_p50(self) -> float:
        return percentile(self.ttfb_ms, 50)

    @property
    def ttfb_p99(self) -> float:
        return percentile(self.ttfb_ms, 99)

    @property
    def gap_p99(self) -> float:
        return percentile(self.worst_gap_ms, 99)


async def streams(url: str, body: bytes, headers: dict[str, str], count: int, pid: int | None,
                  ramp: float = 0.0) -> Streams:
    """`count` streams read to their end; see the module docstring. `ramp` 0 opens them all at
    once (the worst case for first bytes: every request's own work in one burst); otherwise
    they open evenly over `ramp` seconds, the way sessions that start their requests at their
    own moments arrive (a ramp of one stream's length is the steady arrival rate that holds
    `count` streams open)."""
    result = Streams(count)
    opened = 0
    all_open = asyncio.Event()

    async def one(session: aiohttp.ClientSession, delay: float) -> None:
        nonlocal opened
        if delay:
            await asyncio.sleep(delay)
        started = time.perf_counter()
        last: float | None = None
        worst = 0.0
        tail = b""
        try:
            async with session.post(url, data=body, headers=headers) as response:
                async for chunk in response.content.iter_any():
                    now = time.perf_counter()
                    if last is None:
                        result.ttfb_ms.append((now - started) * 1000)
                        opened += 1
                        if opened == count:
                            all_open.set()
                    tail += chunk
                    events = tail.count(b"\n\n")
                    if events:
                        tail = tail[tail.rfind(b"\n\n") + 2:]
                        result.events += events
                        if last is not None:
                            worst = max(worst, now - last)
                        last = now
                if response.status != 200:
                    result.errors += 1
        except aiohttp.ClientError:
            result.errors += 1
        if last is None:  # never answered: let the RSS sampler go on regardless
            opened += 1
            if opened == count:
                all_open.set()
        result.worst_gap_ms.append(worst * 1000)

    async def sample_rss(baseline: int) -> None:
        peak = baseline
        await all_open.wait()
        while not done.is_set():
            peak = max(peak, rss_bytes(pid)) if pid else peak
            try:
                await asyncio.wait_for(done.wait(), 0.05)
            except TimeoutError:
                pass
        result.rss_kb_per_stream = max(0, peak - baseline) / 1024 / count

    done = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=600)) as session:
        baseline = rss_bytes(pid) if pid else 0
        before = cpu_seconds(pid) if pid else 0.0
        sampler = asyncio.ensure_future(sample_rss(baseline))
        await asyncio.gather(*(one(session, i * ramp / count) for i in range(count)))
        done.set()
        await sampler
        if pid and result.events:
            result.cpu_us_per_event = (cpu_seconds(pid) - before) / result.events * 1e6
    return result


def ratio(value: float, floor: float) -> str:
    return f"{value / floor:.2f}x" if floor > 0 else "-"
