"""`gateway.every()`: rounds on a timer, never cut half-way at shutdown, a final round before
the plugins' shutdown hooks, a failing round logged and the next one run."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.config import config_from_dict
from bifrost_py.gateway import Gateway
from bifrost_py.hookspecs import hookimpl
from bifrost_py.periodic import DONE, Periodic, Periodics


async def test_rounds_run_every_interval_first_after_one_interval() -> None:
    ticks: list[float] = []
    loop = asyncio.get_running_loop()
    start = loop.time()

    async def tick() -> None:
        ticks.append(loop.time() - start)

    periodic = Periodics().every(0.05, tick, name="test")
    await asyncio.sleep(0.18)
    await periodic.stop()
    assert ticks[0] >= 0.045  # not at once
    assert 3 <= len(ticks) <= 5  # ~3 on the timer, then the final round


async def test_now_runs_the_first_round_at_once() -> None:
    ran = asyncio.Event()

    async def tick() -> None:
        ran.set()

    periodic = Periodics().every(60, tick, name="test", now=True)
    await asyncio.wait_for(ran.wait(), 1)
    await periodic.stop()
    assert periodic.rounds == 2  # the first, then the final one


async def test_stop_waits_for_the_round_in_progress_then_runs_the_final_round() -> None:
    events: list[str] = []
    entered = asyncio.Event()

    async def work() -> None:
        events.append("begin")
        entered.set()
        await asyncio.sleep(0.1)
        events.append("end")

    periodic = Periodics().every(0.01, work, name="test")
    await entered.wait()
    await periodic.stop()
    assert events == ["begin", "end", "begin", "end"]
    assert not periodic.running


async def test_a_cancelled_stopper_does_not_cancel_the_round() -> None:
    finished = asyncio.Event()
    entered = asyncio.Event()

    async def work() -> None:
        entered.set()
        await asyncio.sleep(0.1)
        finished.set()

    periodic = Periodic(0.01, work, name="test", final=False)
    periodic.start()
    await entered.wait()
    stopper = asyncio.create_task(periodic.stop())
    await asyncio.sleep(0.01)
    stopper.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopper
    await asyncio.wait_for(finished.wait(), 1)
    await periodic.stop()
    assert periodic.rounds == 1


async def test_a_failing_round_is_logged_and_the_next_one_runs(caplog: pytest.LogCaptureFixture) -> None:
    calls = 0

    async def flaky() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise OSError("disk said no")

    with caplog.at_level(logging.ERROR, "bifrost_py.periodic"):
        periodic = Periodics().every(0.01, flaky, name="flushing the journal", final=False)
        while calls < 3:
            await asyncio.sleep(0.01)
        await periodic.stop()
    assert periodic.failures == 1
    assert "flushing the journal: a round failed" in caplog.text
    assert "disk said no" in caplog.text


async def test_done_ends_the_task_and_skips_the_final_round() -> None:
    left = [3]

    async def step() -> object:
        left[0] -= 1
        return DONE if left[0] == 0 else None

    periodic = Periodics().every(0.01, step, name="build", now=True)
    while periodic.running:
        await asyncio.sleep(0.01)
    await periodic.stop()
    assert periodic.rounds == 3


async def test_the_interval_is_read_before_every_wait_and_wake_skips_it() -> None:
    interval = [60.0]
    ran = asyncio.Event()

    async def tick() -> None:
        ran.set()

    periodic = Periodics().every(lambda: interval[0], tick, name="test", final=False)
    await asyncio.sleep(0.02)
    assert not ran.is_set()
    periodic.wake()
    await asyncio.wait_for(ran.wait(), 1)
    ran.clear()
    interval[0] = 0.01
    periodic.wake()  # ends the current 60 s wait; the next ones read 0.01
    await asyncio.wait_for(ran.wait(), 1)
    ran.clear()
    await asyncio.wait_for(ran.wait(), 1)
    await periodic.stop()


def test_every_outside_an_event_loop_says_where_to_call_it() -> None:
    async def tick() -> None:
        return None

    with pytest.raises(RuntimeError, match="bifrost_startup"):
        Periodics().every(1, tick, name="test")
    with pytest.raises(ValueError):
        Periodic(0, tick, name="test")


class _Journal:
    """A plugin that flushes a journal on a timer and shares a SQLite file with another."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.pending = 0

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        self.db = await gateway.storage.sqlite("sqlite:///shared.db")
        await self.db.execute("CREATE TABLE IF NOT EXISTS journal (n INTEGER)")
        gateway.every(3600, self.flush, name="journal: flushing")

    async def flush(self) -> None:
        await asyncio.sleep(0.05)  # the final round takes a while: shutdown waits for it
        await self.db.execute("INSERT INTO journal VALUES (?)", self.pending)
        self.log.append(f"flush {self.pending}")

    @hookimpl
    async def bifrost_shutdown(self, gateway: Gateway) -> None:
        rows = await self.db.fetch("SELECT n FROM journal")  # storage still open in shutdown
        self.log.append(f"shutdown sees {[r[0] for r in rows]}")


class _Reader:
    def __init__(self) -> None:
        self.db: Any = None

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        self.db = await gateway.storage.sql("sqlite:///shared.db")


async def test_the_gateway_runs_final_rounds_before_shutdown_hooks_and_closes_storage_last(
        tmp_path: Path) -> None:
    config = config_from_dict({"providers": {"mock": {"type": "mock"}}})
    config.base_dir = tmp_path
    log: list[str] = []
    journal, reader = _Journal(log), _Reader()
    gateway = Gateway(config, plugins=[journal, reader], builtins=False)
    await gateway.start()
    assert reader.db is journal.db  # one database for the file, whoever opened it first
    journal.pending = 7
    await gateway.stop()
    assert log == ["flush 7", "shutdown sees [7]"]
    assert gateway.storage.opened() == []
    assert (tmp_path / "shared.db").exists()
