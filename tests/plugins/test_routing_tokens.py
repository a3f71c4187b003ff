"""The local token estimate that routing thresholds and count_tokens (for providers without a
counting endpoint) rely on: it counts everything the model reads — system, messages, tools,
tool calls and results, images — never shrinks when the prompt grows, agrees across dialects,
and does not undercount text outside ASCII."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.tokens import (
    IMAGE_TOKENS,
    PER_MESSAGE_TOKENS,
    TOOLS_OVERHEAD_TOKENS,
    estimate_input_tokens,
)
from bifrost_py.translation import translate_request

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
ascii_text = st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=300)
TOOL = {"name": "Read", "description": "Read a file from disk", "input_schema": {
    "type": "object", "properties": {"path": {"type": "string", "description": "absolute path"}}}}
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA" * 1000}}


def conversation(turns: list[str], system: str = "") -> dict[str, Any]:
    messages = [{"role": "user" if i % 2 == 0 else "assistant", "content": t} for i, t in enumerate(turns)]
    body: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": messages}
    if system:
        body["system"] = system
    return body


@settings(max_examples=150, deadline=None)
@given(turns=st.lists(text, min_size=1, max_size=6), extra=text)
def test_a_longer_prompt_never_estimates_fewer_tokens(turns: list[str], extra: str) -> None:
    before = estimate_input_tokens(conversation(turns))
    longer = conversation([*turns[:-1], turns[-1] + extra])
    assert estimate_input_tokens(longer) >= before
    assert estimate_input_tokens(conversation([*turns, extra])) >= before + PER_MESSAGE_TOKENS - 1


@settings(max_examples=100, deadline=None)
@given(turns=st.lists(ascii_text, min_size=1, max_size=5), system=ascii_text)
def test_both_dialects_of_one_conversation_estimate_alike(turns: list[str], system: str) -> None:
    anthropic_body = conversation(turns, system)
    openai_body, _ = translate_request(anthropic_body, "anthropic", "openai", "m")
    a, o = estimate_input_tokens(anthropic_body), estimate_input_tokens(openai_body)
    assert abs(a - o) <= PER_MESSAGE_TOKENS + 1, (a, o)  # OpenAI's system is one more message


@settings(max_examples=100, deadline=None)
@given(turns=st.lists(ascii_text, min_size=1, max_size=4), count=st.integers(1, 8))
def test_tools_are_counted_with_their_system_prompt(turns: list[str], count: int) -> None:
    body = conversation(turns)
    tools = [dict(TOOL, name=f"tool_{i}") for i in range(count)]
    grown = estimate_input_tokens({**body, "tools": tools}) - estimate_input_tokens(body)
    assert grown >= TOOLS_OVERHEAD_TOKENS + len(json.dumps(tools, separators=(",", ":"))) / 3.5 - 2


def test_tool_calls_and_results_are_counted_in_both_dialects() -> None:
    base = conversation(["what is in /etc/hosts?"])
    args = {"path": "/etc/hosts", "note": "x" * 700}
    result = "127.0.0.1 localhost\n" * 100
    anthropic_turns = {**base, "messages": [*base["messages"],
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "Read", "input": args}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": result}]}]}
    openai_turns = {**base, "messages": [*base["messages"],
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "t1", "type": "function", "function": {"name": "Read", "arguments": json.dumps(args)}}]},
        {"role": "tool", "tool_call_id": "t1", "content": result}]}
    plain = estimate_input_tokens(base)
    for body in (anthropic_turns, openai_turns):
        assert estimate_input_tokens(body) - plain >= (700 + len(result)) / 3.5


def test_images_count_in_messages_and_tool_results() -> None:
    base = conversation(["look"])
    with_image = {**base, "messages": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "look"}]}]}
    in_result = {**base, "messages": [{"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t", "content": [IMAGE, IMAGE]}]}]}
    assert estimate_input_tokens(with_image) - estimate_input_tokens(base) >= IMAGE_TOKENS
    assert estimate_input_tokens(in_result) >= 2 * IMAGE_TOKENS, "base64 data is not counted as text"
    assert estimate_input_tokens(in_result) < 2 * IMAGE_TOKENS + 50


@settings(max_examples=100, deadline=None)
@given(chars=st.text(st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), min_size=50, max_size=400))
def test_cjk_text_counts_about_a_token_a_character(chars: str) -> None:
    tokens = estimate_input_tokens(conversation([chars])) - PER_MESSAGE_TOKENS
    assert 0.95 * len(chars) <= tokens <= 1.1 * len(chars) + 1


def test_english_prose_counts_about_three_and_a_half_characters_a_token() -> None:
    prose = "The gateway forwards each request to the provider that serves its model. " * 40
    tokens = estimate_input_tokens(conversation([prose], system="Be brief."))
    assert abs(tokens - (len(prose) + len("Be brief.")) / 3.5) <= PER_MESSAGE_TOKENS + 1


def test_the_recorded_claude_code_request_is_estimated_near_the_mocks_count() -> None:
    from pathlib import Path

    body = json.loads((Path(__file__).parents[1] / "data" / "claude_code_request.body.json").read_text())
    estimate = estimate_input_tokens(body)
    counted = {k: body[k] for k in ("system", "messages", "tools")}
    mock_count = len(json.dumps(counted, separators=(",", ":"), ensure_ascii=False).encode()) / 4
    assert 0.8 * mock_count <= estimate <= 1.5 * mock_count, (estimate, mock_count)
