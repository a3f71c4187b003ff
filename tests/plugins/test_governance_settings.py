"""The `governance:` section: the contract's shape is accepted, every mistake is reported with
its path, and nothing about a key's secret survives parsing but its SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any

import bifrost_governance
import pytest

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.gateway import Gateway

PROVIDERS = {
    "anthropic": {"type": "anthropic", "keys": [{"value": "sk-a"}]},
    "bedrock": {"type": "bedrock", "region": "us-east-1", "models": {"claude-sonnet-4-20250514": "us.x"}},
    "openai": {"type": "openai", "keys": [{"value": "sk-o"}]},
}
CONTRACT_EXAMPLE = {
    "customers": {"acme": {"budget": {"limit": 1500000, "reset": "monthly"}}},
    "teams": {"backend": {"customer": "acme", "budget": {"limit": 300000, "reset": "monthly"}}},
    "virtual_keys": {
        "dev-pranay": {
            "key": "vk-dev-pranay",
            "team": "backend",
            "budget": {"limit": 25000, "reset": "monthly"},
            "rate_limit": {"requests": 100, "tokens": 2000000, "window": "1m"},
            "models": ["claude-sonnet-4-20250514", "claude-haiku-4-5-20251001"],
            "providers": [
                {"provider": "anthropic", "weight": 1, "budget": {"limit": 20000, "reset": "monthly"}},
                {"provider": "bedrock", "weight": 0},
            ],
            "fallbacks": ["bedrock/claude-sonnet-4-20250514", "openai/gpt-4o"],
        }
    },
}


def gateway(governance: Any, **extra: Any) -> Gateway:
    config = config_from_dict({"providers": PROVIDERS, "governance": governance, **extra})
    return Gateway(config, plugins=[bifrost_governance], builtins=False)


def plugin_of(gw: Gateway) -> Any:
    return next(i.plugin for i in gw.plugins.ordered() if isinstance(i.plugin, bifrost_governance.GovernancePlugin))


def problems(governance: Any, **extra: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        gateway(governance, **extra)
    return caught.value.problems


def test_the_contract_example_is_accepted() -> None:
    plugin = plugin_of(gateway(CONTRACT_EXAMPLE))
    key = plugin.settings.keys["dev-pranay"]
    assert key.key_sha256 == hashlib.sha256(b"vk-dev-pranay").hexdigest()
    assert "vk-dev-pranay" not in repr(key), "the secret itself is not kept"
    assert [e.provider for e in key.providers] == ["anthropic", "bedrock"]
    assert plugin.settings.strict and plugin.settings.require_key
    plan = plugin.registry.plan(key)
    assert [t.label for t in plan.tiers] == ["customer 'acme'", "team 'backend'", "virtual key 'dev-pranay'"]
    assert plan.providers["anthropic"].final is False and plan.tiers[0].final is True


def test_several_budgets_and_rate_limits_per_entity() -> None:
    plugin = plugin_of(gateway({"virtual_keys": {"k": {
        "key_sha256": "a" * 64,
        "budgets": [{"limit": 10, "reset": "daily"}, {"limit": 100, "reset": "monthly"}, {"limit": 5, "reset": "6h"}],
        "rate_limits": [{"requests": 5, "window": "1m"}, {"requests": 100, "tokens": 10**6, "window": "1h"}],
        "max_concurrent": 3, "active": False, "expires_at": "2030-01-01", "cache": {"enabled": False, "ttl": "10m"},
    }}}))
    key = plugin.settings.keys["k"]
    assert [b.reset for b in key.budgets] == ["daily", "monthly", "6h"]
    assert len(plugin.registry.plan(key).tiers[-1].caps) == 3 + 3
    assert key.max_concurrent == 3 and key.active is False and key.cache is False and key.cache_ttl == 600
    assert key.expires_at == 1893456000.0


def test_mistakes_are_reported_with_their_paths() -> None:
    found = problems({
        "mode": "lenient",
        "teams": {"t": {"customer": "nobody", "budget": {"limit": -1}}},
        "virtual_keys": {
            "a": {"team": "t", "budget": {"limit": 5, "reset": "yearly"}, "colour": "red"},
            "b": {"key": "vk-bbbbbbbb", "providers": [{"provider": "azure"}], "fallbacks": ["gpt-4o", "nope/x"],
                  "rate_limit": {"window": "1m"}},
            "c": {"key": "vk-bbbbbbbb", "budgets": [{"limit": 1, "reset": "daily"}, {"limit": 2, "reset": "daily"}]},
        },
    })
    expected = [
        "governance.mode: must be one of strict, soft; got 'lenient'",
        "governance.teams.t.budget.limit: must be at least 0; got -1",
        "governance.virtual_keys.a.key: is required (or key_sha256)",
        "governance.virtual_keys.a.budget.reset: must be daily, weekly, monthly, never or a duration",
        "governance.virtual_keys.a.colour: unknown key",
        "governance.virtual_keys.b.rate_limit: needs requests, tokens or both",
        "governance.virtual_keys.b.fallbacks: [0] must be provider/model",
        "governance.virtual_keys.c.budgets[1].reset: two budgets with reset 'daily'",
        "governance.teams.t.customer: no customer named 'nobody'",
        "governance.virtual_keys.b.providers[0].provider: no provider named 'azure'",
        "governance.virtual_keys.b.fallbacks[1]: no provider named 'nope'",
        "governance.virtual_keys.c.key: the same secret as virtual key 'b'",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)


def test_several_workers_without_redis_would_multiply_every_cap() -> None:
    found = problems({"virtual_keys": {}}, server={"workers": 4})
    assert any(p.startswith("server.workers: is 4 but storage.redis is not set") for p in found)
    gateway({"virtual_keys": {}}, server={"workers": 4}, storage={"redis": "redis://127.0.0.1:1/0"})


def test_an_unknown_time_zone_is_a_problem() -> None:
    assert any(p.startswith("currency.timezone: unknown time zone") for p in problems({}, currency={"timezone": "Mars/Olympus"}))


def test_no_section_means_keys_are_still_required() -> None:
    config = config_from_dict({"providers": PROVIDERS})
    plugin = plugin_of(Gateway(config, plugins=[bifrost_governance], builtins=False))
    assert plugin.settings.require_key is True and plugin.settings.keys == {}


def test_numbers_beyond_any_real_use_are_problems_with_their_paths() -> None:
    """YAML can say `.inf` and 400-digit integers too; none of them may reach the counters."""
    found = problems({
        "hold_max_age": "0s",
        "customers": {"c": {"budget": {"limit": float("inf")}, "rate_limit": {"requests": 10**400}}},
        "teams": {"t": {"budgets": [{"limit": 10**400, "reset": "monthly"}, {"limit": 1, "reset": "99999d"}],
                        "rate_limits": [{"requests": 1, "window": "soon"}]}},
        "virtual_keys": {"k": {"key": "vk-kkkkkkkk", "max_concurrent": 10**7, "expires_at": 1e20,
                               "providers": [{"provider": "anthropic", "weight": float("nan")}],
                               "cache": {"ttl": 1e300}, "rate_limit": {"tokens": 5, "window": "400d"}}},
    })
    expected = [
        "governance.hold_max_age: must be between 1ms and 366d",
        "governance.customers.c.budget.limit: must be a finite number; got inf",
        "governance.customers.c.rate_limit.requests: must be a finite number of at most 1e+15; got 1000",
        "governance.teams.t.budgets[0].limit: must be a finite number of at most 1e+12",
        "governance.teams.t.budgets[1].reset: a reset duration must be between 1s and 3660d",
        "governance.teams.t.rate_limits[0].window: expected a duration",
        "governance.virtual_keys.k.max_concurrent: must be a finite number of at most 1e+06",
        "governance.virtual_keys.k.expires_at: must be between 1970-01-01 and 9999-12-31",
        "governance.virtual_keys.k.providers[0].weight: must be a finite number",
        "governance.virtual_keys.k.cache.ttl: must be a finite number of at most 2.53402e+11",
        "governance.virtual_keys.k.rate_limit.window: must be between 1s and 366d",
    ]
    for line in expected:
        assert any(p.startswith(line) for p in found), (line, found)
    assert all(len(p) < 200 for p in found), "a 400-digit number is not echoed whole"


def test_hold_max_age_is_read() -> None:
    assert plugin_of(gateway({"hold_max_age": "2h"})).settings.hold_max_age == 7200.0
    assert plugin_of(gateway({})).settings.hold_max_age == 3600.0
