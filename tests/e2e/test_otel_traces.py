"""The otel plugin end to end: a real OTLP/HTTP receiver on loopback, started by the test, decodes
what the gateway exports with the exporter's own protobuf classes; the official SDKs are the
clients and mock upstreams record the traceparent each attempt sent.

Spans reach the receiver only because the gateway flushes at shutdown (the batch processor's
5 s delay is never waited for): every test here stops its gateway before reading the receiver.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest
from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from bifrost_py import Attempt, Call, Caller, Reply, hookimpl
from bifrost_py.errors import AuthenticationFailed
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
    """The W3C traceparent naming `span`, as sent upstream: version, trace id, span id, and the
    flags reduced to "sampled" (level 2 of the spec adds a "random trace id" bit that the SDK sets
    on the traces it starts)."""
    return f"00-{span.trace_id.hex()}-{span.span_id.hex()}-01"


def sent(header: str) -> str:
    """A traceparent header with its flags reduced to the sampled bit, to compare with traceparent()."""
    version, trace_id, span_id, flags = header.split("-")
    return f"{version}-{trace_id}-{span_id}-{int(flags, 16) & 1:02x}"


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
    assert "gen_ai.usage.output_tokens" not in whole  # on the attempts only: a sum over spans counts it once
    assert whole["bifrost.cost.usd"] == pytest.approx(answered["bifrost.cost.usd"])
    assert whole["gen_ai.request.max_tokens"] == 50
    assert whole["bifrost.stream"] is False
    assert "bifrost.virtual_key" not in whole  # no plugin identified the caller

    # each attempt's request to its provider carried that attempt's traceparent
    assert sent(to_primary["headers"]["traceparent"]) == traceparent(first)
    assert sent(to_backup["headers"]["traceparent"]) == traceparent(second)


def single_config(upstream: RunningServer, receiver: Receiver, *extra: str) -> dict[str, Any]:
    return {
        "providers": {"main": {"type": "anthropic", "base_url": upstream.url, "keys": [{"value": "sk-main"}]},
                      "gpt": {"type": "openai", "base_url": upstream.url + "/v1", "models": ["gpt-*", "text-embedding-*"],
                              "keys": [{"value": "sk-gpt"}]}},
        "plugins": {"load": ["bifrost_otel", *extra]},
        "otel": otel(receiver),
    }


async def test_without_a_traceparent_the_request_starts_a_trace_that_goes_upstream() -> None:
    async with otlp_receiver() as receiver, running_mock_upstream() as upstream:
        async with running_gateway(single_config(upstream, receiver), builtins=False) as gw:
            client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0)
            stream = await client.chat.completions.create(
                model="gpt-4o-mini", messages=[{"role": "user", "content": "count to three"}], stream=True,
                stream_options={"include_usage": True},
            )
            chunks = [chunk async for chunk in stream]
            await client.close()
        spans = receiver.spans()
        requests = [r for r in await recorded_all(upstream) if r["path"].endswith("/chat/completions")]

    usage = next(c.usage for c in chunks if c.usage is not None)
    [request] = by_name(spans, Span.SPAN_KIND_SERVER)
    [attempt] = by_name(spans, Span.SPAN_KIND_CLIENT)
    assert request.parent_span_id == b""  # a root span: a trace of its own
    assert attempt.trace_id == request.trace_id and attempt.parent_span_id == request.span_id
    assert [sent(r["headers"]["traceparent"]) for r in requests] == [traceparent(attempt)]
    whole, answered = attributes(request.attributes), attributes(attempt.attributes)
    assert whole["bifrost.stream"] is True and whole["gen_ai.operation.name"] == "chat"
    assert whole["gen_ai.provider.name"] == answered["gen_ai.provider.name"] == "openai"
    assert answered["gen_ai.usage.output_tokens"] == usage.completion_tokens
    assert answered["gen_ai.usage.input_tokens"] == usage.prompt_tokens
    assert answered["http.response.status_code"] == 200


async def recorded_all(upstream: RunningServer) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session, session.get(upstream.url + "/_mock/requests") as response:
        return list(orjson.loads(await response.read()))


class Tagger:
    """Identifies the caller, decides the route and answers from its 'cache', with the public API
    only, as governance, routing and the cache plugin do."""

    PLUGIN_NAME = "tagger"

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        call.caller = Caller(key_id="vk-42", key_name="ci-bot", team="platform", customer="acme")

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Any]) -> None:
        call.route_rule = "pinned-to-main"

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> Reply:
        return Reply({"id": "msg_cached", "type": "message", "role": "assistant", "model": MODEL,
                      "content": [{"type": "text", "text": "from the cache"}], "stop_reason": "end_turn",
                      "stop_sequence": None, "usage": {"input_tokens": 9, "output_tokens": 4}}, source="cache")


@pytest.mark.parametrize("order", [["otel", "tagger"], ["tagger", "otel"]], ids=["otel-first", "otel-after"])
async def test_caller_route_and_cache_hit_are_on_the_spans_whichever_plugin_runs_first(order: list[str]) -> None:
    """Run after the answering plugin, the otel plugin never sees the attempt begin: it draws its
    span at request_end from the attempt's own timings, with the same attributes."""
    async with otlp_receiver() as receiver, running_mock_upstream() as upstream:
        config = single_config(upstream, receiver)
        config["plugins"]["order"] = order
        async with running_gateway(config, plugins=[Tagger()], builtins=False) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
            message = await client.messages.create(model=MODEL, max_tokens=20, messages=PROMPT)  # type: ignore[arg-type]
            await client.close()
        spans = receiver.spans()
        upstream_calls = await recorded(upstream)

    assert message.content[0].text == "from the cache" and upstream_calls == []  # type: ignore[union-attr]
    [request] = by_name(spans, Span.SPAN_KIND_SERVER)
    [attempt] = by_name(spans, Span.SPAN_KIND_CLIENT)
    assert attempt.parent_span_id == request.span_id
    assert request.start_time_unix_nano <= attempt.start_time_unix_nano <= attempt.end_time_unix_nano \
        <= request.end_time_unix_nano
    whole, hit = attributes(request.attributes), attributes(attempt.attributes)
    assert whole["bifrost.virtual_key"] == "ci-bot" and whole["bifrost.virtual_key.id"] == "vk-42"
    assert whole["bifrost.team"] == "platform" and whole["bifrost.customer"] == "acme"
    assert whole["bifrost.route.rule"] == hit["bifrost.route.rule"] == "pinned-to-main"
    assert whole["bifrost.cache.hit"] is True and hit["bifrost.cache.hit"] is True
    assert whole["bifrost.cost.usd"] == hit["bifrost.cost.usd"] == 0.0  # nothing consumed
    assert "gen_ai.usage.input_tokens" not in hit
    assert hit["bifrost.attempt.number"] == 1 and hit["http.response.status_code"] == 200


class Bouncer:
    PLUGIN_NAME = "bouncer"

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        raise AuthenticationFailed("unknown virtual key")


async def test_a_refused_request_is_one_span_with_its_status_and_error_type() -> None:
    async with otlp_receiver() as receiver, running_mock_upstream() as upstream:
        async with running_gateway(single_config(upstream, receiver), plugins=[Bouncer()], builtins=False) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
            with pytest.raises(anthropic.AuthenticationError):
                await client.messages.create(model=MODEL, max_tokens=20, messages=PROMPT)  # type: ignore[arg-type]
            await client.close()
        spans = receiver.spans()

    [request] = spans
    whole = attributes(request.attributes)
    assert request.kind == Span.SPAN_KIND_SERVER and whole["bifrost.attempts"] == 0
    assert whole["http.response.status_code"] == 401
    assert whole["error.type"] == "authentication_error"
    assert request.status.code == Status.STATUS_CODE_UNSET  # a 4xx is the client's, not the server's error


async def test_with_the_collector_down_requests_are_answered_and_shutdown_ends() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        nowhere = Receiver(f"http://127.0.0.1:{sock.getsockname()[1]}")
    async with running_mock_upstream() as upstream:
        started = time.monotonic()
        async with running_gateway(single_config(upstream, nowhere), builtins=False) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
            for _ in range(3):
                message = await client.messages.create(model=MODEL, max_tokens=20, messages=PROMPT)  # type: ignore[arg-type]
                assert message.content
            await client.close()
        assert time.monotonic() - started < 6  # the exporter alone would retry for up to 10 s


async def test_a_client_trace_that_is_not_sampled_records_nothing_and_still_propagates() -> None:
    async with otlp_receiver() as receiver, running_mock_upstream() as upstream:
        async with running_gateway(single_config(upstream, receiver), builtins=False) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
            await client.messages.create(model=MODEL, max_tokens=20, messages=PROMPT,  # type: ignore[arg-type]
                                         extra_headers={"traceparent": f"00-{CLIENT_TRACE}-{CLIENT_SPAN}-00"})
            await client.close()
        spans = receiver.spans()
        [to_upstream] = await recorded(upstream)

    assert spans == []
    _version, trace_id, span_id, flags = to_upstream["headers"]["traceparent"].split("-")
    assert (trace_id, int(flags, 16) & 1) == (CLIENT_TRACE, 0) and span_id != CLIENT_SPAN


async def test_a_request_that_failed_upstream_is_an_error_span() -> None:
    async with otlp_receiver() as receiver, running_mock_upstream() as upstream:
        await script(upstream, [{"status": 529}])
        async with running_gateway(single_config(upstream, receiver), builtins=False) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-client", max_retries=0)
            with pytest.raises(anthropic.APIStatusError):
                await client.messages.create(model=MODEL, max_tokens=20, messages=PROMPT)  # type: ignore[arg-type]
            await client.close()
        spans = receiver.spans()

    [request] = by_name(spans, Span.SPAN_KIND_SERVER)
    [attempt] = by_name(spans, Span.SPAN_KIND_CLIENT)
    whole = attributes(request.attributes)
    assert whole["http.response.status_code"] == 529 and whole["error.type"] == "overloaded_error"
    assert request.status.code == attempt.status.code == Status.STATUS_CODE_ERROR
    assert whole["bifrost.cost.usd"] == 0.0


async def test_an_embeddings_request_is_an_embeddings_operation() -> None:
    async with otlp_receiver() as receiver, running_mock_upstream() as upstream:
        async with running_gateway(single_config(upstream, receiver), builtins=False) as gw:
            client = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-client", max_retries=0)
            embedding = await client.embeddings.create(model="text-embedding-3-small", input="hello")
            await client.close()
        spans = receiver.spans()

    [request] = by_name(spans, Span.SPAN_KIND_SERVER)
    [attempt] = by_name(spans, Span.SPAN_KIND_CLIENT)
    assert request.name == attempt.name == "embeddings text-embedding-3-small"
    answered = attributes(attempt.attributes)
    assert answered["gen_ai.operation.name"] == "embeddings"
    assert answered["gen_ai.provider.name"] == "openai"
    assert answered["gen_ai.usage.input_tokens"] == embedding.usage.prompt_tokens
