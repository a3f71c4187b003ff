"""Savings through the real gateway: the failed-over Opus request that Bedrock answered with
Sonnet (issue 15) is logged with the id that served it, priced at Sonnet, and the difference to
what Opus would have cost is "saved by routing" in the row, /api/usage and the summary; a
mapping to an id nobody prices saves nothing and says so. Real sockets, the official SDK, the
mock upstream speaking Anthropic and Bedrock (the set-up of test_served_pricing.py)."""

from __future__ import annotations

from typing import Any

import bifrost_costlog
import bifrost_failover
import bifrost_governance
import orjson
import pytest
from test_served_pricing import ADMIN, OPUS, SONNET_ON_BEDROCK, config, final_row, opus_after_a_529

from bifrost_py.context import Usage
from bifrost_py.pricing import PriceBook
from bifrost_py.testing import RunningGateway, running_gateway, running_mock_upstream

PLUGINS = [bifrost_governance, bifrost_failover, bifrost_costlog]


async def summary(gw: RunningGateway) -> dict[str, Any]:
    status, _, body = await gw.get("/api/usage/summary", headers=ADMIN)
    assert status == 200, body
    return orjson.loads(body)  # type: ignore[no-any-return]


async def test_a_mapped_fallback_saves_what_the_requested_model_would_have_cost(tmp_path: Any) -> None:
    prices = PriceBook()
    sonnet, opus = prices.price(SONNET_ON_BEDROCK, "bedrock"), prices.price(OPUS, "bedrock")
    assert sonnet is not None and opus is not None
    async with running_mock_upstream() as anthropic_api, running_mock_upstream() as aws:
        gateway_config = config(anthropic_api, aws, f"sqlite:///{tmp_path}/log.db", {"claude-*": SONNET_ON_BEDROCK})
        async with running_gateway(gateway_config, plugins=PLUGINS, builtins=False) as gw:
            request_id, answer = await opus_after_a_529(gw, anthropic_api)
            row = await final_row(gw, request_id)
            shown = await summary(gw)
            status, _, body = await gw.get("/api/usage?by=model", headers=ADMIN)
            usage_document = orjson.loads(body)
    usage = Usage(answer.usage.input_tokens, answer.usage.output_tokens,
                  answer.usage.cache_read_input_tokens or 0, answer.usage.cache_creation_input_tokens or 0)
    paid, asked = sonnet.cost(usage), opus.cost(usage)
    assert row["served_model"] == SONNET_ON_BEDROCK and row["requested_model"] == OPUS
    assert row["cost_usd"] == pytest.approx(paid) and row["requested_cost_usd"] == pytest.approx(asked)
    assert row["savings_unpriced"] is False
    assert shown["saved_by_routing_usd"] == pytest.approx(asked - paid)
    assert shown["cost_usd"] == pytest.approx(paid)
    assert shown["without_gateway_usd"] == pytest.approx(asked)
    assert shown["savings_rate"] == pytest.approx((asked - paid) / asked)
    assert status == 200 and usage_document["totals"]["saved_by_routing_usd"] == pytest.approx(asked - paid)


async def test_a_mapping_to_an_unpriced_id_saves_nothing_and_is_counted(tmp_path: Any) -> None:
    async with running_mock_upstream() as anthropic_api, running_mock_upstream() as aws:
        models = {"claude-*": "arn:aws:bedrock:us-east-1:123456789012:imported-model/ab12cd34"}
        gateway_config = config(anthropic_api, aws, f"sqlite:///{tmp_path}/log.db", models)
        gateway_config["governance"]["unpriced"] = "allow"
        async with running_gateway(gateway_config, plugins=PLUGINS, builtins=False) as gw:
            request_id, _ = await opus_after_a_529(gw, anthropic_api)
            row = await final_row(gw, request_id)
            shown = await summary(gw)
    assert row["price_unknown"] is True and row["requested_cost_usd"] is None and row["savings_unpriced"] is True
    assert shown["saved_by_routing_usd"] == 0.0 and shown["savings_unpriced"] == 1 and shown["unpriced"] == 1
