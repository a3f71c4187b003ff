"""One request from parsed body to finished response: hooks, attempts, provider calls, relay.

The order of events is documented in hookspecs.py; this module is its implementation.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from aiohttp import web

from .context import (
    ANTHROPIC,
    COUNT_TOKENS,
    EMBEDDINGS,
    OPENAI,
    Advice,
    Attempt,
    Call,
    Reply,
    StashKey,
    Target,
    Usage,
)
from .dialects import usage as usage_reader
from .dialects.rawjson import replace_top_level_string
from .dialects.synthesize import message_events
from .dialects.tokens import estimate_input_tokens
from .dialects.usage import OPENAI_USAGE_OBJECT
from .errors import (
    CredentialsRefused,
    GatewayError,
    InvalidRequest,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
    error_body,
    error_event,
)
from .providers.base import Provider, UpstreamRequest, UpstreamResponse
from .relay import EventSplitter, UpstreamReader, anthropic_wire
from .translation import stream_translator, translate_request, translate_response

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.pipeline")

STREAM_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
JSON_HEADERS = {"content-type": "application/json"}
CLIENT_CLOSED = 499  # nginx's status for "client closed the request", used in logs only
FORWARDED_TO_ANTHROPIC = ("anthropic-version", "anthropic-beta", "x-claude-code-session-id", "x-app", "user-agent")


class Pipeline:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.dispatch = gateway.dispatcher
        self.providers = gateway.providers

    # ------------------------------------------------------------------ request level

    async def handle(self, call: Call, request: web.Request) -> web.StreamResponse:
        try:
            response = await self._handle(call, request)
        except asyncio.CancelledError:
            # The client hung up: finish the bookkeeping in a task of its own, because this one
            # is being cancelled (the upstream request was already closed by the relay).
            self.gateway.spawn(self._after_disconnect(call))
            raise
        await self.dispatch.request_end(call)
        return response

    async def _handle(self, call: Call, request: web.Request) -> web.StreamResponse:
        try:
            if call.error is not None:
                raise call.error
            reply = await self.dispatch.request_start(call)
            if reply is not None:
                return await self._send_reply(call, request, reply, None)
            targets = await self.dispatch.route(call, self.gateway.resolve(call.model))
            if not targets:
                raise NotFound(f"model '{call.model}' is not served by any configured provider")
            call.targets = targets
            if call.endpoint == COUNT_TOKENS:
                return await self._count_tokens(call, request, targets[0])
            return await self._attempts(call, request)
        except GatewayError as error:
            call.error = error
            return self.error_response(call, error)
        except ConnectionResetError:
            # The client left while a reply or error was being written; nothing more to send.
            call.error = GatewayError("the client closed the connection", status=CLIENT_CLOSED)
            return web.Response(status=CLIENT_CLOSED)
        except Exception as exc:
            log.exception("request %s failed inside the gateway", call.request_id)
            call.error = GatewayError(f"internal gateway error: {type(exc).__name__}")
            return self.error_response(call, call.error)

    async def _after_disconnect(self, call: Call) -> None:
        attempt = call.last_attempt
        if attempt is not None and not attempt.finished:
            outcome = attempt.outcome
            outcome.client_disconnected = True
            if not outcome.status:
                outcome.status = CLIENT_CLOSED
            await self._end_attempt(attempt)
        await self.dispatch.request_end(call)

    def error_response(self, call: Call, error: GatewayError) -> web.Response:
        headers = {**JSON_HEADERS, **self._headers(call, call.last_attempt), **error.headers}
        return web.Response(status=error.status, body=error_body(error, call.dialect), headers=headers)

    def _headers(self, call: Call, attempt: Attempt | None) -> dict[str, str]:
        headers = {"x-bf-request-id": call.request_id, "x-bf-attempts": str(len(call.attempts)), "x-bf-cache": "bypass"}
        if attempt is not None:
            headers["x-bf-provider"] = attempt.target.provider
            headers["x-bf-model"] = attempt.outcome.model or attempt.target.model
            if attempt.notes:
                headers["x-bf-translation-notes"] = "; ".join(attempt.notes)[:1000]
        if call.route_rule:
            headers["x-bf-route"] = call.route_rule
        headers.update(call.response_headers)
        return headers

    # ------------------------------------------------------------------ attempts

    async def _attempts(self, call: Call, request: web.Request) -> web.StreamResponse:
        queue = list(call.targets)
        while queue:
            target = queue.pop(0)
            attempt = Attempt(call=call, target=target, number=len(call.attempts) + 1)
            call.attempts.append(attempt)
            response = await self._attempt(call, attempt, request)
            if response is not None:
                return response
            error = attempt.outcome.error
            if error is None or error.final:
                break
            advice = await self.dispatch.should_fall_back(attempt)
            if advice is None:
                advice = Advice(Advice.NEXT if attempt.outcome.refused_by else Advice.STOP)
            if advice.action == Advice.STOP:
                break
            if advice.action == Advice.RETRY:
                queue.insert(0, advice.target or target)
            if not queue:
                break
            if advice.delay > 0:
                if call.deadline is not None and time.perf_counter() + advice.delay > call.deadline:
                    break
                await asyncio.sleep(advice.delay)
        raise self._final_error(call)

    def _final_error(self, call: Call) -> GatewayError:
        errors = [a.outcome.error for a in call.attempts if a.outcome.error is not None]
        last = errors[-1] if errors else UpstreamUnavailable("no attempt could be made")
        if len(call.attempts) < 2:
            return last
        listed = "; ".join(
            f"#{a.number} {a.target}: {a.outcome.status} {a.outcome.error.type if a.outcome.error else ''}"
            f" ({a.outcome.error.message if a.outcome.error else 'ok'})"
            for a in call.attempts
        )
        last.message = f"all {len(call.attempts)} attempts failed: {listed}"
        last.args = (last.message,)
        return last

    async def _attempt(self, call: Call, attempt: Attempt, request: web.Request) -> web.StreamResponse | None:
        """Run one attempt. Returns the response when the client got an answer, None when the
        attempt failed before any byte reached the client (the caller may fall back)."""
        provider = self.providers[attempt.target.provider]
        attempt.provider_type = provider.type
        reply, error, reached = await self.dispatch.pre_attempt(attempt)
        attempt.hooks_reached = reached
        if error is not None:
            self._fail(attempt, error)
            attempt.outcome.refused_by = self.dispatch.names[reached]
            await self._end_attempt(attempt)
            return None
        if reply is not None:
            response = await self._send_reply(call, request, reply, attempt)
            await self._end_attempt(attempt)
            return response
        try:
            upstream_request = self._upstream_request(call, attempt, provider)
            upstream = await self._send(provider, attempt, upstream_request)
            if upstream.status >= 300:
                raise await self._upstream_error(provider, upstream)
            if call.stream and upstream_request.stream:
                return await self._relay(call, attempt, request, upstream, upstream_request.dialect)
            return await self._respond_whole(call, attempt, request, upstream, upstream_request.dialect)
        except GatewayError as exc:
            self._fail(attempt, exc)
            await self._end_attempt(attempt)
            return None

    def _fail(self, attempt: Attempt, error: GatewayError) -> None:
        attempt.outcome.error = error
        attempt.outcome.status = error.status
        attempt.ended = time.perf_counter()

    async def _end_attempt(self, attempt: Attempt) -> None:
        if attempt.finished:
            return
        attempt.finished = True
        if attempt.ended is None:
            attempt.ended = time.perf_counter()
        await self.dispatch.post_attempt(attempt, attempt.hooks_reached)

    async def _send(self, provider: Provider, attempt: Attempt, upstream_request: UpstreamRequest) -> UpstreamResponse:
        target = attempt.target
        key = provider.keys.get(target.key_name) if target.key_name else provider.keys.pick()
        attempt.key_name = key.name if key else None
        started = time.perf_counter()
        try:
            return await provider.send(upstream_request, key)
        finally:
            attempt.upstream_seconds += time.perf_counter() - started

    def _upstream_request(self, call: Call, attempt: Attempt, provider: Provider) -> UpstreamRequest:
        """The client's body for this provider: untouched but for the model name when the
        provider speaks the client's dialect, translated otherwise."""
        assert call.body is not None
        model = provider.upstream_model(attempt.target.model)
        if call.dialect in provider.dialects:
            dialect = call.dialect
            if model == call.body.get("model"):
                raw = call.raw_body
            else:
                raw = replace_top_level_string(call.raw_body, "model", model) or orjson.dumps({**call.body, "model": model})
            body = call.body if model == call.body.get("model") else {**call.body, "model": model}
            if dialect == OPENAI and call.stream and not (body.get("stream_options") or {}).get("include_usage"):
                # Usage is needed for billing: ask for it, and hide the extra chunk from a
                # client that did not ask (see the relay).
                body = {**body, "stream_options": {**(body.get("stream_options") or {}), "include_usage": True}}
                raw = orjson.dumps(body)
                attempt.stash[HIDE_USAGE_CHUNK] = True
        else:
            if call.endpoint != "messages":
                raise InvalidRequest(f"provider '{provider.name}' cannot serve {call.endpoint} requests")
            dialect = provider.dialects[0]
            body, notes = translate_request(call.body, call.dialect, dialect, model)
            attempt.notes.extend(notes)
            attempt.translated = True
            raw = orjson.dumps(body)
        headers = {}
        if dialect == ANTHROPIC:
            for name in FORWARDED_TO_ANTHROPIC:
                value = call.headers.get(name)
                if value is not None:
                    headers[name] = value
        return UpstreamRequest(
            endpoint=call.endpoint,
            dialect=dialect,
            body=raw,
            json=body,
            stream=bool(body.get("stream")),
            model=model,
            headers=headers,
            query_string=call.query_string if dialect == call.dialect else "",
        )

    async def _upstream_error(self, provider: Provider, upstream: UpstreamResponse) -> GatewayError:
        try:
            raw = await upstream.read()
        except (aiohttp.ClientError, TimeoutError):
            raw = b""
        message, kind = _error_details(raw)
        status = upstream.status
        headers = {}
        retry_after = upstream.headers.get("retry-after")
        if retry_after:
            headers["retry-after"] = retry_after
        if status in (401, 403):
            error: GatewayError = CredentialsRefused(
                f"provider '{provider.name}' refused the gateway's API key ({status}: {message})", headers=headers
            )
            error.upstream_status = status  # type: ignore[attr-defined]
            return error
        error = UpstreamError(
            f"provider '{provider.name}' answered {status}: {message}", status=status,
            error_type=kind if kind in _ANTHROPIC_TYPES else None, headers=headers,
        )
        return error

    # ------------------------------------------------------------------ answers

    async def _respond_whole(
        self, call: Call, attempt: Attempt, request: web.Request, upstream: UpstreamResponse, dialect: str
    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            raw = await upstream.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise UpstreamUnavailable(f"provider '{attempt.target.provider}' broke off its answer: {exc}") from exc
        finally:
            attempt.upstream_seconds += time.perf_counter() - started
        attempt.first_byte = time.perf_counter()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise UpstreamError(f"provider '{attempt.target.provider}' sent an answer that is not JSON", status=502) from exc
        facts = (usage_reader.anthropic_response_facts if dialect == ANTHROPIC else usage_reader.openai_response_facts)(data)
        if call.endpoint == EMBEDDINGS:
            facts.input_tokens = int((data.get("usage") or {}).get("prompt_tokens") or 0)
        if attempt.translated:
            data = translate_response(data, dialect, call.dialect, call.model)
            raw = orjson.dumps(data)
        outcome = attempt.outcome
        outcome.status = 200
        outcome.usage = _usage(facts)
        outcome.model = facts.model
        outcome.stop_reason = facts.stop_reason
        outcome.body = data
        outcome.response_dialect = call.dialect
        outcome.completed = True
        response = web.Response(status=200, body=raw, headers={**JSON_HEADERS, **self._headers(call, attempt)})
        try:
            await response.prepare(request)
            await response.write_eof()
            outcome.first_byte_sent = True
        except ConnectionResetError:
            outcome.client_disconnected = True  # the answer was complete; the client left first
        attempt.ended = time.perf_counter()
        await self._end_attempt(attempt)
        return response

    async def _relay(
        self, call: Call, attempt: Attempt, request: web.Request, upstream: UpstreamResponse, dialect: str
    ) -> web.StreamResponse:
        """Relay a stream. Until its first complete event the attempt can still fail over; after
        that, failures end the client's stream with an error event."""
        outcome = attempt.outcome
        outcome.streamed = True
        outcome.response_dialect = call.dialect
        splitter = EventSplitter()
        reader = UpstreamReader(dialect)
        translator = None
        if attempt.translated:
            translator = stream_translator(
                dialect, call.dialect, model=call.model,
                input_tokens=estimate_input_tokens(call.body or {}),
                include_usage=bool(((call.body or {}).get("stream_options") or {}).get("include_usage")),
            )
        hide_usage = attempt.stash.get(HIDE_USAGE_CHUNK, False)
        observers = attempt.stream_observers
        chunks = upstream.chunks().__aiter__()
        try:
            first = await self._first_events(attempt, upstream, chunks, splitter)
            events = reader.read(first)
            if reader.facts.error is not None:
                upstream.close()
                raise _stream_error(attempt, reader.facts.error)
        except asyncio.CancelledError:
            upstream.close()
            raise
        attempt.first_byte = time.perf_counter()
        response = web.StreamResponse(status=200, headers={**STREAM_HEADERS, **self._headers(call, attempt)})
        try:
            await response.prepare(request)
            outcome.first_byte_sent = True
            await response.write(self._client_bytes(first, events, translator, hide_usage, observers, dialect))
            await self._pump(attempt, upstream, chunks, splitter, reader, translator, hide_usage, response, dialect)
        except asyncio.CancelledError:
            upstream.close()
            self._settle_stream(attempt, reader)
            outcome.client_disconnected = True
            if outcome.error is None:
                outcome.status = CLIENT_CLOSED  # as below: a stream the client left is not a 200
            raise
        except ConnectionResetError:
            upstream.close()
            outcome.client_disconnected = True
        self._settle_stream(attempt, reader)
        if outcome.client_disconnected and outcome.error is None:
            outcome.status = CLIENT_CLOSED
        attempt.ended = time.perf_counter()
        await self._end_attempt(attempt)
        return response

    async def _first_events(
        self, attempt: Attempt, upstream: UpstreamResponse, chunks: Any, splitter: EventSplitter
    ) -> bytes:
        """Read until the first complete event; failures here still allow a fallback."""
        provider = self.providers[attempt.target.provider]
        started = time.perf_counter()
        try:
            async with asyncio.timeout(provider.config.timeouts.first_byte):
                while True:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        raise UpstreamUnavailable(
                            f"provider '{provider.name}' ended its stream before the first event"
                        ) from None
                    complete = splitter.push(chunk)
                    if complete:
                        return complete
        except TimeoutError as exc:
            upstream.close()
            raise UpstreamUnavailable(
                f"provider '{provider.name}' sent no event within {provider.config.timeouts.first_byte:g}s", status=504
            ) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            upstream.close()
            raise UpstreamUnavailable(f"provider '{provider.name}' broke off its stream: {exc}") from exc
        finally:
            attempt.upstream_seconds += time.perf_counter() - started

    async def _pump(
        self, attempt: Attempt, upstream: UpstreamResponse, chunks: Any, splitter: EventSplitter,
        reader: UpstreamReader, translator: Any, hide_usage: bool, response: web.StreamResponse, dialect: str,
    ) -> None:
        observers = attempt.stream_observers
        call = attempt.call
        while True:
            waited = time.perf_counter()
            try:
                chunk = await anext(chunks)
            except StopAsyncIteration:
                break
            except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                upstream.close()
                kind = "stalled" if isinstance(exc, TimeoutError) else "broke off"
                attempt.outcome.error = UpstreamUnavailable(
                    f"provider '{attempt.target.provider}' {kind} its stream after the first event: {exc or type(exc).__name__}"
                )
                break
            finally:
                attempt.upstream_seconds += time.perf_counter() - waited
            complete = splitter.push(chunk)
            if not complete:
                continue
            events = reader.read(complete)
            out = self._client_bytes(complete, events, translator, hide_usage, observers, dialect)
            if out:
                await response.write(out)
        upstream.release()
        facts = reader.facts
        if translator is not None and attempt.outcome.error is None and facts.error is None:
            await response.write(translator.finish())
        if attempt.outcome.error is None and facts.error is None and not facts.finished:
            attempt.outcome.error = UpstreamUnavailable(
                f"provider '{attempt.target.provider}' ended its stream before the end of the answer"
            )
        if attempt.outcome.error is not None:
            await response.write(error_event(attempt.outcome.error, call.dialect))
        await response.write_eof()

    @staticmethod
    def _client_bytes(
        complete: bytes, events: list[Any], translator: Any, hide_usage: bool, observers: list[Any], dialect: str
    ) -> bytes:
        if observers:
            for event in events:
                if event.data and event.data != "[DONE]":
                    data = orjson.loads(event.data)
                    for observer in observers:
                        observer.on_event(dialect, event.event, data)
        if translator is not None:
            return b"".join(translator.feed(event) for event in events)
        if hide_usage and OPENAI_USAGE_OBJECT.search(complete):
            return b"".join(_without_usage_chunk(event) for event in events)
        return complete

    def _settle_stream(self, attempt: Attempt, reader: UpstreamReader) -> None:
        facts = reader.facts
        outcome = attempt.outcome
        outcome.usage = _usage(facts)
        outcome.model = facts.model
        outcome.stop_reason = facts.stop_reason
        outcome.completed = facts.finished and outcome.error is None
        if facts.error is not None and outcome.error is None:
            outcome.error = _stream_error(attempt, facts.error)
        outcome.status = outcome.error.status if outcome.error is not None else 200

    async def _send_reply(self, call: Call, request: web.Request, reply: Reply, attempt: Attempt | None) -> web.StreamResponse:
        """Answer with a complete message produced by a plugin, in the caller's dialect."""
        message = reply.message
        headers = {**self._headers(call, attempt), **reply.headers}
        if attempt is not None:
            facts = usage_reader.anthropic_response_facts(message)
            attempt.outcome.reply = reply
            attempt.outcome.status = 200
            attempt.outcome.usage = _usage(facts)
            attempt.outcome.model = message.get("model")
            attempt.outcome.stop_reason = message.get("stop_reason")
            attempt.outcome.streamed = call.stream
            attempt.outcome.completed = True
            attempt.outcome.first_byte_sent = True
            attempt.first_byte = time.perf_counter()
        if not call.stream:
            body = message if call.dialect == ANTHROPIC else translate_response(message, ANTHROPIC, OPENAI, call.model)
            response = web.Response(status=200, body=orjson.dumps(body), headers={**JSON_HEADERS, **headers})
            await response.prepare(request)
            await response.write_eof()
            return response
        if call.dialect == ANTHROPIC:
            wire = anthropic_wire(message_events(message))
        else:
            from .dialects.sse import SSEEvent

            translator = stream_translator(
                ANTHROPIC, OPENAI, model=call.model, input_tokens=0,
                include_usage=bool(((call.body or {}).get("stream_options") or {}).get("include_usage")),
            )
            wire = b"".join(translator.feed(SSEEvent(name, orjson.dumps(data).decode())) for name, data in message_events(message))
            wire += translator.finish()
        response = web.StreamResponse(status=200, headers={**STREAM_HEADERS, **headers})
        await response.prepare(request)
        await response.write(wire)
        await response.write_eof()
        return response

    # ------------------------------------------------------------------ count_tokens

    async def _count_tokens(self, call: Call, request: web.Request, target: Target) -> web.StreamResponse:
        """Anthropic's own count when the target is an Anthropic-dialect provider that offers it;
        otherwise, or when that count fails, a local estimate marked as one in `x-bf-estimate`."""
        provider = self.providers[target.provider]
        headers = {**self._headers(call, None), "x-bf-provider": provider.name, "x-bf-model": target.model}
        if provider.supports_count_tokens and ANTHROPIC in provider.dialects and call.body is not None:
            attempt = Attempt(call=call, target=target, number=1)
            try:
                upstream = await self._send(provider, attempt, self._upstream_request(call, attempt, provider))
                body = await upstream.read()
            except (GatewayError, aiohttp.ClientError, TimeoutError) as exc:
                log.info("count_tokens at %s failed (%s); answering with the local estimate", provider.name, exc)
            else:
                if upstream.status < 300:
                    return web.Response(status=upstream.status, body=body, headers={**JSON_HEADERS, **headers})
                if upstream.status < 500 and upstream.status not in (401, 403, 429):
                    raise await self._upstream_error(provider, _Replayed(upstream.status, upstream.headers, body))
                log.info("count_tokens at %s answered %s; answering with the local estimate", provider.name, upstream.status)
        estimate = estimate_input_tokens(call.body or {})
        return web.Response(
            body=orjson.dumps({"input_tokens": estimate}),
            headers={**JSON_HEADERS, **headers, "x-bf-estimate": "true"},
        )


class _Replayed(UpstreamResponse):
    def __init__(self, status: int, headers: Any, body: bytes) -> None:
        self.status, self.headers, self._body = status, headers, body

    async def read(self) -> bytes:
        return self._body



HIDE_USAGE_CHUNK = StashKey[bool]("hide_usage_chunk")

_ANTHROPIC_TYPES = {
    "invalid_request_error", "authentication_error", "billing_error", "permission_error", "not_found_error",
    "request_too_large", "rate_limit_error", "api_error", "overloaded_error", "timeout_error",
}


def _error_details(raw: bytes) -> tuple[str, str | None]:
    """(message, type) from an upstream error body in any dialect."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        text = raw.decode("utf-8", "replace").strip()
        return (text[:300] or "no details"), None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error.get("type") or "no details"), error.get("type")
    if isinstance(data, dict) and data.get("message"):
        return str(data["message"]), None
    return raw.decode("utf-8", "replace")[:300], None


def _stream_error(attempt: Attempt, error: dict[str, Any]) -> GatewayError:
    kind = str(error.get("type") or "api_error")
    status = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "timeout_error": 504}.get(kind, 500)
    return UpstreamError(
        f"provider '{attempt.target.provider}' sent an error in its stream: {error.get('message') or kind}",
        status=status, error_type=kind if kind in _ANTHROPIC_TYPES else None,
    )


def _usage(facts: usage_reader.StreamFacts) -> Usage:
    return Usage(facts.input_tokens, facts.output_tokens, facts.cache_read_tokens, facts.cache_write_tokens)


def _without_usage_chunk(event: Any) -> bytes:
    """An OpenAI chunk as the client would have had it without include_usage."""
    if event.data == "[DONE]":
        return b"data: [DONE]\n\n"
    chunk = orjson.loads(event.data)
    if not chunk.get("choices") and chunk.get("usage"):
        return b""
    chunk.pop("usage", None)
    return b"data: " + orjson.dumps(chunk) + b"\n\n"
