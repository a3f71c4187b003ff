"""The `failover:` section: defaults, the full shape, and problems reported with their paths."""

from __future__ import annotations

from typing import Any

import bifrost_failover
import pytest
from bifrost_failover import FailoverPlugin

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.gateway import Gateway

PROVIDERS = {
    "anthropic": {"type": "anthropic", "keys": [{"value": "a"}]},
    "openai": {"type": "openai", "keys": [{"value": "o"}]},
}


def plugin(section: Any) -> FailoverPlugin:
    config = {"providers": PROVIDERS, **({"failover": section} if section is not None else {})}
    gateway = Gateway(config_from_dict(config), plugins=[bifrost_failover], builtins=False)
    return next(i.plugin for i in gateway.plugins.infos if isinstance(i.plugin, FailoverPlugin))


def problems(section: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        plugin(section)
    return raised.value.problems


def test_defaults_without_a_section() -> None:
    settings = plugin(None).settings
    assert settings.on_status == {408, 429, 500, 502, 503, 504, 529}
    assert settings.retries == 1 and settings.chains == {} and settings.timeout is None
    assert settings.circuit.failures == 5 and settings.circuit.cooldown == 30.0
    assert settings.circuit.when_all_open == "try" and settings.request_header


def test_the_full_shape() -> None:
    settings = plugin({
        "chains": {"claude-sonnet-4-20250514": ["anthropic", "openai/gpt-4o"], "claude-*": ["gpt-4o"]},
        "on_status": [429, 529],
        "retries": 2,
        "backoff": {"base": "100ms", "max": "2s"},
        "retry_after_cap": "5s",
        "timeout": "10m",
        "cooldown": "1m",
        "circuit": {"failures": 3, "window": "30s", "when_all_open": "fail"},
        "keys": {"refused_cooldown": "1h", "rate_limited_cooldown": "10s"},
        "request_header": False,
        "context_window_fallbacks": {"gpt-4o": ["openai/gpt-4.1"]},
    }).settings
    assert settings.chains["claude-*"] == ("gpt-4o",)
    assert settings.on_status == {429, 529} and settings.retries == 2
    assert (settings.backoff.base, settings.backoff.max, settings.retry_after_cap) == (0.1, 2.0, 5.0)
    assert settings.timeout == 600.0
    assert (settings.circuit.failures, settings.circuit.window, settings.circuit.cooldown) == (3, 30.0, 60.0)
    assert settings.circuit.when_all_open == "fail"
    assert (settings.keys.refused, settings.keys.rate_limited) == (3600.0, 10.0)
    assert not settings.request_header
    assert settings.context_window_fallbacks == {"gpt-4o": ("openai/gpt-4.1",)}


def test_problems_are_listed_with_their_paths() -> None:
    found = problems({
        "chains": {"claude-*": ["bedrock", "nowhere/model", "anthropic"]},
        "on_status": [200, 529],
        "retries": -1,
        "backoff": {"base": "2s", "max": "1s"},
        "circuit": {"when_all_open": "maybe", "failures": 0},
        "timeout": "soon",
        "retrys": 3,
    })
    text = "\n".join(found)
    assert "failover.chains.claude-*: 'bedrock' is neither a configured provider" in text
    assert "failover.chains.claude-*: 'nowhere/model': no provider named 'nowhere'" in text
    assert "failover.on_status: 200 is not an HTTP error status" in text
    assert "failover.retries: must be at least 0" in text
    assert "failover.backoff.max: must not be smaller than base" in text
    assert "failover.circuit.when_all_open: must be one of try, fail" in text
    assert "failover.circuit.failures: must be at least 1" in text
    assert "failover.timeout:" in text
    assert "failover.retrys: unknown key" in text
