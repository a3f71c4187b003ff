"""The AWS event-stream codec: round trips under any split, CRC and length checks, and agreement
with botocore's decoder (an independent implementation of the same format)."""

from __future__ import annotations

import itertools
import struct
import uuid
import zlib
from datetime import UTC, datetime, timedelta

import pytest
from botocore.eventstream import EventStreamBuffer
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.eventstream import (
    EventStreamDecoder,
    EventStreamError,
    EventStreamMessage,
    HeaderType,
    Typed,
    encode_message,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

header_names = st.text(min_size=1, max_size=20).filter(lambda name: len(name.encode()) < 256)
timestamps = st.integers(min_value=-(2**40), max_value=2**42).map(
    lambda ms: EPOCH + timedelta(milliseconds=ms)
)
header_values = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.text(max_size=40),
    st.binary(max_size=40),
    timestamps,
    st.uuids(),
    st.integers(min_value=-128, max_value=127).map(lambda n: Typed(HeaderType.BYTE, n)),
    st.integers(min_value=-(2**15), max_value=2**15 - 1).map(lambda n: Typed(HeaderType.SHORT, n)),
)
messages = st.tuples(
    st.dictionaries(header_names, header_values, max_size=6), st.binary(max_size=300)
)


def plain(value: object) -> object:
    """What a header value decodes back to."""
    return value.value if isinstance(value, Typed) else value


def expected(headers: dict, payload: bytes) -> EventStreamMessage:
    return EventStreamMessage({name: plain(value) for name, value in headers.items()}, payload)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def decode_all(pieces: list[bytes]) -> list[EventStreamMessage]:
    decoder = EventStreamDecoder()
    out: list[EventStreamMessage] = []
    for piece in pieces:
        out.extend(decoder.feed(piece))
    decoder.close()
    return out


@given(st.lists(messages, max_size=5), st.lists(st.integers(min_value=0), max_size=30))
def test_round_trip_under_any_split(batch: list, cuts: list[int]) -> None:
    data = b"".join(encode_message(headers, payload) for headers, payload in batch)
    decoded = decode_all(split(data, cuts))
    assert decoded == [expected(headers, payload) for headers, payload in batch]


@given(st.lists(messages, min_size=1, max_size=3))
def test_one_byte_at_a_time(batch: list) -> None:
    data = b"".join(encode_message(headers, payload) for headers, payload in batch)
    decoded = decode_all([data[i : i + 1] for i in range(len(data))])
    assert decoded == [expected(headers, payload) for headers, payload in batch]


def botocore_value(value: object) -> object:
    """botocore leaves timestamps as epoch milliseconds and UUIDs as bytes."""
    value = plain(value)
    if isinstance(value, datetime):
        delta = value - EPOCH
        return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000
    if isinstance(value, uuid.UUID):
        return value.bytes
    return value


@given(st.lists(messages, min_size=1, max_size=4))
def test_botocore_decodes_what_we_encode(batch: list) -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(b"".join(encode_message(headers, payload) for headers, payload in batch))
    decoded = [(message.headers, message.payload) for message in buffer]
    want = [
        ({name: botocore_value(value) for name, value in headers.items()}, payload)
        for headers, payload in batch
    ]
    assert decoded == want


@settings(max_examples=300)
@given(
    st.lists(messages, min_size=1, max_size=3),
    st.integers(min_value=0),
    st.integers(min_value=1, max_value=255),
    st.lists(st.integers(min_value=0), max_size=5),
)
def test_any_corrupted_byte_is_rejected(batch: list, where: int, flip: int, cuts: list) -> None:
    """CRC32 detects every single-byte error, so corruption can never pass as a message; the
    good messages before it may come out, and only those."""
    originals = [expected(headers, payload) for headers, payload in batch]
    data = bytearray(b"".join(encode_message(headers, payload) for headers, payload in batch))
    data[where % len(data)] ^= flip
    decoder = EventStreamDecoder()
    seen: list[EventStreamMessage] = []
    with pytest.raises(EventStreamError):
        for piece in split(bytes(data), cuts):
            seen.extend(decoder.feed(piece))
        decoder.close()
    assert seen == originals[: len(seen)]


def frame(headers: bytes, payload: bytes, total: int | None = None) -> bytes:
    """A message with correct CRCs around arbitrary header bytes and lengths."""
    total = total if total is not None else 16 + len(headers) + len(payload)
    prelude = struct.pack(">II", total, len(headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def test_known_bytes() -> None:
    """A hand-built frame, so the codec is pinned to the wire format and not only to itself."""
    headers = b"\x0b:event-type\x07\x00\x05chunk"
    data = frame(headers, b'{"a":1}')
    assert encode_message({":event-type": "chunk"}, b'{"a":1}') == data
    [message] = EventStreamDecoder().feed(data)
    assert message.event_type == "chunk"
    assert message.payload == b'{"a":1}'


@pytest.mark.parametrize(
    ("type_byte", "value", "decoded"),
    [
        (0, b"", True),
        (1, b"", False),
        (2, b"\xff", -1),
        (3, b"\x01\x00", 256),
        (4, b"\xff\xff\xff\xfe", -2),
        (5, b"\x00\x00\x00\x01\x00\x00\x00\x00", 2**32),
        (6, b"\x00\x02\x00\x01", b"\x00\x01"),
        (7, b"\x00\x02hi", "hi"),
        (8, b"\x00\x00\x00\x00\x00\x00\x03\xe8", EPOCH + timedelta(seconds=1)),
        (9, bytes(range(16)), uuid.UUID(bytes=bytes(range(16)))),
    ],
)
def test_every_header_type_decodes(type_byte: int, value: bytes, decoded: object) -> None:
    [message] = EventStreamDecoder().feed(frame(b"\x01h" + bytes([type_byte]) + value, b""))
    assert message.headers == {"h": decoded}


@pytest.mark.parametrize(
    "headers",
    [
        b"\x01h\x0a",  # unknown type 10
        b"\x01h\x07\x00\x09short",  # string longer than the block
        b"\x05h",  # name longer than the block
        b"\x01h\x07\x00\x01a\x01h\x07\x00\x01b",  # duplicate name
        b"\x01h\x07\x00\x02\xff\xfe",  # not UTF-8
    ],
)
def test_bad_headers_are_errors(headers: bytes) -> None:
    with pytest.raises(EventStreamError):
        EventStreamDecoder().feed(frame(headers, b""))


@pytest.mark.parametrize("total", [0, 15, 2**31])
def test_impossible_lengths_are_errors(total: int) -> None:
    with pytest.raises(EventStreamError, match="lengths"):
        EventStreamDecoder().feed(frame(b"", b"", total=total)[:12])


def test_failure_is_sticky_and_truncation_is_reported() -> None:
    decoder = EventStreamDecoder()
    with pytest.raises(EventStreamError, match="prelude CRC"):
        decoder.feed(b"\x00" * 8 + b"\x00\x00\x00\x01")
    with pytest.raises(EventStreamError):
        decoder.feed(encode_message({}, b"fine"))
    cut = EventStreamDecoder()
    assert cut.feed(encode_message({}, b"payload")[:-1]) == []
    assert cut.pending > 0
    with pytest.raises(EventStreamError, match="ended inside"):
        cut.close()


def test_good_messages_before_a_bad_one_come_out_first() -> None:
    good = encode_message({"n": 1}, b"one")
    bad = bytearray(encode_message({"n": 2}, b"two"))
    bad[-1] ^= 1
    decoder = EventStreamDecoder()
    assert decoder.feed(good + bytes(bad)) == [EventStreamMessage({"n": 1}, b"one")]
    with pytest.raises(EventStreamError, match="message CRC"):
        decoder.close()


def test_convenience_properties() -> None:
    headers = {
        ":message-type": "exception",
        ":exception-type": "throttlingException",
        ":event-type": "chunk",
    }
    [message] = EventStreamDecoder().feed(encode_message(headers, b"{}"))
    assert (message.message_type, message.exception_type, message.event_type) == (
        "exception",
        "throttlingException",
        "chunk",
    )
    assert EventStreamMessage({":event-type": 7}).event_type is None


def test_unencodable_values_are_errors() -> None:
    with pytest.raises(EventStreamError):
        encode_message({"h": 1.5}, b"")  # type: ignore[dict-item]
    with pytest.raises(EventStreamError):
        encode_message({"h": Typed(HeaderType.BYTE, 1000)}, b"")
    with pytest.raises(EventStreamError):
        encode_message({"": "empty name"}, b"")
