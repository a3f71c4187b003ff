"""Governance tells `bifrost_budget_update` listeners (the alerts plugin) what each request's
spend did to its budgets: a plugin implementing the hook hears a budget cross its cap, with the
tier, name, spend, cap, currency and window, whether the counters live in memory or in Redis."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import anthropic
import bifrost_governance
import pytest

from bifrost_py import BudgetUsage, hookimpl
from bifrost_py.testing import provider_config

SONNET = "claude-sonnet-4-20250514"
SECRET = "vk-watched-secret"


class Watcher:
    """A third-party plugin watching budgets."""

    name = "budget-watcher"

    def __init__(self) -> None:
        self.heard: asyncio.Queue[list[BudgetUsage]] = asyncio.Queue()

    @hookimpl
    async def bifrost_budget_update(self, gateway: Any, usages: list[BudgetUsage]) -> None:
        self.heard.put_nowait(usages)


async def ask(gw: Any, session: str) -> None:
    async with anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=SECRET, max_retries=0) as client:
        await client.messages.create(model=SONNET, max_tokens=200, messages=[{"role": "user", "content": "hi"}],
                                     extra_headers={"x-claude-code-session-id": session})


@pytest.mark.parametrize("counters", ["memory", "redis"])
async def test_a_budget_crossing_reaches_a_plugin_implementing_the_hook(counters: str, start_gateway: Any,
                                                                        mock_upstream: Any, tmp_path: Path,
                                                                        request: Any) -> None:
    key = "watched-" + os.urandom(3).hex()        # the Redis is shared with other tests
    storage: dict[str, Any] = {"logs": f"sqlite:///{tmp_path}/gov.db"}
    if counters == "redis":
        storage["redis"] = request.getfixturevalue("redis_url")
    providers = provider_config(mock_upstream.url)
    providers["anthropic"]["models"] = [SONNET]
    watcher = Watcher()
    gw = await start_gateway({
        "providers": providers, "storage": storage, "currency": {"code": "INR", "per_usd": 84.0},
        "governance": {"mode": "soft", "teams": {"web": {"budget": {"limit": 1000, "reset": "daily"}}},
                       "virtual_keys": {key: {"key": SECRET, "team": "web", "budget": {"limit": 0.001},
                                              "rate_limit": {"requests": 100, "window": "1m"},
                                              "session_budget": {"limit": 500}}}},
    }, plugins=[bifrost_governance, watcher], builtins=False)

    await ask(gw, "s-1")
    usages = {usage.tier: usage for usage in await asyncio.wait_for(watcher.heard.get(), 30)}
    assert set(usages) == {"team", "key", "session"}, "budgets only: the rate limit is not one"
    crossed = usages["key"]
    assert (crossed.name, crossed.limit, crossed.currency, crossed.period) == (key, 0.001, "INR", "monthly")
    assert crossed.spent > crossed.limit and crossed.fraction > 1, "the key's budget was crossed"
    assert crossed.window_start is not None and crossed.window_end is not None
    assert crossed.window_start <= crossed.window_end
    team = usages["team"]
    assert (team.name, team.period, team.spent) == ("web", "daily", crossed.spent)
    session = usages["session"]
    assert (session.name, session.limit, session.window_start, session.period) == ("s-1", 500, None, "")
    assert session.spent == crossed.spent
