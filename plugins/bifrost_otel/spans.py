"""Starting and ending the two kinds of span, with the SDK's API.

    <operation> <model>    SERVER, one per request: a child of the client's span when it sent a
                           traceparent, else the root of a new trace
      <operation> <model>  CLIENT, one per attempt (the first try, then each retry or fallback),
                           its traceparent sent to the provider with that attempt's request

Span names follow the GenAI conventions ("chat claude-sonnet-4-20250514"); the request span is
named after the model the client asked for, an attempt's after the model it was sent to.
"""

from __future__ import annotations

from opentelemetry.trace import Span, SpanKind, Status, StatusCode, Tracer, set_span_in_context

from bifrost_py import Attempt, Call

from . import attributes as attrs
from . import semconv as sc
from .host import Prices
from .propagation import client_context


class Spans:
    __slots__ = ("prices", "tracer")

    def __init__(self, tracer: Tracer, prices: Prices) -> None:
        self.tracer = tracer
        self.prices = prices

    def open_call(self, call: Call) -> Span:
        return self.tracer.start_span(
            span_name(call.endpoint, call.model), context=client_context(call.headers), kind=SpanKind.SERVER,
            attributes=attrs.call_opening(call), start_time=nanoseconds(call.started_at),
        )

    def open_attempt(self, attempt: Attempt, parent: Span) -> Span:
        return self.tracer.start_span(
            span_name(attempt.call.endpoint, attempt.target.model), context=set_span_in_context(parent),
            kind=SpanKind.CLIENT, attributes=attrs.attempt_opening(attempt),
            start_time=nanoseconds(attempt.started_at),
        )

    def close_attempt(self, attempt: Attempt, span: Span, *, end_time: int | None = None) -> float | None:
        """End the attempt's span; returns its cost (USD, None when unknown) for the call's span.
        A span that is not recording (its trace was sampled out) is only ended: nobody will read
        its attributes, and they are most of what a span costs."""
        cost = attrs.attempt_cost(self.prices, attempt)
        if not span.is_recording():
            span.end(end_time)
            return cost
        span.set_attributes(attrs.attempt_closing(attempt, cost))
        error = attempt.outcome.error
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, str(error)))
        span.end(end_time)
        return cost

    def close_call(self, call: Call, span: Span, cost: float | None) -> None:
        """End the request's span. As the HTTP conventions say for a server's span, only a 5xx
        marks it as an error; a refusal (401, 402, 429 ...) is in its status code and error.type."""
        if not span.is_recording():
            span.end()
            return
        closing = attrs.call_closing(call, cost)
        span.set_attributes(closing)
        status = closing[sc.HTTP_STATUS]
        if isinstance(status, int) and status >= 500:
            span.set_status(Status(StatusCode.ERROR, str(call.error) if call.error is not None else None))
        span.end()

    def replay_attempt(self, attempt: Attempt, parent: Span) -> float | None:
        """The span of an attempt whose pre hook this plugin did not reach (a plugin before it
        answered or refused, or the target's provider is not configured), drawn afterwards from
        the attempt's own timestamps."""
        span = self.open_attempt(attempt, parent)
        end_time = None
        if attempt.ended is not None:
            end_time = nanoseconds(attempt.started_at + (attempt.ended - attempt.started))
        return self.close_attempt(attempt, span, end_time=end_time)


def span_name(endpoint: str, model: str) -> str:
    operation = sc.operation_name(endpoint)
    return f"{operation} {model}" if model else operation


def nanoseconds(seconds: float) -> int:
    return int(seconds * 1e9)
