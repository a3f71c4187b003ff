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
import logging
from importlib.metadata import version

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from .settings import OtelSettings

SCOPE = "bifrost_otel"
GATEWAY_VERSION = version("bifrost-py")
# How long shutdown waits for the collector to take the last spans. The exporter retries a
# collector that is down with backoff for up to its timeout (10 s); past this, they are dropped.
FLUSH_BUDGET = 3.0

log = logging.getLogger("bifrost_otel")


class SpanExport:
    """Owns the provider, its processor and exporter; `close()` flushes what is queued."""

    def __init__(self, settings: OtelSettings) -> None:
        resource = Resource.create({"service.name": settings.service_name, "service.version": GATEWAY_VERSION})
        # No atexit hook: the gateway's shutdown closes it, and a hook would keep every
        # provider (and its gateway) alive until the process ends.
        self.provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        self.url = settings.traces_url
        self.exporter = OTLPSpanExporter(endpoint=self.url)
        self.provider.add_span_processor(BatchSpanProcessor(self.exporter))
        self.tracer: Tracer = self.provider.get_tracer(SCOPE, GATEWAY_VERSION)

    async def close(self, budget: float = FLUSH_BUDGET) -> None:
        """Export every queued span, then stop the exporter's thread. The flush blocks on HTTP,
        so it runs on a thread: the event loop stays free, also for a collector served by this
        same loop. A collector that is down would hold shutdown through the exporter's retries;
        after `budget` seconds the exporter is shut, which ends its retries at once."""
        flush = asyncio.ensure_future(asyncio.to_thread(self.provider.shutdown))
        done, _ = await asyncio.wait({flush}, timeout=budget)
        if not done:
            log.warning("otel: the collector at %s did not take the last spans within %.0f s; they are dropped",
                        self.url, budget)
            self.exporter.shutdown()
        await flush
