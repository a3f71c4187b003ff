"""The Gemini API as a client dialect, end to end with the official `google-genai` SDK as the
client: passed through to a `gemini` provider, and translated for an Anthropic- and an
OpenAI-dialect provider — text, streamed text, a function call and its response going back,
finish reasons, usageMetadata, countTokens, the model list, and errors in Google's shape."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from google import genai
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
