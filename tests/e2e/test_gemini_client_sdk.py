"""The Gemini API as a client dialect, end to end with the official `google-genai` SDK as the
client: passed through to a `gemini` provider, and translated for an Anthropic- and an
OpenAI-dialect provider — text, streamed text, a function call and its response going back,
finish reasons, usageMetadata, countTokens, the model list, and errors in Google's shape."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from bifrost_py.testing import provider_config

GEMINI_MODEL = "gemini-2.5-flash"   # served by the gemini-type provider: passthrough
CLAUDE = "claude-sonnet-4-6"        # served by the anthropic-type provider: translated
GPT = "gpt-4o"                      # served by the openai-type provider: translated twice
WEATHER = types.FunctionDeclaration(
    name="get_weather", description="Weather for a city",
    parameters=types.Schema(type=types.Type.OBJECT, properties={"city": types.Schema(type=types.Type.STRING)},
                            required=["city"]),
)
TOOLS = types.GenerateContentConfig(tools=[types.Tool(function_declarations=[WEATHER])])


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any) -> Any:
    providers = {**provider_config(mock_upstream.url),
                 "gemini": {"type": "gemini", "base_url": mock_upstream.url, "keys": [{"value": "g-key"}]}}
    models = {"anthropic": [CLAUDE], "openai": [GPT], "gemini": [GEMINI_MODEL]}
    for name, served in models.items():
        providers[name]["models"] = served
    gateway = await start_gateway({"providers": providers}, builtins=False)
    gateway.upstream = mock_upstream
    return gateway


def client(gw: Any, key: str = "vk-test") -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url + "/gemini"))


async def upstream_records(gw: Any) -> list[dict[str, Any]]:
    return orjson.loads((await gw.upstream.get("/_mock/requests"))[2])


@pytest.mark.parametrize("model", [GEMINI_MODEL, CLAUDE, GPT])
async def test_generate_content_answers_text_with_usage(gw: Any, model: str) -> None:
    answer = await client(gw).aio.models.generate_content(
        model=model, contents="Describe the gateway",
        config=types.GenerateContentConfig(system_instruction="You are terse.", max_output_tokens=300))
    assert answer.text
    assert answer.candidates[0].finish_reason == types.FinishReason.STOP
    usage = answer.usage_metadata
    assert usage.prompt_token_count > 0 and usage.candidates_token_count > 0
    assert usage.total_token_count == usage.prompt_token_count + usage.candidates_token_count


@pytest.mark.parametrize("model", [GEMINI_MODEL, CLAUDE, GPT])
async def test_streamed_text_agrees_with_the_whole_answer(gw: Any, model: str) -> None:
    prompt = "Tell me a story [[long:40]]"
    whole = await client(gw).aio.models.generate_content(model=model, contents=prompt)
    chunks = [chunk async for chunk in await client(gw).aio.models.generate_content_stream(model=model, contents=prompt)]
    assert len(chunks) > 3
    assert "".join(chunk.text or "" for chunk in chunks) == whole.text
    assert chunks[-1].candidates[0].finish_reason == types.FinishReason.STOP
    assert chunks[-1].usage_metadata.candidates_token_count > 0


@pytest.mark.parametrize("model", [GEMINI_MODEL, CLAUDE, GPT])
@pytest.mark.parametrize("stream", [False, True])
async def test_function_call_round_trip(gw: Any, model: str, stream: bool) -> None:
    """The model calls the tool, the SDK sends the function response back, and the provider
    receives it as the answer to that call (a tool_result / tool message with the call's id)."""
    genai_client = client(gw)
    contents: list[Any] = [types.Content(role="user", parts=[types.Part(text="Weather in Paris? [[tool]]")])]
    if stream:
        chunks = [c async for c in await genai_client.aio.models.generate_content_stream(
            model=model, contents=contents, config=TOOLS)]
        parts = [part for chunk in chunks for part in chunk.candidates[0].content.parts or []]
        usage = chunks[-1].usage_metadata
    else:
        answer = await genai_client.aio.models.generate_content(model=model, contents=contents, config=TOOLS)
        parts = answer.candidates[0].content.parts
        usage = answer.usage_metadata
    calls = [part for part in parts if part.function_call]
    assert len(calls) == 1 and calls[0].function_call.name == "get_weather"
    assert isinstance(calls[0].function_call.args, dict)
    assert usage.prompt_token_count > 0
    contents.append(types.Content(role="model", parts=calls))
    contents.append(types.Content(role="user", parts=[types.Part.from_function_response(
        name="get_weather", response={"output": "sunny, 21 C"})]))
    contents[-1].parts[0].function_response.id = calls[0].function_call.id
    final = await genai_client.aio.models.generate_content(model=model, contents=contents, config=TOOLS)
    assert final.text
    sent = (await upstream_records(gw))[-1]
    body = orjson.loads(sent["body"])
    if model == GEMINI_MODEL:   # untouched: what the SDK sent is what Google gets
        assert sent["path"] == f"/v1beta/models/{GEMINI_MODEL}:generateContent"
        assert body["contents"][2]["parts"][0]["functionResponse"]["response"] == {"output": "sunny, 21 C"}
        assert "model" not in body
    elif model == CLAUDE:
        call, result = body["messages"][1]["content"][0], body["messages"][2]["content"][0]
        assert call["type"] == "tool_use" and call["name"] == "get_weather" and call["id"] == calls[0].function_call.id
        assert result == {"type": "tool_result", "tool_use_id": call["id"], "content": "sunny, 21 C"}
    else:
        call = body["messages"][1]["tool_calls"][0]
        assert body["messages"][2] == {"role": "tool", "tool_call_id": call["id"], "content": "sunny, 21 C"}


async def test_count_tokens_passthrough_and_estimate(gw: Any) -> None:
    genai_client = client(gw)
    passed = await genai_client.aio.models.count_tokens(model=GEMINI_MODEL, contents="How many tokens is this?")
    estimated = await genai_client.aio.models.count_tokens(model=CLAUDE, contents="How many tokens is this?")
    assert passed.total_tokens > 0 and estimated.total_tokens > 0
    records = await upstream_records(gw)
    assert records[-1]["path"] == f"/v1beta/models/{GEMINI_MODEL}:countTokens"


async def test_model_list_names_what_is_served(gw: Any) -> None:
    names = [model.name async for model in await client(gw).aio.models.list()]
    assert {f"models/{m}" for m in (GEMINI_MODEL, CLAUDE, GPT)} <= set(names)


async def test_errors_come_in_googles_shape(gw: Any) -> None:
    with pytest.raises(genai_errors.ClientError) as unknown:
        await client(gw).aio.models.generate_content(model="no-such-model", contents="hi")
    assert unknown.value.code == 404 and unknown.value.status == "NOT_FOUND"
    with pytest.raises(genai_errors.APIError) as failed:
        await client(gw).aio.models.generate_content(model=CLAUDE, contents="hi [[fail:529]]")
    assert failed.value.code == 529 and failed.value.status == "UNAVAILABLE"
    status, _, body = await gw.post("/gemini/v1beta/models/x:generateContent", data=b"{")
    assert status == 400 and orjson.loads(body)["error"]["status"] == "INVALID_ARGUMENT"


async def test_an_error_mid_stream_ends_it_with_an_error_chunk(gw: Any) -> None:
    chunks = []
    with pytest.raises(genai_errors.APIError) as failed:
        async for chunk in await client(gw).aio.models.generate_content_stream(
                model=CLAUDE, contents="Tell me a story [[long:30]] [[stall:200ms]] [[stream_error]]"):
            chunks.append(chunk)
    assert len(chunks) == 1 and chunks[0].text   # what came before the error, then Google's error chunk
    assert failed.value.status == "UNAVAILABLE"


async def test_the_key_may_come_as_a_query_parameter_and_is_not_forwarded(gw: Any) -> None:
    status, _, body = await gw.post(f"/gemini/v1beta/models/{GEMINI_MODEL}:streamGenerateContent?alt=sse&key=vk-secret",
                                    json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert status == 200 and body.startswith(b"data: {")
    sent = (await upstream_records(gw))[-1]
    assert "vk-secret" not in orjson.dumps(sent).decode()
    assert sent["headers"]["x-goog-api-key"] == "g-key"
