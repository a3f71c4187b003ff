"""A request is priced as the model that served it, not the one the client named.

The bug this guards against: a Bedrock provider mapping `claude-*` to a Sonnet id answered a
failed-over `claude-opus-4-8` request with Sonnet, and the cost log and the budget charged it at
Opus rates. Real sockets, the official SDK, the mock upstream speaking Anthropic and Bedrock.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anthropic
import bifrost_costlog
import bifrost_failover
import bifrost_governance
import orjson
import pytest

from bifrost_py.context import Usage
from bifrost_py.mockupstream.bedrock_endpoints import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from bifrost_py.pricing import PriceBook
from bifrost_py.testing import RunningGateway, RunningServer, running_gateway, running_mock_upstream

OPUS = "claude-opus-4-8"
SONNET_ON_BEDROCK = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
ADMIN = {"authorization": "Bearer admin-secret"}


def config(anthropic_api: RunningServer, aws: RunningServer, logs: str, bedrock_models: Any) -> dict[str, Any]:
    return {
        "admin": {"token": "admin-secret"},
        "currency": {"code": "USD", "per_usd": 1.0},
        "storage": {"logs": logs},
        "costlog": {"flush_interval": "20ms"},
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": anthropic_api.url, "models": ["claude-*"],
                          "keys": [{"value": "sk-ant"}]},
            "bedrock": {"type": "bedrock", "base_url": aws.url, "region": "us-east-1",
                        "access_key_id": ACCESS_KEY_ID, "secret_access_key": SECRET_ACCESS_KEY,
                        "models": bedrock_models},
        },
        "failover": {"chains": {OPUS: ["anthropic", "bedrock"]}, "retries": 0},
        "governance": {"virtual_keys": {"dev": {"key": "vk-dev-served-pricing", "budgets": [{"limit": 100, "reset": "monthly"}]}}},
    }


async def opus_after_a_529(gw: RunningGateway, anthropic_api: RunningServer) -> tuple[str, Any]:
    """One Opus request that the Anthropic provider refuses with 529 and Bedrock answers."""
    status, _, body = await anthropic_api.post("/_mock/script", json={"responses": [{"status": 529}]})
    assert status == 200, body
    client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-dev-served-pricing", max_retries=0)
    raw = await client.messages.with_raw_response.create(
        model=OPUS, max_tokens=40, messages=[{"role": "user", "content": "which model are you?"}])
    assert (raw.headers["x-bf-attempts"], raw.headers["x-bf-provider"]) == ("2", "bedrock")
    return raw.headers["x-bf-request-id"], await raw.parse()


async def final_row(gw: RunningGateway, request_id: str) -> dict[str, Any]:
    for _ in range(250):  # rows are written off the request path, in batches
        status, _, body = await gw.get(f"/api/logs/{request_id}", headers=ADMIN)
        if status == 200:
            rows = orjson.loads(body)["attempts"]
            if len(rows) == 2:
                return next(r for r in rows if r["final"])  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no log rows for {request_id}")


async def spent(gw: RunningGateway) -> float:
    async with aiohttp.ClientSession() as session, \
            session.get(gw.url + "/api/governance/keys/dev/usage", headers=ADMIN) as response:
        assert response.status == 200
        return float((await response.json())["budgets"][0]["spent"])


@pytest.mark.parametrize("bedrock_models", [{"claude-*": SONNET_ON_BEDROCK}, {OPUS: SONNET_ON_BEDROCK}],
                         ids=["glob", "exact"])
async def test_a_mapped_fallback_is_logged_and_charged_at_the_served_models_price(
        tmp_path: Any, bedrock_models: Any) -> None:
    prices = PriceBook()
    sonnet, opus = prices.price(SONNET_ON_BEDROCK, "bedrock"), prices.price(OPUS, "bedrock")
    assert sonnet is not None and opus is not None and opus.output > sonnet.output, "the catalogue changed"
    async with running_mock_upstream() as anthropic_api, running_mock_upstream() as aws:
        plugins = [bifrost_governance, bifrost_failover, bifrost_costlog]
        async with running_gateway(config(anthropic_api, aws, f"sqlite:///{tmp_path}/log.db", bedrock_models),
                                   plugins=plugins, builtins=False) as gw:
            request_id, answer = await opus_after_a_529(gw, anthropic_api)
            row = await final_row(gw, request_id)
            charged = await spent(gw)
    usage = Usage(answer.usage.input_tokens, answer.usage.output_tokens,
                  answer.usage.cache_read_input_tokens or 0, answer.usage.cache_creation_input_tokens or 0)
    assert row["provider"] == "bedrock" and row["model"] == OPUS and row["price_unknown"] is False
    assert row["cost_usd"] == pytest.approx(sonnet.cost(usage)), "priced as Sonnet, the model that answered"
    assert row["cost_usd"] < opus.cost(usage)
    assert charged == pytest.approx(sonnet.cost(usage), abs=1e-6), "the budget is charged the same"


async def test_a_mapping_to_an_id_nobody_prices_is_unpriced_not_priced_as_the_requested_model(tmp_path: Any) -> None:
    async with running_mock_upstream() as anthropic_api, running_mock_upstream() as aws:
        models = {"claude-*": "arn:aws:bedrock:us-east-1:123456789012:imported-model/ab12cd34"}
        gateway_config = config(anthropic_api, aws, f"sqlite:///{tmp_path}/log.db", models)
        gateway_config["governance"]["unpriced"] = "allow"
        async with running_gateway(gateway_config, plugins=[bifrost_governance, bifrost_failover, bifrost_costlog],
                                   builtins=False) as gw:
            request_id, _ = await opus_after_a_529(gw, anthropic_api)
            row = await final_row(gw, request_id)
    assert row["price_unknown"] is True and row["cost_usd"] is None
