"""Relaying an upstream stream to the client, event by whole event, reading usage on the way.

Bytes are forwarded as they arrive, cut only at event boundaries: a client never receives half
an event, so when an upstream dies mid-event the gateway can close the stream with a well-formed
error event instead of half-written JSON. When the client's dialect differs from the upstream's,
each event is translated instead of forwarded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .context import ANTHROPIC
from .dialects import usage as usage_reader
from .dialects.sse import SSEDecoder, SSEEvent, encode_event


def last_event_end(data: bytes) -> int:
    """Offset just past the last complete event in `data` (0 when there is none)."""
    lf = data.rfind(b"\n\n")
    crlf = data.rfind(b"\r\n\r\n")
    return max(lf + 2 if lf >= 0 else 0, crlf + 4 if crlf >= 0 else 0)


class EventSplitter:
    """Holds back the unfinished tail of the stream between chunks."""

    __slots__ = ("pending",)

    def __init__(self) -> None:
        self.pending = b""

    def push(self, chunk: bytes) -> bytes:
        """The complete events now available (possibly b'')."""
        data = self.pending + chunk if self.pending else chunk
        cut = last_event_end(data)
        if cut == len(data):
            self.pending = b""
            return data
        self.pending = data[cut:]
        return data[:cut]


class UpstreamReader:
    """Parses the upstream's events (in the upstream's dialect) and keeps the stream's facts."""

    __slots__ = ("decoder", "dialect", "facts")

    def __init__(self, dialect: str) -> None:
        self.dialect = dialect
        self.decoder = SSEDecoder()
        self.facts = usage_reader.StreamFacts()

    def read(self, complete: bytes) -> list[SSEEvent]:
        events = self.decoder.feed(complete)
        facts = self.facts
        if self.dialect == ANTHROPIC:
            for event in events:
                usage_reader.anthropic_event(event.event, event.data, facts)
        else:
            for event in events:
                usage_reader.openai_event(event.data, facts)
        return events


def anthropic_wire(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(encode_event(orjson.dumps(data), event=name) for name, data in events)


def openai_wire(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)


OPENAI_DONE = b"data: [DONE]\n\n"


class StreamTranslator:
    """Turns upstream events of one dialect into wire bytes of the other."""

    def __init__(self, upstream_dialect: str, feed: Callable[[SSEEvent], bytes], finish: Callable[[], bytes]) -> None:
        self.upstream_dialect = upstream_dialect
        self.feed = feed
        self.finish = finish
