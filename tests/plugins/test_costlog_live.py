"""The live hub: each open stream gets the rows it asked for, a slow one loses rows (and is told
how many) instead of slowing the writer, and closing wakes every stream."""

from __future__ import annotations

from bifrost_costlog import live
from bifrost_costlog.live import LiveHub


async def test_rows_reach_matching_subscribers() -> None:
    hub = LiveHub()
    alice = hub.subscribe(lambda row: row["key_name"] == "alice")
    everyone = hub.subscribe(lambda row: True)
    hub.publish([{"id": 1, "key_name": "alice"}, {"id": 2, "key_name": "bob"}])
    assert alice.ready.is_set() and everyone.ready.is_set()
    assert alice.take() == ([{"id": 1, "key_name": "alice"}], 0)
    assert [r["id"] for r in everyone.take()[0]] == [1, 2]
    assert not alice.ready.is_set()
    hub.unsubscribe(alice)
    hub.publish([{"id": 3, "key_name": "alice"}])
    assert alice.take() == ([], 0)


async def test_a_slow_subscriber_misses_rows_and_is_told(monkeypatch: object) -> None:
    monkeypatch.setattr(live, "SUBSCRIBER_QUEUE", 3)  # type: ignore[attr-defined]
    hub = LiveHub()
    slow = hub.subscribe(lambda row: True)
    hub.publish([{"id": i} for i in range(10)])
    rows, missed = slow.take()
    assert [r["id"] for r in rows] == [0, 1, 2] and missed == 7
    assert slow.take() == ([], 0)


async def test_close_wakes_every_stream_and_later_ones_at_once() -> None:
    hub = LiveHub()
    open_stream = hub.subscribe(lambda row: True)
    hub.close()
    assert hub.closed.is_set() and open_stream.ready.is_set()
    assert hub.subscribe(lambda row: True).ready.is_set()
