"""Relaying an upstream stream to the client, event by whole event, reading usage on the way.

Bytes are forwarded as they arrive, cut only at event boundaries: a client never receives half
an event, so when an upstream dies mid-event the gateway can close the stream with a well-formed
error event instead of half-written JSON. When the client's dialect differs from the upstream's,
each event is translated instead of forwarded.

Whatever an upstream sends, the only errors raised here are `MalformedAnswer` (an event that is
not what its dialect allows); the exchange turns it into an upstream error.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Collection, Iterator
from itertools import repeat
from typing import Any

import orjson

from .context import ANTHROPIC, RESPONSES
from .dialects import usage as usage_reader
from .dialects.gemini import GEMINI
from .dialects.gemini_usage import gemini_event
from .dialects.responses_usage import responses_event
from .dialects.sse import SSEDecoder, SSEEvent, encode_event
from .dialects.translate_errors import MalformedAnswer
from .dialects.usage import OPENAI_USAGE_OBJECT

log = logging.getLogger("bifrost_py.relay")
OPENAI_DONE = b"data: [DONE]\n\n"
# `"usage": null` as a member of a chunk (a JSON string cannot hold an unescaped quote, so this
# never matches inside text), with the comma that joins it to its neighbour.
_USAGE_NULL = re.compile(rb',\s*"usage"\s*:\s*null(?=\s*[,}])|"usage"\s*:\s*null\s*,')
# The event lines of the Anthropic events that tell usage, model, stop reason, an error or the end.
_TELLING = frozenset((b"event: message_start", b"event: message_delta", b"event: message_stop", b"event: error"))
# Whole events in the form Anthropic writes them, as `anthropic_lines` checks it (with no CR
# anywhere: the caller checks): an `event:` line, one `data:` line holding a JSON object at a
# glance, a blank line. One match takes a run of events that tell nothing, then the one telling
# event that ends it (its name and data in groups 1 and 2), if any.
_TELLING_NAME = rb"(?:message_start|message_delta|message_stop|error)"
_ANTHROPIC_RUN = re.compile(
    rb"(?:event: (?!" + _TELLING_NAME + rb"\n)[^\n]*+\ndata: \{[^\n]*+(?<=\})\n\n)*+"
    rb"(?:event: (" + _TELLING_NAME + rb")\ndata: (\{[^\n]*+(?<=\}))\n\n)?"
)


def last_event_end(data: bytes) -> int:
    """Offset just past the last complete event in `data` (0 when there is none)."""
    if data.endswith(b"\n\n"):  # the usual chunk, whole events: no search back through it
        return len(data)
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
        elif self.dialect == RESPONSES:
            for event in events:
                responses_event(event.event, event.data, facts)
        elif self.dialect == GEMINI:
            for event in events:
                gemini_event(event.data, facts)
        else:
            for event in events:
                usage_reader.openai_event(event.data, facts)
        return events

    def scan(self, complete: bytes) -> bool:
        """Read the facts of whole Anthropic events in the form Anthropic writes them (see
        `anthropic_lines`) without making an event of each, for a passthrough whose observers
        all take bytes: True when read, False (nothing read) when `complete` is not in that
        form, for `read` to take it. What it learns and refuses is what `read` would.

        The form is checked by regex matches over the chunk, one per telling event (no line
        object, no event object): only the events that tell something are cut out."""
        if (self.dialect != ANTHROPIC or not self.decoder.idle() or not complete.startswith(b"event: ")
                or not complete.endswith(b"}\n\n") or b"\r" in complete):
            return False
        end = complete.find(b"\n")
        data_end = complete.find(b"\n", end + 1)
        if data_end == len(complete) - 2:
            # One event, a live stream's usual chunk: its event line, its data line, the blank
            # line; the same checks as `anthropic_lines`.
            if not complete.startswith(b"data: {", end + 1) or not (complete.isascii() or _is_utf8(complete)):
                return False
            name = complete[:end]
            if name in _TELLING:
                usage_reader.anthropic_event(name[7:].decode(), complete[end + 7:-2].decode(), self.facts)
            return True
        told = _telling_events(complete)
        if told is None or not (complete.isascii() or _is_utf8(complete)):
            return False
        facts = self.facts
        for event, data in told:
            usage_reader.anthropic_event(event.decode(), data.decode(), facts)
        return True


def _telling_events(complete: bytes) -> list[tuple[bytes, bytes]] | None:
    """The (name, data) of the telling events of `complete` when it is whole events in
    Anthropic's own form (no CR in it), in order; None when it is not in that form."""
    told: list[tuple[bytes, bytes]] = []
    match = _ANTHROPIC_RUN.match
    position, size = 0, len(complete)
    while position < size:
        run = match(complete, position)
        if run is None:  # never: the pattern matches the empty string
            return None
        if run[1] is None:  # a run of events that tell nothing, not ended by one that tells
            return told if run.end() == size else None
        told.append((run[1], run[2]))
        position = run.end()
    return told


def anthropic_lines(complete: bytes) -> list[bytes] | None:
    """The lines of `complete` when it is whole Anthropic events in the form Anthropic writes
    them (an `event:` line, one `data:` line holding a JSON object at a glance, a blank line,
    LF line ends, UTF-8): event i's `event: ` line is line 3i, its `data: {...}` line 3i+1.
    None when `complete` is in any other form (the SSE reader takes those). The form is checked
    by whole-buffer counts rather than line by line."""
    if b"\r" in complete:
        return None
    lines = complete.split(b"\n")
    events = len(lines) // 3
    names = lines[0:-1:3]
    # Lines 0, 3, 6... start with "event: ", lines 2, 5, 8... are blank, so the `events`
    # lines starting with "data: {" are lines 1, 4, 7..., and each "}\n\n" ends one of them.
    if (len(lines) % 3 != 1 or lines[-1] or any(lines[2::3])
            or not all(map(bytes.startswith, names, repeat(b"event: ")))
            or complete.count(b"\ndata: {") != events or complete.count(b"}\n\n") != events):
        return None
    if not (complete.isascii() or _is_utf8(complete)):
        return None  # the SSE reader names the line that is not text
    return lines


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class StreamTranslator:
    """Turns upstream events of one dialect into wire bytes of the other."""

    def __init__(self, upstream_dialect: str, feed: Callable[[SSEEvent], bytes], finish: Callable[[], bytes]) -> None:
        self.upstream_dialect = upstream_dialect
        self.feed = feed
        self.finish = finish


class StreamRelay:
    """One upstream stream on its way to the client: cut at event boundaries, usage read,
    translated or passed through, shown to the plugins' observers.

    An observer with `on_bytes` gets the complete events of each chunk as the upstream sent
    them (no parse on its behalf); one with only `on_event` gets each parsed event. While every
    observer takes bytes, a passed-through Anthropic stream keeps the reader's fast scan."""

    __slots__ = ("byte_observers", "dialect", "hide_usage", "observers", "reader", "splitter", "translator")

    def __init__(self, dialect: str, translator: StreamTranslator | None, *, hide_usage: bool,
                 observers: list[Any]) -> None:
        self.dialect = dialect
        self.splitter = EventSplitter()
        self.reader = UpstreamReader(dialect)
        self.translator = translator
        self.hide_usage = hide_usage
        self.byte_observers: list[Any] = []
        self.observers: list[Any] = []
        for observer in observers:
            takes_bytes = callable(getattr(observer, "on_bytes", None))
            (self.byte_observers if takes_bytes else self.observers).append(observer)

    @property
    def facts(self) -> usage_reader.StreamFacts:
        return self.reader.facts

    def push(self, chunk: bytes) -> bytes | None:
        """The bytes the client gets for the events this chunk completed (possibly b""), or
        None when it completed none."""
        complete = self.splitter.push(chunk)
        if not complete:
            return None
        if self.translator is None and not self.hide_usage and not self.observers and self.reader.scan(complete):
            if self.byte_observers:
                self._observe_bytes(complete)
            return complete
        events = self.reader.read(complete)
        if self.byte_observers:
            self._observe_bytes(complete)
        if self.observers:
            self._observe(events)
        if self.translator is not None:
            return b"".join(self.translator.feed(event) for event in events)
        if self.hide_usage:
            return b"".join(_without_usage_chunk(event) for event in events)
        return complete

    def finish(self) -> bytes:
        """What the client still needs after the upstream's last event (a translated ending)."""
        return self.translator.finish() if self.translator is not None else b""

    def _observe_bytes(self, complete: bytes) -> None:
        for observer in list(self.byte_observers):
            try:
                observer.on_bytes(self.dialect, complete)
            except Exception:  # a plugin's bug must not cut the client's stream
                log.exception("stream observer %r failed; it sees no more events", observer)
                self.byte_observers.remove(observer)

    def _observe(self, events: list[SSEEvent]) -> None:
        for event in events:
            if not event.data or event.data == "[DONE]":
                continue
            data = parse_event_data(event.data)
            for observer in list(self.observers):
                try:
                    observer.on_event(self.dialect, event.event, data)
                except Exception:  # a plugin's bug must not cut the client's stream
                    log.exception("stream observer %r failed; it sees no more events", observer)
                    self.observers.remove(observer)


def parse_event_data(data: str | bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedAnswer(f"an event's data is not JSON: {data[:80]!r}") from exc


def observed_events(dialect: str, complete: bytes, names: Collection[str] | None = None,
                    ) -> Iterator[tuple[str | None, Any]]:
    """The events of `complete` (what the relay hands an `on_bytes` observer, or several such
    chunks joined), as the relay would have shown them to `on_event`: (event name, parsed
    data), `[DONE]` and events without data left out. Given `names`, only events whose `event:`
    line names one of them (the others are not parsed). Raises `MalformedAnswer` at an event
    whose data is not JSON or a line that is not text, after the events before it. Anthropic's
    own form is read without the SSE reader."""
    lines = anthropic_lines(complete) if dialect == ANTHROPIC else None
    if lines is None:
        for event in SSEDecoder().feed(complete):
            if event.data and event.data != "[DONE]" and (names is None or event.event in names):
                yield event.event, parse_event_data(event.data)
        return
    for index in range(0, len(lines) - 1, 3):
        name = lines[index][7:].decode()
        if names is None or name in names:
            yield name, parse_event_data(lines[index + 1][6:])


def anthropic_wire(events: list[tuple[str, dict[str, Any]]]) -> bytes:
    return b"".join(encode_event(orjson.dumps(data), event=name) for name, data in events)


def openai_wire(chunks: list[dict[str, Any]]) -> bytes:
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)


def _without_usage_chunk(event: SSEEvent) -> bytes:
    """An OpenAI event as the client would have had it without include_usage: the usage-only
    chunk dropped, the `"usage": null` of the others removed. Decided per event, so what the
    client gets does not depend on how TCP split the stream."""
    if event.data == "[DONE]":
        return OPENAI_DONE
    data = event.data.encode()
    if OPENAI_USAGE_OBJECT.search(data):
        chunk = parse_event_data(event.data)
        if not isinstance(chunk, dict):
            raise MalformedAnswer("a stream chunk is not a JSON object")
        if not chunk.get("choices"):
            return b""
        chunk.pop("usage", None)
        return b"data: " + orjson.dumps(chunk) + b"\n\n"
    return b"data: " + _USAGE_NULL.sub(b"", data) + b"\n\n"
