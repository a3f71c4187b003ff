"""W3C Trace Context in and out: the client's `traceparent` becomes the parent of the request's
span, and each attempt's request to the provider carries a `traceparent` naming the attempt's
span (plus the `tracestate` the client sent, if any)."""

from __future__ import annotations

from collections.abc import Mapping

from opentelemetry.context import Context
from opentelemetry.trace import Span, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_W3C = TraceContextTextMapPropagator()


def client_context(headers: Mapping[str, str]) -> Context | None:
    """The client's trace as a parent context, or None (a new trace) when it sent none or sent
    one that does not parse (the propagator ignores it, as the W3C spec says)."""
    if "traceparent" not in headers:
        return None  # the common case costs one lookup
    return _W3C.extract(headers)


def inject(span: Span, headers: dict[str, str]) -> None:
    """Add `traceparent` (and `tracestate`) for `span` to the headers of an upstream request."""
    _W3C.inject(headers, context=set_span_in_context(span))
