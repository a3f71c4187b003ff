"""Text from clients and upstreams made storable and readable (bounded, escaped) and rows a store
refused made storable (escaped_row): whatever the input, the result encodes as UTF-8, holds no
control character or surrogate, and stays within its size."""

from __future__ import annotations

import math
from typing import Any

from bifrost_costlog.columns import CLIENT_TEXT, COLUMNS, INT, REAL, TEXT, escaped_row, record
from bifrost_costlog.text import TRUNCATED, bounded, escaped, storable
from hypothesis import given
from hypothesis import strategies as st

# Any code point, with Latin-1 (controls), surrogates (what surrogateescape-decoded header bytes
# become) and non-BMP characters all frequent.
ANY_TEXT = st.text(
    st.one_of(
        st.characters(min_codepoint=0, max_codepoint=0xFF),
        st.characters(exclude_categories=(), min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.characters(exclude_categories=()),
    ),
    max_size=300,
)
MARK = len(TRUNCATED.encode())


def readable(text: str) -> bool:
    """Encodes as UTF-8 and has no control characters (C0, DEL, C1)."""
    text.encode()
    return not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in text)


@given(ANY_TEXT, st.integers(1, 300))
def test_bounded_text_is_storable_readable_and_within_its_size(text: str, limit: int) -> None:
    out = bounded(text, limit)
    assert readable(out)
    assert len(out.encode()) <= limit + MARK
    if out.endswith(TRUNCATED):
        assert len(text) > limit or len(escaped(text).encode()) > limit
        assert escaped(text).startswith(out.removesuffix(TRUNCATED))
    else:
        assert out == escaped(text)


@given(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40))
def test_short_printable_ascii_is_kept_as_it_is(text: str) -> None:
    assert bounded(text, 40) is text


def test_escapes_are_backslashes_a_reader_recognises() -> None:
    assert bounded("curl\udcff/8.0", 100) == "curl\\xff/8.0"
    assert bounded("a\x00b\nc\x1b[31m", 100) == "a\\x00b\\nc\\x1b[31m"
    assert bounded("Grüße 日本", 100) == "Grüße 日本"                       # printable text is kept
    assert bounded("日本語", 6) == "日本" + TRUNCATED                        # cut in bytes, on a character
    assert bounded("ab\udcff", 5) == "ab" + TRUNCATED                       # never half an escape
    assert bounded("\ud800", 10) == "\\ud800"                               # not from a byte: \u


@given(ANY_TEXT)
def test_storable_bodies_keep_their_lines_and_lose_only_nul_and_surrogates(text: str) -> None:
    out = storable(text)
    out.encode()
    assert "\x00" not in out
    if "\x00" not in text and not any(0xD800 <= ord(c) <= 0xDFFF for c in text):
        assert out == text


VALUES = st.one_of(st.none(), st.booleans(), st.integers(-(2**80), 2**80), st.floats(), ANY_TEXT,
                   st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@given(st.fixed_dictionaries({name: VALUES for name, _ in COLUMNS}))
def test_an_escaped_row_fits_every_column(row: dict[str, Any]) -> None:
    clean = escaped_row(row)
    values = dict(zip([n for n, _ in COLUMNS], record(clean)))
    limits = dict(CLIENT_TEXT)
    for name, kind in COLUMNS:
        value = values[name]
        if value is None:
            continue
        if kind == TEXT:
            assert isinstance(value, str) and readable(value)
            if name in limits:
                assert len(value.encode()) <= limits[name] + MARK
        elif kind == INT:
            assert isinstance(value, int) and -(2**63) <= value < 2**63
        elif kind == REAL:
            assert isinstance(value, float) and math.isfinite(value)
        else:
            assert value in (0, 1)
