"""The circuit breaker's state machine, on a fake clock (no sleeping through cooldowns)."""

from __future__ import annotations

from bifrost_failover.breaker import CLOSED, HALF_OPEN, OPEN, BreakerBoard
from bifrost_failover.settings import Circuit
from hypothesis import given, settings
from hypothesis import strategies as st

KEY = ("anthropic", "claude-sonnet-4-20250514")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def board(failures: int = 3, window: float = 60.0, cooldown: float = 30.0) -> tuple[BreakerBoard, Clock]:
    clock = Clock()
    return BreakerBoard(Circuit(failures=failures, window=window, cooldown=cooldown), clock), clock


def test_opens_after_n_failures_in_the_window_and_skips_while_open() -> None:
    b, clock = board()
    assert not b.record_failure(KEY, "529")
    assert not b.record_failure(KEY, "529")
    assert b.state(KEY) == CLOSED and b.admits(KEY, "r1")
    assert b.record_failure(KEY, "529 overloaded_error")
    assert b.state(KEY) == OPEN
    assert not b.admits(KEY, "r1")
    assert b.retry_in(KEY) == 30.0
    clock.now += 10
    assert b.retry_in(KEY) == 20.0
    snap = b.snapshot(KEY)
    assert snap["state"] == OPEN and snap["times_opened"] == 1 and snap["last_error"] == "529 overloaded_error"


def test_failures_older_than_the_window_do_not_count() -> None:
    b, clock = board(failures=2, window=10)
    b.record_failure(KEY, "x")
    clock.now += 11
    assert not b.record_failure(KEY, "x")
    assert b.state(KEY) == CLOSED
    clock.now += 9
    assert b.record_failure(KEY, "x")


def test_half_open_admits_one_probe_at_a_time() -> None:
    b, clock = board(failures=1)
    b.record_failure(KEY, "x")
    clock.now += 30
    assert b.state(KEY) == HALF_OPEN
    assert b.admits(KEY, "r1") and b.admits(KEY, "r2"), "nobody holds the probe yet"
    assert b.claim_probe(KEY, "r1")
    assert not b.claim_probe(KEY, "r2")
    assert b.admits(KEY, "r1") and not b.admits(KEY, "r2")
    b.release("r1")
    assert b.admits(KEY, "r2") and b.claim_probe(KEY, "r2")


def test_probe_failure_reopens_and_probe_success_closes() -> None:
    b, clock = board(failures=1)
    b.record_failure(KEY, "x")
    clock.now += 31
    b.claim_probe(KEY, "r1")
    assert b.record_failure(KEY, "still failing"), "a failed probe re-opens the circuit"
    assert b.state(KEY) == OPEN and b.snapshot(KEY)["times_opened"] == 2
    assert b.retry_in(KEY) == 30.0, "the cooldown starts again"
    clock.now += 31
    b.claim_probe(KEY, "r2")
    assert b.record_success(KEY)
    assert b.state(KEY) == CLOSED and b.admits(KEY, "r3")
    assert not b.record_success(KEY), "already closed"
    assert b.snapshot(KEY)["recent_failures"] == 0


def test_a_failure_while_open_extends_the_cooldown_without_counting_as_an_opening() -> None:
    b, clock = board(failures=1)
    b.record_failure(KEY, "x")
    clock.now += 20
    assert not b.record_failure(KEY, "x")
    assert b.retry_in(KEY) == 30.0 and b.snapshot(KEY)["times_opened"] == 1


def test_targets_are_independent() -> None:
    b, _ = board(failures=1)
    b.record_failure(KEY, "x")
    assert b.state(("anthropic", "claude-haiku-4-5-20251001")) == CLOSED
    assert b.state(("bedrock", KEY[1])) == CLOSED


@settings(max_examples=200)
@given(
    failures=st.integers(1, 5),
    window=st.integers(1, 20),
    gaps=st.lists(st.integers(0, 30), max_size=30),
)
def test_opens_exactly_when_n_failures_fall_in_one_window(failures: int, window: int, gaps: list[int]) -> None:
    """Reference model: the circuit opens at the first failure that has `failures - 1` others
    within the window before it (cooldown longer than the run, so it stays open)."""
    b, clock = board(failures=failures, window=window, cooldown=10_000)
    times: list[float] = []
    expected_open_at = None
    for i, gap in enumerate(gaps):
        clock.now += gap
        times.append(clock.now)
        recent = [t for t in times if t >= clock.now - window]
        opened = b.record_failure(KEY, "x")
        if expected_open_at is None and len(recent) >= failures:
            expected_open_at = i
            assert opened
        else:
            assert not opened
        assert (b.state(KEY) == OPEN) == (expected_open_at is not None)
