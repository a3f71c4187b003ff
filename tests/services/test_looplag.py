"""The event-loop lag metric reports an injected stall, and the stall log names what caused it."""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from bifrost_py.looplag import METRIC, LoopLag, stall_threshold
from bifrost_py.testing import provider_config

ROUNDS = 400  # bounded waits: at most this many short sleeps


def hold_the_loop(seconds: float) -> None:
    """A synchronous call on the loop's thread: what a stall looks like."""
    time.sleep(seconds)


def samples(registry: CollectorRegistry) -> tuple[float, float]:
    """(how many lags were sampled, how many of them were over 0.5 s). A loaded machine (CI's two
    cores) can delay an ordinary sample by a tenth of a second; never by half a second."""
    count = registry.get_sample_value(f"{METRIC}_count") or 0.0
    fast = registry.get_sample_value(f"{METRIC}_bucket", {"le": "0.5"}) or 0.0
    return count, count - fast


async def test_an_injected_stall_is_a_lag_sample_over_its_length() -> None:
    registry = CollectorRegistry()
    lag = LoopLag(registry, interval=0.01)
    lag.start()
    try:
        for _ in range(ROUNDS):  # a few ordinary samples first
            await asyncio.sleep(0.01)
            if samples(registry)[0] >= 3:
                break
        assert samples(registry)[1] == 0, "nothing held the loop yet"
        hold_the_loop(0.6)
        for _ in range(ROUNDS):
            await asyncio.sleep(0.01)
            if samples(registry)[1]:
                break
        count, slow = samples(registry)
        assert slow == 1, f"one of {count} samples saw the 0.6 s stall"
    finally:
        lag.stop()


async def test_the_stall_log_names_the_call_that_held_the_loop(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "bifrost_py.looplag")
    lag = LoopLag(CollectorRegistry(), stall_after=0.02)
    lag.start()
    try:
        await asyncio.sleep(0.05)
        hold_the_loop(0.2)
        for _ in range(ROUNDS):
            await asyncio.sleep(0.01)
            if lag._watchdog is not None and lag._watchdog.stalls:
                break
    finally:
        lag.stop()
    stalls = [r.getMessage() for r in caplog.records if "event loop stalled" in r.getMessage()]
    assert len(stalls) == 1, stalls
    assert "hold_the_loop" in stalls[0] and "time.sleep(seconds)" in stalls[0]
    lasted = int(stalls[0].split("stalled for ")[1].split(" ms")[0])
    assert 150 <= lasted <= 1000, stalls[0]
    if sys.platform == "linux":  # a sleeping thread holds the loop without computing: it says so
        on_cpu = int(stalls[0].split("on a CPU for ")[1].split(" of")[0])
        assert on_cpu < 50, stalls[0]


async def test_ordinary_awaits_are_not_stalls(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, "bifrost_py.looplag")
    lag = LoopLag(CollectorRegistry(), stall_after=0.5)  # far above anything asyncio.sleep does
    lag.start()
    try:
        for _ in range(20):
            await asyncio.sleep(0.01)
    finally:
        lag.stop()
    assert not [r for r in caplog.records if "stalled" in r.getMessage()]


@pytest.mark.parametrize(("value", "seconds"), [("", None), ("0", None), ("20", 0.02), (" 50 ", 0.05),
                                                ("soon", None), ("-3", None)])
def test_the_switch_is_a_number_of_milliseconds(value: str, seconds: float | None) -> None:
    assert stall_threshold({"BIFROST_LOOP_STALL_MS": value}) == seconds


async def test_metrics_exposes_the_loop_lag_histogram(start_gateway: Any, tmp_path: Any) -> None:
    gw = await start_gateway({"providers": provider_config("http://127.0.0.1:9"),
                              "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"}}, builtins=False)
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/metrics") as response:
        text = await response.text()
    assert response.status == 200
    assert f"# TYPE {METRIC} histogram" in text and f'{METRIC}_bucket{{le="0.02"}}' in text
