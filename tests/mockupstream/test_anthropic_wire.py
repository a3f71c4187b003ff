"""The Anthropic dialect, read back by the official anthropic SDK over real sockets."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from .conftest import ANTHROPIC_HEADERS, WEATHER_TOOL, user

MODEL = "claude-sonnet-4-20250514"


async def test_create_echoes_model_and_answers_the_prompt(claude: Any) -> None:
    message = await claude.messages.create(
        model=MODEL, max_tokens=100, messages=user("Hello there")
    )
    assert message.model == MODEL
    assert message.id.startswith("msg_01")
    assert message.content[0].type == "text"
    assert message.content[0].text == "Mock answer to: Hello there"
    assert message.stop_reason == "end_turn"
    assert message.usage.output_tokens == 5
    assert message.usage.input_tokens > 0
    assert message.usage.cache_creation_input_tokens == 0
    assert message.usage.cache_read_input_tokens == 0


async def test_stream_assembles_to_the_non_stream_answer(claude: Any) -> None:
    kwargs = {"model": MODEL, "max_tokens": 100, "messages": user("Tell me about streams, briefly")}
    created = await claude.messages.create(**kwargs)
    pieces = []
    async with claude.messages.stream(**kwargs) as stream:
        async for text in stream.text_stream:
            pieces.append(text)
        final = await stream.get_final_message()
    assert "".join(pieces) == created.content[0].text
    assert len(pieces) == created.usage.output_tokens > 3
    assert final.usage.output_tokens == created.usage.output_tokens
    assert final.usage.input_tokens == created.usage.input_tokens
    assert final.stop_reason == "end_turn"


async def test_raw_stream_event_order(claude: Any) -> None:
    stream = await claude.messages.create(
        model=MODEL, max_tokens=100, messages=user("hi there"), stream=True
    )
    kinds = [event.type async for event in stream]  # the SDK swallows ping events
    assert kinds[:2] == ["message_start", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    assert set(kinds[2:-3]) == {"content_block_delta"}


async def test_wire_bytes_are_sse_events_with_message_start_usage(http: Any, url: str) -> None:
    body = {"model": MODEL, "max_tokens": 50, "stream": True, "messages": user("hello")}
    async with http.post(url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as response:
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["request-id"].startswith("req_")
        raw = await response.read()
    frames = raw.decode().split("\n\n")
    assert frames[-1] == ""
    first_event, first_data = frames[0].split("\n")
    assert first_event == "event: message_start"
    usage = orjson.loads(first_data.removeprefix("data: "))["message"]["usage"]
    assert usage["output_tokens"] == 1
    assert {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens"} <= set(usage)
    assert frames[2] == 'event: ping\ndata: {"type": "ping"}'
    assert frames[-2] == 'event: message_stop\ndata: {"type":"message_stop"}'


async def test_tool_use_stream_is_parsed_into_a_tool_use_block(claude: Any) -> None:
    kwargs = {
        "model": MODEL,
        "max_tokens": 200,
        "tools": [WEATHER_TOOL],
        "messages": user("What is the weather? [[tool]]"),
    }
    fragments = 0
    async with claude.messages.stream(**kwargs) as stream:
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "input_json_delta":
                fragments += 1
        final = await stream.get_final_message()
    block = final.content[0]
    assert block.type == "tool_use" and block.name == "get_weather"
    assert block.id.startswith("toolu_01")
    assert block.input == {"city": "mock", "unit": "celsius", "days": 1}
    assert fragments > 2 and final.usage.output_tokens == fragments
    assert final.stop_reason == "tool_use"
    created = await claude.messages.create(**kwargs)
    assert created.content[0].input == block.input


async def test_forced_tool_choice_calls_that_tool_without_a_marker(claude: Any) -> None:
    other = {"name": "other", "input_schema": {"type": "object", "properties": {}}}
    message = await claude.messages.create(
        model=MODEL,
        max_tokens=100,
        tools=[other, WEATHER_TOOL],
        messages=user("weather?"),
        tool_choice={"type": "tool", "name": "get_weather"},
    )
    assert [b.name for b in message.content] == ["get_weather"]


async def test_tool_result_turn_gets_a_text_answer(claude: Any) -> None:
    messages = [
        {"role": "user", "content": "weather? [[tool]]"},
        {
            "role": "assistant",
            "content": [
                {
                    "type": "tool_use",
                    "id": "toolu_1",
                    "name": "get_weather",
                    "input": {"city": "Pune"},
                }
            ],
        },
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "31C"}],
        },
    ]
    message = await claude.messages.create(
        model=MODEL, max_tokens=100, tools=[WEATHER_TOOL], messages=messages
    )
    assert message.content[0].text == "Mock answer to: 31C"
    assert message.stop_reason == "end_turn"


async def test_thinking_blocks_stream_with_a_signature(claude: Any) -> None:
    kwargs = {
        "model": MODEL,
        "max_tokens": 2000,
        "messages": user("think about it"),
        "thinking": {"type": "enabled", "budget_tokens": 1024},
    }
    async with claude.messages.stream(**kwargs) as stream:
        final = await stream.get_final_message()
    thinking, text = final.content
    assert thinking.type == "thinking" and thinking.thinking.startswith("Thinking about")
    assert thinking.signature
    created = await claude.messages.create(**kwargs)
    assert [b.type for b in created.content] == ["thinking", "text"]
    assert created.content[1].text == text.text


@pytest.mark.parametrize(
    ("marker", "error", "kind"),
    [
        ("[[fail:529]]", anthropic.InternalServerError, "overloaded_error"),
        ("[[fail:500]]", anthropic.InternalServerError, "api_error"),
        ("[[fail:429]]", anthropic.RateLimitError, "rate_limit_error"),
        ("[[fail:403]]", anthropic.PermissionDeniedError, "permission_error"),
        ("[[fail:404]]", anthropic.NotFoundError, "not_found_error"),
    ],
)
async def test_errors_parse_as_the_sdks_typed_errors(
    claude: Any, marker: str, error: type, kind: str
) -> None:
    with pytest.raises(error) as caught:
        await claude.messages.create(model=MODEL, max_tokens=10, messages=user(marker))
    assert caught.value.body["error"]["type"] == kind
    assert caught.value.body["type"] == "error"
    assert caught.value.response.headers["request-id"].startswith("req_")


async def test_overloaded_is_529_with_its_exact_body(claude: Any) -> None:
    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude.messages.create(model=MODEL, max_tokens=10, messages=user("[[fail:529]]"))
    assert caught.value.status_code == 529
    assert caught.value.body["error"] == {"type": "overloaded_error", "message": "Overloaded"}


async def test_rate_limit_carries_retry_after(claude: Any) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude.messages.create(
            model=MODEL, max_tokens=10, messages=user("[[fail:429]] [[retry_after:2]]")
        )
    assert caught.value.response.headers["retry-after"] == "2"


async def test_stream_error_before_any_byte_is_a_typed_error(claude: Any) -> None:
    with pytest.raises(anthropic.InternalServerError):
        async with claude.messages.stream(
            model=MODEL, max_tokens=10, messages=user("[[fail:529]]")
        ) as stream:
            await stream.get_final_message()


async def test_mid_stream_error_event(claude: Any) -> None:
    with pytest.raises(anthropic.APIStatusError) as caught:
        async with claude.messages.stream(
            model=MODEL, max_tokens=10, messages=user("[[stream_error]] x")
        ) as s:
            await s.get_final_message()
    assert "overloaded_error" in str(caught.value)


async def test_missing_key_is_401_authentication_error(http: Any, url: str) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": user("hi")}
    async with http.post(
        url + "/v1/messages", json=body, headers={"anthropic-version": "2023-06-01"}
    ) as r:
        assert r.status == 401
        assert (await r.json())["error"]["type"] == "authentication_error"
    bearer = {"authorization": "Bearer k", "anthropic-version": "2023-06-01"}
    async with http.post(url + "/v1/messages", json=body, headers=bearer) as r:
        assert r.status == 200


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"model": MODEL, "messages": []}, "max_tokens: Field required"),
        ({"max_tokens": 5, "messages": []}, "model: Field required"),
    ],
)
async def test_invalid_bodies_are_400_invalid_request_error(
    http: Any, url: str, body: dict, message: str
) -> None:
    async with http.post(url + "/v1/messages", json=body, headers=ANTHROPIC_HEADERS) as r:
        assert r.status == 400
        assert (await r.json())["error"] == {"type": "invalid_request_error", "message": message}
    async with http.post(url + "/v1/messages", data=b"{not json", headers=ANTHROPIC_HEADERS) as r:
        assert r.status == 400


async def test_unknown_fields_roles_and_query_strings_are_accepted(http: Any, url: str) -> None:
    body = {
        "model": MODEL,
        "max_tokens": 10,
        "brand_new_field": {"x": 1},
        "metadata": {"user_id": "u"},
        "messages": [
            {"role": "critic", "content": [{"type": "novel_block", "v": 1}]},
            {
                "role": "user",
                "content": [{"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}}],
            },
        ],
    }
    async with http.post(url + "/v1/messages?beta=true", json=body, headers=ANTHROPIC_HEADERS) as r:
        assert r.status == 200


async def test_missing_anthropic_version_is_rejected_like_the_real_api(http: Any, url: str) -> None:
    body = {"model": MODEL, "max_tokens": 10, "messages": user("hi")}
    async with http.post(url + "/v1/messages", json=body, headers={"x-api-key": "k"}) as r:
        assert r.status == 400
        assert "anthropic-version" in (await r.json())["error"]["message"]


async def test_count_tokens_matches_message_usage(claude: Any) -> None:
    kwargs = {
        "model": MODEL,
        "messages": user("count me please"),
        "system": "be brief",
        "tools": [WEATHER_TOOL],
    }
    counted = await claude.messages.count_tokens(**kwargs)
    message = await claude.messages.create(max_tokens=10, **kwargs)
    assert counted.input_tokens == message.usage.input_tokens > 0


async def test_models_list_in_anthropic_shape(claude: Any) -> None:
    page = await claude.models.list()
    assert any(m.id.startswith("claude-") for m in page.data)


async def test_prompt_caching_writes_then_reads_a_prefix(claude: Any) -> None:
    system = [
        {
            "type": "text",
            "text": "You are a careful assistant. " * 50,
            "cache_control": {"type": "ephemeral"},
        }
    ]
    first = await claude.messages.create(
        model=MODEL, max_tokens=10, system=system, messages=user("one")
    )
    second = await claude.messages.create(
        model=MODEL, max_tokens=10, system=system, messages=user("two")
    )
    assert first.usage.cache_creation_input_tokens > 0 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == first.usage.cache_creation_input_tokens
    assert second.usage.cache_creation_input_tokens == 0
    assert (
        first.usage.input_tokens
        == second.usage.input_tokens
        < first.usage.cache_creation_input_tokens
    )


async def test_max_tokens_truncates_and_says_so(claude: Any) -> None:
    message = await claude.messages.create(model=MODEL, max_tokens=3, messages=user("[[long:50]]"))
    assert message.stop_reason == "max_tokens" and message.usage.output_tokens == 3
    marked = await claude.messages.create(
        model=MODEL, max_tokens=100, messages=user("[[max_tokens]] hi")
    )
    assert marked.stop_reason == "max_tokens"


async def test_answer_echoes_the_last_text_block_and_reads_markers_in_all(claude: Any) -> None:
    content = [
        {"type": "text", "text": "<system-reminder>context first</system-reminder>"},
        {"type": "text", "text": "[[long:3]]"},
        {"type": "text", "text": "what the user typed"},
    ]
    message = await claude.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content}]
    )
    assert message.content[0].text == "lorem ipsum dolor"
    plain = await claude.messages.create(
        model=MODEL, max_tokens=100, messages=[{"role": "user", "content": content[::2]}]
    )
    assert plain.content[0].text == "Mock answer to: what the user typed"
