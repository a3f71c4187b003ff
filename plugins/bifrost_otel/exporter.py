"""The OpenTelemetry SDK objects of one gateway: a TracerProvider of its own, whose
BatchSpanProcessor hands ended spans to the OTLP/HTTP (protobuf) exporter on a thread of its own.

A request only appends its ended spans to the processor's queue; encoding and posting happen
off the event loop, in batches (512 spans, or every 5 s: the SDK's defaults, and its OTEL_BSP_*
variables change them). The provider is never the process-wide global one, so two gateways in
one process (tests, or an application that embeds two) keep their traces apart. It is built at
start-up, not at configure time: `bifrost-py check` starts no thread, and with `workers: N`
each forked process gets its own exporter thread.
"""

from __future__ import annotations

import asyncio
from importlib.metadata import version

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from .settings import OtelSettings

SCOPE = "bifrost_otel"
GATEWAY_VERSION = version("bifrost-py")


class SpanExport:
    """Owns the provider, its processor and exporter; `close()` flushes what is queued."""

    def __init__(self, settings: OtelSettings) -> None:
        resource = Resource.create({"service.name": settings.service_name, "service.version": GATEWAY_VERSION})
        # No atexit hook: the gateway's shutdown closes it, and a hook would keep every
        # provider (and its gateway) alive until the process ends.
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.traces_url)))
        self.tracer: Tracer = self.provider.get_tracer(SCOPE, GATEWAY_VERSION)

    async def close(self) -> None:
        """Export every queued span, then stop the exporter's thread. The flush blocks on HTTP
        (up to the exporter's timeout when the collector is down), so it runs on a thread:
        the event loop stays free, also for a collector served by this same loop."""
        await asyncio.to_thread(self.provider.shutdown)
