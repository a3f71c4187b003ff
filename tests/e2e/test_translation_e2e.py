"""Dialect translation end to end, through the gateway, with the official SDKs as clients:
the `anthropic` SDK against an OpenAI-dialect provider and the `openai` SDK against an
Anthropic-dialect provider — text, streamed text, a streamed tool call whose JSON arguments
arrive in fragments, the tool result going back, stop reasons and usage — and count_tokens
for a target that has no counting endpoint (a local estimate, marked as one)."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import orjson
import pytest

from bifrost_py.testing import provider_config

GPT = "gpt-4o"                      # served by the openai-type provider (OpenAI dialect)
CLAUDE = "claude-sonnet-4-6"        # served by the anthropic-type provider (Anthropic dialect)
WEATHER_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string", "description": "City name"}, "unit": {"type": "string",
                                                                                      "enum": ["c", "f"]}},
    "required": ["city"],
}
ANTHROPIC_TOOL = {"name": "get_weather", "description": "Weather for a city", "input_schema": WEATHER_SCHEMA}
OPENAI_TOOL = {"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                                "parameters": WEATHER_SCHEMA}}


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any) -> Any:
    gateway = await start_gateway({"providers": provider_config(mock_upstream.url)}, builtins=False)
    gateway.upstream = mock_upstream
    return gateway


def claude_client(gw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-test", max_retries=0)


def openai_client(gw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-test", max_retries=0)


async def last_upstream_body(gw: Any) -> tuple[str, dict[str, Any]]:
    records = orjson.loads((await gw.upstream.get("/_mock/requests"))[2])
    return records[-1]["path"], orjson.loads(records[-1]["body"])


# ---------------------------------------------------------------------- anthropic SDK -> OpenAI dialect


async def test_anthropic_sdk_text_against_openai_dialect(gw: Any) -> None:
    client = claude_client(gw)
    raw = await client.messages.with_raw_response.create(
        model=GPT, max_tokens=200, system="You are terse.",
        messages=[{"role": "user", "content": "Describe the gateway"}])
    message = await raw.parse()
    assert raw.headers["x-bf-provider"] == "openai"
    assert message.type == "message" and message.role == "assistant"
    assert message.content[0].type == "text" and message.content[0].text
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0
    path, sent = await last_upstream_body(gw)
    assert path == "/v1/chat/completions"
    assert sent["messages"][0] == {"role": "system", "content": "You are terse."}
    assert sent["messages"][1]["role"] == "user"


async def test_anthropic_sdk_streamed_text_agrees_with_the_whole_answer(gw: Any) -> None:
    client = claude_client(gw)
    prompt = [{"role": "user", "content": "Tell me a story [[long:40]]"}]
    whole = await client.messages.create(model=GPT, max_tokens=500, messages=prompt)
    async with client.messages.stream(model=GPT, max_tokens=500, messages=prompt) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 5
    assert "".join(pieces) == whole.content[0].text == final.content[0].text
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens == whole.usage.output_tokens > 0
    assert final.usage.input_tokens == whole.usage.input_tokens > 0, "the stream's usage is the provider's, not the estimate"
    _, sent = await last_upstream_body(gw)
    assert sent["stream"] is True and sent["stream_options"]["include_usage"] is True


async def test_anthropic_sdk_streamed_tool_call_arguments_arrive_in_fragments(gw: Any) -> None:
    client = claude_client(gw)
    prompt = [{"role": "user", "content": "What is the weather in Paris? [[tool]]"}]
    whole = await client.messages.create(model=GPT, max_tokens=300, tools=[ANTHROPIC_TOOL], messages=prompt)
    fragments: list[str] = []
    async with client.messages.stream(model=GPT, max_tokens=300, tools=[ANTHROPIC_TOOL], messages=prompt) as stream:
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments.append(event.delta.partial_json)
        final = await stream.get_final_message()
    assert len(fragments) > 2, "the arguments came in several pieces"
    tool_use = next(b for b in final.content if b.type == "tool_use")
    assert tool_use.name == "get_weather"
    assert json.loads("".join(fragments)) == tool_use.input
    assert tool_use.input == next(b for b in whole.content if b.type == "tool_use").input
    assert "city" in tool_use.input
    assert tool_use.id.startswith("toolu_") or tool_use.id
    assert final.stop_reason == whole.stop_reason == "tool_use"
    _, sent = await last_upstream_body(gw)
    assert sent["tools"][0] == {"type": "function", "function": {
        "name": "get_weather", "description": "Weather for a city", "parameters": WEATHER_SCHEMA}}

    followup = await client.messages.create(
        model=GPT, max_tokens=300, tools=[ANTHROPIC_TOOL],
        messages=[*prompt, {"role": "assistant", "content": [b.model_dump() for b in final.content]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": tool_use.id,
                                                "content": "18 degrees and sunny"}]}])
    assert "18 degrees and sunny" in followup.content[0].text
    _, sent = await last_upstream_body(gw)
    assert sent["messages"][-1] == {"role": "tool", "tool_call_id": tool_use.id, "content": "18 degrees and sunny"}
    assert sent["messages"][-2]["tool_calls"][0]["function"]["name"] == "get_weather"


async def test_anthropic_sdk_max_tokens_stop_reason(gw: Any) -> None:
    client = claude_client(gw)
    prompt = [{"role": "user", "content": "Go on forever [[max_tokens]]"}]
    whole = await client.messages.create(model=GPT, max_tokens=20, messages=prompt)
    async with client.messages.stream(model=GPT, max_tokens=20, messages=prompt) as stream:
        final = await stream.get_final_message()
    assert whole.stop_reason == final.stop_reason == "max_tokens"


async def test_anthropic_sdk_upstream_error_in_its_own_dialect(gw: Any) -> None:
    client = claude_client(gw)
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=GPT, max_tokens=20, messages=[{"role": "user", "content": "x [[fail:429]]"}])
    assert caught.value.body["type"] == "error"
    assert caught.value.body["error"]["type"] == "rate_limit_error"


# ---------------------------------------------------------------------- openai SDK -> Anthropic dialect


async def test_openai_sdk_text_against_anthropic_dialect(gw: Any) -> None:
    client = openai_client(gw)
    raw = await client.chat.completions.with_raw_response.create(
        model=CLAUDE, messages=[{"role": "system", "content": "You are terse."},
                                {"role": "user", "content": "Describe the gateway"}])
    completion = raw.parse()
    assert raw.headers["x-bf-provider"] == "anthropic"
    choice = completion.choices[0]
    assert choice.message.role == "assistant" and choice.message.content
    assert choice.finish_reason == "stop"
    assert completion.usage.prompt_tokens > 0 and completion.usage.completion_tokens > 0
    assert completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    path, sent = await last_upstream_body(gw)
    assert path == "/v1/messages"
    assert sent["system"] in ("You are terse.", [{"type": "text", "text": "You are terse."}])
    assert [m["role"] for m in sent["messages"]] == ["user"]
    assert isinstance(sent["max_tokens"], int) and sent["max_tokens"] > 0, "Anthropic requires max_tokens"


async def test_openai_sdk_streamed_text_with_usage(gw: Any) -> None:
    client = openai_client(gw)
    prompt = [{"role": "user", "content": "Tell me a story [[long:40]]"}]
    whole = await client.chat.completions.create(model=CLAUDE, messages=prompt)
    stream = await client.chat.completions.create(model=CLAUDE, messages=prompt, stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) > 5
    assert text == whole.choices[0].message.content
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    assert chunks[-1].usage.prompt_tokens == whole.usage.prompt_tokens

    quiet = await client.chat.completions.create(model=CLAUDE, messages=prompt, stream=True)
    quiet_chunks = [chunk async for chunk in quiet]
    assert all(chunk.usage is None for chunk in quiet_chunks), "no usage chunk unless asked for"
    assert all(chunk.choices for chunk in quiet_chunks)


async def test_openai_sdk_streamed_tool_call_arguments_arrive_in_fragments(gw: Any) -> None:
    client = openai_client(gw)
    prompt = [{"role": "user", "content": "What is the weather in Paris? [[tool]]"}]
    whole = await client.chat.completions.create(model=CLAUDE, messages=prompt, tools=[OPENAI_TOOL])
    stream = await client.chat.completions.create(model=CLAUDE, messages=prompt, tools=[OPENAI_TOOL], stream=True)
    fragments: list[str] = []
    names, ids, finish = [], [], None
    async for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        for call in choice.delta.tool_calls or []:
            if call.id:
                ids.append(call.id)
            if call.function and call.function.name:
                names.append(call.function.name)
            if call.function and call.function.arguments:
                fragments.append(call.function.arguments)
        finish = choice.finish_reason or finish
    assert names == ["get_weather"] and len(ids) == 1
    assert len(fragments) > 2, "the arguments came in several pieces"
    expected = whole.choices[0].message.tool_calls[0]
    assert json.loads("".join(fragments)) == json.loads(expected.function.arguments)
    assert finish == whole.choices[0].finish_reason == "tool_calls"
    _, sent = await last_upstream_body(gw)
    assert sent["tools"][0]["name"] == "get_weather"
    assert sent["tools"][0]["input_schema"] == WEATHER_SCHEMA

    followup = await client.chat.completions.create(
        model=CLAUDE, tools=[OPENAI_TOOL],
        messages=[*prompt, whole.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": expected.id, "content": "18 degrees and sunny"}])
    assert "18 degrees and sunny" in followup.choices[0].message.content
    _, sent = await last_upstream_body(gw)
    result = sent["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["tool_use_id"] == expected.id
    assert sent["messages"][-2]["content"][-1]["type"] == "tool_use"


async def test_openai_sdk_length_finish_reason(gw: Any) -> None:
    client = openai_client(gw)
    prompt = [{"role": "user", "content": "Go on forever [[max_tokens]]"}]
    whole = await client.chat.completions.create(model=CLAUDE, messages=prompt, max_tokens=20)
    stream = await client.chat.completions.create(model=CLAUDE, messages=prompt, max_tokens=20, stream=True)
    finishes = [c.choices[0].finish_reason async for c in stream if c.choices and c.choices[0].finish_reason]
    assert whole.choices[0].finish_reason == "length" and finishes == ["length"]


async def test_openai_sdk_upstream_error_in_its_own_dialect(gw: Any) -> None:
    client = openai_client(gw)
    with pytest.raises(openai.APIStatusError) as caught:
        await client.chat.completions.create(model=CLAUDE, messages=[{"role": "user", "content": "x [[fail:529]]"}])
    assert caught.value.status_code == 529
    assert caught.value.body["type"] == "api_error" and "529" in caught.value.body["message"]


# ---------------------------------------------------------------------- count_tokens


async def test_count_tokens_against_an_openai_target_is_a_marked_estimate_that_counts_tools(gw: Any) -> None:
    client = claude_client(gw)
    messages = [{"role": "user", "content": "What is the weather in Paris?"}]
    raw = await client.messages.with_raw_response.count_tokens(model=GPT, messages=messages)
    plain = await raw.parse()
    assert raw.headers["x-bf-estimate"] == "true" and raw.headers["x-bf-provider"] == "openai"
    assert plain.input_tokens > 0
    system = "You are a weather assistant. " * 40
    with_system = await client.messages.count_tokens(model=GPT, system=system, messages=messages)
    assert with_system.input_tokens - plain.input_tokens >= len(system) / 5
    tools = [ANTHROPIC_TOOL] * 10
    with_tools = await client.messages.count_tokens(model=GPT, tools=tools, messages=messages)
    assert with_tools.input_tokens - plain.input_tokens >= len(json.dumps(tools)) / 5, "tools are counted"
    tool_turns = [*messages,
                  {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                                     "input": {"city": "Paris " * 100}}]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1",
                                                "content": "sunny, 18 degrees, light wind " * 50}]}]
    with_blocks = await client.messages.count_tokens(model=GPT, messages=tool_turns)
    assert with_blocks.input_tokens - plain.input_tokens >= (600 + 1500) / 5, "tool calls and results are counted"
    assert orjson.loads((await gw.upstream.get("/_mock/requests"))[2]) == [], "nothing goes upstream for an estimate"


async def test_count_tokens_against_an_anthropic_target_is_anthropics_own(gw: Any) -> None:
    client = claude_client(gw)
    raw = await client.messages.with_raw_response.count_tokens(
        model=CLAUDE, tools=[ANTHROPIC_TOOL], messages=[{"role": "user", "content": "hi"}])
    counted = await raw.parse()
    assert "x-bf-estimate" not in raw.headers
    path, sent = await last_upstream_body(gw)
    assert path == "/v1/messages/count_tokens" and sent["tools"] == [ANTHROPIC_TOOL]
    assert counted.input_tokens > 0


# ---------------------------------------------------------------------- more shapes


async def test_two_streamed_tool_calls_keep_their_own_blocks_both_ways(gw: Any) -> None:
    prompt = [{"role": "user", "content": "Paris and Rome, please [[tool:2]]"}]
    client = claude_client(gw)
    async with client.messages.stream(model=GPT, max_tokens=300, tools=[ANTHROPIC_TOOL], messages=prompt) as stream:
        starts = [e.index async for e in stream if e.type == "content_block_start"]
        final = await stream.get_final_message()
    assert starts == [0, 1]
    uses = [b for b in final.content if b.type == "tool_use"]
    assert len(uses) == 2 and len({u.id for u in uses}) == 2 and all("city" in u.input for u in uses)

    stream = await openai_client(gw).chat.completions.create(model=CLAUDE, messages=prompt, tools=[OPENAI_TOOL],
                                                             stream=True)
    calls: dict[int, dict[str, str]] = {}
    async for chunk in stream:
        for call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            entry = calls.setdefault(call.index, {"id": "", "arguments": ""})
            entry["id"] = entry["id"] or call.id or ""
            entry["arguments"] += (call.function.arguments or "") if call.function else ""
    assert sorted(calls) == [0, 1]
    assert len({c["id"] for c in calls.values()}) == 2
    assert all("city" in json.loads(c["arguments"]) for c in calls.values())


async def test_anthropic_request_features_map_to_openai_fields(gw: Any) -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
    raw = await claude_client(gw).messages.with_raw_response.create(
        model=GPT, max_tokens=30, stop_sequences=["END"], tools=[ANTHROPIC_TOOL],
        tool_choice={"type": "tool", "name": "get_weather"}, thinking={"type": "enabled", "budget_tokens": 1024},
        messages=[{"role": "user", "content": [image, {"type": "text", "text": "What is this?"}]}])
    message = await raw.parse()
    assert message.stop_reason == "tool_use", "a forced tool is called"
    assert "thinking" in raw.headers["x-bf-translation-notes"], "what translation dropped is said"
    _, sent = await last_upstream_body(gw)
    assert sent["messages"][0]["content"][0] == {"type": "image_url",
                                                 "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    assert sent["stop"] == ["END"]
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    assert "thinking" not in sent
