"""Markers, script entries and durations."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.mockupstream import parse_duration
from bifrost_py.mockupstream.faults import (
    Directives,
    format_seconds,
    parse_markers,
    parse_script_entry,
    strip_markers,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("20ms", 0.02),
        ("1.5s", 1.5),
        ("2m", 120.0),
        ("1h", 3600.0),
        ("3", 3.0),
        (" 250us ", 0.00025),
        (".5s", 0.5),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "fast", "1d", "-1s", "1.2.3s", "ms"])
def test_parse_duration_rejects_nonsense(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


@given(st.integers(min_value=0, max_value=10**6), st.sampled_from(["ms", "s", "m", "h"]))
def test_parse_duration_scales_by_unit(amount: int, unit: str) -> None:
    scale = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]
    assert parse_duration(f"{amount}{unit}") == pytest.approx(amount * scale)


def test_format_seconds() -> None:
    assert (format_seconds(2.0), format_seconds(1.5), format_seconds(0)) == ("2", "1.5", "0")


def test_all_markers_parse() -> None:
    asked = parse_markers(
        "[[fail:429]] [[retry_after:2]] [[cut:3]] [[slow:500ms]] [[stall:2s]] [[max_tokens]] "
        "[[long:7]] [[tool:2]] [[thinking]] [[stream_error]] [[reset]]"
    )
    assert asked == Directives(
        status=429,
        retry_after=2.0,
        reset=True,
        cut=3,
        latency=0.5,
        stall=2.0,
        max_tokens=True,
        long=7,
        tools=2,
        thinking=True,
        stream_error=True,
    )


def test_defaults_and_malformed_markers() -> None:
    assert parse_markers("[[tool]] [[fail]] [[cut]]") == Directives(status=529, cut=1, tools=1)
    assert parse_markers("[[fail:abc]] [[unknown:1]] [[ tool ]]") == Directives()
    assert parse_markers("no markers at all") == Directives()


@given(st.text())
def test_marker_parsing_never_raises(text: str) -> None:
    parse_markers(text)
    assert "[[tool]]" not in strip_markers(text + "[[tool]]")


def test_script_entry_wins_field_by_field() -> None:
    markers = parse_markers("[[fail:500]] [[long:3]]")
    merged = markers.overlaid_by(parse_script_entry({"status": 200, "cut": 0}))
    assert (merged.status, merged.long, merged.cut) == (200, 3, 0)
    assert markers.overlaid_by(None) is markers


def test_script_entry_accepts_aliases_and_durations() -> None:
    entry = parse_script_entry({"status": 429, "retry_after": "1500ms", "slow": 0.1, "tool": True})
    assert (entry.status, entry.retry_after, entry.latency, entry.tools) == (429, 1.5, 0.1, 1)


@pytest.mark.parametrize("entry", [{"statuz": 1}, {"status": 42}, {"cut": "x"}, "429"])
def test_script_entry_rejects_bad_input(entry: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        parse_script_entry(entry)
