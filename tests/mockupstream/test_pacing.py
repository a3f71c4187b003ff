"""How a stream is split into timed writes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.mockupstream.pacing import Event, schedule

events_st = st.lists(
    st.tuples(st.binary(min_size=1, max_size=5), st.booleans()).map(lambda t: Event(*t)),
    max_size=30,
)


@given(events_st, st.sampled_from([0.0, 0.01]), st.sampled_from([None, 0.5]))
def test_without_a_cut_every_byte_is_written_once_in_order(
    events: list[Event], pace: float, stall: float | None
) -> None:
    segments, cut = schedule(events, per_delta=pace, stall=stall)
    assert not cut
    assert b"".join(s.data for s in segments) == b"".join(e.data for e in events)
    deltas = sum(e.is_delta for e in events)
    total = sum(s.delay for s in segments)
    expected = pace * deltas + (
        stall if stall and deltas >= 1 and len(events) > _first_delta(events) + 1 else 0
    )
    assert abs(total - expected) < 1e-9


def _first_delta(events: list[Event]) -> int:
    return next((i for i, e in enumerate(events) if e.is_delta), len(events))


def test_unpaced_stream_is_one_write() -> None:
    events = [Event(b"a"), Event(b"b", True), Event(b"c", True), Event(b"d")]
    assert schedule(events) == ([(0.0, b"abcd")], False)


def test_stall_comes_after_the_first_delta() -> None:
    events = [Event(b"h"), Event(b"1", True), Event(b"2", True), Event(b"t")]
    assert schedule(events, stall=2.0)[0] == [(0.0, b"h1"), (2.0, b"2t")]


@given(events_st, st.integers(min_value=0, max_value=40))
def test_cut_keeps_exactly_n_deltas_and_nothing_after(events: list[Event], n: int) -> None:
    segments, cut = schedule(events, cut=n)
    assert cut
    kept = b"".join(s.data for s in segments)
    expected = [e for e in events]
    deltas = [i for i, e in enumerate(events) if e.is_delta]
    if n == 0 or not deltas:
        expected = events[: deltas[0] if deltas else len(events)]
    else:
        expected = events[: deltas[min(n, len(deltas)) - 1] + 1]
    assert kept == b"".join(e.data for e in expected)
