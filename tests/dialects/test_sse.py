"""The SSE reader and writer: any event stream, split at any byte boundary, reads back whole."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.sse import SSEDecoder, SSEEvent, encode_event

names = st.none() | st.text(st.characters(blacklist_characters="\r\n", blacklist_categories=("Cs",)), min_size=1, max_size=20)
payloads = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=200)


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces, start = [], 0
    for point in points:
        pieces.append(data[start:point])
        start = point
    pieces.append(data[start:])
    return pieces


def _read(pieces: list[bytes]) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = []
    for piece in pieces:
        events.extend(decoder.feed(piece))
    events.extend(decoder.close())
    return events


@settings(max_examples=300)
@given(st.lists(st.tuples(names, payloads), max_size=12), st.lists(st.integers(0, 10_000), max_size=30),
       st.sampled_from([b"\n", b"\r\n", b"\r"]))
def test_round_trip_under_any_split(events: list[tuple[str | None, str]], cuts: list[int], newline: bytes) -> None:
    wire = b"".join(encode_event(data, event=name) for name, data in events).replace(b"\n", newline)
    read = _read(_split(wire, cuts))
    expected = [(name, data.replace("\r\n", "\n").replace("\r", "\n")) for name, data in events]
    assert [(e.event, e.data) for e in read] == expected


def test_comments_ids_and_unterminated_event() -> None:
    wire = b": keep-alive\nid: 7\nevent: ping\ndata: {}\n\nevent: cut\ndata: half"
    read = _read([wire])
    assert [(e.event, e.data, e.id) for e in read] == [("ping", "{}", "7")]


def test_data_without_space_and_multiline() -> None:
    read = _read([b"data:a\ndata: b\n\n"])
    assert read[0].data == "a\nb"
