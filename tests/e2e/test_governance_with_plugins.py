"""Governance with the real built-in plugins around it (cost log, routing, failover; the cache
off): the key's `fallbacks` and `providers:` reach failover and routing through `call.caller`,
and governance checks and charges every attempt they make."""

from __future__ import annotations

from typing import Any

import anthropic
import orjson
import pytest

from bifrost_py.testing import provider_config

SONNET = "claude-sonnet-4-20250514"
PROMPT = [{"role": "user", "content": "Tell me about budgets"}]
ADMIN = {"authorization": "Bearer admin-secret"}


async def start(start_gateway: Any, upstream: Any, tmp_path: Any, key: dict[str, Any], routing: Any = None,
                **governance: Any) -> Any:
    providers = provider_config(upstream.url)
    providers["anthropic"]["models"] = ["claude-*"]
    providers["openai"]["models"] = ["gpt-*"]
    config = {
        "providers": providers,
        "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
        "currency": {"code": "INR", "per_usd": 84.0},
        "admin": {"token": "admin-secret"},
        "failover": {"retries": 0},
        "routing": routing or {},
        "governance": {"virtual_keys": {"alice": {"key": "vk-alice-secret", **key}}, **governance},
    }
    gw = await start_gateway(config, builtins=True)
    assert {"governance", "failover", "routing", "costlog"} <= set(gw.gateway.dispatcher.names)
    return gw


def claude(gw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-alice-secret", max_retries=0)


async def usage(gw: Any) -> dict[str, Any]:
    status, _, body = await gw.get("/api/governance/keys/alice/usage", headers=ADMIN)
    assert status == 200, body
    return orjson.loads(body)


async def test_failover_to_the_keys_fallback_is_charged_to_that_provider(start_gateway: Any, mock_upstream: Any,
                                                                          tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {
        "providers": [{"provider": "anthropic", "weight": 1},
                      {"provider": "openai", "weight": 0, "budget": {"limit": 0.05, "reset": "daily"}}],
        "fallbacks": ["openai/gpt-4o"],
    })
    client = claude(gw)
    await mock_upstream.post("/_mock/script", json={"responses": [{"status": 529}]})
    raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=10, messages=PROMPT)
    assert (raw.headers["x-bf-provider"], raw.headers["x-bf-attempts"]) == ("openai", "2")
    view = await usage(gw)
    assert view["providers"]["openai"]["budgets"][0]["spent"] > 0
    assert view["providers"]["openai"]["budgets"][0]["in_flight"] == 0
    # The fallback no longer fits OpenAI's provider-config budget: 402 naming it, once every
    # target was tried.
    await mock_upstream.post("/_mock/script", json={"responses": [{"status": 529}]})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client.messages.create(model=SONNET, max_tokens=1000, messages=PROMPT)
    assert caught.value.status_code == 402
    assert "budget exhausted for provider config 'openai' of virtual key 'alice'" in caught.value.body["error"]["message"]


async def test_a_provider_over_its_cap_is_skipped_by_the_real_failover(start_gateway: Any, mock_upstream: Any,
                                                                      tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {
        "providers": [{"provider": "anthropic", "weight": 1, "rate_limit": {"requests": 1, "window": "1h"}},
                      {"provider": "openai", "weight": 0}],
        "fallbacks": ["openai/gpt-4o"],
    })
    client = claude(gw)
    first = await client.messages.with_raw_response.create(model=SONNET, max_tokens=10, messages=PROMPT)
    second = await client.messages.with_raw_response.create(model=SONNET, max_tokens=10, messages=PROMPT)
    assert first.headers["x-bf-provider"] == "anthropic"
    assert (second.headers["x-bf-provider"], second.headers["x-bf-attempts"]) == ("openai", "2")


async def test_a_key_budget_refusal_starts_no_fallback(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {
        "budget": {"limit": 0.01}, "fallbacks": ["openai/gpt-4o"]})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(gw).messages.with_raw_response.create(model=SONNET, max_tokens=1000, messages=PROMPT)
    assert caught.value.status_code == 402
    assert caught.value.response.headers["x-bf-attempts"] == "1"
    assert orjson.loads((await mock_upstream.get("/_mock/requests"))[2]) == []


async def test_a_routing_alias_is_judged_by_the_model_it_leads_to(start_gateway: Any, mock_upstream: Any,
                                                                  tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"models": [SONNET], "fallbacks": ["openai/gpt-4o"]},
                     routing={"aliases": {"sonnet": SONNET, "haiku": "claude-haiku-4-5-20251001"}})
    client = claude(gw)
    raw = await client.messages.with_raw_response.create(model="sonnet", max_tokens=10, messages=PROMPT)
    assert raw.headers["x-bf-model"] == SONNET
    # A model the key may not use is refused at once, even with a fallback it could use.
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        await client.messages.with_raw_response.create(model="claude-haiku-4-5-20251001", max_tokens=10,
                                                       messages=PROMPT)
    assert caught.value.response.headers["x-bf-attempts"] == "1"
    assert len(orjson.loads((await mock_upstream.get("/_mock/requests"))[2])) == 1
