"""The otel plugin's hooks: a span per request and per attempt, exported over OTLP/HTTP.

    startup        the SDK's provider, batch processor and OTLP/HTTP exporter (exporter.py)
    request_start  open the request's span, under the client's traceparent if it sent one
    pre_attempt    open the attempt's span; its traceparent goes upstream with the attempt
    post_attempt   close it with the outcome: status, error, models, usage, cost, cache hit
    request_end    draw the attempts this plugin did not see begin, close the request's span
    shutdown       flush the spans still queued

Tracing must never change what a client gets: the pre hooks log and swallow their own errors
instead of failing the request. The opening hooks are marked tryfirst and the closing ones
trylast, so that the spans time the other plugins' work too. A plugin marked tryfirst before
this one (or ordered before it, where markers are not honoured) may still answer or refuse
before this plugin sees an attempt begin: request_end then draws that attempt's span from its
own timings, so every attempt has its span, a cache hit and a refusal included.
"""

from __future__ import annotations

import logging

from opentelemetry.trace import Span

from bifrost_py import Attempt, Call, StashKey, hookimpl

from .attributes import total_cost
from .exporter import SpanExport
from .host import Host
from .propagation import inject
from .settings import OtelSettings
from .spans import Spans

log = logging.getLogger("bifrost_otel")

CALL_SPAN = StashKey[Span]("otel.call_span")
ATTEMPT_SPAN = StashKey[Span]("otel.attempt_span")
ATTEMPT_COST = StashKey[float]("otel.attempt_cost")  # USD, set when known


class OtelPlugin:
    """Registered when `otel.enabled` is true; one per Gateway, with its own SDK provider."""

    def __init__(self, settings: OtelSettings) -> None:
        self.settings = settings
        self.export: SpanExport | None = None
        self.spans: Spans | None = None

    def __repr__(self) -> str:
        return f"OtelPlugin(endpoint={self.settings.traces_url!r})"

    @hookimpl
    async def bifrost_startup(self, gateway: Host) -> None:
        self.export = SpanExport(self.settings)
        self.spans = Spans(self.export.tracer, gateway.prices)

    @hookimpl
    async def bifrost_shutdown(self, gateway: Host) -> None:
        export, self.export, self.spans = self.export, None, None
        if export is not None:
            await export.close()

    # ------------------------------------------------------------------ per request

    @hookimpl(tryfirst=True)
    async def bifrost_request_start(self, call: Call) -> None:
        spans = self.spans
        if spans is None:
            return
        try:
            call.stash[CALL_SPAN] = spans.open_call(call)
        except Exception:
            log.exception("otel: could not open the span of request %s", call.request_id)

    @hookimpl(tryfirst=True)
    async def bifrost_pre_attempt(self, attempt: Attempt) -> None:
        spans = self.spans
        if spans is None:
            return
        try:
            span = spans.open_attempt(attempt, self._call_span(spans, attempt.call))
            attempt.stash[ATTEMPT_SPAN] = span
            inject(span, attempt.upstream_headers)
        except Exception:
            log.exception("otel: could not open the span of attempt %d of request %s", attempt.number,
                          attempt.call.request_id)

    @hookimpl(trylast=True)
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        span = attempt.stash.get(ATTEMPT_SPAN)
        if span is None or self.spans is None:
            return  # the pre hook was interrupted before its span existed
        cost = self.spans.close_attempt(attempt, span)
        if cost is not None:
            attempt.stash[ATTEMPT_COST] = cost

    @hookimpl(trylast=True)
    async def bifrost_request_end(self, call: Call) -> None:
        spans = self.spans
        if spans is None:
            return
        parent = self._call_span(spans, call)
        costs: list[float | None] = []
        for attempt in call.attempts:
            if ATTEMPT_SPAN in attempt.stash:
                costs.append(attempt.stash.get(ATTEMPT_COST))
            else:
                costs.append(spans.replay_attempt(attempt, parent))
        spans.close_call(call, parent, total_cost(costs))

    @staticmethod
    def _call_span(spans: Spans, call: Call) -> Span:
        """The request's span; opened late when this plugin's request_start was not reached (a
        plugin before it refused), dated from the request's arrival all the same."""
        span = call.stash.get(CALL_SPAN)
        if span is None:
            span = call.stash[CALL_SPAN] = spans.open_call(call)
        return span

