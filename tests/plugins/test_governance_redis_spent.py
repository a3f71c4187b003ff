"""Budget watchers on Redis hear what a settlement left each budget at without a READ of their
own: the settle script returns it. On a real redis-server."""

from __future__ import annotations

import asyncio
import os

from bifrost_governance.counters import Claim
from governance_testing import OwnRedisCounters


async def test_a_settlement_tells_what_each_budget_has_spent_as_a_read_would(redis_url: str) -> None:
    store = OwnRedisCounters(redis_url)
    await store.open()
    budget, team, window = ("spent:" + os.urandom(5).hex() + suffix for suffix in (":usd", ":team", ":rpm"))
    try:
        assert store.spent_now([budget]) is None, "nothing settled here yet: the publisher reads"
        for cost in (120, 0, 35):
            admission = await store.admit([Claim(budget, 10_000, 200), Claim(team, 10_000, 200),
                                           Claim(window, 100, 1, window=60.0)], asyncio.current_task())
            assert admission.ticket is not None
            assert await store.settle(admission.ticket, [cost, cost, 1])
        read = [used for used, _ in await store.read([budget, team])]
        assert read == [155, 155]
        assert store.spent_now([budget, team]) == read
        assert store.spent_now([budget, window]) is None, "a rate window is no budget: read it"
    finally:
        await store.close()
