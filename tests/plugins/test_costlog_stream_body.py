"""The cost log's stream body (`logging.bodies: true`): kept as the relay's bytes and read once,
it is the text the per-event reading gave, however the stream was cut, and stays bounded."""

from __future__ import annotations

from bifrost_costlog.rows import StreamBody
from bifrost_costlog.text import TRUNCATED
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.relay import StreamRelay
from tests.plugins.stream_wires import EventsOnly, cut, relayed, wires


@settings(max_examples=200, deadline=None)
@given(data=st.data(), name=st.sampled_from(sorted(wires())), limit=st.sampled_from([10, 300, 100_000]))
def test_any_split_logs_the_text_the_events_gave(data: st.DataObject, name: str, limit: int) -> None:
    dialect, wire = wires()[name]
    chunks = cut(wire, data.draw(st.lists(st.integers(0, len(wire)), max_size=8), label="cuts"))
    before, after = StreamBody(limit), StreamBody(limit)
    assert relayed(dialect, [wire], EventsOnly(before)) and relayed(dialect, chunks, after)
    assert after.text() == before.text()
    assert before.text()  # every stream here has text


def test_a_long_stream_is_read_as_it_goes_and_kept_bounded() -> None:
    dialect, wire = wires()["anthropic-text"]
    events = [block + b"\n\n" for block in wire.split(b"\n\n") if block]
    body = StreamBody(100)
    relay = StreamRelay(dialect, None, hide_usage=False, observers=[body])
    start, deltas, end = events[:3], events[3:-3], events[-3:]
    for chunk in [*start, *(deltas * 200), *end]:  # some 2 MB of events
        relay.push(chunk)
        assert body._kept < 65536
    text = body.text()
    assert 100 <= len(text) <= 100 + len(TRUNCATED)
    assert body._kept == 0
