"""The mock upstream's Responses API, read by the official `openai` SDK with no gateway between:
the event order of the real API, function calls with streamed arguments, reasoning items, usage
with cached tokens, its errors and refusals."""

from __future__ import annotations

from typing import Any

import openai
import orjson
import pytest

WEATHER = {"type": "function", "name": "get_weather", "parameters": {"type": "object", "properties": {
    "city": {"type": "string"}, "days": {"type": "integer"}}}}


def sdk(mock_upstream: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=mock_upstream.url + "/v1", api_key="sk-test", max_retries=0)


async def events_of(mock_upstream: Any, **body: Any) -> list[Any]:
    async with sdk(mock_upstream).responses.stream(**body) as stream:
        return [event async for event in stream]


async def test_text_stream_in_the_apis_order(mock_upstream: Any) -> None:
    events = await events_of(mock_upstream, model="gpt-4o", input="Hello there")
    assert [e.type for e in events] == [
        "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
        *["response.output_text.delta"] * 5, "response.output_text.done", "response.content_part.done",
        "response.output_item.done", "response.completed",
    ]
    assert [e.sequence_number for e in events] == list(range(len(events)))
    final = events[-1].response
    assert final.output_text == "Mock answer to: Hello there" and final.status == "completed"
    assert final.usage.output_tokens == 5 and final.usage.total_tokens == final.usage.input_tokens + 5


async def test_function_call_arguments_arrive_in_fragments(mock_upstream: Any) -> None:
    events = await events_of(mock_upstream, model="gpt-4o", input="Weather? [[tool]]", tools=[WEATHER])
    fragments = [e.delta for e in events if e.type == "response.function_call_arguments.delta"]
    done = next(e for e in events if e.type == "response.output_item.done").item
    assert len(fragments) > 1 and "".join(fragments) == done.arguments
    assert orjson.loads(done.arguments) == {"city": "mock", "days": 1}
    assert done.type == "function_call" and done.name == "get_weather" and done.call_id.startswith("call_")


async def test_reasoning_comes_first_with_a_summary_and_encrypted_content(mock_upstream: Any) -> None:
    response = await sdk(mock_upstream).responses.create(model="o3", input="Think", reasoning={"effort": "medium"})
    reasoning, message = response.output
    assert reasoning.type == "reasoning" and reasoning.summary[0].text == "Thinking about: Think"
    assert reasoning.encrypted_content and reasoning.encrypted_content.startswith("gAAAAB")
    assert message.type == "message"
    assert response.usage is not None and response.usage.output_tokens_details.reasoning_tokens == 3


async def test_a_repeated_prefix_is_reported_as_cached(mock_upstream: Any) -> None:
    client = sdk(mock_upstream)
    rules = [{"role": "developer", "content": "House rules. " * 100}]
    first = await client.responses.create(model="gpt-4o", input=[*rules, {"role": "user", "content": "one"}])
    second = await client.responses.create(model="gpt-4o", input=[*rules, {"role": "user", "content": "two"}])
    assert first.usage is not None and second.usage is not None
    assert first.usage.input_tokens_details.cached_tokens == 0
    assert 300 < second.usage.input_tokens_details.cached_tokens < second.usage.input_tokens


async def test_max_output_tokens_makes_it_incomplete(mock_upstream: Any) -> None:
    events = await events_of(mock_upstream, model="gpt-4o", input="A long story please", max_output_tokens=2)
    assert events[-1].type == "response.incomplete"
    assert events[-1].response.incomplete_details.reason == "max_output_tokens"
    assert events[-1].response.output_text == "Mock answer"


async def test_errors_and_refusals_are_the_apis(mock_upstream: Any) -> None:
    status, _, body = await mock_upstream.post("/v1/responses", json={"model": "gpt-4o", "input": "hi"})
    assert status == 401 and "API key" in orjson.loads(body)["error"]["message"]
    with pytest.raises(openai.BadRequestError) as caught:
        await sdk(mock_upstream).responses.create(model="gpt-4o", input="hi", previous_response_id="resp_1")
    assert caught.value.code == "previous_response_not_found"
    with pytest.raises(openai.RateLimitError):
        await sdk(mock_upstream).responses.create(model="gpt-4o", input="hi [[fail:429]]")
