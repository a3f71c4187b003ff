"""Assembling a stream's final message from its events, for both provider dialects."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from bifrost_cache.assemble import StreamAnswer

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

TOOLS = [{"name": "lookup", "description": "Look a thing up",
          "input_schema": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                           "required": ["q", "n"]}}]


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
