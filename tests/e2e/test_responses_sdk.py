"""The OpenAI Responses API through the gateway, with the official `openai` SDK as the client:
`client.responses.create` and `client.responses.stream`, text and a function tool round trip,
against a provider that speaks it (passthrough to the `openai` type), one that speaks Anthropic
Messages (translated both ways) and one that speaks only Chat Completions (Azure: translated
through Messages); errors in the OpenAI shape; the gateway's own refusals."""

from __future__ import annotations

import json
from typing import Any

import openai
import orjson
import pytest

from bifrost_py import Reply, hookimpl
from bifrost_py.testing import provider_config

GPT = "gpt-4o"                      # openai type: passthrough
CLAUDE = "claude-sonnet-4-6"        # anthropic type: translated
AZURE = "azure-gpt-4o"              # azure type: translated to Chat Completions
TARGETS = [GPT, CLAUDE, AZURE]
WEATHER = {
    "type": "function", "name": "get_weather", "description": "Weather for a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any) -> Any:
    providers = provider_config(mock_upstream.url)
    providers["azure"] = {"type": "azure", "base_url": mock_upstream.url, "keys": [{"value": "az-key"}],
                          "models": {"azure-*": "my-gpt4o"}}
    gateway = await start_gateway({"providers": providers}, builtins=False)
    gateway.upstream = mock_upstream
    return gateway


class Recorder:
    """Keeps the calls that ended; answers itself when the prompt says so (a plugin's reply)."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[Any] = []

    @hookimpl
    async def bifrost_request_start(self, call: Any) -> Reply | None:
        if call.body and call.body.get("input") == "reply yourself":
            return Reply({"id": "msg_plugin", "type": "message", "role": "assistant", "model": call.model,
                          "content": [{"type": "text", "text": "From a plugin."}], "stop_reason": "end_turn",
                          "usage": {"input_tokens": 3, "output_tokens": 4}})
        return None

    @hookimpl
    async def bifrost_request_end(self, call: Any) -> None:
        self.calls.append(call)


def client(gw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-test", max_retries=0)


async def upstream_requests(gw: Any) -> list[dict[str, Any]]:
    return list(orjson.loads((await gw.upstream.get("/_mock/requests"))[2]))


@pytest.mark.parametrize("model", TARGETS)
async def test_create_answers_text_with_usage(gw: Any, model: str) -> None:
    response = await client(gw).responses.create(model=model, input="What is the capital of France?",
                                                  instructions="Answer briefly.")
    assert response.status == "completed"
    assert response.output_text == "Mock answer to: What is the capital of France?"
    assert response.usage is not None and response.usage.input_tokens > 0 and response.usage.output_tokens == 9
    assert response.model == model or response.model.startswith("gpt-4o")


@pytest.mark.parametrize("model", TARGETS)
async def test_stream_delivers_deltas_and_the_completed_response(gw: Any, model: str) -> None:
    deltas: list[str] = []
    async with client(gw).responses.stream(model=model, input="Stream me a story") as stream:
        async for event in stream:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
        final = await stream.get_final_response()
    assert "".join(deltas) == "Mock answer to: Stream me a story"
    assert final.output_text == "Mock answer to: Stream me a story"
    assert final.usage is not None and final.usage.output_tokens == len(deltas)


@pytest.mark.parametrize("model", TARGETS)
async def test_function_tool_round_trip(gw: Any, model: str) -> None:
    sdk = client(gw)
    arguments: list[str] = []
    async with sdk.responses.stream(model=model, input="Weather in Paris?", tools=[WEATHER],  # type: ignore[list-item]
                                    tool_choice="required") as stream:
        async for event in stream:
            if event.type == "response.function_call_arguments.delta":
                arguments.append(event.delta)
        first = await stream.get_final_response()
    calls = [item for item in first.output if item.type == "function_call"]
    assert len(calls) == 1 and calls[0].name == "get_weather"
    assert json.loads(calls[0].arguments) == {"city": "mock"} == json.loads("".join(arguments))
    follow_up: list[Any] = [
        {"role": "user", "content": "Weather in Paris?"},
        {"type": "function_call", "call_id": calls[0].call_id, "name": "get_weather", "arguments": calls[0].arguments},
        {"type": "function_call_output", "call_id": calls[0].call_id, "output": "sunny, 21 C"},
    ]
    second = await sdk.responses.create(model=model, input=follow_up, tools=[WEATHER])  # type: ignore[list-item]
    assert second.output_text == "Mock answer to: sunny, 21 C"


async def test_passthrough_leaves_the_body_as_sent_but_the_model(gw: Any) -> None:
    body = {"model": GPT, "input": [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "hi"}],
            "store": False, "include": ["reasoning.encrypted_content"], "prompt_cache_key": "s-1",
            "tools": [WEATHER, {"type": "web_search"}]}
    await client(gw).responses.create(**body, extra_body={"some_new_field": {"x": 1}})  # type: ignore[arg-type]
    sent = (await upstream_requests(gw))[-1]
    assert sent["path"] == "/v1/responses"
    assert orjson.loads(sent["body"]) == {**body, "some_new_field": {"x": 1}}


async def test_translated_request_carries_developer_messages_as_system(gw: Any) -> None:
    await client(gw).responses.create(model=CLAUDE, instructions="Rule one.", tools=[WEATHER, {"type": "web_search"}],
                                      input=[{"role": "developer", "content": "Rule two."},
                                             {"role": "user", "content": "hi"}])  # type: ignore[list-item]
    sent = (await upstream_requests(gw))[-1]
    body = orjson.loads(sent["body"])
    assert sent["path"] == "/v1/messages"
    assert body["system"] == "Rule one.\n\nRule two."
    assert [t["name"] for t in body["tools"]] == ["get_weather"]
    assert body["messages"] == [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]


async def test_cached_input_tokens_reach_the_client(gw: Any) -> None:
    sdk = client(gw)
    long_rules = "Follow the house rules. " * 200
    usages = []
    for _ in range(2):
        response = await sdk.responses.create(model=GPT, instructions=long_rules, input="hi")
        assert response.usage is not None
        usages.append(response.usage)
    assert usages[0].input_tokens_details.cached_tokens == 0
    assert usages[1].input_tokens_details.cached_tokens > 1000
    assert usages[1].input_tokens == usages[0].input_tokens


async def test_error_before_the_first_event_is_an_http_error(gw: Any) -> None:
    with pytest.raises(openai.InternalServerError):
        async with client(gw).responses.stream(model=CLAUDE, input="hi [[stream_error]]") as stream:
            async for _ in stream:
                pass


async def test_upstream_error_is_an_openai_error(gw: Any) -> None:
    with pytest.raises(openai.RateLimitError) as caught:
        await client(gw).responses.create(model=GPT, input="hi [[fail:429]]")
    assert caught.value.status_code == 429


@pytest.mark.parametrize("model", [GPT, CLAUDE])
async def test_error_mid_stream_is_response_failed(gw: Any, model: str) -> None:
    failed = []  # the stall makes the error come after the first event reached the client
    async with client(gw).responses.stream(model=model, input="hi [[stream_error]] [[stall:100ms]]") as stream:
        async for event in stream:
            if event.type == "response.failed":
                failed.append(event.response.error)
    assert len(failed) == 1 and failed[0] is not None and failed[0].message


async def test_previous_response_id_is_a_clear_400(gw: Any) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        await client(gw).responses.create(model=GPT, input="hi", previous_response_id="resp_123")
    assert "previous_response_id" in caught.value.message and "whole conversation" in caught.value.message
    assert await upstream_requests(gw) == []


async def test_input_tokens_are_counted(gw: Any) -> None:
    response = await client(gw).post("/responses/input_tokens", cast_to=object,
                                     body={"model": CLAUDE, "input": "count these words please"})
    assert isinstance(response, dict) and response["object"] == "response.input_tokens"
    assert response["input_tokens"] > 0


async def test_openai_prefix_serves_the_same_api(gw: Any) -> None:
    sdk = openai.AsyncOpenAI(base_url=gw.url + "/openai/v1", api_key="vk-test", max_retries=0)
    response = await sdk.responses.create(model=CLAUDE, input="hello")
    assert response.output_text == "Mock answer to: hello"


@pytest.mark.parametrize("stream", [False, True])
async def test_codex_headers_give_the_session_and_usage_is_billed(start_gateway: Any, mock_upstream: Any,
                                                                  stream: bool) -> None:
    recorder = Recorder()
    gw = await start_gateway({"providers": provider_config(mock_upstream.url)}, plugins=[recorder], builtins=False)
    sdk = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-test", max_retries=0,
                             default_headers={"session-id": "codex-session-1", "user-agent": "codex_exec/0.171.0 (x)"})
    for model in (GPT, CLAUDE):
        response = await sdk.responses.create(model=model, input="hi", prompt_cache_key="other", stream=stream)
        if stream:
            async for _ in response:  # type: ignore[union-attr]
                pass
    assert [c.session_id for c in recorder.calls] == ["codex-session-1"] * 2
    assert [c.client_app for c in recorder.calls] == ["codex_exec/0.171.0"] * 2
    for call in recorder.calls:
        usage = call.attempts[-1].outcome.usage
        assert usage.input_tokens > 0 and usage.output_tokens == 4, call.attempts[-1].outcome


@pytest.mark.parametrize("stream", [False, True])
async def test_a_plugin_reply_reaches_a_responses_client(start_gateway: Any, mock_upstream: Any, stream: bool) -> None:
    gw = await start_gateway({"providers": provider_config(mock_upstream.url)}, plugins=[Recorder()], builtins=False)
    sdk = client(gw)
    if stream:
        async with sdk.responses.stream(model=CLAUDE, input="reply yourself") as events:
            async for _ in events:
                pass
            response = await events.get_final_response()
    else:
        response = await sdk.responses.create(model=CLAUDE, input="reply yourself")
    assert response.output_text == "From a plugin."
    assert response.usage is not None and response.usage.output_tokens == 4


async def test_anthropic_thinking_goes_back_signed_and_never_to_openai(gw: Any) -> None:
    sdk = client(gw)
    first = await sdk.responses.create(model=CLAUDE, input="Think first", reasoning={"effort": "low", "summary": "auto"},
                                       include=["reasoning.encrypted_content"], store=False)
    reasoning = [item for item in first.output if item.type == "reasoning"]
    assert len(reasoning) == 1 and reasoning[0].summary[0].text == "Thinking about: Think first"
    sent = orjson.loads((await upstream_requests(gw))[-1]["body"])
    assert sent["thinking"] == {"type": "enabled", "budget_tokens": 2048}
    history: list[Any] = [{"role": "user", "content": "Think first"},
                          *[item.model_dump(exclude_none=True) for item in first.output],
                          {"role": "user", "content": "And now?"}]
    await sdk.responses.create(model=CLAUDE, input=history, reasoning={"effort": "low"})
    back = orjson.loads((await upstream_requests(gw))[-1]["body"])
    thinking = back["messages"][1]["content"][0]
    assert thinking["type"] == "thinking" and thinking["thinking"] == "Thinking about: Think first"
    assert thinking["signature"].startswith("EqMock")
    await sdk.responses.create(model=GPT, input=history)  # the same conversation, failed over to OpenAI
    to_openai = orjson.loads((await upstream_requests(gw))[-1]["body"])
    assert [item.get("type") for item in to_openai["input"]] == [None, "message", None]


@pytest.mark.parametrize("stream", [False, True])
async def test_a_responses_call_fails_over_from_openai_to_anthropic(start_gateway: Any, mock_upstream: Any,
                                                                   stream: bool) -> None:
    import bifrost_failover

    gw = await start_gateway({"providers": provider_config(mock_upstream.url), "failover": {
        "chains": {GPT: ["openai", "anthropic/claude-sonnet-4-6"]}, "retries": 0}},
        plugins=[bifrost_failover], builtins=False)
    gw.upstream = mock_upstream
    await mock_upstream.post("/_mock/script", json={"responses": [{"status": 529}]})
    raw = await client(gw).responses.with_raw_response.create(model=GPT, input="Fall back please", stream=stream)
    assert raw.headers["x-bf-provider"] == "anthropic" and raw.headers["x-bf-attempts"] == "2"
    response = raw.parse()
    if stream:
        text = "".join([event.delta async for event in response if event.type == "response.output_text.delta"])
    else:
        text = response.output_text
    assert text == "Mock answer to: Fall back please"
    assert [r["path"] for r in await upstream_requests(gw)] == ["/v1/responses", "/v1/messages"]
