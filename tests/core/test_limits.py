"""What a client can make the gateway keep: model names and header values, bounded and made
printable, valid UTF-8 whatever bytes arrived (aiohttp hands header bytes that are not UTF-8 over
as lone surrogates: `surrogateescape`)."""

from __future__ import annotations

import string

from hypothesis import example, given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.limits import (
    MAX_HEADER_KEPT_CHARS,
    MAX_MODEL_CHARS,
    answered_model,
    kept,
    model_problem,
    valid_headers,
)

# Header values as aiohttp decodes them: any bytes, the non-UTF-8 ones as surrogates; and any
# text, control characters and unprintable Unicode included.
FROM_BYTES = st.binary(max_size=80).map(lambda raw: raw.decode("utf-8", "surrogateescape"))
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=80)
HEADER_VALUES = FROM_BYTES | ANY_TEXT | st.text(string.printable, max_size=80)
PRINTABLE_ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=600)


@given(value=HEADER_VALUES, limit=st.integers(1, 600))
@example(value="\udcff\udcfe", limit=MAX_HEADER_KEPT_CHARS)
@example(value="a\r\nx-injected: 1", limit=MAX_HEADER_KEPT_CHARS)
@example(value="\u00a0\u2028\ufeff", limit=MAX_HEADER_KEPT_CHARS)
def test_kept_is_always_valid_utf8_printable_and_bounded(value: str, limit: int) -> None:
    out = kept(value, limit)
    assert out is not None
    out.encode("utf-8")
    assert out.isprintable() and len(out) <= limit
    assert kept(out, limit) == out  # stored values are already safe: keeping them again changes nothing


@given(value=PRINTABLE_ASCII)
def test_kept_leaves_printable_ascii_as_it_was_but_for_the_cut(value: str) -> None:
    assert kept(value) == value[:MAX_HEADER_KEPT_CHARS]


def test_kept_escapes_each_byte_that_was_not_utf8_as_its_value() -> None:
    assert kept(b"claude-cli/\xff\xfe".decode("utf-8", "surrogateescape")) == "claude-cli/\\xff\\xfe"
    assert kept("a\tb\x7f") == "a\\x09b\\x7f"
    assert kept("café ☕") == "café ☕"
    assert kept(None) is None


@given(values=st.lists(st.tuples(st.sampled_from(["user-agent", "x-bf-session-id", "x-a"]), HEADER_VALUES),
                       max_size=5))
def test_valid_headers_makes_every_value_valid_utf8_and_keeps_the_rest(values: list[tuple[str, str]]) -> None:
    original = CIMultiDictProxy(CIMultiDict(values))
    out = valid_headers(original)
    assert list(out.keys()) == list(original.keys())
    for (_, before), after in zip(original.items(), out.values(), strict=True):
        after.encode("utf-8")
        try:
            before.encode("utf-8")
        except UnicodeEncodeError:
            assert after == kept(before, len(after) + 1)
        else:
            assert after == before  # a valid value is forwarded untouched


@given(value=st.one_of(ANY_TEXT, PRINTABLE_ASCII, st.integers(), st.none(), st.lists(st.text(max_size=3))))
@example(value="c" * MAX_MODEL_CHARS)
@example(value="c" * (MAX_MODEL_CHARS + 1))
@example(value="claude\r\n")
def test_a_model_name_is_one_to_256_printable_ascii_characters(value: object) -> None:
    problem = model_problem(value)
    good = isinstance(value, str) and 1 <= len(value) <= MAX_MODEL_CHARS and all(" " <= ch <= "~" for ch in value)
    assert (problem is None) == good
    if problem is not None:
        assert problem.startswith("model: ")
    assert answered_model(value) == (value if good else None)
