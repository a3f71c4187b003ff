"""The cache for Codex-style Responses API calls, through real sockets and the official `openai`
SDK: an answer passed through from an `openai` provider or translated from an Anthropic one,
whole or streamed (as Codex sends it), is stored and replayed to the next Responses client as a
Responses answer or event stream; a tool call is replayed as a function_call item."""

from __future__ import annotations

from typing import Any

import bifrost_cache
import openai
import orjson
import pytest

from bifrost_py.testing import provider_config

GPT = "gpt-4o"                   # the openai provider: passed through
CLAUDE = "claude-sonnet-4-5"     # the anthropic provider: translated
CODEX_HEADERS = {"user-agent": "codex_exec/0.171.0", "session-id": "s-1", "originator": "codex_exec"}
WEATHER = {"type": "function", "name": "get_weather", "description": "Weather for a city",
           "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}


async def gateway(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> Any:
    providers = provider_config(mock_upstream.url)
    providers["anthropic"]["models"] = [CLAUDE]
    providers["openai"]["models"] = [GPT]
    return await start_gateway({"storage": {"logs": f"sqlite:///{tmp_path}/cache.db"}, "providers": providers,
                                "cache": {"enabled": True, "tool_use": True}}, plugins=[bifrost_cache], builtins=False)


def codex(gw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-any", max_retries=0, default_headers=CODEX_HEADERS)


async def upstream_calls(mock_upstream: Any) -> int:
    return len(orjson.loads((await mock_upstream.get("/_mock/requests"))[2]))


@pytest.mark.parametrize("model", [GPT, CLAUDE])
@pytest.mark.parametrize("stream", [False, True])
async def test_responses_answers_are_cached_and_replayed(start_gateway: Any, mock_upstream: Any, tmp_path: Any,
                                                          model: str, stream: bool) -> None:
    gw = await gateway(start_gateway, mock_upstream, tmp_path)
    plugin = gw.gateway.plugins.pm.get_plugin("cache")
    request = {"model": model, "instructions": "You are terse.", "temperature": 0, "store": False,
               "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "What is a cache?"}]}],
               "prompt_cache_key": "s-1"}
    texts, results = [], []
    for turn in range(2):
        request["prompt_cache_key"] = f"session-{turn}"   # Codex's session: not part of the question
        if stream:
            async with codex(gw).responses.stream(**request) as events:
                kinds = [event.type async for event in events]
                final = await events.get_final_response()
            assert kinds[0] == "response.created" and kinds[-1] == "response.completed"
            assert "response.output_text.delta" in kinds
            raw = await codex(gw).responses.with_raw_response.create(**request)   # the headers, after the stream
            results.append(raw.headers["x-bf-cache"])
        else:
            raw = await codex(gw).responses.with_raw_response.create(**request)
            final = raw.parse()
            results.append(raw.headers["x-bf-cache"])
        texts.append(final.output_text)
        assert final.usage is not None and final.usage.output_tokens > 0
        await plugin.settled()
    assert results == (["hit", "hit"] if stream else ["miss", "hit"])
    assert texts[0] == texts[1] and "What is a cache?" in texts[0]
    assert await upstream_calls(mock_upstream) == 1      # everything after the first was the cache's


async def test_a_cached_tool_call_is_replayed_as_a_function_call(start_gateway: Any, mock_upstream: Any,
                                                                 tmp_path: Any) -> None:
    gw = await gateway(start_gateway, mock_upstream, tmp_path)
    plugin = gw.gateway.plugins.pm.get_plugin("cache")
    calls = []
    for _ in range(2):
        async with codex(gw).responses.stream(model=GPT, input="Weather in Paris? [[tool]]", tools=[WEATHER],
                                              temperature=0) as events:
            final = await events.get_final_response()
        calls.append([(item.name, item.arguments) for item in final.output if item.type == "function_call"])
        await plugin.settled()
    assert calls[0] and calls[0] == calls[1]
    assert await upstream_calls(mock_upstream) == 1
