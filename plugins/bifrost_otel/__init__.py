"""bifrost-py plugin: OpenTelemetry traces of every request, exported over OTLP/HTTP.

One trace per request (a span for the call, a child span per attempt) with the OpenTelemetry
GenAI semantic conventions plus the gateway's own facts (cost, virtual key, team, route rule,
cache hit, attempt number); the client's `traceparent` is honoured and each attempt's request to
the provider carries its own. Off by default; configured by the `otel:` section; see
docs/observability.md.

Written only against the public plugin API (the names `bifrost_py` exports and the `gateway`
attributes docs/plugins.md documents); tests/plugins/test_otel_public_api.py keeps it so.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_py import load_settings

from .dormant import DormantOtel
from .host import Host
from .settings import SECTION, OtelSettings, read_settings

if TYPE_CHECKING:
    from .plugin import OtelPlugin

PLUGIN_NAME = "otel"

__all__ = ["PLUGIN_NAME", "DormantOtel", "OtelSettings", "bifrost_plugin"]


def bifrost_plugin(gateway: Host) -> OtelPlugin | DormantOtel:
    """Read the `otel:` section now and register hooks only when tracing is on: a plugin with no
    per-request hooks is not dispatched at all. Problems in the section are reported with their
    path by `bifrost-py check` and at start-up, like any plugin's."""
    settings = load_settings(gateway, SECTION, read_settings)  # type: ignore[arg-type]
    if not settings.enabled:
        return DormantOtel(settings)
    from .plugin import OtelPlugin  # the SDK is imported only by a gateway that traces

    return OtelPlugin(settings)
