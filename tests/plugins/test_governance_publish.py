"""Governance tells budget watchers off the request path: one task drains the settlements'
queue in order, and nothing at all is built while no listener wants updates."""

from __future__ import annotations

import asyncio
from typing import Any

from bifrost_governance.counters import MemoryCounters
from bifrost_governance.periods import Period
from bifrost_governance.plan import MONEY, NANO, Cap, Tier
from bifrost_governance.publish import BudgetPublisher

from bifrost_py import BudgetUsage, hookimpl
from bifrost_py.config import config_from_dict
from bifrost_py.gateway import Gateway


class Watcher:
    def __init__(self, wants: bool | None, name: str = "watcher") -> None:
        self.name = name
        self.heard: list[list[BudgetUsage]] = []
        if wants is not None:
            self.wants_budget_updates = wants

    @hookimpl
    async def bifrost_budget_update(self, gateway: Any, usages: list[BudgetUsage]) -> None:
        self.heard.append(usages)


def _publisher(*watchers: Watcher) -> tuple[Gateway, BudgetPublisher, MemoryCounters, list[Cap]]:
    gateway = Gateway(config_from_dict({"providers": {"mock": {"type": "mock"}}}), plugins=list(watchers),
                      builtins=False)
    store = MemoryCounters()
    tier = Tier("team", "backend", "team 'backend'", True)
    cap = Cap(MONEY, tier, 5 * NANO, Period("never"), "team:backend:money", shown_limit=5.0)
    return gateway, BudgetPublisher(gateway, store, 1.0, "USD"), store, [cap]


async def _settled(gateway: Gateway) -> None:
    while gateway._tasks:
        await asyncio.gather(*gateway._tasks)


async def test_a_burst_of_settlements_is_told_in_order_by_one_task() -> None:
    watcher = Watcher(wants=True)
    gateway, publisher, store, caps = _publisher(watcher)
    meter = caps[0].meter(0.0)
    for spent in (1, 2, 3):
        store.meters[meter] = (spent * NANO, 0)
        publisher.publish("vk", caps, 0.0)
    assert len(gateway._tasks) == 1
    await _settled(gateway)
    assert [[u.spent for u in usages] for usages in watcher.heard] == [[1.0], [2.0], [3.0]]
    assert watcher.heard[0][0].limit == 5.0 and watcher.heard[0][0].name == "backend"


async def test_nothing_is_built_while_no_listener_wants_updates() -> None:
    watcher = Watcher(wants=False)
    gateway, publisher, _, caps = _publisher(watcher)
    publisher.publish("vk", caps, 0.0)
    assert not gateway._tasks and not publisher.pending
    watcher.wants_budget_updates = True     # e.g. a channel was added at run time
    publisher.publish("vk", caps, 0.0)
    await _settled(gateway)
    assert len(watcher.heard) == 1


async def test_a_listener_that_does_not_say_is_told() -> None:
    quiet, silent = Watcher(wants=False), Watcher(wants=None, name="silent")
    gateway, publisher, _, caps = _publisher(quiet, silent)
    publisher.publish("vk", caps, 0.0)
    await _settled(gateway)
    assert len(silent.heard) == 1 and len(quiet.heard) == 1   # the hook still reaches every listener
