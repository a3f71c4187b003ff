"""The `otel:` section: off by default, the collector's URL, and problems reported with their paths."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import bifrost_otel
import pytest
from bifrost_otel import DormantOtel, OtelSettings

from bifrost_py.config import config_from_dict, parse_config
from bifrost_py.configschema import ConfigError
from bifrost_py.gateway import Gateway

PROVIDERS = {"mock": {"type": "mock"}}


def registered(config: dict[str, Any]) -> Any:
    gateway = Gateway(config_from_dict({"providers": PROVIDERS, **config}), plugins=[bifrost_otel], builtins=False)
    return next(info for info in gateway.plugins.infos if info.name == "otel")


def problems(section: Any) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        registered({"otel": section})
    return raised.value.problems


def test_off_without_a_section_and_then_it_implements_no_hook() -> None:
    info = registered({})
    assert isinstance(info.plugin, DormantOtel)
    assert info.plugin.settings == OtelSettings(enabled=False)
    assert info.hooks == []


def test_on_it_implements_the_four_request_hooks_and_startup_shutdown() -> None:
    info = registered({"otel": {"enabled": True}})
    assert info.hooks == ["bifrost_post_attempt", "bifrost_pre_attempt", "bifrost_request_end",
                          "bifrost_request_start", "bifrost_shutdown", "bifrost_startup"]
    assert info.plugin.settings == OtelSettings(True, "http://127.0.0.1:4318", "bifrost-py")
    assert info.plugin.settings.traces_url == "http://127.0.0.1:4318/v1/traces"


def test_the_contract_line_takes_the_endpoint_from_the_standard_variable() -> None:
    text = """
providers: {mock: {type: mock}}
otel: {enabled: true, endpoint: "${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4318}", service_name: gw-eu}
"""
    environ = {"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector.internal:4318/"}
    gateway = Gateway(parse_config(text, environ=environ), plugins=[bifrost_otel], builtins=False)
    settings = next(i.plugin for i in gateway.plugins.infos if i.name == "otel").settings
    assert settings.traces_url == "https://collector.internal:4318/v1/traces"
    assert settings.service_name == "gw-eu"
    unset = Gateway(parse_config(text, environ={}), plugins=[bifrost_otel], builtins=False)
    assert next(i.plugin for i in unset.plugins.infos if i.name == "otel").settings.endpoint == "http://127.0.0.1:4318"


def test_a_signal_specific_url_is_used_as_it_is() -> None:
    assert OtelSettings(True, "http://tempo:4318/v1/traces").traces_url == "http://tempo:4318/v1/traces"


def test_problems_carry_their_path_also_while_tracing_is_off() -> None:
    found = problems({"enabled": False, "endpoint": "tempo:4318", "service_name": " ", "sampler": "always"})
    assert any(p.startswith("otel.endpoint:") and "http:// or https://" in p for p in found)
    assert any(p.startswith("otel.service_name:") and "empty" in p for p in found)
    assert any(p.startswith("otel.sampler:") for p in found)
    assert any(p.startswith("otel.enabled:") for p in problems({"enabled": "sometimes"}))
    assert any(p.startswith("otel.endpoint:") for p in problems({"endpoint": "http://collector:99999"}))


def test_while_off_the_tracing_sdk_is_never_imported() -> None:
    """A gateway built with the otel plugin loaded and off imports neither the SDK's tracing nor
    the exporter (~40 ms of start-up). Other OpenTelemetry modules may be there: redis-py imports
    the API and the metrics SDK whenever they are installed."""
    script = (
        "import sys, bifrost_otel\n"
        "from bifrost_py.config import config_from_dict\n"
        "from bifrost_py.gateway import Gateway\n"
        "Gateway(config_from_dict({'providers': {'mock': {'type': 'mock'}}}), plugins=[bifrost_otel], builtins=False)\n"
        "print(sorted(m for m in sys.modules if m.startswith(('opentelemetry.sdk.trace', 'opentelemetry.exporter',"
        " 'bifrost_otel.'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['bifrost_otel.dormant', 'bifrost_otel.host', 'bifrost_otel.settings']"
