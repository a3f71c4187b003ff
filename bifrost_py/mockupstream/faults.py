"""Failure injection: what a request asks for (markers, script entries) and how faults surface.

Markers live in the text of the last user message, so they survive any translation the gateway
does: `[[fail:529]]`, `[[cut:3]]`, ... (the full list is in docs/mock-upstream.md). A script
entry (`POST /_mock/script`) says the same things as JSON and wins over markers field by field.

In-process callers of the stream functions see faults as exceptions:

    MockHTTPError       a non-2xx answer (status, headers, body in the API's error format)
    MockConnectionReset  the connection was reset before any byte   (a ConnectionResetError)
    MockStreamCut        the stream ended abruptly mid-way          (a ConnectionResetError)
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from typing import Any

_UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION = re.compile(r"\s*([0-9]*\.?[0-9]+)\s*(us|ms|s|m|h)?\s*")
_MARKER = re.compile(r"\[\[([a-z_]+)(?::([^\[\]]*))?\]\]")


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


_SCRIPT_DURATIONS = {"retry_after", "latency", "stall"}


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
        if key in _SCRIPT_DURATIONS:
            value = parse_duration(value) if isinstance(value, str) else float(value)
        elif key in ("status", "cut", "long", "tools"):
            value = int(value)
        if key == "status" and not 100 <= value <= 599:
            raise ValueError(f"status must be an HTTP status, not {value}")
        setattr(out, key, value)
    return out
