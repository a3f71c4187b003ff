"""Non-streaming response translation, checked against the official SDKs' response models."""

from __future__ import annotations

import anthropic.types
import openai.types.chat
import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.dialects.anthropic_openai import (
    MalformedAnswer,
    anthropic_response_to_openai,
    openai_response_to_anthropic,
)


def chat_completion(message: dict, finish_reason: str = "stop", **fields: object) -> dict:
    return {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gpt-4o-2024-08-06",
        "choices": [
            {"index": 0, "message": message, "logprobs": None, "finish_reason": finish_reason}
        ],
        "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120},
    } | fields


def anthropic_message(content: list[dict], stop_reason: str = "end_turn", **usage: int) -> dict:
    return {
        "id": "msg_01XYZ",
        "type": "message",
        "role": "assistant",
        "model": "claude-sonnet-4-20250514",
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5} | usage,
    }


def as_anthropic_sdk(message: dict) -> anthropic.types.Message:
    """The SDK's own model accepts it: the shape Anthropic clients rely on."""
    return anthropic.types.Message.model_validate(message)


def as_openai_sdk(completion: dict) -> openai.types.chat.ChatCompletion:
    return openai.types.chat.ChatCompletion.model_validate(completion)


# ---------------------------------------------------------------- OpenAI -> Anthropic


def test_text_answer() -> None:
    out = openai_response_to_anthropic(
        chat_completion({"role": "assistant", "content": "Hello!"}), model="claude-x"
    )
    message = as_anthropic_sdk(out)
    assert message.id == "msg_abc123" and message.model == "claude-x"
    assert message.content[0].type == "text" and message.content[0].text == "Hello!"
    assert message.stop_reason == "end_turn"
    assert (message.usage.input_tokens, message.usage.output_tokens) == (100, 20)


def test_tool_calls_answer() -> None:
    calls = [
        {
            "id": "call_1",
            "type": "function",
            "function": {"name": "w", "arguments": '{"city":"Paris"}'},
        },
        {"id": "call_2", "type": "function", "function": {"name": "t", "arguments": ""}},
    ]
    resp = chat_completion(
        {"role": "assistant", "content": "Checking.", "tool_calls": calls}, "tool_calls"
    )
    message = as_anthropic_sdk(openai_response_to_anthropic(resp))
    assert [block.type for block in message.content] == ["text", "tool_use", "tool_use"]
    assert message.content[1].input == {"city": "Paris"} and message.content[2].input == {}
    assert message.stop_reason == "tool_use"


def test_tool_calls_with_stop_finish_reason_still_mean_tool_use() -> None:
    calls = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    resp = chat_completion({"role": "assistant", "content": None, "tool_calls": calls}, "stop")
    assert openai_response_to_anthropic(resp)["stop_reason"] == "tool_use"


def test_cached_prompt_tokens_become_cache_reads() -> None:
    usage = {
        "prompt_tokens": 1000,
        "completion_tokens": 7,
        "prompt_tokens_details": {"cached_tokens": 900},
    }
    out = openai_response_to_anthropic(
        chat_completion({"role": "assistant", "content": "x"}, usage=usage)
    )
    assert out["usage"] == {
        "input_tokens": 100,
        "output_tokens": 7,
        "cache_read_input_tokens": 900,
        "cache_creation_input_tokens": 0,
    }


@pytest.mark.parametrize(
    ("finish_reason", "stop_reason"),
    [
        ("stop", "end_turn"),
        ("length", "max_tokens"),
        ("tool_calls", "tool_use"),
        ("content_filter", "refusal"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(finish_reason: str, stop_reason: str) -> None:
    resp = chat_completion({"role": "assistant", "content": "x"}, finish_reason)
    assert openai_response_to_anthropic(resp)["stop_reason"] == stop_reason


def test_refusal() -> None:
    resp = chat_completion(
        {"role": "assistant", "content": None, "refusal": "I can't help with that."}
    )
    message = as_anthropic_sdk(openai_response_to_anthropic(resp))
    assert message.stop_reason == "refusal" and message.content[0].text == "I can't help with that."


@pytest.mark.parametrize(
    "resp",
    [
        {"error": {"message": "boom", "type": "server_error"}},
        chat_completion(
            {
                "role": "assistant",
                "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{no"}}],
            }
        ),
    ],
)
def test_untranslatable_openai_answers(resp: dict) -> None:
    with pytest.raises(MalformedAnswer):
        openai_response_to_anthropic(resp)


# ---------------------------------------------------------------- Anthropic -> OpenAI


def test_anthropic_answer_with_thinking_and_tools() -> None:
    content = [
        {"type": "thinking", "thinking": "Let me think.", "signature": "sig"},
        {"type": "text", "text": "Sure, "},
        {"type": "text", "text": "checking."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "/a"}},
    ]
    out = anthropic_response_to_openai(anthropic_message(content, "tool_use"), model="gpt-x")
    completion = as_openai_sdk(out)
    assert completion.id == "chatcmpl-01XYZ" and completion.model == "gpt-x"
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Sure, checking."
    assert out["choices"][0]["message"]["reasoning_content"] == "Let me think."
    call = choice.message.tool_calls[0]
    assert (call.id, call.function.name) == ("toolu_1", "Read")
    assert orjson.loads(call.function.arguments) == {"file_path": "/a"}


def test_anthropic_usage_adds_cache_tokens_back() -> None:
    message = anthropic_message(
        [{"type": "text", "text": "x"}], cache_read_input_tokens=50, cache_creation_input_tokens=30
    )
    usage = as_openai_sdk(anthropic_response_to_openai(message)).usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (90, 5, 95)
    assert usage.prompt_tokens_details.cached_tokens == 50


@pytest.mark.parametrize(
    ("stop_reason", "finish_reason"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("pause_turn", "stop"),
        ("refusal", "content_filter"),
        (None, "stop"),
    ],
)
def test_stop_reasons(stop_reason: str | None, finish_reason: str) -> None:
    out = anthropic_response_to_openai(
        anthropic_message([{"type": "text", "text": "x"}], stop_reason)
    )
    assert out["choices"][0]["finish_reason"] == finish_reason


def test_anthropic_error_body_is_untranslatable() -> None:
    with pytest.raises(MalformedAnswer):
        anthropic_response_to_openai(
            {"type": "error", "error": {"type": "api_error", "message": "x"}}
        )


# ---------------------------------------------------------------- round trip, generated

json_objects = st.dictionaries(
    st.text(max_size=6),
    st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8),
    max_size=4,
)
tool_uses = st.builds(
    lambda n, name, data: {"type": "tool_use", "id": f"toolu_{n}", "name": name, "input": data},
    st.integers(0, 10**6),
    st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,10}", fullmatch=True),
    json_objects,
)


@given(
    text=st.text(min_size=1),
    calls=st.lists(tool_uses, max_size=3, unique_by=lambda block: block["id"]),
    stop_reason=st.sampled_from(["end_turn", "max_tokens", "tool_use"]),
    usage=st.tuples(*[st.integers(0, 10**6)] * 3),
)
def test_anthropic_answer_round_trip(
    text: str, calls: list, stop_reason: str, usage: tuple
) -> None:
    stop_reason = "tool_use" if calls else stop_reason
    original = anthropic_message(
        [{"type": "text", "text": text}, *calls],
        stop_reason,
        input_tokens=usage[0],
        output_tokens=usage[1],
        cache_read_input_tokens=usage[2],
    )
    openai = anthropic_response_to_openai(original)
    as_openai_sdk(openai)
    back = openai_response_to_anthropic(orjson.loads(orjson.dumps(openai)))
    as_anthropic_sdk(back)
    assert back["id"] == original["id"]
    assert back["content"] == original["content"]
    assert back["stop_reason"] == stop_reason
    assert back["usage"] == original["usage"] | {"cache_creation_input_tokens": 0}
