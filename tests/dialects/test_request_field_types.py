"""A client's request of any shape: every request translator gives a result or a
`TranslationError` naming the field, never another exception (which the gateway would answer
with a 500 and a leaked budget hold); the token estimate never raises at all."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from json_strategies import json_values, nested, one_field_wrong
from test_translate_request import claude_code_request, conversations

from bifrost_py.dialects.anthropic_openai import (
    TranslationError,
    anthropic_request_to_openai,
    openai_request_to_anthropic,
)
from bifrost_py.dialects.bedrock import to_bedrock_body
from bifrost_py.dialects.gemini_request import anthropic_request_to_gemini
from bifrost_py.dialects.tokens import estimate_input_tokens

Translator = Callable[[Any], tuple[dict[str, Any], list[str]]]

TRANSLATORS: dict[str, Translator] = {
    "anthropic->openai": anthropic_request_to_openai,
    "anthropic->openai (routed)": lambda body: anthropic_request_to_openai(body, model="gpt-4o"),
    "openai->anthropic": openai_request_to_anthropic,
    "openai->anthropic (routed)": lambda body: openai_request_to_anthropic(body, model="claude-x"),
    "anthropic->gemini": anthropic_request_to_gemini,
    "anthropic->bedrock": lambda body: (to_bedrock_body(body, ["beta-1"]), []),
}
ANTHROPIC_TRANSLATORS = ("anthropic->openai", "anthropic->openai (routed)", "anthropic->gemini", "anthropic->bedrock")
OPENAI_TRANSLATORS = ("openai->anthropic", "openai->anthropic (routed)")


def translate_or_refuse(name: str, body: Any) -> TranslationError | None:
    """Run one translator: a result (which must be writable as JSON, as the gateway will) or a
    TranslationError; any other exception fails the test."""
    try:
        out, notes = TRANSLATORS[name](body)
    except TranslationError as exc:
        assert str(exc), "a TranslationError names what is wrong"
        return exc
    orjson.dumps(out)
    assert all(isinstance(note, str) for note in notes)
    return None


def openai_request() -> dict[str, Any]:
    """An OpenAI Chat request using every field the translator reads."""
    png = "data:image/png;base64," + base64.b64encode(b"png").decode()
    return {
        "model": "gpt-4o", "n": 1, "max_completion_tokens": 500, "max_tokens": 400,
        "temperature": 1.5, "top_p": 0.9, "stop": ["END", "STOP"], "stream": True,
        "stream_options": {"include_usage": True}, "user": "u-1", "parallel_tool_calls": False,
        "response_format": {"type": "json_object"},
        "tools": [{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object"}}}],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "developer", "content": [{"type": "text", "text": "really"}]},
            {"role": "user", "name": "ann", "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": png, "detail": "high"}},
                {"type": "image_url", "image_url": "https://x.test/a.png"},
                {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBE", "filename": "a.pdf"}},
            ]},
            {"role": "assistant", "content": "calling", "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
            ]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "42"}]},
            {"role": "system", "content": "late system"},
            {"role": "assistant", "content": [{"type": "refusal", "refusal": "no"}]},
        ],
    }  # fmt: skip


def anthropic_request() -> dict[str, Any]:
    """An Anthropic Messages request using every field the translators read."""
    return {
        **claude_code_request(),
        "thinking": {"type": "enabled", "budget_tokens": 2048},
        "metadata": {"user_id": "u-1"},
        "top_p": 0.5, "top_k": 20, "stop_sequences": ["END"],
        "tool_choice": {"type": "tool", "name": "Bash", "disable_parallel_tool_use": True},
        "anthropic_beta": ["context-1m"],
        "messages": [
            *claude_code_request()["messages"],
            {"role": "user", "content": [
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
                {"type": "image", "source": {"type": "url", "url": "https://x.test/a.png"}},
                {"type": "document", "title": "a", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
                {"type": "document", "source": {"type": "text", "media_type": "text/plain", "data": "notes"}},
                {"type": "document", "source": {"type": "content", "content": [{"type": "text", "text": "c"}]}},
            ]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "Read", "input": {"p": 1}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "is_error": True, "content": [
                {"type": "text", "text": "failed"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}},
            ]}]},
        ],
    }  # fmt: skip


@pytest.mark.parametrize("name", TRANSLATORS)
def test_the_valid_requests_translate(name: str) -> None:
    body = anthropic_request() if name in ANTHROPIC_TRANSLATORS else openai_request()
    assert translate_or_refuse(name, body) is None


@pytest.mark.parametrize("name", TRANSLATORS)
@settings(max_examples=300)
@given(body=json_values)
def test_any_json_value_as_the_body(name: str, body: Any) -> None:
    translate_or_refuse(name, body)


@pytest.mark.parametrize("name", TRANSLATORS)
@settings(max_examples=150)
@given(data=st.data())
def test_any_json_value_as_the_messages(name: str, data: st.DataObject) -> None:
    body = {"model": "m", "messages": data.draw(st.lists(json_values, max_size=4))}
    translate_or_refuse(name, body)


@pytest.mark.parametrize("name", ANTHROPIC_TRANSLATORS)
@settings(max_examples=300)
@given(data=st.data())
def test_an_anthropic_request_with_one_field_of_the_wrong_type(name: str, data: st.DataObject) -> None:
    translate_or_refuse(name, data.draw(one_field_wrong(anthropic_request())))


@pytest.mark.parametrize("name", ANTHROPIC_TRANSLATORS)
@settings(max_examples=150)
@given(data=st.data())
def test_a_generated_conversation_with_one_field_of_the_wrong_type(name: str, data: st.DataObject) -> None:
    translate_or_refuse(name, data.draw(one_field_wrong(data.draw(conversations()))))


@pytest.mark.parametrize("name", OPENAI_TRANSLATORS)
@settings(max_examples=400)
@given(data=st.data())
def test_an_openai_request_with_one_field_of_the_wrong_type(name: str, data: st.DataObject) -> None:
    translate_or_refuse(name, data.draw(one_field_wrong(openai_request())))


# ---------------------------------------------------------------- the message names the field


@pytest.mark.parametrize(
    ("name", "change", "field"),
    [
        ("anthropic->openai", {"temperature": "hot"}, "temperature: must be a number"),
        ("anthropic->openai", {"stop_sequences": 5}, "stop_sequences: must be a list"),
        ("anthropic->openai", {"stop_sequences": ["a", 5]}, "stop_sequences[1]: must be a string"),
        ("anthropic->openai", {"max_tokens": "many"}, "max_tokens: must be an integer"),
        ("anthropic->openai", {"stream": "yes"}, "stream: must be true or false"),
        ("anthropic->openai", {"metadata": {"user_id": 7}}, "metadata.user_id: must be a string"),
        ("anthropic->openai", {"thinking": {"type": "enabled", "budget_tokens": "lots"}}, "thinking.budget_tokens"),
        ("anthropic->openai", {"tools": [{"name": "f", "input_schema": []}]}, "tools[0].input_schema: must be an object"),
        ("anthropic->openai", {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
         "messages[0].content[0].text: must be a string"),
        ("anthropic->openai", {"messages": [{"role": 3, "content": "x"}]}, "messages[0].role: must be a string"),
        ("anthropic->openai", {"messages": [{"role": "assistant", "content": [
            {"type": "tool_use", "id": "t", "name": "f", "input": "text"}]}]}, "messages[0].content[0].input: must be an object"),
        ("anthropic->openai", {"messages": [{"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": "t", "content": [{"type": "text", "text": []}]}]}]},
         "messages[0].content[0].content[0].text: must be a string"),
        ("anthropic->openai", {"messages": [{"role": "user", "content": [
            {"type": "image", "source": {"type": "base64", "media_type": 1, "data": "A"}}]}]},
         "messages[0].content[0].source.media_type: must be a string"),
        ("openai->anthropic", {"temperature": "hot"}, "temperature: must be a number"),
        ("openai->anthropic", {"stream_options": 1}, "stream_options: must be an object"),
        ("openai->anthropic", {"stop": 5}, "stop: must be a string or a list of strings"),
        ("openai->anthropic", {"n": "2"}, "n: must be an integer"),
        ("openai->anthropic", {"user": 5}, "user: must be a string"),
        ("openai->anthropic", {"tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": 5},
         "tool_choice: must be a string or an object"),
        ("openai->anthropic", {"messages": [{"role": "assistant", "content": "x", "tool_calls": 5}]},
         "messages[0].tool_calls: must be a list"),
        ("openai->anthropic", {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
         "messages[0].content[0].text: must be a string"),
        ("openai->anthropic", {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": 5}]}]},
         "messages[0].content[0].image_url: must be an object or a string"),
        ("openai->anthropic", {"messages": [{"role": "assistant", "tool_calls": [
            {"id": "c", "function": {"name": "f", "arguments": 5}}]}]}, "messages[0].tool_calls[0].function.arguments"),
        ("anthropic->gemini", {"temperature": "hot"}, "temperature: must be a number"),
        ("anthropic->gemini", {"top_k": 1.5}, "top_k: must be an integer"),
        ("anthropic->gemini", {"model": 5}, "model: must be a string"),
        ("anthropic->gemini", {"system": 5}, "system: must be a string or a list of content blocks"),
        ("anthropic->gemini", {"tools": [{"input_schema": {}}]}, "tools[0].name"),
        ("anthropic->bedrock", {"anthropic_beta": 5}, "anthropic_beta: must be a list"),
        ("anthropic->bedrock", {"anthropic_beta": "a,b"}, "anthropic_beta: must be a list"),
    ],
)
def test_the_message_names_the_field(name: str, change: dict[str, Any], field: str) -> None:
    base: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    error = translate_or_refuse(name, base | change)
    assert error is not None and field in str(error)


def test_fields_nobody_reads_are_never_checked() -> None:
    """Unknown fields (Claude Code adds them faster than any gateway) and fields a translation
    drops stay notes, whatever their type."""
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "top_k": "many",
            "context_management": 5, "service_tier": ["x"], "brand_new_field": {"a": [1]}}
    _, notes = anthropic_request_to_openai(body)
    assert "dropped top_k" in notes and "dropped context_management" in notes and "dropped brand_new_field" in notes
    openai_body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "seed": "x", "logprobs": 5}
    assert openai_request_to_anthropic(openai_body)[1] == ["dropped seed", "dropped logprobs"]
    assert "tool_choice" not in openai_request_to_anthropic(openai_body | {"tool_choice": 5})[0]  # no tools: not read


# ---------------------------------------------------------------- JSON deeper than Python or orjson go


def test_tool_input_nested_too_deeply_to_write_is_the_clients_error() -> None:
    deep = {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {"a": nested(300)}}]}
    with pytest.raises(TranslationError, match=r"messages\[0\]\.content\[0\]\.input: must be nested less"):
        anthropic_request_to_openai({"model": "m", "messages": [deep]})
    arguments = '{"a": ' + "[" * 300 + "]" * 300 + "}"  # valid JSON that orjson reads but cannot write
    call = {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": arguments}}]}
    with pytest.raises(TranslationError, match=r"tool_calls\[0\]\.function\.arguments"):
        openai_request_to_anthropic({"model": "m", "messages": [call]})
    schema = {"type": "object", "properties": {"a": {"default": nested(300)}}}
    with pytest.raises(TranslationError, match=r"tools\[0\]\.input_schema"):
        anthropic_request_to_openai({"model": "m", "messages": [], "tools": [{"name": "f", "input_schema": schema}]})


def test_a_schema_nested_beyond_reason_is_refused_for_gemini() -> None:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(400):
        schema = {"type": "object", "properties": {"a": schema}}
    tools = [{"name": "f", "input_schema": schema}]
    with pytest.raises(TranslationError, match=r"tools\[0\]\.input_schema: nested more than"):
        anthropic_request_to_gemini({"model": "m", "messages": [], "tools": tools})
    all_of: dict[str, Any] = {"type": "object"}
    for _ in range(900):
        all_of = {"allOf": [all_of]}
    with pytest.raises(TranslationError, match="nested more than"):
        anthropic_request_to_gemini({"model": "m", "messages": [], "tools": [{"name": "f", "input_schema": all_of}]})


def test_names_too_deep_to_print_still_make_a_note_or_an_error() -> None:
    """repr() of a list nested 1000 levels raises RecursionError; notes and messages never use it."""
    server_tool = {"type": "web_search_20250305", "name": nested(1000)}
    _, notes = anthropic_request_to_openai({"model": "m", "messages": [], "tools": [server_tool]})
    assert any("deeply nested list" in note for note in notes)
    with pytest.raises(TranslationError, match="unknown role"):
        openai_request_to_anthropic({"model": "m", "messages": [{"role": nested(1000), "content": "x"}]})


# ---------------------------------------------------------------- token estimate


@settings(max_examples=500)
@given(json_values)
def test_the_estimate_takes_any_json_value(body: Any) -> None:
    estimate = estimate_input_tokens(body)
    assert isinstance(estimate, int) and estimate >= 0


@settings(max_examples=300)
@given(data=st.data())
def test_the_estimate_takes_a_request_with_any_field_of_the_wrong_type(data: st.DataObject) -> None:
    body = data.draw(one_field_wrong(data.draw(st.sampled_from([anthropic_request(), openai_request()]))))
    estimate = estimate_input_tokens(body)
    assert isinstance(estimate, int) and estimate >= 0


@pytest.mark.parametrize(
    "body",
    [
        {"messages": [{"role": "user", "content": [{"type": "text", "text": 5}]}]},
        {"messages": [{"role": "assistant", "content": None, "tool_calls": 5}]},
        {"messages": [{"role": "assistant", "content": [{"type": "tool_use", "name": 5, "input": "x"}]}]},
        {"messages": [{"role": "assistant", "content": [{"type": "thinking", "thinking": ["x"]}]}]},
        {"messages": 5, "tools": 5, "system": 5, "input": 5},
        {"messages": [{"role": "user", "content": nested(1000, "text")}]},
        {"messages": [{"role": "user", "content": [{"type": "tool_use", "name": "f", "input": nested(1000)}]}]},
        {"tools": [nested(1000)], "messages": [{"tool_calls": [nested(500)]}]},
        [{"role": "user"}],
        "a body that is a string",
        None,
    ],
)
def test_the_estimate_of_bodies_that_broke_it(body: Any) -> None:
    assert estimate_input_tokens(body) >= 0


def test_deep_content_is_still_counted() -> None:
    flat = estimate_input_tokens({"messages": [{"role": "user", "content": "word " * 700}]})
    deep = estimate_input_tokens({"messages": [{"role": "user", "content": nested(1000, "word " * 700)}]})
    assert deep == flat == 1004
    deep_input = estimate_input_tokens({"tools": [{"name": "f", "input_schema": nested(600)}]})
    assert deep_input > 346 + 600 // 4
