"""The AWS binary event-stream framing (``application/vnd.amazon.eventstream``).

Bedrock streams its answers in this format. The codec is ours because it is small and because the
proxy needs an incremental decoder that takes TCP reads split at any byte, and the mock upstream
needs an encoder, which botocore does not ship.

One message on the wire::

    total length   uint32 BE   (the whole message, CRCs included)
    headers length uint32 BE
    prelude CRC    uint32 BE   (CRC32 of the 8 bytes above)
    headers        name length uint8, name (UTF-8), type uint8, value
    payload
    message CRC    uint32 BE   (CRC32 of everything before it)

Header value types: 0 true, 1 false (no value bytes), 2 int8, 3 int16, 4 int32, 5 int64,
6 bytes (uint16 length), 7 string (uint16 length, UTF-8), 8 timestamp (int64 ms since epoch),
9 UUID (16 bytes).

Decoding never raises anything but `EventStreamError`, which is a `MalformedAnswer`: the bytes
came from an upstream, and bytes that are not an event stream are its fault.
"""

from __future__ import annotations

import struct
import uuid
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import IntEnum
from typing import Any

from .translate_errors import MalformedAnswer

__all__ = [
    "EventStreamDecoder",
    "EventStreamError",
    "EventStreamMessage",
    "HeaderType",
    "HeaderValue",
    "Typed",
    "decode_headers",
    "encode_headers",
    "encode_message",
]

PRELUDE_LENGTH = 12
MESSAGE_CRC_LENGTH = 4
MIN_MESSAGE_LENGTH = PRELUDE_LENGTH + MESSAGE_CRC_LENGTH
# botocore's limits; anything larger is a corrupt or hostile length field, not a message.
MAX_HEADERS_LENGTH = 128 * 1024
MAX_PAYLOAD_LENGTH = 24 * 1024 * 1024

_PRELUDE = struct.Struct(">III")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

HeaderValue = bool | int | str | bytes | datetime | uuid.UUID


class EventStreamError(MalformedAnswer):
    """The bytes are not a valid event stream: bad CRC, impossible length, bad header (the mock
    upstream's encoder raises it too, for a header it cannot encode)."""


class HeaderType(IntEnum):
    """Wire type codes of header values."""

    TRUE = 0
    FALSE = 1
    BYTE = 2
    SHORT = 3
    INTEGER = 4
    LONG = 5
    BYTES = 6
    STRING = 7
    TIMESTAMP = 8
    UUID = 9


@dataclass(frozen=True, slots=True)
class Typed:
    """A header value with an explicit wire type, for when the inferred one is not wanted
    (an int that must go out as int8/int16, a timestamp given as milliseconds)."""

    type: HeaderType
    value: Any


@dataclass(slots=True)
class EventStreamMessage:
    """One decoded message. Header values come back as Python values: bool, int, str, bytes,
    datetime (UTC, type 8) or uuid.UUID (type 9)."""

    headers: dict[str, HeaderValue] = field(default_factory=dict)
    payload: bytes = b""

    @property
    def event_type(self) -> str | None:
        """``:event-type``, e.g. ``chunk``."""
        return _str_header(self.headers, ":event-type")

    @property
    def message_type(self) -> str | None:
        """``:message-type``: ``event``, ``exception`` or ``error``."""
        return _str_header(self.headers, ":message-type")

    @property
    def exception_type(self) -> str | None:
        """``:exception-type`` of an exception message, e.g. ``throttlingException``."""
        return _str_header(self.headers, ":exception-type")


def _str_header(headers: dict[str, HeaderValue], name: str) -> str | None:
    value = headers.get(name)
    return value if isinstance(value, str) else None


# --------------------------------------------------------------------------- encoding


def encode_message(headers: Mapping[str, HeaderValue | Typed], payload: bytes) -> bytes:
    """One complete framed message with both CRCs."""
    encoded_headers = encode_headers(headers)
    if len(encoded_headers) > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers are {len(encoded_headers)} bytes, over the limit")
    if len(payload) > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"payload is {len(payload)} bytes, over the limit")
    total = PRELUDE_LENGTH + len(encoded_headers) + len(payload) + MESSAGE_CRC_LENGTH
    prelude = struct.pack(">II", total, len(encoded_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + encoded_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def encode_headers(headers: Mapping[str, HeaderValue | Typed]) -> bytes:
    """The header block; each value's wire type is inferred unless wrapped in `Typed`."""
    return b"".join(_encode_header(name, value) for name, value in headers.items())


def _encode_header(name: str, value: HeaderValue | Typed) -> bytes:
    raw_name = name.encode("utf-8")
    if not 0 < len(raw_name) < 256:
        raise EventStreamError(f"header name must be 1-255 bytes: {name!r}")
    typed = value if isinstance(value, Typed) else Typed(_infer_type(value), value)
    return bytes([len(raw_name)]) + raw_name + bytes([typed.type]) + _encode_value(typed)


def _infer_type(value: HeaderValue) -> HeaderType:
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return HeaderType.TRUE if value else HeaderType.FALSE
    if isinstance(value, int):
        return HeaderType.INTEGER if -(2**31) <= value < 2**31 else HeaderType.LONG
    if isinstance(value, str):
        return HeaderType.STRING
    if isinstance(value, bytes | bytearray):
        return HeaderType.BYTES
    if isinstance(value, datetime):
        return HeaderType.TIMESTAMP
    if isinstance(value, uuid.UUID):
        return HeaderType.UUID
    raise EventStreamError(f"no event-stream header type for {type(value).__name__}")


_INT_FORMATS = {
    HeaderType.BYTE: ">b",
    HeaderType.SHORT: ">h",
    HeaderType.INTEGER: ">i",
    HeaderType.LONG: ">q",
}


def _encode_value(typed: Typed) -> bytes:
    kind, value = typed.type, typed.value
    try:
        if kind in (HeaderType.TRUE, HeaderType.FALSE):
            return b""
        if kind in _INT_FORMATS:
            return struct.pack(_INT_FORMATS[kind], value)
        if kind in (HeaderType.BYTES, HeaderType.STRING):
            raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
            return struct.pack(">H", len(raw)) + raw
        if kind is HeaderType.TIMESTAMP:
            return struct.pack(">q", _to_millis(value))
        if kind is HeaderType.UUID:
            return value.bytes if isinstance(value, uuid.UUID) else bytes(value)
    except (struct.error, AttributeError, TypeError) as exc:
        raise EventStreamError(f"cannot encode {value!r} as {kind.name}: {exc}") from exc
    raise EventStreamError(f"unknown header type {kind}")


def _to_millis(value: datetime | int) -> int:
    if isinstance(value, int):
        return value
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


# --------------------------------------------------------------------------- decoding


class EventStreamDecoder:
    """Turns chunks of bytes into complete messages; keeps the unfinished tail between feeds.

    A stream that fails a check is dead: the framing cannot be re-synchronised, so every later
    call raises too rather than guessing where the next message starts. Messages completed
    before the bad one in the same chunk are returned first; the error then comes from the next
    `feed` or `close`, so a caller always sees every good message, in order, then the error.
    """

    __slots__ = ("_buffer", "_failed")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._failed: EventStreamError | None = None

    def feed(self, data: bytes) -> list[EventStreamMessage]:
        """Consume a chunk; return the messages it completed (possibly none)."""
        if self._failed is not None:
            raise self._failed
        self._buffer += data
        return self._drain()

    def close(self) -> None:
        """End of stream: raise if a message was cut off."""
        if self._failed is not None:
            raise self._failed
        if self._buffer:
            raise EventStreamError(f"stream ended inside a message ({len(self._buffer)} bytes)")

    @property
    def pending(self) -> int:
        """Bytes held back waiting for the rest of a message."""
        return len(self._buffer)

    def _drain(self) -> list[EventStreamMessage]:
        messages: list[EventStreamMessage] = []
        try:
            while len(self._buffer) >= PRELUDE_LENGTH:
                total, headers_length = _check_prelude(self._buffer)
                if len(self._buffer) < total:
                    break
                frame = bytes(self._buffer[:total])
                del self._buffer[:total]
                messages.append(_decode_frame(frame, headers_length))
        except EventStreamError as exc:
            self._failed = exc
            self._buffer.clear()
            if not messages:
                raise
        return messages


def _check_prelude(buffer: bytearray) -> tuple[int, int]:
    """Validate the prelude before trusting its lengths, so a corrupt length never makes the
    decoder wait for bytes that will never come."""
    total, headers_length, prelude_crc = _PRELUDE.unpack_from(buffer)
    actual = zlib.crc32(memoryview(buffer)[:8])
    if actual != prelude_crc:
        raise EventStreamError(
            f"prelude CRC mismatch: expected {prelude_crc:#010x}, got {actual:#010x}"
        )
    if headers_length > MAX_HEADERS_LENGTH:
        raise EventStreamError(f"headers length {headers_length} over the limit")
    payload_length = total - MIN_MESSAGE_LENGTH - headers_length
    if payload_length < 0 or payload_length > MAX_PAYLOAD_LENGTH:
        raise EventStreamError(f"bad lengths: total {total}, headers {headers_length}")
    return total, headers_length


def _decode_frame(frame: bytes, headers_length: int) -> EventStreamMessage:
    (message_crc,) = struct.unpack_from(">I", frame, len(frame) - MESSAGE_CRC_LENGTH)
    actual = zlib.crc32(memoryview(frame)[:-MESSAGE_CRC_LENGTH])
    if actual != message_crc:
        raise EventStreamError(
            f"message CRC mismatch: expected {message_crc:#010x}, got {actual:#010x}"
        )
    headers_end = PRELUDE_LENGTH + headers_length
    headers = decode_headers(frame[PRELUDE_LENGTH:headers_end])
    return EventStreamMessage(headers, frame[headers_end:-MESSAGE_CRC_LENGTH])


def decode_headers(data: bytes) -> dict[str, HeaderValue]:
    """Parse a header block; a repeated name is an error, as in botocore."""
    headers: dict[str, HeaderValue] = {}
    offset = 0
    while offset < len(data):
        name, offset = _read_name(data, offset)
        if name in headers:
            raise EventStreamError(f"duplicate header {name!r}")
        headers[name], offset = _read_value(data, offset)
    return headers


def _read_name(data: bytes, offset: int) -> tuple[str, int]:
    length = data[offset]
    end = offset + 1 + length
    if length == 0 or end > len(data):
        raise EventStreamError("truncated or empty header name")
    return _utf8(data[offset + 1 : end]), end


_FIXED_SIZES = {
    HeaderType.BYTE: 1,
    HeaderType.SHORT: 2,
    HeaderType.INTEGER: 4,
    HeaderType.LONG: 8,
    HeaderType.TIMESTAMP: 8,
    HeaderType.UUID: 16,
}


def _read_value(data: bytes, offset: int) -> tuple[HeaderValue, int]:
    if offset >= len(data):
        raise EventStreamError("header without a type")
    try:
        kind = HeaderType(data[offset])
    except ValueError:
        raise EventStreamError(f"unknown header type {data[offset]}") from None
    offset += 1
    if kind is HeaderType.TRUE or kind is HeaderType.FALSE:
        return kind is HeaderType.TRUE, offset
    if kind in (HeaderType.BYTES, HeaderType.STRING):
        return _read_variable(data, offset, kind)
    end = offset + _FIXED_SIZES[kind]
    if end > len(data):
        raise EventStreamError(f"truncated {kind.name} header value")
    raw = data[offset:end]
    return _fixed_value(kind, raw), end


def _read_variable(data: bytes, offset: int, kind: HeaderType) -> tuple[HeaderValue, int]:
    if offset + 2 > len(data):
        raise EventStreamError("truncated header value length")
    (length,) = struct.unpack_from(">H", data, offset)
    end = offset + 2 + length
    if end > len(data):
        raise EventStreamError("truncated header value")
    raw = data[offset + 2 : end]
    return (_utf8(raw) if kind is HeaderType.STRING else raw), end


def _fixed_value(kind: HeaderType, raw: bytes) -> HeaderValue:
    if kind is HeaderType.UUID:
        return uuid.UUID(bytes=raw)
    fmt = ">q" if kind is HeaderType.TIMESTAMP else _INT_FORMATS[kind]
    (number,) = struct.unpack(fmt, raw)
    if kind is HeaderType.TIMESTAMP:
        return _from_millis(number)
    return number


def _from_millis(millis: int) -> datetime:
    try:
        return _EPOCH + timedelta(milliseconds=millis)
    except OverflowError:
        raise EventStreamError(f"timestamp {millis} out of range") from None


def _utf8(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise EventStreamError(f"header text is not UTF-8: {exc}") from None
