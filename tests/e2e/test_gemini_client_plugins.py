"""Gemini clients under the same plugins as every other client, unchanged: the virtual key in
`x-goog-api-key` (or `?key=`) is the caller, its budget is the one Claude Code spends from,
the refusal is Google's error shape, and the cost log records the call with its usage."""

from __future__ import annotations

import asyncio
from typing import Any

import anthropic
import bifrost_cache
import bifrost_costlog
import bifrost_governance
import orjson
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from bifrost_py.testing import provider_config

CLAUDE = "claude-sonnet-4-20250514"
GEMINI_MODEL = "gemini-2.5-flash"
ADMIN = {"authorization": "Bearer admin-secret"}
KEY = "vk-alice-secret"


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> Any:
    providers = {"anthropic": {**provider_config(mock_upstream.url)["anthropic"], "models": [CLAUDE]},
                 "gemini": {"type": "gemini", "base_url": mock_upstream.url, "keys": [{"value": "g-key"}],
                            "models": [GEMINI_MODEL]}}
    config = {"providers": providers, "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
              "admin": {"token": "admin-secret"},
              "governance": {"virtual_keys": {"alice": {"key": KEY, "budget": {"limit": 0.5, "reset": "monthly"}}}}}
    gateway = await start_gateway(config, plugins=[bifrost_governance, bifrost_costlog], builtins=False)
    gateway.upstream = mock_upstream
    return gateway


def gemini(gw: Any, key: str = KEY) -> genai.Client:
    return genai.Client(api_key=key, http_options=types.HttpOptions(base_url=gw.url + "/gemini"))


async def spent(gw: Any) -> float:
    status, _, body = await gw.get("/api/governance/keys/alice/usage", headers=ADMIN)
    assert status == 200, body
    return float(orjson.loads(body)["budgets"][0]["spent"])


async def test_one_key_one_budget_across_claude_and_gemini_clients(gw: Any) -> None:
    claude = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=KEY, max_retries=0)
    await claude.messages.create(model=CLAUDE, max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    after_claude = await spent(gw)
    answer = await gemini(gw).aio.models.generate_content(model=GEMINI_MODEL, contents="hi")
    assert answer.text
    chunks = [c async for c in await gemini(gw).aio.models.generate_content_stream(model=CLAUDE, contents="hi")]
    assert chunks[-1].usage_metadata.total_token_count > 0
    assert await spent(gw) > after_claude > 0
    with pytest.raises(genai_errors.ClientError) as refused:
        for _ in range(200):
            await gemini(gw).aio.models.generate_content(model=CLAUDE, contents="Tell me more [[long:3000]]")
    assert refused.value.code == 402 and refused.value.status == "RESOURCE_EXHAUSTED"
    assert "budget exhausted for virtual key 'alice'" in refused.value.message
    with pytest.raises(anthropic.APIStatusError) as also:   # the same budget, whichever client asks as much
        await claude.messages.create(model=CLAUDE, max_tokens=8192, messages=[{"role": "user", "content": "hi"}])
    assert also.value.status_code == 402


async def test_a_wrong_key_is_refused_in_googles_shape(gw: Any) -> None:
    with pytest.raises(genai_errors.ClientError) as refused:
        await gemini(gw, "vk-wrong").aio.models.generate_content(model=GEMINI_MODEL, contents="hi")
    assert refused.value.code == 401 and refused.value.status == "UNAUTHENTICATED"
    status, _, _ = await gw.post(f"/gemini/v1beta/models/{GEMINI_MODEL}:generateContent?key={KEY}",
                                 json={"contents": [{"parts": [{"text": "hi"}]}]})
    assert status == 200


async def test_the_model_list_takes_the_key_from_x_goog_api_key(gw: Any) -> None:
    names = [model.name async for model in await gemini(gw).aio.models.list()]
    assert {f"models/{CLAUDE}", f"models/{GEMINI_MODEL}"} <= set(names)
    with pytest.raises(genai_errors.ClientError) as refused:
        await gemini(gw, "vk-wrong").aio.models.list()
    assert refused.value.code == 401 and refused.value.status == "UNAUTHENTICATED"


async def test_the_cost_log_records_gemini_calls(gw: Any) -> None:
    await gemini(gw).aio.models.generate_content(model=GEMINI_MODEL, contents="hi")
    await gemini(gw).aio.models.generate_content(model=CLAUDE, contents="hi")
    for _ in range(50):
        status, _, body = await gw.get("/api/logs?limit=10", headers=ADMIN)
        rows = orjson.loads(body).get("rows") or orjson.loads(body).get("data") or []
        if len(rows) >= 2:
            break
        await asyncio.sleep(0.1)
    assert status == 200 and len(rows) >= 2, body
    assert {row["dialect"] for row in rows} == {"gemini"}
    assert all(row["input_tokens"] > 0 and row["output_tokens"] > 0 for row in rows)
    assert {row["provider"] for row in rows} == {"gemini", "anthropic"}


@pytest.mark.parametrize("model", [GEMINI_MODEL, CLAUDE])
@pytest.mark.parametrize("stream", [False, True])
async def test_cache_hits_are_replayed_as_gemini_answers(start_gateway: Any, mock_upstream: Any, tmp_path: Any,
                                                         model: str, stream: bool) -> None:
    """A Gemini answer, passed through or translated, whole or streamed, is stored by the cache
    plugin and replayed to the next Gemini client in Google's shape."""
    providers = {"anthropic": {**provider_config(mock_upstream.url)["anthropic"], "models": [CLAUDE]},
                 "gemini": {"type": "gemini", "base_url": mock_upstream.url, "keys": [{"value": "g-key"}],
                            "models": [GEMINI_MODEL]}}
    gw = await start_gateway({"storage": {"logs": f"sqlite:///{tmp_path}/cache.db"}, "providers": providers,
                              "cache": {"enabled": True}}, plugins=[bifrost_cache], builtins=False)
    plugin = gw.gateway.plugins.pm.get_plugin("cache")
    config = types.GenerateContentConfig(temperature=0)
    texts, results = [], []
    for _ in range(2):
        if stream:
            response = await gemini(gw).aio.models.generate_content_stream(
                model=model, contents="What is a cache?", config=config)
            chunks = [chunk async for chunk in response]
            texts.append("".join(chunk.text or "" for chunk in chunks))
            results.append(chunks[-1].sdk_http_response.headers["x-bf-cache"])
            assert chunks[-1].usage_metadata.total_token_count > 0
        else:
            answer = await gemini(gw).aio.models.generate_content(model=model, contents="What is a cache?", config=config)
            texts.append(answer.text)
            results.append(answer.sdk_http_response.headers["x-bf-cache"])
        await plugin.settled()
    assert results == ["miss", "hit"]
    assert texts[0] == texts[1] and "What is a cache?" in texts[0]
    assert len(orjson.loads((await mock_upstream.get("/_mock/requests"))[2])) == 1  # the second was the cache's
