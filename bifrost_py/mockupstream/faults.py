"""Failure injection: what a request asks for (markers, script entries) and how faults surface.

Markers live in the text of the last user message, so they survive any translation the gateway
does: `[[fail:529]]`, `[[cut:3]]`, ... (the full list is in docs/mock-upstream.md). A script
entry (`POST /_mock/script`) says the same things as JSON and wins over markers field by field.

In-process callers of the stream functions see faults as exceptions:

    MockHTTPError       a non-2xx answer (status, headers, body in the API's error format)
    MockConnectionReset  the connection was reset before any byte   (a ConnectionResetError)
    MockStreamCut        the stream ended abruptly mid-way          (a ConnectionResetError)

The malformed answers (`[[non_object]]`, `[[error_200]]`, `[[bad_usage]]`, `[[garbage]]`) are
parsed here and rendered by malformed.py: a 200 that a gateway must not take at its word.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any, ClassVar

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(us|ms|s|m|h)?\s*")
_MARKER = re.compile(r"\[\[([a-z][a-z0-9_]*)(?::([^\[\]]*))?\]\]")


# What `[[non_object:KIND]]` sends as the whole 200 body (a stream: as its one event's data).
NON_OBJECTS = {"list": b"[]", "string": b'"ok"', "number": b"42", "null": b"null", "true": b"true"}


@dataclass(slots=True, frozen=True)
class BadUsage:
    """`[[bad_usage:PLACE:KIND]]`: every `*_tokens` count of a usage object becomes a bad value.

    PLACE narrows an Anthropic stream to its `message_start` or its `message_delta` usage; empty,
    or any other kind of answer (a whole body, OpenAI's usage chunk), means every usage object.
    KIND picks the value (`string` by default); `bare` makes the usage object itself a string.
    """

    place: str = ""
    kind: str = "string"

    PLACES: ClassVar[tuple[str, ...]] = ("", "message_start", "message_delta")
    VALUES: ClassVar[dict[str, Any]] = {
        "string": "lots",
        "negative": -7,
        "null": None,
        "list": [12],
        "float": 2.5,
        "huge": 1e300,
        "object": {"tokens": 3},
    }
    KINDS: ClassVar[tuple[str, ...]] = (*VALUES, "bare")

    @classmethod
    def parse(cls, value: str | None) -> BadUsage:
        place, _, kind = (value or "").partition(":")
        if place not in cls.PLACES or (kind or "string") not in cls.KINDS:
            raise ValueError(f"bad_usage wants PLACE:KIND, not {value!r}")
        return cls(place, kind or "string")


@dataclass(slots=True, frozen=True)
class Garbage:
    """`[[garbage:N:FLAGS]]`: after N deltas of a stream, one event that cannot be read.

    By default its data is not JSON; with `raw` it is not even an SSE event (bytes that are not
    UTF-8, no field name). With `end` the stream ends right after it, cleanly (no more events,
    but a proper end of the HTTP message); without, the rest of the stream follows.
    """

    after: int = 1
    raw: bool = False
    end: bool = False

    @classmethod
    def parse(cls, value: str | None) -> Garbage:
        first, *flags = (value or "1").split(":")
        unknown = set(flags) - {"raw", "json", "end"}
        if unknown:
            raise ValueError(f"unknown garbage flag(s): {', '.join(sorted(unknown))}")
        return cls(max(0, int(first or 1)), "raw" in flags, "end" in flags)


class MockHTTPError(Exception):
    """A non-2xx answer from an in-process call; `body` is the API's error JSON."""

    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        super().__init__(f"mock upstream answered {status}")
        self.status = status
        self.headers = headers
        self.body = body


class MockConnectionReset(ConnectionResetError):
    """The mock reset the connection before sending anything ([[reset]])."""


class MockStreamCut(ConnectionResetError):
    """The mock ended the response abruptly part-way ([[cut:N]])."""


def parse_duration(text: str) -> float:
    """Seconds in "20ms", "1.5s", "2m", "1h", "250us" or a bare number of seconds."""
    match = _DURATION.fullmatch(str(text))
    if match is None:
        raise ValueError(f"not a duration: {text!r} (use e.g. 20ms, 1.5s, 2m)")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def format_seconds(seconds: float) -> str:
    """A `retry-after` value: whole seconds print without a decimal point."""
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:g}"


@dataclass(slots=True)
class Directives:
    """What one request asks of the mock. None or False means "not asked"."""

    status: int | None = None  # answer with this status (200 = succeed, even with fail_rate)
    retry_after: float | None = None
    reset: bool = False
    cut: int | None = None  # end the stream abruptly after this many deltas
    latency: float | None = None  # replaces options.latency
    stall: float | None = None  # pause after the first delta
    max_tokens: bool = False  # stop_reason max_tokens / finish_reason length
    long: int | None = None  # answer with this many words
    tools: int | None = None  # number of tool calls to make
    thinking: bool = False  # emit a thinking block (Anthropic) even if not asked
    stream_error: bool = False  # an error event after the first delta
    text: str | None = None  # script only: the exact answer text
    message: str | None = None  # script only: the error message
    non_object: str | None = None  # a 200 whose body is this kind of JSON value (NON_OBJECTS)
    error_200: int | None = None  # a 200 whose body is the error body of this status
    bad_usage: BadUsage | None = None  # usage counts of the wrong type or sign
    garbage: Garbage | None = None  # an unreadable event part-way through a stream

    def overlaid_by(self, top: Directives | None) -> Directives:
        """These directives with every field that `top` sets taking its value."""
        if top is None:
            return self
        merged = Directives()
        for f in fields(Directives):
            mine, theirs = getattr(self, f.name), getattr(top, f.name)
            setattr(merged, f.name, mine if theirs is None or theirs is False else theirs)
        return merged


def strip_markers(text: str) -> str:
    return _MARKER.sub("", text)


def parse_markers(text: str) -> Directives:
    """Directives from `[[name]]` / `[[name:value]]` markers; unknown or malformed ones are text."""
    found = Directives()
    if "[[" not in text:
        return found
    for match in _MARKER.finditer(text):
        try:
            _apply(found, match.group(1), match.group(2))
        except ValueError:
            continue
    return found


def _apply(found: Directives, name: str, value: str | None) -> None:
    if name == "fail":
        found.status = int(value or 529)
    elif name == "retry_after":
        found.retry_after = parse_duration(value or "1")
    elif name == "reset":
        found.reset = True
    elif name == "cut":
        found.cut = int(value or 1)
    elif name == "slow":
        found.latency = parse_duration(value or "1s")
    elif name == "stall":
        found.stall = parse_duration(value or "1s")
    elif name == "max_tokens":
        found.max_tokens = True
    elif name == "long":
        found.long = max(0, int(value or 100))
    elif name == "tool":
        found.tools = max(1, int(value or 1))
    elif name == "thinking":
        found.thinking = True
    elif name == "stream_error":
        found.stream_error = True
    else:
        _apply_malformed(found, name, value)


def _apply_malformed(found: Directives, name: str, value: str | None) -> None:
    if name == "non_object":
        kind = value or "list"
        if kind not in NON_OBJECTS:
            raise ValueError(f"non_object wants one of {', '.join(NON_OBJECTS)}, not {kind!r}")
        found.non_object = kind
    elif name == "error_200":
        status = int(value or 529)
        if not 400 <= status <= 599:
            raise ValueError(f"error_200 wants an error status, not {status}")
        found.error_200 = status
    elif name == "bad_usage":
        found.bad_usage = BadUsage.parse(value)
    elif name == "garbage":
        found.garbage = Garbage.parse(value)


_SCRIPT_DURATIONS = {"retry_after", "latency", "stall"}
_SCRIPT_AS_MARKER = {"non_object", "error_200", "bad_usage", "garbage"}


def parse_script_entry(entry: Any) -> Directives:
    """One `responses` item of POST /_mock/script; raises ValueError on unknown keys or types."""
    if not isinstance(entry, dict):
        raise TypeError("each scripted response must be an object")
    known = {f.name for f in fields(Directives)} | {"slow", "tool"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValueError(f"unknown key(s) in scripted response: {', '.join(unknown)}")
    out = Directives()
    for key, value in entry.items():
        key = {"slow": "latency", "tool": "tools"}.get(key, key)
        if value is None:
            continue
        if key in _SCRIPT_AS_MARKER:
            # The marker's value as text ("message_start:null", "2:raw"); true: the default.
            if value is not False:
                _apply_malformed(out, key, None if value is True else str(value))
            continue
        if key in _SCRIPT_DURATIONS:
            value = parse_duration(value) if isinstance(value, str) else float(value)
        elif key in ("status", "cut", "long", "tools"):
            value = int(value)
        if key == "status" and not 100 <= value <= 599:
            raise ValueError(f"status must be an HTTP status, not {value}")
        setattr(out, key, value)
    return out
