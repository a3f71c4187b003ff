"""Two gateways one after the other in one process, on SQLite and on PostgreSQL, each with its
own config folder and logs database: both deliver their budget alerts. Nothing a module or a
class keeps (governance's budget publisher and its listeners, the alerts plugin's channels and
`wants_budget_updates`, the cache) carries over from the first gateway to the second.

Session 6's open PostgreSQL bug looked like such a carry-over; its cause was the tests' shared
config folder (the working directory), where the cache keeps `bifrost-cache.db` when the logs are
in PostgreSQL: an earlier gateway's entries answered the requests, and a cache hit costs nothing,
so no budget alert came. Each request here is checked to be a miss."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import bifrost_cache
import bifrost_governance
import pytest
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py.config import config_from_dict
from bifrost_py.testing import provider_config, running_gateway
from tests.conftest import fresh_postgres

KEY = "vk-dev-0001"
BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
PLUGINS = [bifrost_governance, bifrost_alerts, bifrost_cache]
MONTHLY = {"reset": "monthly"}


async def another_database(request: pytest.FixtureRequest, logs_url: str, folder: Path) -> str:
    """A new logs database like `logs_url` (SQLite: a file in `folder`)."""
    if logs_url.startswith("sqlite"):
        return f"sqlite:///{folder}/logs.db"
    return await fresh_postgres(request.getfixturevalue("postgres_url"))


async def budget_alerts(folder: Path, logs_url: str, upstream: str) -> list[tuple[str, str]]:
    """One request (about ₹0.0073, past 10 % of the key's and its team's budget) through a
    gateway configured in `folder`; the budget alerts its webhook received."""
    async with running_webhook_receiver() as hook:
        config = config_from_dict({
            "providers": provider_config(upstream),
            "storage": {"logs": logs_url},
            "currency": {"code": "INR", "per_usd": 84.0},
            "cache": {"enabled": True},
            "governance": {"mode": "soft",
                           "teams": {"backend": {"budget": {"limit": 0.05, **MONTHLY}}},
                           "virtual_keys": {"dev": {"key": KEY, "team": "backend",
                                                    "budget": {"limit": 0.05, **MONTHLY}}}},
            "alerts": {"channels": {"hook": {"type": "webhook", "url": hook.url}}, "budget_thresholds": [10]},
        }, base_dir=folder)
        async with running_gateway(config, plugins=PLUGINS, builtins=False) as gw, aiohttp.ClientSession() as client:
            async with client.post(gw.url + "/anthropic/v1/messages", json=BODY, headers={"x-api-key": KEY}) as answer:
                assert answer.status == 200, await answer.text()
                assert answer.headers.get("x-bf-cache") == "miss"
            received = await hook.wait_for(2)
    return sorted((r.json()["tier"], r.json()["entity"]) for r in received)


async def test_two_gateways_in_turn_both_deliver_their_budget_alerts(
        request: pytest.FixtureRequest, tmp_path: Path, logs_url: str, mock_upstream: Any) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    first = await budget_alerts(one, logs_url, mock_upstream.url)
    second = await budget_alerts(two, await another_database(request, logs_url, two), mock_upstream.url)
    assert first == second == [("key", "dev"), ("team", "backend")]
