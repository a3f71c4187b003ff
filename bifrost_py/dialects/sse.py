"""Server-sent events (text/event-stream), read incrementally and written.

The reader follows the WHATWG parsing rules (CRLF, LF or CR line ends; `:` comments; one optional
space after the colon; multi-line `data`) and accepts input split at any byte boundary, because
upstream TCP reads split events anywhere. One rule is stricter than a browser's: a line that is not
UTF-8 is not replaced but refused with `MalformedAnswer` (the stream is an upstream's answer, and
bytes that are not text are its fault, e.g. a proxy's error page in the middle of a stream).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .translate_errors import MalformedAnswer

_LINE_END = re.compile(rb"\r\n|\r|\n")


@dataclass(slots=True)
class SSEEvent:
    """One dispatched event. `event` is None when the stream gave no `event:` line."""

    event: str | None
    data: str
    id: str | None = None
    retry: int | None = None


class SSEDecoder:
    """Turns chunks of bytes into complete events; keeps the unfinished tail between feeds."""

    __slots__ = ("_data", "_event", "_id", "_retry", "_tail")

    def __init__(self) -> None:
        self._tail = b""
        self._reset()

    def _reset(self) -> None:
        self._event: str | None = None
        self._data: list[str] = []
        self._id: str | None = None
        self._retry: int | None = None

    def feed(self, chunk: bytes) -> list[SSEEvent]:
        """Consume a chunk; return the events it completed (possibly none)."""
        buffer = self._tail + chunk if self._tail else chunk
        lines = buffer.splitlines(keepends=True)
        if not lines:
            return []
        last = lines[-1]
        # A line is complete once its end is seen; a lone CR at the very end may still be the
        # first half of CRLF, so it waits for the next chunk (or for close()).
        if last.endswith(b"\n"):
            self._tail = b""
        else:
            self._tail = lines.pop()
        events: list[SSEEvent] = []
        for line in lines:
            self._line(line.rstrip(b"\r\n"), events)
        return events

    def idle(self) -> bool:
        """Between events: nothing held back, no event begun (the last id is kept, as it is
        for the whole stream)."""
        return not self._tail and not self._data and self._event is None and self._retry is None

    def close(self) -> list[SSEEvent]:
        """End of stream: a final line without a line end still counts; an unterminated event
        (no blank line after it) is discarded, as the specification says."""
        events: list[SSEEvent] = []
        if self._tail:
            tail, self._tail = self._tail, b""
            self._line(tail.rstrip(b"\r\n"), events)
        self._reset()
        return events

    def _line(self, line: bytes, events: list[SSEEvent]) -> None:
        if not line:
            if self._data:
                events.append(SSEEvent(self._event, "\n".join(self._data), self._id, self._retry))
            self._event = None
            self._data = []
            self._retry = None
            return
        if line[0] == 0x3A:  # ':' comment
            return
        name, sep, value = line.partition(b":")
        if sep and value[:1] == b" ":
            value = value[1:]
        try:
            text = value.decode("utf-8")
        except UnicodeDecodeError:
            raise _not_text(line) from None
        if name == b"data":
            self._data.append(text)
        elif name == b"event":
            self._event = text
        elif name == b"id" and "\x00" not in text:
            self._id = text
        elif name == b"retry" and text.isascii() and text.isdigit():  # "²".isdigit() is True
            self._retry = int(text)
        elif not name.isascii():  # a field this reader ignores, unless it is not even text
            try:
                name.decode("utf-8")
            except UnicodeDecodeError:
                raise _not_text(line) from None


def _not_text(line: bytes) -> MalformedAnswer:
    return MalformedAnswer(f"a line of the event stream is not UTF-8: {line[:40]!r}")


def encode_event(data: str | bytes, event: str | None = None, id: str | None = None) -> bytes:
    """One event in wire form; multi-line data becomes several `data:` lines."""
    if isinstance(data, str):
        data = data.encode()
    parts = []
    if event is not None:
        parts.append(b"event: " + event.encode() + b"\n")
    if id is not None:
        parts.append(b"id: " + id.encode() + b"\n")
    for line in _LINE_END.split(data) if b"\n" in data or b"\r" in data else (data,):
        parts.append(b"data: " + line + b"\n")
    parts.append(b"\n")
    return b"".join(parts)
