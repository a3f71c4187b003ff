"""The otel plugin end to end: a real OTLP/HTTP receiver on loopback, started by the test, decodes
what the gateway exports with the exporter's own protobuf classes; the official SDKs are the
clients and mock upstreams record the traceparent each attempt sent.

Spans reach the receiver only because the gateway flushes at shutdown (the batch processor's
5 s delay is never waited for): every test here stops its gateway before reading the receiver.
"""

from __future__ import annotations

import contextlib
import gzip
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anthropic
import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bifrost_py.testing import RunningServer, running_gateway, running_mock_upstream

MODEL = "claude-sonnet-4-20250514"
PROMPT = [{"role": "user", "content": "Tell me about tracing"}]
CLIENT_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CLIENT_SPAN = "00f067aa0ba902b7"


# --------------------------------------------------------------------------- the receiver


@dataclass
class Receiver:
    """An OTLP/HTTP collector reduced to its trace endpoint: keeps every decoded export."""

    url: str
    exports: list[ExportTraceServiceRequest] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)

    def spans(self) -> list[Span]:
        return [span for export in self.exports for resource in export.resource_spans
                for scope in resource.scope_spans for span in scope.spans]

    def resource(self) -> dict[str, Any]:
        return attributes(self.exports[0].resource_spans[0].resource.attributes)

    def scopes(self) -> set[str]:
        return {scope.scope.name for export in self.exports for resource in export.resource_spans
                for scope in resource.scope_spans}


@contextlib.asynccontextmanager
async def otlp_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver("")

    async def traces(request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("content-encoding") == "gzip":
            body = gzip.decompress(body)
        receiver.content_types.append(request.content_type)
        receiver.exports.append(ExportTraceServiceRequest.FromString(body))
        return web.Response(body=ExportTraceServiceResponse().SerializeToString(),
                            content_type="application/x-protobuf")

    app = web.Application()
    app.router.add_post("/v1/traces", traces)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    receiver.url = f"http://127.0.0.1:{port}"
    try:
        yield receiver
    finally:
        await runner.cleanup()


def value(any_value: AnyValue) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return [value(item) for item in any_value.array_value.values]
    return getattr(any_value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: value(pair.value) for pair in pairs if isinstance(pair, KeyValue)}


def by_name(spans: list[Span], kind: int) -> list[Span]:
    return sorted((s for s in spans if s.kind == kind), key=lambda s: attributes(s.attributes).get("bifrost.attempt.number", 0))


# --------------------------------------------------------------------------- set-up


def otel(receiver: Receiver, **extra: Any) -> dict[str, Any]:
    return {"enabled": True, "endpoint": receiver.url, "service_name": "gateway-under-test", **extra}


def failover_config(primary: RunningServer, backup: RunningServer, receiver: Receiver) -> dict[str, Any]:
    return {
        "providers": {
            "primary": {"type": "anthropic", "base_url": primary.url, "models": ["claude-*"],
                        "keys": [{"value": "sk-primary", "name": "p1"}]},
            "backup": {"type": "anthropic", "base_url": backup.url, "keys": [{"value": "sk-backup"}]},
        },
        "plugins": {"load": ["bifrost_failover", "bifrost_otel"]},
        "failover": {"chains": {MODEL: ["primary", "backup"]}, "retries": 0, "backoff": {"base": "10ms"}},
        "otel": otel(receiver),
    }


async def recorded(upstream: RunningServer) -> list[dict[str, Any]]:
    """The model requests the mock upstream received."""
    async with aiohttp.ClientSession() as session, session.get(upstream.url + "/_mock/requests") as response:
        return [r for r in orjson.loads(await response.read()) if r["path"].endswith("/messages")]


async def script(upstream: RunningServer, responses: list[dict[str, Any]]) -> None:
    async with aiohttp.ClientSession() as session, \
            session.post(upstream.url + "/_mock/script", json={"responses": responses}) as response:
        assert response.status == 200


def traceparent(span: Span) -> str:
    return f"00-{span.trace_id.hex()}-{span.span_id.hex()}-01"


# --------------------------------------------------------------------------- tests


async def test_a_request_that_failed_over_once_is_one_request_span_over_two_attempt_spans() -> None:
    async with otlp_receiver() as receiver, running_mock_upstream() as primary, running_mock_upstream() as backup:
        await script(primary, [{"status": 529}])
        async with running_gateway(failover_config(primary, backup, receiver), builtins=False) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
            message = await client.messages.create(
                model=MODEL, max_tokens=50, messages=PROMPT,  # type: ignore[arg-type]
                extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-01"},
            )
            await client.close()
        spans = receiver.spans()
        [to_primary] = await recorded(primary)
        [to_backup] = await recorded(backup)

    assert {"application/x-protobuf"} == set(receiver.content_types)
    assert receiver.resource()["service.name"] == "gateway-under-test"
    assert receiver.scopes() == {"bifrost_otel"}
    assert len(spans) == 3
    [request] = by_name(spans, Span.SPAN_KIND_SERVER)
    first, second = by_name(spans, Span.SPAN_KIND_CLIENT)

    # one trace, the client's: the request span is a child of the client's span
    assert {s.trace_id.hex() for s in spans} == {CLIENT_TRACE}
    assert request.parent_span_id.hex() == CLIENT_SPAN
    assert first.parent_span_id == request.span_id and second.parent_span_id == request.span_id
    assert request.name == f"chat {MODEL}" and first.name == f"chat {MODEL}"
    assert request.start_time_unix_nano <= first.start_time_unix_nano < first.end_time_unix_nano \
        <= second.start_time_unix_nano < second.end_time_unix_nano <= request.end_time_unix_nano

    failed = attributes(first.attributes)
    assert failed["bifrost.attempt.number"] == 1
    assert failed["bifrost.provider"] == "primary"
    assert failed["bifrost.provider.key"] == "p1"
    assert failed["gen_ai.provider.name"] == "anthropic"
    assert failed["gen_ai.operation.name"] == "chat"
    assert failed["gen_ai.request.model"] == MODEL
    assert failed["http.response.status_code"] == 529
    assert failed["error.type"] == "overloaded_error"
    assert failed["bifrost.cost.usd"] == 0.0
    assert "gen_ai.usage.input_tokens" not in failed
    assert first.status.code == Status.STATUS_CODE_ERROR

    answered = attributes(second.attributes)
    assert answered["bifrost.attempt.number"] == 2
    assert answered["bifrost.provider"] == "backup"
    assert answered["http.response.status_code"] == 200
    assert answered["gen_ai.response.model"] == message.model
    assert answered["gen_ai.usage.input_tokens"] == message.usage.input_tokens
    assert answered["gen_ai.usage.output_tokens"] == message.usage.output_tokens
    assert answered["gen_ai.response.finish_reasons"] == [message.stop_reason]
    assert answered["bifrost.cache.hit"] is False
    assert answered["bifrost.cost.usd"] > 0
    assert "error.type" not in answered
    assert second.status.code == Status.STATUS_CODE_UNSET

    whole = attributes(request.attributes)
    assert whole["bifrost.attempts"] == 2
    assert whole["http.response.status_code"] == 200
    assert whole["gen_ai.request.model"] == MODEL
    assert whole["gen_ai.response.model"] == message.model
    assert whole["gen_ai.usage.output_tokens"] == message.usage.output_tokens
    assert whole["bifrost.cost.usd"] == pytest.approx(answered["bifrost.cost.usd"])
    assert whole["gen_ai.request.max_tokens"] == 50
    assert whole["bifrost.stream"] is False
    assert "bifrost.virtual_key" not in whole  # no plugin identified the caller

    # each attempt's request to its provider carried that attempt's traceparent
    assert to_primary["headers"]["traceparent"] == traceparent(first)
    assert to_backup["headers"]["traceparent"] == traceparent(second)
