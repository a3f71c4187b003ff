"""The OpenAI dialect, read back by the official openai SDK over real sockets."""

from __future__ import annotations

import math
from typing import Any

import openai
import orjson
import pytest

from .conftest import OPENAI_HEADERS, WEATHER_TOOL, user

MODEL = "gpt-4o"
FUNCTION = {
    "type": "function",
    "function": {"name": WEATHER_TOOL["name"], "parameters": WEATHER_TOOL["input_schema"]},
}


async def test_create_answers_and_counts(gpt: Any) -> None:
    completion = await gpt.chat.completions.create(model=MODEL, messages=user("Hello there"))
    assert completion.model == MODEL and completion.id.startswith("chatcmpl-")
    assert completion.object == "chat.completion"
    choice = completion.choices[0]
    assert choice.message.content == "Mock answer to: Hello there"
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage.completion_tokens == 5
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens


async def test_stream_with_include_usage(gpt: Any) -> None:
    created = await gpt.chat.completions.create(
        model=MODEL, messages=user("stream this text please")
    )
    stream = await gpt.chat.completions.create(
        model=MODEL,
        messages=user("stream this text please"),
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == created.choices[0].message.content
    assert chunks[0].choices[0].delta.role == "assistant"
    finishing = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finishing == ["stop"]
    last = chunks[-1]
    assert last.choices == [] and last.usage.completion_tokens == created.usage.completion_tokens
    assert all(c.usage is None for c in chunks[:-1])


async def test_stream_without_include_usage_has_no_usage_key(http: Any, url: str) -> None:
    body = {"model": MODEL, "stream": True, "messages": user("hi")}
    async with http.post(
        url + "/v1/chat/completions", json=body, headers=OPENAI_HEADERS
    ) as response:
        raw = await response.read()
    frames = [f for f in raw.decode().split("\n\n") if f]
    assert frames[-1] == "data: [DONE]"
    for frame in frames[:-1]:
        assert "usage" not in orjson.loads(frame.removeprefix("data: "))


async def test_tool_calls_stream_and_assemble(gpt: Any) -> None:
    kwargs = {"model": MODEL, "messages": user("weather? [[tool]]"), "tools": [FUNCTION]}
    completion = await gpt.chat.completions.create(**kwargs)
    call = completion.choices[0].message.tool_calls[0]
    assert completion.choices[0].finish_reason == "tool_calls"
    assert call.id.startswith("call_") and call.function.name == "get_weather"
    assert orjson.loads(call.function.arguments) == {"city": "mock", "unit": "celsius", "days": 1}
    arguments, names = "", []
    async for chunk in await gpt.chat.completions.create(stream=True, **kwargs):
        for tool_call in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
            names += [tool_call.function.name] if tool_call.function.name else []
            arguments += tool_call.function.arguments or ""
    assert names == ["get_weather"] and arguments == call.function.arguments


async def test_parallel_tool_calls_have_their_own_indexes(gpt: Any) -> None:
    completion = await gpt.chat.completions.create(
        model=MODEL, messages=user("[[tool:2]]"), tools=[FUNCTION]
    )
    calls = completion.choices[0].message.tool_calls
    assert len(calls) == 2 and calls[0].id != calls[1].id


async def test_tool_message_turn_gets_text(gpt: Any) -> None:
    messages = [
        {"role": "user", "content": "weather? [[tool]]"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "31C"},
    ]
    completion = await gpt.chat.completions.create(model=MODEL, messages=messages, tools=[FUNCTION])
    assert completion.choices[0].message.content == "Mock answer to: 31C"


async def test_max_tokens_gives_finish_reason_length(gpt: Any) -> None:
    completion = await gpt.chat.completions.create(
        model=MODEL, messages=user("[[long:40]]"), max_tokens=4
    )
    assert completion.choices[0].finish_reason == "length"
    assert completion.usage.completion_tokens == 4


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (429, openai.RateLimitError),
        (500, openai.InternalServerError),
        (503, openai.InternalServerError),
        (401, openai.AuthenticationError),
        (404, openai.NotFoundError),
    ],
)
async def test_errors_parse_as_typed_errors(gpt: Any, status: int, error: type) -> None:
    with pytest.raises(error) as caught:
        await gpt.chat.completions.create(model=MODEL, messages=user(f"[[fail:{status}]]"))
    assert caught.value.status_code == status
    assert set(caught.value.body) == {"message", "type", "param", "code"}
    assert caught.value.response.headers["x-request-id"]


async def test_rate_limit_error_shape_and_retry_after(gpt: Any) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await gpt.chat.completions.create(
            model=MODEL, messages=user("[[fail:429]][[retry_after:1.5]]")
        )
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.response.headers["retry-after"] == "1.5"


async def test_missing_bearer_is_401(http: Any, url: str) -> None:
    async with http.post(url + "/v1/chat/completions", json={"model": MODEL, "messages": []}) as r:
        assert r.status == 401
        assert (await r.json())["error"]["type"] == "invalid_request_error"


async def test_missing_messages_is_400_with_param(http: Any, url: str) -> None:
    async with http.post(
        url + "/v1/chat/completions", json={"model": MODEL}, headers=OPENAI_HEADERS
    ) as r:
        assert r.status == 400
        assert (await r.json())["error"]["param"] == "messages"


async def test_embeddings_are_deterministic_unit_vectors(gpt: Any) -> None:
    result = await gpt.embeddings.create(
        model="text-embedding-3-small", input=["alpha", "beta", "alpha"]
    )
    vectors = [d.embedding for d in result.data]
    assert [len(v) for v in vectors] == [64, 64, 64]
    assert vectors[0] == pytest.approx(vectors[2]) and vectors[0] != vectors[1]
    assert math.fsum(x * x for x in vectors[0]) == pytest.approx(1.0, abs=1e-5)
    assert result.usage.prompt_tokens > 0


async def test_embeddings_float_format_and_dimensions(http: Any, url: str, gpt: Any) -> None:
    body = {
        "model": "text-embedding-3-small",
        "input": "alpha",
        "dimensions": 16,
        "encoding_format": "float",
    }
    async with http.post(url + "/v1/embeddings", json=body, headers=OPENAI_HEADERS) as r:
        floats = (await r.json())["data"][0]["embedding"]
    assert len(floats) == 16
    via_sdk = await gpt.embeddings.create(
        model="text-embedding-3-small", input="alpha", dimensions=16
    )
    assert via_sdk.data[0].embedding == pytest.approx(floats, abs=1e-6)


async def test_models_list_in_openai_shape(gpt: Any) -> None:
    page = await gpt.models.list()
    assert any(m.id == "gpt-4o" for m in page.data)


async def test_thinking_counts_as_reasoning_tokens(gpt: Any) -> None:
    completion = await gpt.chat.completions.create(model=MODEL, messages=user("[[thinking]] hm"))
    usage = completion.usage
    assert usage.completion_tokens_details.reasoning_tokens > 0
    assert usage.completion_tokens == usage.completion_tokens_details.reasoning_tokens + 4
    assert completion.choices[0].message.content == "Mock answer to: hm"
