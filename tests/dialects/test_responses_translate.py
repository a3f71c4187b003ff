"""The Responses API translators on generated conversations (hypothesis):

* an Anthropic answer, shown to a Responses client and sent back by it as the next turn's input
  (as Codex does), is the same assistant turn again: text, tool calls, thinking with its
  signature;
* the stream translation, read by the openai SDK's own stream accumulator, gives the same
  response as the whole-answer translation, with every delta in order;
* a Responses request becomes a valid Anthropic or Chat Completions conversation: roles
  alternate, every tool call is answered right after it, nothing is invented;
* any JSON the client sends is translated or refused with TranslationError, nothing else;
* usage read from a passthrough stream moves cached tokens out of the input count.
"""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from json_strategies import json_values, one_field_wrong
from openai import omit
from openai._models import construct_type
from openai.lib.streaming.responses._responses import ResponseStreamState
from openai.types.responses import ResponseStreamEvent

from bifrost_py.dialects import responses
from bifrost_py.dialects.responses_inbound import STATELESS, responses_problem, responses_session
from bifrost_py.dialects.responses_reasoning import (
    ENCRYPTED_PREFIX,
    thinking_block,
    without_foreign_reasoning,
)
from bifrost_py.dialects.responses_request import responses_request_to_anthropic
from bifrost_py.dialects.responses_response import anthropic_response_to_responses
from bifrost_py.dialects.responses_stream import AnthropicStreamToResponses
from bifrost_py.dialects.responses_usage import responses_event, responses_response_facts
from bifrost_py.dialects.synthesize import message_events
from bifrost_py.dialects.translate_errors import TranslationError
from bifrost_py.dialects.usage import StreamFacts

names = st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True)
texts = st.text(min_size=1, max_size=30).filter(str.strip)
inputs = st.dictionaries(names, st.integers(-5, 5) | st.text(max_size=8) | st.booleans(), max_size=3)


@st.composite
def anthropic_answers(draw: st.DrawFn) -> dict[str, Any]:
    blocks: list[dict[str, Any]] = []
    if draw(st.booleans()):
        blocks.append({"type": "thinking", "thinking": draw(texts), "signature": draw(texts)})
    if draw(st.booleans()):
        blocks.append({"type": "text", "text": draw(texts)})
    calls = draw(st.integers(0, 3))
    blocks += [{"type": "tool_use", "id": f"toolu_{draw(names)}{i}", "name": draw(names), "input": draw(inputs)}
               for i in range(calls)]
    if not blocks:
        blocks.append({"type": "text", "text": draw(texts)})
    stop = "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens", "refusal"]))
    usage = {"input_tokens": draw(st.integers(0, 10**5)), "output_tokens": draw(st.integers(0, 10**4)),
             "cache_read_input_tokens": draw(st.integers(0, 10**5)),
             "cache_creation_input_tokens": draw(st.integers(0, 10**3))}
    return {"id": "msg_" + draw(names), "type": "message", "role": "assistant", "model": "claude-x",
            "content": blocks, "stop_reason": stop, "stop_sequence": None, "usage": usage}


def as_input(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What Codex sends back: the output items, unchanged."""
    return [{"role": "user", "content": "go"}, *output]


@given(anthropic_answers())
def test_an_answer_sent_back_as_input_is_the_same_assistant_turn(message: dict[str, Any]) -> None:
    response = anthropic_response_to_responses(message, model="claude-x")
    body, notes = responses_request_to_anthropic({"model": "claude-x", "input": as_input(response["output"])})
    assert body["messages"][0] == {"role": "user", "content": [{"type": "text", "text": "go"}]}
    assert body["messages"][1] == {"role": "assistant", "content": message["content"]}
    assert notes == []


@given(anthropic_answers())
@settings(max_examples=60)
def test_stream_read_by_the_sdk_equals_the_whole_answer(message: dict[str, Any]) -> None:
    translator = AnthropicStreamToResponses(model="claude-x")
    events = [out for name, data in message_events(message) for out in translator.feed(name, data)]
    events += translator.finish()
    state: ResponseStreamState[Any] = ResponseStreamState(input_tools=[], text_format=omit)
    deltas = []
    for number, (name, data) in enumerate(events):
        assert data["type"] == name and data["sequence_number"] == number
        for event in state.handle_event(construct_type(type_=ResponseStreamEvent, value=data)):  # as the SDK reads
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            last = event
    final = events[-1][1]["response"]
    assert last.type in ("response.completed", "response.incomplete")
    assert [item.type for item in last.response.output] == [item["type"] for item in final["output"]]
    whole = anthropic_response_to_responses(message, model="claude-x")
    assert final["output"] == whole["output"] and final["usage"] == whole["usage"]
    assert final["status"] == whole["status"] == ("incomplete" if message["stop_reason"] in ("max_tokens", "refusal")
                                                  else "completed")
    assert "".join(deltas) == "".join(b["text"] for b in message["content"] if b["type"] == "text")
    usage = message["usage"]
    assert final["usage"]["input_tokens"] == (usage["input_tokens"] + usage["cache_read_input_tokens"]
                                              + usage["cache_creation_input_tokens"])
    assert final["usage"]["input_tokens_details"]["cached_tokens"] == usage["cache_read_input_tokens"]


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Codex-like input: developer and user messages, function calls (parallel ones too) each
    answered by its output, assistant text, OpenAI reasoning items."""
    items: list[dict[str, Any]] = [{"type": "message", "role": "developer",
                                    "content": [{"type": "input_text", "text": draw(texts)}]}]
    for turn in range(draw(st.integers(1, 4))):
        items.append({"type": "message", "role": "user", "content": [{"type": "input_text", "text": draw(texts)}]})
        if draw(st.booleans()):
            items.append({"type": "reasoning", "id": "rs_x", "summary": [], "encrypted_content": "gAAAA" + draw(names)})
        calls = [f"call_{turn}_{i}" for i in range(draw(st.integers(0, 3)))]
        items += [{"type": "function_call", "call_id": c, "name": draw(names),
                   "arguments": orjson.dumps(draw(inputs)).decode()} for c in calls]
        items += [{"type": "function_call_output", "call_id": c, "output": draw(st.text(max_size=20))} for c in calls]
        if draw(st.booleans()):
            items.append({"type": "message", "role": "assistant",
                          "content": [{"type": "output_text", "text": draw(texts)}]})
    return items


@given(conversations())
def test_a_conversation_becomes_valid_anthropic_messages(items: list[dict[str, Any]]) -> None:
    body, notes = responses_request_to_anthropic({"model": "m", "input": items})
    messages = body["messages"]
    assert body["system"] == items[0]["content"][0]["text"]
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(messages))
    for i, message in enumerate(messages):
        uses = [b["id"] for b in message["content"] if b["type"] == "tool_use"]
        if uses:
            answered = [b["tool_use_id"] for b in messages[i + 1]["content"] if b["type"] == "tool_result"]
            assert answered == uses
    calls = [i for i in items if i["type"] == "function_call"]
    assert sum(b["type"] == "tool_use" for m in messages for b in m["content"]) == len(calls)
    assert ("dropped reasoning made by another provider" in notes) == any(i["type"] == "reasoning" for i in items)


@given(conversations())
def test_a_conversation_becomes_valid_chat_completions(items: list[dict[str, Any]]) -> None:
    body, _ = responses.translate_request({"model": "m", "input": items}, "openai", "gpt-x")
    messages = body["messages"]
    assert messages[0]["role"] == "system" and "max_tokens" not in body
    for i, message in enumerate(messages):
        for j, call in enumerate(message.get("tool_calls") or []):
            assert messages[i + 1 + j] == {"role": "tool", "tool_call_id": call["id"], "content": messages[i + 1 + j]["content"]}
    assert sum(len(m.get("tool_calls") or []) for m in messages) == sum(i["type"] == "function_call" for i in items)


@given(json_values)
@settings(max_examples=300)
def test_any_json_is_translated_or_refused_with_a_translation_error(value: Any) -> None:
    for body in (value, {"model": "m", "input": value}, {"model": "m", "input": [value]},
                 {"model": "m", "input": "x", "tools": value}):
        try:
            responses_request_to_anthropic(body)
        except TranslationError:
            pass


@given(st.data())
@settings(max_examples=200)
def test_a_conversation_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    tools = [{"type": "function", "name": "f", "parameters": {"type": "object"}},
             {"type": "namespace", "name": "n", "tools": [{"type": "function", "name": "g"}]}]
    body = {"model": "m", "input": data.draw(conversations()), "tools": tools, "tool_choice": "auto",
            "reasoning": {"effort": "low"}, "max_output_tokens": 4000, "instructions": "be brief"}
    wrong = data.draw(one_field_wrong(body))
    for target in ("anthropic", "openai"):
        try:
            responses.translate_request(wrong, target, "m")
        except TranslationError:
            pass


def test_namespaces_are_flattened_and_given_back() -> None:
    tools = [{"type": "namespace", "name": "agents", "tools": [{"type": "function", "name": "spawn"}]},
             {"type": "web_search"}]
    body, notes = responses_request_to_anthropic({"model": "m", "input": "x", "tools": tools})
    assert [t["name"] for t in body["tools"]] == ["agents__spawn"] and notes == ["dropped web_search tool"]
    answer = {"id": "msg_1", "content": [{"type": "tool_use", "id": "toolu_1", "name": "agents__spawn", "input": {}}]}
    item = responses.translate_response(answer, "anthropic", "m", {"tools": tools})["output"][0]
    assert (item["namespace"], item["name"]) == ("agents", "spawn")
    back, _ = responses_request_to_anthropic({"model": "m", "input": [item]})
    assert back["messages"][0]["content"][0]["name"] == "agents__spawn"


def test_reasoning_from_openai_is_not_sent_to_anthropic_and_ours_not_to_openai() -> None:
    ours = anthropic_response_to_responses(
        {"content": [{"type": "thinking", "thinking": "t", "signature": "s"}]}, model="m")["output"][0]
    assert ours["encrypted_content"].startswith(ENCRYPTED_PREFIX)
    assert thinking_block({"encrypted_content": "gAAAAsomething"}, "input[0]") is None
    body = {"input": [ours, {"type": "reasoning", "encrypted_content": "gAAAA"}]}
    assert without_foreign_reasoning(body) == {"input": [{"type": "reasoning", "encrypted_content": "gAAAA"}]}


def test_reasoning_effort_becomes_a_thinking_budget() -> None:
    body, _ = responses_request_to_anthropic({"model": "m", "input": "x", "reasoning": {"effort": "high"},
                                              "temperature": 0.5})
    assert body["thinking"] == {"type": "enabled", "budget_tokens": 12288} and body["max_tokens"] == 16384
    assert "temperature" not in body
    plain, _ = responses_request_to_anthropic({"model": "m", "input": "x", "reasoning": {"summary": "auto"}})
    assert "thinking" not in plain


@given(st.integers(0, 10**6), st.integers(0, 10**6), st.integers(0, 10**5))
def test_passthrough_usage_moves_cached_tokens_out_of_the_input(uncached: int, cached: int, output: int) -> None:
    usage = {"input_tokens": uncached + cached, "input_tokens_details": {"cached_tokens": cached},
             "output_tokens": output, "total_tokens": uncached + cached + output}
    facts = StreamFacts()
    responses_event("response.created", orjson.dumps({"response": {"model": "gpt-x", "status": "in_progress"}}).decode(),
                    facts)
    assert not facts.finished and facts.model == "gpt-x"
    responses_event("response.completed", orjson.dumps({"response": {"status": "completed", "usage": usage}}).decode(),
                    facts)
    assert (facts.input_tokens, facts.cache_read_tokens, facts.output_tokens) == (uncached, cached, output)
    assert facts.finished and facts.stop_reason == "completed"
    whole = responses_response_facts({"object": "response", "status": "completed", "output": [], "usage": usage})
    assert (whole.input_tokens, whole.cache_read_tokens) == (uncached, cached)


def test_a_failed_passthrough_stream_is_the_upstreams_error() -> None:
    facts = StreamFacts()
    data = {"response": {"status": "failed", "error": {"code": "rate_limit_exceeded", "message": "slow down"}}}
    responses_event("response.failed", orjson.dumps(data).decode(), facts)
    assert facts.error == {"type": "rate_limit_error", "message": "slow down", "code": "rate_limit_exceeded"}


@pytest.mark.parametrize(("body", "problem"), [
    ({"input": "x", "previous_response_id": "resp_1"}, STATELESS),
    ({"input": 3}, "input: field required (a string or a list of items)"),
    ({"input": "x", "stream": "yes"}, "stream: must be true or false"),
    ({"input": "x", "max_output_tokens": 0}, "max_output_tokens: must be a positive whole number below 2^31"),
    ({"input": "x", "store": True, "max_output_tokens": 5}, None),
])
def test_what_the_gateway_refuses(body: dict[str, Any], problem: str | None) -> None:
    assert responses_problem(body) == problem


def test_the_session_is_codexs() -> None:
    assert responses_session({"session-id": "s1"}, {"prompt_cache_key": "k"}) == "s1"
    assert responses_session({}, {"prompt_cache_key": "k"}) == "k"
    assert responses_session({}, {"client_metadata": {"session_id": "c"}}) == "c"
    assert responses_session({"x-bf-session-id": "b"}, {}) == "b"
