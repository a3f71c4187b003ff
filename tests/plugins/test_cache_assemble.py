"""Assembling a stream's final message from its events, for both provider dialects."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest
from bifrost_cache.assemble import StreamAnswer
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.anthropic_openai import openai_response_to_anthropic
from bifrost_py.dialects.sse import SSEDecoder
from bifrost_py.dialects.synthesize import message_events
from bifrost_py.mockupstream import (
    MockOptions,
    anthropic_response,
    anthropic_stream,
    openai_response,
    openai_stream,
)
from tests.plugins.stream_wires import EventsOnly, cut, relayed, wires

TOOLS = [{"name": "lookup", "description": "Look a thing up",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                           "required": ["q", "n"]}}]


# Ids the Gemini stream translation makes up afresh for each stream.
_MADE_UP = re.compile(rb"(toolu_gemini_|msg_)[0-9a-f]{24}")


def body(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-20250514", "max_tokens": 200, "messages": [{"role": "user", "content": prompt}], **extra}


async def feed(stream: Any, dialect: str) -> StreamAnswer:
    answer = StreamAnswer()
    decoder = SSEDecoder()
    async for chunk in stream:
        for event in decoder.feed(chunk):
            if event.data and event.data != "[DONE]":
                answer.on_event(dialect, event.event, orjson.loads(event.data))
    return answer


def comparable(message: dict[str, Any]) -> dict[str, Any]:
    blocks = [{k: v for k, v in b.items() if k not in ("id", "signature")} for b in message["content"]]
    return {"content": blocks, "stop_reason": message["stop_reason"], "output": message["usage"]["output_tokens"]}


@pytest.mark.parametrize("prompt", ["Tell me a story [[long:40]]", "Use the tool [[tool:2]]", "Think [[thinking]]"])
async def test_anthropic_stream_assembles_to_the_whole_answer(prompt: str) -> None:
    request = body(prompt, tools=TOOLS) if "tool" in prompt else body(prompt)
    answer = await feed(anthropic_stream({**request, "stream": True}, MockOptions(seed=1)), "anthropic")
    _, _, raw = await anthropic_response(request, MockOptions(seed=1))
    assert comparable(answer.message()) == comparable(orjson.loads(raw))  # type: ignore[arg-type]


@pytest.mark.parametrize("prompt", ["Tell me a story [[long:40]]", "Use the tool [[tool:2]]"])
async def test_openai_stream_assembles_to_the_whole_answer(prompt: str) -> None:
    tools = [{"type": "function", "function": {"name": "lookup", "parameters": TOOLS[0]["input_schema"]}}]
    request = {**body(prompt), "tools": tools} if "tool" in prompt else body(prompt)
    answer = await feed(openai_stream({**request, "stream": True, "stream_options": {"include_usage": True}},
                                      MockOptions(seed=1)), "openai")
    _, _, raw = await openai_response(request, MockOptions(seed=1))
    assert comparable(answer.message()) == comparable(openai_response_to_anthropic(orjson.loads(raw)))  # type: ignore[arg-type]


def test_replayed_events_assemble_to_the_same_message() -> None:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "m", "stop_reason": "end_turn",
               "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 9},
               "content": [{"type": "text", "text": "x" * 200}, {"type": "tool_use", "id": "t", "name": "f", "input": {"a": [1]}}]}
    answer = StreamAnswer()
    for name, data in message_events(message):
        answer.on_event("anthropic", name, data)
    assert answer.message() == message


async def test_a_cut_stream_has_no_message() -> None:
    answer = StreamAnswer()
    events = message_events({"id": "m", "model": "m", "content": [{"type": "text", "text": "hi"}],
                             "stop_reason": "end_turn", "usage": {"output_tokens": 1}})
    for name, data in events[:-1]:  # no message_stop
        answer.on_event("anthropic", name, data)
    assert answer.message() is None
    broken = StreamAnswer()
    broken.on_event("anthropic", "content_block_start", {"type": "content_block_start", "index": 0, "content_block": None})
    broken.on_event("anthropic", "content_block_delta", {"type": "content_block_delta", "index": 0,
                                                         "delta": {"type": "input_json_delta", "partial_json": "{"}})
    assert broken.message() is None


# ----------------------------------------------------------------------------- from the relay's bytes


def per_event(dialect: str, wire: bytes) -> dict[str, Any] | None:
    """The stored answer as assembled before: every event shown to `on_event` by the relay,
    None where the relay refused the stream."""
    answer = StreamAnswer()
    return answer.message() if relayed(dialect, [wire], EventsOnly(answer)) else None


def from_relay(dialect: str, chunks: list[bytes], answer: StreamAnswer | None = None) -> dict[str, Any] | None:
    """The answer a bytes observer stores."""
    answer = answer or StreamAnswer()
    return answer.message() if relayed(dialect, chunks, answer) else None


@settings(max_examples=300, deadline=None)
@given(data=st.data(), name=st.sampled_from(["anthropic-text", "anthropic-tool", "anthropic-crlf", "anthropic-unicode",
                                             "openai", "gemini", "responses"]))
def test_any_split_of_a_stream_stores_what_assembling_each_event_stores(data: st.DataObject, name: str) -> None:
    """The answer kept as the relay's bytes and assembled once is the answer assembled event by
    event, however TCP cut the stream, also when a byte of it was changed (then both store the
    same thing or nothing)."""
    dialect, wire = wires()[name]
    if data.draw(st.booleans(), label="mutate"):
        at = data.draw(st.integers(0, len(wire) - 1), label="at")
        wire = wire[:at] + bytes([data.draw(st.sampled_from(b'"{}:,\\x\n'), label="byte")]) + wire[at + 1:]
    chunks = cut(wire, data.draw(st.lists(st.integers(0, len(wire)), max_size=6), label="cuts"))
    expected = per_event(dialect, wire)
    got = from_relay(dialect, chunks)
    if expected is None:
        assert got is None
    else:  # byte for byte, but for the ids the Gemini translation makes up afresh each time
        assert _MADE_UP.sub(b"<made-up>", orjson.dumps(got)) == _MADE_UP.sub(b"<made-up>", orjson.dumps(expected))


def test_the_unmutated_streams_all_assemble() -> None:
    for name, (dialect, wire) in wires().items():
        assert from_relay(dialect, [wire]) is not None, name


def test_a_stream_past_the_limit_is_not_kept_and_has_no_message() -> None:
    dialect, wire = wires()["anthropic-text"]
    answer = StreamAnswer(limit=len(wire) - 1)
    assert from_relay(dialect, [wire[:100], wire[100:]], answer) is None
    assert answer.too_large
    exact = StreamAnswer(limit=len(wire))
    assert from_relay(dialect, [wire], exact) is not None and not exact.too_large
