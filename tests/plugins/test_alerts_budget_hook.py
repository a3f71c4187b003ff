"""The budget-update hook: a budget plugin tells every listener what a request was charged to."""

from __future__ import annotations

from typing import Any

import pytest

from bifrost_py import BudgetUsage, hookimpl
from bifrost_py.config import config_from_dict
from bifrost_py.gateway import Gateway

USAGE = BudgetUsage("team", "backend", spent=2_500.0, limit=5_000.0, currency="INR", period="monthly",
                    window_start=1_764_547_200.0, window_end=1_767_225_600.0)


class Listener:
    def __init__(self, name: str, heard: list[tuple[str, list[BudgetUsage]]], *, fail: bool = False) -> None:
        self.name = name
        self.heard = heard
        self.fail = fail

    @hookimpl
    async def bifrost_budget_update(self, gateway: Any, usages: list[BudgetUsage]) -> None:
        self.heard.append((self.name, usages))
        if self.fail:
            raise RuntimeError("listener bug")


def _gateway(plugins: list[object]) -> Gateway:
    config = config_from_dict({"providers": {"mock": {"type": "mock"}}})
    return Gateway(config, plugins=plugins, builtins=False)


async def test_every_listener_hears_the_budgets_even_after_one_fails() -> None:
    heard: list[tuple[str, list[BudgetUsage]]] = []
    gateway = _gateway([Listener("a", heard, fail=True), Listener("b", heard)])
    await gateway.plugins.budget_update(gateway, [USAGE])
    assert sorted(name for name, _ in heard) == ["a", "b"]
    assert heard[0][1] == [USAGE]


async def test_no_listener_and_no_usages_cost_nothing() -> None:
    gateway = _gateway([])
    await gateway.plugins.budget_update(gateway, [USAGE])  # nothing registered: no error
    heard: list[tuple[str, list[BudgetUsage]]] = []
    gateway = _gateway([Listener("a", heard)])
    await gateway.plugins.budget_update(gateway, [])
    assert heard == []


def test_a_usage_knows_its_fraction_and_window() -> None:
    assert USAGE.fraction == pytest.approx(0.5)
    assert USAGE.window_id == "1764547200"
    unwindowed = BudgetUsage("key", "dev", spent=1.0, limit=0.0, currency="INR")
    assert unwindowed.fraction == 0.0 and unwindowed.window_id == "all"
