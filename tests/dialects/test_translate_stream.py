"""Stream translation: arbitrary chunkings and interleavings must come out as a valid stream of the
other dialect, checked by hand and by the official SDKs' own accumulators."""

from __future__ import annotations

import itertools
from typing import Any

import anthropic
import httpx2
import openai
import orjson
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from bifrost_py.dialects.anthropic_openai import AnthropicStreamToOpenAI, OpenAIStreamToAnthropic

json_objects = st.dictionaries(
    st.text(max_size=6),
    st.recursive(
        st.none() | st.booleans() | st.integers(-(10**9), 10**9) | st.text(max_size=12),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
        ),
        max_leaves=6,
    ),
    max_size=4,
)
tool_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)


def split(draw: st.DrawFn, text: str, min_pieces: int = 1) -> list[str]:
    """`text` cut at random points (every piece non-empty, at least `min_pieces`)."""
    if not text:
        return [""] * min_pieces
    cuts = (
        draw(st.lists(st.integers(1, len(text) - 1), max_size=6, unique=True))
        if len(text) > 1
        else []
    )
    bounds = [0, *sorted(cuts), len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


def interleave(draw: st.DrawFn, streams: dict[Any, list]) -> list[tuple[Any, Any]]:
    """A random merge of several sequences that keeps each one's own order."""
    labels = [key for key, items in streams.items() for _ in items]
    order = draw(st.permutations(labels))
    positions = dict.fromkeys(streams, 0)
    merged = []
    for key in order:
        merged.append((key, streams[key][positions[key]]))
        positions[key] += 1
    return merged


# ---------------------------------------------------------------- OpenAI -> Anthropic


def openai_chunk(
    delta: dict | None, finish_reason: str | None = None, usage: dict | None = None
) -> dict:
    choices = (
        []
        if delta is None
        else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
    )
    chunk = {
        "id": "chatcmpl-s1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "gpt-4o",
        "choices": choices,
    }
    if usage is not None:
        chunk["usage"] = usage
    return chunk


@st.composite
def openai_streams(draw: st.DrawFn) -> dict:
    """An OpenAI answer (text, tool calls, finish reason, usage) and one way an upstream might
    chunk it: pieces of any size, tool calls sequential or interleaved, a header-only first tool
    chunk or not, several tool calls in one chunk, usage before, with or after the finish."""
    text = draw(st.text(max_size=40))
    calls = [
        (f"call_{i}", draw(tool_names), orjson.dumps(draw(json_objects)).decode())
        for i in range(draw(st.integers(0, 3)))
    ]
    streams: dict[Any, list] = {}
    if text:
        streams["text"] = [{"content": piece} for piece in split(draw, text)]
    for i, (call_id, name, arguments) in enumerate(calls):
        pieces = split(draw, arguments)
        if draw(st.booleans()):
            pieces = ["", *pieces]  # OpenAI's own habit: id and name first, arguments after
        deltas = [{"index": i, "function": {"arguments": piece}} for piece in pieces]
        deltas[0] |= {
            "id": call_id,
            "type": "function",
            "function": {"name": name, "arguments": pieces[0]},
        }
        streams[i] = deltas
    if draw(st.booleans()):
        merged = [item for key in streams for item in ((key, d) for d in streams[key])]
    else:
        merged = interleave(draw, streams)
    chunks = [openai_chunk({"role": "assistant", "content": ""})]
    for key, delta in merged:
        previous = chunks[-1]["choices"][0]["delta"].get("tool_calls") if len(chunks) > 1 else None
        if (
            key != "text"
            and previous
            and key not in {d["index"] for d in previous}
            and draw(st.booleans())
        ):
            previous.append(delta)
        else:
            chunks.append(openai_chunk({"tool_calls": [delta]} if key != "text" else delta))
    finish = "tool_calls" if calls else draw(st.sampled_from(["stop", "length", "content_filter"]))
    cached = draw(st.integers(0, 500))
    usage = {
        "prompt_tokens": cached + draw(st.integers(0, 10**5)),
        "completion_tokens": draw(st.integers(0, 10**4)),
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    where = draw(st.sampled_from(["none", "before", "with_finish", "after", "every"]))
    if where == "before":
        chunks.append(openai_chunk(None, usage=usage))
    if where == "every":
        for chunk in chunks:
            chunk["usage"] = usage
    chunks.append(openai_chunk({}, finish, usage if where in ("with_finish", "every") else None))
    if where == "after":
        chunks.append(openai_chunk(None, usage=usage))
    return {
        "text": text,
        "calls": calls,
        "finish": finish,
        "usage": None if where == "none" else usage,
        "chunks": chunks,
    }


def run_openai_stream(
    chunks: list[dict], **kwargs: Any
) -> tuple[list[tuple[str, dict]], OpenAIStreamToAnthropic]:
    translator = OpenAIStreamToAnthropic(model="claude-x", **kwargs)
    events = [event for chunk in chunks for event in translator.feed(chunk)]
    events += translator.finish()
    assert translator.finish() == [] and translator.feed(chunks[-1]) == []
    return events, translator


def assert_anthropic_protocol(events: list[tuple[str, dict]]) -> dict:
    """The order Anthropic streams in: message_start, blocks one at a time with consecutive
    indexes, one message_delta, one message_stop. Returns what the events assemble to."""
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[0] == "message_start" and names[-2:] == ["message_delta", "message_stop"]
    assert (
        names.count("message_start")
        == names.count("message_delta")
        == names.count("message_stop")
        == 1
    )
    open_index, blocks = None, []
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(blocks)
            open_index = data["index"]
            blocks.append(dict(data["content_block"]) | {"json": ""})
        elif name == "content_block_delta":
            assert data["index"] == open_index
            delta = data["delta"]
            if delta["type"] == "text_delta":
                blocks[open_index]["text"] += delta["text"]
            else:
                assert delta["type"] == "input_json_delta"
                blocks[open_index]["json"] += delta["partial_json"]
        else:
            assert name == "content_block_stop" and data["index"] == open_index
            open_index = None
    assert open_index is None
    return {"blocks": blocks, "message_delta": events[-2][1], "message_start": events[0][1]}


def sdk_accumulate(events: list[tuple[str, dict]]) -> anthropic.types.Message:
    snapshot, json_bufs = None, {}
    for _, data in events:
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=json_bufs)
    return snapshot


_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
}


@settings(max_examples=400, deadline=None)
@given(openai_streams())
def test_openai_stream_becomes_a_valid_anthropic_stream(case: dict) -> None:
    events, translator = run_openai_stream(case["chunks"], input_tokens_estimate=1234)
    seen = assert_anthropic_protocol(events)
    blocks = seen["blocks"]
    assert (
        "".join(block.get("text", "") for block in blocks if block["type"] == "text")
        == case["text"]
    )
    tools = {
        block["id"]: (block["name"], block["json"])
        for block in blocks
        if block["type"] == "tool_use"
    }
    assert tools == {call_id: (name, arguments) for call_id, name, arguments in case["calls"]}
    assert seen["message_delta"]["delta"]["stop_reason"] == _STOP[case["finish"]]
    usage = case["usage"]
    if usage is not None:
        cached = usage["prompt_tokens_details"]["cached_tokens"]
        expected = {
            "input_tokens": usage["prompt_tokens"] - cached,
            "output_tokens": usage["completion_tokens"],
            "cache_read_input_tokens": cached,
            "cache_creation_input_tokens": 0,
        }
        assert seen["message_delta"]["usage"] == expected == translator.usage
    # Claude Code reads input_tokens from message_start, before OpenAI has said anything.
    first_usage = case["chunks"][0].get("usage")
    assert seen["message_start"]["message"]["usage"]["input_tokens"] == (
        translator.usage["input_tokens"] if first_usage else 1234
    )
    message = sdk_accumulate(events)
    assert "".join(block.text for block in message.content if block.type == "text") == case["text"]
    assert {block.id: block.input for block in message.content if block.type == "tool_use"} == {
        call_id: orjson.loads(arguments) for call_id, _, arguments in case["calls"]
    }


def test_message_delta_waits_for_the_usage_chunk_after_finish() -> None:
    translator = OpenAIStreamToAnthropic(
        model="claude-x", input_tokens_estimate=50, message_id="msg_given"
    )
    start = translator.feed(openai_chunk({"role": "assistant", "content": "Hi"}))
    assert (
        start[0] == ("message_start", start[0][1]) and start[0][1]["message"]["id"] == "msg_given"
    )
    assert start[0][1]["message"]["usage"]["input_tokens"] == 50
    finished = translator.feed(openai_chunk({}, "stop"))
    assert [name for name, _ in finished] == ["content_block_stop"]
    usage = {"prompt_tokens": 60, "completion_tokens": 3}
    end = translator.feed(openai_chunk(None, usage=usage))
    assert [name for name, _ in end] == ["message_delta", "message_stop"]
    assert end[0][1]["usage"]["input_tokens"] == 60 and translator.usage["output_tokens"] == 3
    assert translator.finish() == []


def test_without_usage_finish_ends_the_message() -> None:
    translator = OpenAIStreamToAnthropic(model="claude-x", input_tokens_estimate=7)
    translator.feed(openai_chunk({"content": "x"}, "stop"))
    end = translator.finish()
    assert [name for name, _ in end] == ["message_delta", "message_stop"]
    assert end[0][1]["usage"] == {"output_tokens": 0}
    assert translator.usage["input_tokens"] == 7


def test_an_empty_upstream_still_makes_a_whole_message() -> None:
    translator = OpenAIStreamToAnthropic(model="claude-x")
    names = [name for name, _ in translator.finish()]
    assert names == ["message_start", "message_delta", "message_stop"]


def test_openai_error_chunk_becomes_an_anthropic_error_event() -> None:
    translator = OpenAIStreamToAnthropic(model="claude-x")
    translator.feed(openai_chunk({"content": "partial"}))
    events = translator.feed(
        {"error": {"message": "Rate limit reached", "type": "rate_limit_exceeded"}}
    )
    assert events == [
        (
            "error",
            {
                "type": "error",
                "error": {"type": "rate_limit_error", "message": "Rate limit reached"},
            },
        )
    ]
    assert translator.finish() == [] and translator.feed(openai_chunk({"content": "x"})) == []


def sse(events: list[tuple[str, dict]]) -> bytes:
    return b"".join(
        b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
        for name, data in events
    )


def anthropic_client(body: bytes) -> anthropic.Anthropic:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    transport = httpx2.MockTransport(handler)
    return anthropic.Anthropic(
        api_key="x", base_url="http://gw.test", http_client=httpx2.Client(transport=transport)
    )


def test_anthropic_sdk_reads_the_translated_stream_over_http() -> None:
    """Interleaved parallel tool calls, then the usage chunk: the SDK's MessageStream puts together
    exactly the message a non-streaming call would have returned."""
    chunks = [
        openai_chunk({"role": "assistant", "content": "Let me check "}),
        openai_chunk({"content": "both."}),
        openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"ci'},
                    }
                ]
            }
        ),
        openai_chunk(
            {
                "tool_calls": [
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "w", "arguments": '{"city"'},
                    }
                ]
            }
        ),
        openai_chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}),
        openai_chunk({"tool_calls": [{"index": 1, "function": {"arguments": ': "Rome"}'}}]}),
        openai_chunk({}, "tool_calls"),
        openai_chunk(
            None,
            usage={
                "prompt_tokens": 30,
                "completion_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 10},
            },
        ),
    ]
    events, _ = run_openai_stream(chunks, input_tokens_estimate=25)
    client = anthropic_client(sse(events))
    with client.messages.stream(
        model="claude-x", max_tokens=100, messages=[{"role": "user", "content": "w?"}]
    ) as stream:
        texts = list(stream.text_stream)
        message = stream.get_final_message()
    assert "".join(texts) == "Let me check both."
    assert [(b.type, getattr(b, "input", None)) for b in message.content] == [
        ("text", None),
        ("tool_use", {"city": "Paris"}),
        ("tool_use", {"city": "Rome"}),
    ]
    assert message.stop_reason == "tool_use"
    assert (
        message.usage.input_tokens,
        message.usage.output_tokens,
        message.usage.cache_read_input_tokens,
    ) == (20, 9, 10)


def test_anthropic_sdk_raises_on_a_translated_error() -> None:
    translator = OpenAIStreamToAnthropic(model="claude-x")
    events = translator.feed(openai_chunk({"content": "x"})) + translator.feed(
        {"error": {"message": "overloaded", "type": "server_error"}}
    )
    client = anthropic_client(sse(events))
    request = {"model": "claude-x", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
    with (
        pytest.raises(anthropic.APIStatusError, match="overloaded"),
        client.messages.stream(**request) as stream,
    ):
        stream.get_final_message()


# ---------------------------------------------------------------- Anthropic -> OpenAI


@st.composite
def anthropic_streams(draw: st.DrawFn) -> dict:
    """An Anthropic answer (thinking, text and tool_use blocks in any order) streamed with pieces
    of any size, pings anywhere, tools with and without input_json_delta events."""
    blocks = draw(
        st.lists(
            st.one_of(
                st.builds(lambda t: {"type": "text", "text": t}, st.text(max_size=30)),
                st.builds(lambda t: {"type": "thinking", "thinking": t}, st.text(max_size=20)),
                st.builds(
                    lambda n, name, data: {
                        "type": "tool_use",
                        "id": f"toolu_{n}",
                        "name": name,
                        "input": data,
                    },
                    st.integers(0, 10**6),
                    tool_names,
                    json_objects,
                ),
            ),
            max_size=5,
            unique_by=lambda block: block.get("id", id(block)),
        )
    )
    usage = {
        "input_tokens": draw(st.integers(0, 10**5)),
        "cache_read_input_tokens": draw(st.integers(0, 999)),
        "cache_creation_input_tokens": draw(st.integers(0, 999)),
        "output_tokens": 1,
    }
    message = {
        "id": "msg_s1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": usage,
    }
    events: list[tuple[str, dict]] = [
        ("message_start", {"type": "message_start", "message": message})
    ]
    if draw(st.booleans()):
        events.append(("ping", {"type": "ping"}))
    for index, block in enumerate(blocks):
        events += _block_events(draw, index, block)
    stop_reason = (
        "tool_use"
        if any(b["type"] == "tool_use" for b in blocks)
        else draw(st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "refusal"]))
    )
    output = draw(st.integers(1, 10**4))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop_reason, "stop_sequence": None},
                "usage": {"output_tokens": output},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    return {
        "blocks": blocks,
        "events": events,
        "stop_reason": stop_reason,
        "usage": usage | {"output_tokens": output},
    }


def _block_events(draw: st.DrawFn, index: int, block: dict) -> list[tuple[str, dict]]:
    kind = block["type"]
    if kind == "tool_use":
        start = block | {"input": {}}
        arguments = orjson.dumps(block["input"]).decode()
        pieces = [] if block["input"] == {} and draw(st.booleans()) else split(draw, arguments)
        deltas = [{"type": "input_json_delta", "partial_json": piece} for piece in pieces]
    elif kind == "text":
        start = {"type": "text", "text": ""}
        deltas = [
            {"type": "text_delta", "text": piece} for piece in split(draw, block["text"]) if piece
        ]
    else:
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [
            {"type": "thinking_delta", "thinking": piece}
            for piece in split(draw, block["thinking"])
            if piece
        ]
        deltas.append({"type": "signature_delta", "signature": "EqQBCkYIARgC"})
    events = [
        (
            "content_block_start",
            {"type": "content_block_start", "index": index, "content_block": start},
        )
    ]
    for delta in deltas:
        events.append(
            ("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
        )
        if draw(st.integers(0, 9)) == 0:
            events.append(("ping", {"type": "ping"}))
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events


def run_anthropic_stream(
    events: list[tuple[str, dict]], include_usage: bool
) -> tuple[list[dict], AnthropicStreamToOpenAI]:
    translator = AnthropicStreamToOpenAI(model="gpt-x", include_usage=include_usage)
    chunks = [chunk for name, data in events for chunk in translator.feed(name, data)]
    chunks += translator.finish()
    assert translator.finish() == [] and translator.feed(*events[-1]) == []
    return chunks, translator


_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


@settings(max_examples=300, deadline=None)
@given(anthropic_streams(), st.booleans())
def test_anthropic_stream_becomes_a_valid_openai_stream(case: dict, include_usage: bool) -> None:
    chunks, translator = run_anthropic_stream(case["events"], include_usage)
    assert {(c["id"], c["created"], c["model"], c["object"]) for c in chunks} == {
        (chunks[0]["id"], chunks[0]["created"], "gpt-x", "chat.completion.chunk")
    }
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    if include_usage:
        *chunks, last = chunks
        assert (
            last["choices"] == []
            and last["usage"]["completion_tokens"] == case["usage"]["output_tokens"]
        )
        usage = case["usage"]
        assert (
            last["usage"]["prompt_tokens"]
            == usage["input_tokens"]
            + usage["cache_read_input_tokens"]
            + usage["cache_creation_input_tokens"]
        )
        assert all(chunk["usage"] is None for chunk in chunks)
    assert translator.usage == case["usage"]
    finishes = [
        c["choices"][0]["finish_reason"] for c in chunks if c["choices"][0]["finish_reason"]
    ]
    assert finishes == [_FINISH[case["stop_reason"]]] and chunks[-1]["choices"][0]["finish_reason"]
    deltas = [chunk["choices"][0]["delta"] for chunk in chunks]
    assert "".join(d.get("content") or "" for d in deltas) == "".join(
        b["text"] for b in case["blocks"] if b["type"] == "text"
    )
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == "".join(
        b["thinking"] for b in case["blocks"] if b["type"] == "thinking"
    )
    calls: dict[int, dict] = {}
    for delta in deltas:
        for call in delta.get("tool_calls") or ():
            if call["index"] not in calls:
                assert call["id"] and call["type"] == "function" and call["function"]["name"]
                calls[call["index"]] = {
                    "id": call["id"],
                    "name": call["function"]["name"],
                    "arguments": "",
                }
            else:
                assert set(call) == {"index", "function"} and set(call["function"]) == {"arguments"}
            calls[call["index"]]["arguments"] += call["function"]["arguments"]
    tools = [b for b in case["blocks"] if b["type"] == "tool_use"]
    assert sorted(calls) == list(range(len(tools)))
    assert [
        (c["id"], c["name"], orjson.loads(c["arguments"])) for _, c in sorted(calls.items())
    ] == [(b["id"], b["name"], b["input"]) for b in tools]
    state = ChatCompletionStreamState()
    for chunk in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(chunk))
    snapshot = state.current_completion_snapshot.choices[0]
    assert (snapshot.message.content or "") == "".join(
        b["text"] for b in case["blocks"] if b["type"] == "text"
    )
    assert [orjson.loads(c.function.arguments) for c in snapshot.message.tool_calls or ()] == [
        b["input"] for b in tools
    ]


def openai_client(body: bytes) -> openai.OpenAI:
    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, content=body, headers={"content-type": "text/event-stream"})

    transport = httpx2.MockTransport(handler)
    return openai.OpenAI(
        api_key="x", base_url="http://gw.test/v1", http_client=httpx2.Client(transport=transport)
    )


def openai_sse(chunks: list[dict]) -> bytes:
    return (
        b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks)
        + b"data: [DONE]\n\n"
    )


def _anthropic_tool_answer() -> list[tuple[str, dict]]:
    message = {
        "id": "msg_1",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 12, "output_tokens": 1},
    }
    return [
        ("message_start", {"type": "message_start", "message": message}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "On it."},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 1,
                "content_block": {
                    "type": "tool_use",
                    "id": "toolu_9",
                    "name": "get_weather",
                    "input": {},
                },
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 1,
                "delta": {"type": "input_json_delta", "partial_json": 'ris"}'},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 1}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {"output_tokens": 22},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def test_openai_sdk_reads_the_translated_stream_over_http() -> None:
    chunks, _ = run_anthropic_stream(_anthropic_tool_answer(), include_usage=True)
    client = openai_client(openai_sse(chunks))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "get_weather",
                "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
            },
        }
    ]
    with client.chat.completions.stream(
        model="gpt-x",
        messages=[{"role": "user", "content": "w?"}],
        tools=tools,
        stream_options={"include_usage": True},
    ) as stream:
        completion = stream.get_final_completion()
    choice = completion.choices[0]
    assert completion.id == "chatcmpl-1" and choice.finish_reason == "tool_calls"
    assert choice.message.content == "On it."
    assert choice.message.tool_calls[0].id == "toolu_9"
    assert orjson.loads(choice.message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (12, 22)


def test_anthropic_error_event_becomes_an_openai_error_the_sdk_raises() -> None:
    translator = AnthropicStreamToOpenAI(model="gpt-x", include_usage=True)
    chunks = [c for name, data in _anthropic_tool_answer()[:4] for c in translator.feed(name, data)]
    error = translator.feed(
        "error", {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
    )
    assert error == [
        {"error": {"message": "Overloaded", "type": "server_error", "code": "overloaded_error"}}
    ]
    assert translator.finish() == []
    client = openai_client(openai_sse(chunks + error))
    with pytest.raises(openai.APIError, match="Overloaded"):
        for _ in client.chat.completions.create(
            model="gpt-x", messages=[{"role": "user", "content": "x"}], stream=True
        ):
            pass


def test_a_truncated_anthropic_stream_still_finishes() -> None:
    translator = AnthropicStreamToOpenAI(
        model="gpt-x", include_usage=False, completion_id="chatcmpl-given"
    )
    chunks = [c for name, data in _anthropic_tool_answer()[:7] for c in translator.feed(name, data)]
    chunks += translator.finish()
    assert {chunk["id"] for chunk in chunks} == {"chatcmpl-given"}
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assert translator.usage["input_tokens"] == 12


def test_refusal_deltas_become_text_and_a_refusal_stop() -> None:
    chunks = [
        openai_chunk({"role": "assistant", "refusal": "I can't "}),
        openai_chunk({"refusal": "help with that."}),
        openai_chunk({}, "stop"),
    ]
    events, _ = run_openai_stream(chunks)
    message = sdk_accumulate(events)
    assert message.content[0].text == "I can't help with that."
    assert message.stop_reason == "refusal"


def test_only_choice_zero_is_translated() -> None:
    chunk = openai_chunk({"content": "zero"})
    chunk["choices"].insert(0, {"index": 1, "delta": {"content": "one"}, "finish_reason": None})
    events, _ = run_openai_stream([chunk, openai_chunk({}, "stop")])
    assert sdk_accumulate(events).content[0].text == "zero"


def test_tool_calls_without_index_are_told_apart_by_id() -> None:
    def call(**fields: Any) -> dict:
        return openai_chunk({"tool_calls": [fields]})

    chunks = [
        call(id="a", type="function", function={"name": "f", "arguments": '{"x":'}),
        call(function={"arguments": "1}"}),
        call(id="b", type="function", function={"name": "g", "arguments": "{}"}),
        openai_chunk({}, "tool_calls"),
    ]
    events, _ = run_openai_stream(chunks)
    tools = [(b.id, b.name, b.input) for b in sdk_accumulate(events).content]
    assert tools == [("a", "f", {"x": 1}), ("b", "g", {})]
