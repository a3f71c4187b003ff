"""The malformed answers: a 200 that is not what the API promises, in the Anthropic and OpenAI
wire formats (Azure shares OpenAI's). Other dialects answer normally when asked for these.

A gateway must check a 200 before it believes it: a proxy in front of the provider can answer
`[]`, an overloaded API can put its error in a 200, a buggy compatible server can report usage as
strings, and a stream can turn to garbage after it started. Each fault is asked for with a marker
or a script entry (faults.py parses them; docs/mock-upstream.md lists them):

    non_object   the whole body is a JSON value that is not an object; a stream: its one event
    error_200    the body is the API's error body; a stream: its first and only event is one
    bad_usage    the usage counts have the wrong type or sign (body, message_start,
                 message_delta, OpenAI's usage chunk)
    garbage      after N deltas an event that is not JSON, or not even SSE
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from .answers import Answer
from .faults import NON_OBJECTS, BadUsage, Directives, Garbage
from .pacing import Event
from .wire import Reply, Wire

ANTHROPIC_SHAPED = frozenset({"anthropic"})
OPENAI_SHAPED = frozenset({"openai", "azure"})
# Not JSON, but the start of what would have been the next delta (a truncated write upstream).
_NOT_JSON = {
    "anthropic": b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"ty\n\n',
    "openai": b'data: {"id":"chatcmpl-garbage","object":"chat.completion.chunk","choices":[{"ind\n\n',
}
# Not SSE at all: bytes that are not UTF-8 and no `field:` (a proxy's error page, a bad buffer).
_RAW = b"\xff\xfe\x00\x9c<html><body>upstream hiccup</body></html>\n\n"


def asks_malformed(asked: Directives) -> bool:
    return any(
        v is not None for v in (asked.non_object, asked.error_200, asked.bad_usage, asked.garbage)
    )


def _shape(wire: Wire) -> str | None:
    if wire.name in ANTHROPIC_SHAPED:
        return "anthropic"
    return "openai" if wire.name in OPENAI_SHAPED else None


# ---- whole bodies ---------------------------------------------------------------------------


def message_body(wire: Wire, content: bytes, asked: Directives, request_id: str) -> bytes:
    """The 200 body to send in place of `content` (returned unchanged when nothing is asked)."""
    if _shape(wire) is None:
        return content
    if asked.non_object is not None:
        return NON_OBJECTS[asked.non_object]
    if asked.error_200 is not None:
        return wire.error(asked.error_200, asked.message, request_id)
    if asked.bad_usage is not None:
        data = orjson.loads(content)
        if isinstance(data.get("usage"), dict):
            data["usage"] = spoil(data["usage"], asked.bad_usage)
        return orjson.dumps(data)
    return content


def spoil(usage: dict[str, Any], bad: BadUsage) -> Any:
    """The usage object with every top-level `*_tokens` count replaced by the bad value."""
    if bad.kind == "bare":
        return "lots"
    value = BadUsage.VALUES[bad.kind]
    return {k: value if k.endswith("_tokens") else v for k, v in usage.items()}


# ---- streams --------------------------------------------------------------------------------


def stream_events(
    wire: Wire, answer: Answer, reply: Reply, body: dict[str, Any], asked: Directives
) -> list[Event]:
    """The stream's events, malformed as asked (the normal stream when nothing is)."""
    shape = _shape(wire)
    if shape is None or not asks_malformed(asked):
        return wire.stream(answer, reply, body)
    if asked.non_object is not None:
        return [_event(shape, "message_start", NON_OBJECTS[asked.non_object])]
    if asked.error_200 is not None:
        return [_event(shape, "error", wire.error(asked.error_200, asked.message, reply.request_id))]
    if asked.bad_usage is not None and shape == "openai":
        # A server that sends usage unasked: the chunk that carries it must exist to be wrong.
        body = {**body, "stream_options": {"include_usage": True}}
    events = wire.stream(answer, reply, body)
    if asked.bad_usage is not None:
        events = [_spoil_event(event, shape, asked.bad_usage) for event in events]
    if asked.garbage is not None:
        events = _with_garbage(events, shape, asked.garbage)
    return events


def _event(shape: str, name: str, data: bytes) -> Event:
    if shape == "anthropic":
        return Event(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n")
    return Event(b"data: " + data + b"\n\n")


def _spoil_event(event: Event, shape: str, bad: BadUsage) -> Event:
    def fix(name: str | None, data: dict[str, Any]) -> bool:
        kind = data.get("type")
        if shape == "anthropic" and kind == "message_start" and bad.place in ("", kind):
            message = data.get("message")
            if isinstance(message, dict) and isinstance(message.get("usage"), dict):
                message["usage"] = spoil(message["usage"], bad)
                return True
        if shape == "anthropic" and kind == "message_delta" and bad.place in ("", kind):
            data["usage"] = spoil(data.get("usage") or {}, bad)
            return True
        if shape == "openai" and isinstance(data.get("usage"), dict):
            data["usage"] = spoil(data["usage"], bad)
            return True
        return False

    return Event(rewrite(event.data, fix), event.is_delta)


def rewrite(data: bytes, fix: Callable[[str | None, dict[str, Any]], bool]) -> bytes:
    """SSE bytes with each event whose JSON object `fix` changed (returns True) re-rendered."""
    blocks = data.split(b"\n\n")
    for i, block in enumerate(blocks):
        name, payload = _fields(block)
        if payload is None:
            continue
        try:
            parsed = orjson.loads(payload)
        except orjson.JSONDecodeError:
            continue
        if isinstance(parsed, dict) and fix(name, parsed):
            head = b"event: " + name.encode() + b"\n" if name is not None else b""
            blocks[i] = head + b"data: " + orjson.dumps(parsed)
    return b"\n\n".join(blocks)


def _fields(block: bytes) -> tuple[str | None, bytes | None]:
    name: str | None = None
    payload: bytes | None = None
    for line in block.split(b"\n"):
        if line.startswith(b"event:"):
            name = line[6:].strip().decode()
        elif line.startswith(b"data:"):
            payload = line[5:].strip()
    return name, payload


def _with_garbage(events: list[Event], shape: str, garbage: Garbage) -> list[Event]:
    """`events` with the unreadable one after the Nth delta (or the last, when fewer)."""
    deltas = [i for i, event in enumerate(events) if event.is_delta]
    if garbage.after == 0 or not deltas:
        at = deltas[0] if deltas else 1
    else:
        at = deltas[min(garbage.after, len(deltas)) - 1] + 1
    junk = Event(_RAW if garbage.raw else _NOT_JSON[shape])
    rest = [] if garbage.end else events[at:]
    return [*events[:at], junk, *rest]
