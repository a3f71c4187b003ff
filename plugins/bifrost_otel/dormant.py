"""The plugin as registered while tracing is off."""

from __future__ import annotations

from .settings import OtelSettings


class DormantOtel:
    """Registered when `otel.enabled` is false: no hook at all, so the per-request dispatcher has
    nothing of this plugin to call, and the OpenTelemetry SDK is not even imported (about 40 ms
    of start-up, and its exporter thread, saved). Tracing that is off costs nothing."""

    def __init__(self, settings: OtelSettings) -> None:
        self.settings = settings

    def __repr__(self) -> str:
        return "DormantOtel(enabled=False)"
