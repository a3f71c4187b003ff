"""Answers, pieces, tool inputs and usage, independent of any dialect."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.mockupstream.answers import (
    Prompt,
    ToolSpec,
    build_answer,
    cache_blocks,
    sample_input,
    split_pieces,
)
from bifrost_py.mockupstream.faults import Directives
from bifrost_py.mockupstream.state import MockOptions, MockState


def _answer(prompt: Prompt, asked: Directives | None = None, seen: set[bytes] | None = None):
    return build_answer(
        prompt,
        asked or Directives(),
        MockState(MockOptions(seed=1)),
        seen if seen is not None else set(),
    )


@given(st.text())
def test_pieces_join_back_to_the_text(text: str) -> None:
    assert "".join(split_pieces(text)).strip() == text.strip()


def test_default_answer_uses_the_first_40_chars_without_markers() -> None:
    answer = _answer(Prompt("m", "[[cut:1]]  " + "x" * 100, input_tokens=10))
    assert answer.blocks[0].text == "Mock answer to: " + "x" * 40
    assert answer.stop == "end" and answer.usage.output_tokens == len(answer.blocks[0].pieces) == 4


def test_long_answer_has_n_words() -> None:
    answer = _answer(Prompt("m", "x"), Directives(long=25))
    assert len(answer.blocks[0].text.split()) == 25 == answer.usage.output_tokens


def test_tools_only_when_asked_or_forced() -> None:
    tools = [ToolSpec("a", {}), ToolSpec("b", {"properties": {"n": {"type": "number"}}})]
    assert _answer(Prompt("m", "x", tools=tools)).blocks[0].kind == "text"
    assert [b.name for b in _answer(Prompt("m", "x", tools=tools), Directives(tools=3)).blocks] == [
        "a",
        "b",
        "a",
    ]
    forced = _answer(Prompt("m", "x", tools=tools, tool_choice="b"))
    assert [b.name for b in forced.blocks] == ["b"] and forced.stop == "tool"
    assert (
        _answer(Prompt("m", "x", tools=tools, tool_choice="none"), Directives(tools=1))
        .blocks[0]
        .kind
        == "text"
    )
    assert (
        _answer(Prompt("m", "x"), Directives(tools=1)).blocks[0].kind == "text"
    )  # no tools offered


def test_sample_input_follows_the_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "s": {"type": "string"},
            "i": {"type": "integer"},
            "b": {"type": "boolean"},
            "e": {"enum": ["x", "y"]},
            "d": {"type": "string", "default": "dflt"},
            "o": {"type": "object", "properties": {"k": {"type": "number"}}},
            "a": {"type": "array", "items": {"type": "integer"}},
            "n": {"type": ["null", "integer"]},
        },
    }
    assert sample_input(schema) == {
        "s": "mock",
        "i": 1,
        "b": True,
        "e": "x",
        "d": "dflt",
        "o": {"k": 1.5},
        "a": [1],
        "n": 1,
    }
    assert sample_input({}) == {} and sample_input("nonsense") == {}


def test_cache_prefix_is_written_once_then_read() -> None:
    body = {
        "system": [{"type": "text", "text": "s" * 400, "cache_control": {"type": "ephemeral"}}],
        "messages": [{"role": "user", "content": "hello"}],
    }
    blocks, upto = cache_blocks(body)
    assert upto == 0
    prompt = Prompt("m", "hello", input_tokens=200, cache_blocks=blocks, cache_upto=upto)
    seen: set[bytes] = set()
    first, second = _answer(prompt, seen=seen).usage, _answer(prompt, seen=seen).usage
    assert first.cache_creation > 0 and first.cache_read == 0
    assert (second.cache_creation, second.cache_read) == (0, first.cache_creation)
    assert first.prompt_tokens == second.prompt_tokens == 200
    other_model = Prompt("m2", "hello", input_tokens=200, cache_blocks=blocks, cache_upto=upto)
    assert _answer(other_model, seen=seen).usage.cache_creation > 0


def test_top_level_cache_control_caches_everything() -> None:
    blocks, upto = cache_blocks(
        {"cache_control": {"type": "ephemeral"}, "messages": [{"content": "a"}, {"content": "b"}]}
    )
    assert upto == len(blocks) - 1 == 1


def test_ids_repeat_with_a_seed_and_differ_without() -> None:
    seeded = [MockState(MockOptions(seed=3)).new_id(22) for _ in range(2)]
    unseeded = [MockState(MockOptions()).new_id(22) for _ in range(2)]
    assert seeded[0] == seeded[1] and unseeded[0] != unseeded[1]
    assert len(seeded[0]) == 22 and seeded[0].isalnum()
