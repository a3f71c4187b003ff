"""When each part of a stream is written: pacing, stalls, cuts.

A wire module renders a stream as `Event`s (bytes, and whether the event is a delta). `schedule`
groups them into `Segment`s: bytes written together after a pause. With no pacing the whole
stream is one write, which keeps the mock cheap as a benchmark baseline.
"""

from __future__ import annotations

from typing import NamedTuple


class Event(NamedTuple):
    data: bytes
    is_delta: bool = False


class Segment(NamedTuple):
    delay: float  # seconds to wait before writing `data`
    data: bytes


def schedule(
    events: list[Event],
    *,
    per_delta: float = 0.0,
    stall: float | None = None,
    cut: int | None = None,
) -> tuple[list[Segment], bool]:
    """Segments to write, and whether the stream is cut (closed abruptly) after the last one.

    `per_delta` seconds before each delta; `stall` extra seconds after the first delta; `cut`
    ends the stream right after that many deltas (after the last delta if there are fewer).
    """
    events, was_cut = _cut(events, cut)
    segments: list[Segment] = []
    parts: list[bytes] = []
    delay = 0.0
    deltas = 0
    stall_due = False
    for data, is_delta in events:
        wait = per_delta if is_delta else 0.0
        if stall_due:
            wait += stall or 0.0
            stall_due = False
        if wait > 0:
            if parts:
                segments.append(Segment(delay, b"".join(parts)))
                parts, delay = [], 0.0
            delay += wait
        parts.append(data)
        if is_delta:
            deltas += 1
            stall_due = deltas == 1 and bool(stall)
    if parts:
        segments.append(Segment(delay, b"".join(parts)))
    return segments, was_cut


def _cut(events: list[Event], cut: int | None) -> tuple[list[Event], bool]:
    if cut is None:
        return events, False
    deltas = [i for i, event in enumerate(events) if event.is_delta]
    if cut <= 0 or not deltas:
        first = deltas[0] if deltas else len(events)
        return events[:first], True
    return events[: deltas[min(cut, len(deltas)) - 1] + 1], True
