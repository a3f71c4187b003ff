"""The `otel:` section of the config, read once into a frozen value.

    otel: {enabled: false, endpoint: "${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:4318}",
           service_name: bifrost-py}

`endpoint` is the collector's base URL, as in the OpenTelemetry variable OTEL_EXPORTER_OTLP_ENDPOINT
(which is also its default): traces go to `<endpoint>/v1/traces`. An endpoint that already ends
in /v1/traces is used as it is, so a signal-specific URL copied from a collector's page works too.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from .host import ConfigSection, Host

SECTION = "otel"
ENDPOINT_VARIABLE = "OTEL_EXPORTER_OTLP_ENDPOINT"
DEFAULT_ENDPOINT = "http://127.0.0.1:4318"
DEFAULT_SERVICE_NAME = "bifrost-py"
TRACES_PATH = "/v1/traces"


@dataclass(slots=True, frozen=True)
class OtelSettings:
    enabled: bool = False
    endpoint: str = DEFAULT_ENDPOINT
    service_name: str = DEFAULT_SERVICE_NAME

    @property
    def traces_url(self) -> str:
        """Where the OTLP/HTTP exporter posts its batches."""
        base = self.endpoint.rstrip("/")
        return base if base.endswith(TRACES_PATH) else base + TRACES_PATH


def read_settings(section: ConfigSection, gateway: Host | None = None,
                  environ: Mapping[str, str] | None = None) -> OtelSettings:
    """The reader `load_settings(gateway, SECTION, read_settings)` calls. Every key is checked,
    also while `enabled` is false, so `bifrost-py check` reports a mistake before the day
    tracing is switched on. The endpoint's default is read from the environment (`environ`,
    os.environ unless a test gives another) here, when the config is read."""
    if environ is None:
        environ = os.environ
    enabled = section.bool("enabled", False)
    endpoint = section.str("endpoint", environ.get(ENDPOINT_VARIABLE) or DEFAULT_ENDPOINT)
    service_name = section.str("service_name", DEFAULT_SERVICE_NAME)
    if endpoint is not None and not _is_http_url(endpoint):
        section.error("endpoint", f"must be an http:// or https:// URL of an OTLP collector; got {endpoint!r}")
        endpoint = DEFAULT_ENDPOINT
    if service_name is not None and not service_name.strip():
        section.error("service_name", "must not be empty")
        service_name = DEFAULT_SERVICE_NAME
    return OtelSettings(
        enabled=bool(enabled),
        endpoint=endpoint or DEFAULT_ENDPOINT,
        service_name=service_name or DEFAULT_SERVICE_NAME,
    )


def _is_http_url(text: str) -> bool:
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc)
