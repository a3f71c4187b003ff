"""The cost log's config: its optional `costlog:` section, checked like every other section."""

from __future__ import annotations

import bifrost_costlog
import pytest
from bifrost_costlog.plugin import CostLog

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.gateway import Gateway


def plugin_for(data: dict[str, object]) -> CostLog:
    gateway = Gateway(config_from_dict(data), plugins=[bifrost_costlog], builtins=False)
    return next(i.plugin for i in gateway.plugins.ordered() if isinstance(i.plugin, CostLog))


def test_defaults_and_core_settings() -> None:
    settings = plugin_for({"storage": {"logs": "postgresql://u@127.0.0.1/db"}, "logging": {"bodies": True, "retention": "30d"},
                           "currency": {"code": "INR", "per_usd": 84, "timezone": "Asia/Kolkata"}}).settings
    assert settings.logs_url == "postgresql://u@127.0.0.1/db"
    assert settings.bodies is True and settings.retention == 30 * 86400
    assert (settings.queue_size, settings.batch_size, settings.flush_interval) == (10_000, 500, 0.02)
    assert (settings.currency_code, settings.currency_per_usd, settings.timezone) == ("INR", 84.0, "Asia/Kolkata")


def test_tuning() -> None:
    settings = plugin_for({"costlog": {"queue_size": 50_000, "queue_body_mb": 16, "batch_size": 1000, "flush_interval": "50ms",
                                       "prune_interval": "10m", "max_label_values": 50, "max_body_kb": 8}}).settings
    assert (settings.queue_size, settings.batch_size, settings.flush_interval) == (50_000, 1000, 0.05)
    assert settings.queue_body_bytes == 16 * 2**20
    assert (settings.prune_interval, settings.max_label_values, settings.max_body_bytes) == (600.0, 50, 8192)


@pytest.mark.parametrize(("section", "problem"), [
    ({"costlog": {"queue_sise": 10}}, "costlog.queue_sise: unknown key"),
    ({"costlog": {"batch_size": 0}}, "costlog.batch_size: must be at least 1"),
    ({"costlog": {"flush_interval": "soon"}}, "costlog.flush_interval"),
    ({"costlog": {"flush_interval": -1}}, "costlog.flush_interval: must not be negative"),
    ({"currency": {"timezone": "Mars/Olympus"}}, "currency.timezone: unknown time zone"),
])
def test_problems_name_their_path(section: dict[str, object], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        plugin_for(section)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_a_costlog_section_is_not_an_error_when_the_plugin_is_disabled() -> None:
    gateway = Gateway(config_from_dict({"costlog": {"queue_size": 10}, "plugins": {"disable": ["costlog"]}}), builtins=True)
    assert "costlog" not in gateway.dispatcher.names
