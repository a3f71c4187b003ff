"""One attempt against one provider, owned from its pre hooks to its post hooks.

An `Exchange` opens what the attempt needs (the upstream response, as `async with`; the stream
relay with its splitter, usage reader and translator) and settles the attempt exactly once, in a
`finally`: the Outcome is filled from what happened and the post hooks run for every plugin whose
pre hook ran, whatever was raised — a refusal, an upstream failure, a malformed answer, a client
hanging up (cancellation), or a bug of ours. So a budget hold cannot outlive its attempt.

Whose fault a failure is decides what the client sees:

    before the first byte reached the client   the attempt failed: `run()` returns None and the
                                               attempt loop may fall back to the next target
    after it                                   the stream ends with an error event, then EOF
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from aiohttp import web

from .answers import CLIENT_CLOSED, Responder, call_headers
from .context import MESSAGES, RESPONSES, Attempt, Usage
from .dialects import usage as usage_reader
from .dialects.gemini import GEMINI
from .dialects.gemini_usage import gemini_response_facts
from .dialects.rawjson import replace_top_level_string
from .dialects.responses_usage import responses_response_facts
from .dialects.tokens import estimate_input_tokens
from .dialects.translate_errors import MalformedAnswer
from .errors import (
    ANTHROPIC_ERROR_TYPES,
    GatewayError,
    InvalidRequest,
    NotFound,
    UpstreamError,
    UpstreamUnavailable,
)
from .limits import answered_model, request_json
from .pluginmanager import Progress
from .providers.base import Provider, UpstreamRequest, UpstreamResponse
from .relay import StreamRelay
from .translation import stream_translator, translate_request, translate_response

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.exchange")

_STREAM_ERROR_STATUS = {"overloaded_error": 529, "rate_limit_error": 429, "api_error": 500, "timeout_error": 504}


class Exchange:
    __slots__ = ("attempt", "gateway", "progress", "provider", "relay", "responder")

    def __init__(self, gateway: Gateway, attempt: Attempt, responder: Responder) -> None:
        self.gateway = gateway
        self.attempt = attempt
        self.responder = responder
        self.progress = Progress()
        self.provider: Provider | None = None
        self.relay: StreamRelay | None = None

    async def run(self) -> web.StreamResponse | None:
        """The response when the client got an answer (a stream cut short included); None when
        the attempt failed before any byte reached the client. Settled when it returns or raises."""
        try:
            return await self._run()
        except GatewayError as error:
            return await self._failed(error)
        except MalformedAnswer as exc:
            return await self._failed(UpstreamError(
                f"provider '{self.attempt.target.provider}' sent a malformed answer: {exc}", status=502
            ))
        except ConnectionError:
            # Only writes to the client get here: every read from the provider maps its own errors.
            return self._client_left()
        except asyncio.CancelledError:
            self._client_left()
            raise
        except Exception as exc:
            log.exception("attempt %d of request %s failed inside the gateway", self.attempt.number,
                          self.attempt.call.request_id)
            return await self._failed(GatewayError(f"internal gateway error ({type(exc).__name__})"))
        finally:
            await self._settle()

    # ------------------------------------------------------------------ the attempt

    async def _run(self) -> web.StreamResponse:
        attempt = self.attempt
        provider = self.gateway.providers.get(attempt.target.provider)
        if provider is None:
            raise NotFound(f"provider '{attempt.target.provider}' is not configured", final=False)
        self.provider = provider
        attempt.provider_type = provider.type
        attempt.upstream_model = provider.upstream_model(attempt.target.model)  # what budgets reserve for
        try:
            reply = await self.gateway.dispatcher.pre_attempt(attempt, self.progress)
        except GatewayError:
            attempt.outcome.refused_by = self.gateway.dispatcher.names[self.progress.reached]
            raise
        if reply is not None:
            self._replied()
            attempt.outcome.reply = reply
            return await self.responder.reply(reply, attempt)
        request = self._upstream_request(provider)
        async with await self._send(provider, request) as upstream:
            if upstream.status >= 300:
                raise provider.error_for(upstream.status, upstream.headers, await _error_body(upstream))
            if request.stream:
                return await self._relay(upstream, request)
            return await self._whole(upstream, request)

    def _upstream_request(self, provider: Provider) -> UpstreamRequest:
        """The client's body for this provider: untouched but for the model name when the
        provider speaks the client's dialect, translated otherwise; then the adapter's shaping."""
        call, attempt = self.attempt.call, self.attempt
        assert call.body is not None
        model = provider.upstream_model(attempt.target.model)
        if call.dialect in provider.dialects:
            dialect, body, raw = call.dialect, call.body, call.raw_body
            if model != body.get("model") and call.dialect != GEMINI:  # Gemini: the model is in the path
                body = {**body, "model": model}
                raw = replace_top_level_string(raw, "model", model) or request_json(body)
        else:
            if call.endpoint != MESSAGES:
                raise InvalidRequest(f"provider '{provider.name}' cannot serve {call.endpoint} requests", final=False)
            dialect = provider.dialects[0]
            body, notes = translate_request(call.body, call.dialect, dialect, model)
            if call.stream and call.dialect == GEMINI:  # Gemini asks for a stream in the path
                body["stream"] = True
            attempt.notes.extend(notes)
            raw = request_json(body)
        attempt.upstream_dialect = dialect
        attempt.upstream_model = model
        request = UpstreamRequest(
            endpoint=call.endpoint, dialect=dialect, body=raw, json=body, stream=call.stream, model=model,
            query_string=call.query_string if dialect == call.dialect else "", extra_headers=attempt.upstream_headers,
        )
        return provider.prepare(request, call.headers)

    async def _send(self, provider: Provider, request: UpstreamRequest) -> UpstreamResponse:
        attempt = self.attempt
        target = attempt.target
        key = provider.keys.get(target.key_name) if target.key_name else provider.keys.pick()
        attempt.key_name = key.name if key else None
        started = time.perf_counter()
        try:
            return await provider.send(request, key)
        finally:
            attempt.upstream_seconds += time.perf_counter() - started

    # ------------------------------------------------------------------ a whole answer

    async def _whole(self, upstream: UpstreamResponse, request: UpstreamRequest) -> web.StreamResponse:
        attempt, call = self.attempt, self.attempt.call
        started = time.perf_counter()
        try:
            raw = await upstream.read()
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            raise UpstreamUnavailable(f"provider '{attempt.target.provider}' broke off its answer: {exc}") from exc
        finally:
            attempt.upstream_seconds += time.perf_counter() - started
        attempt.first_byte = time.perf_counter()
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise MalformedAnswer("the answer is not JSON") from exc
        facts = response_facts(request.dialect, data)
        if attempt.translated:
            data = translate_response(data, request.dialect, call.dialect, call.model, call.body)
            raw = orjson.dumps(data)
        outcome = attempt.outcome
        outcome.usage = usage_of(facts)
        outcome.model = answered_model(facts.model)
        outcome.stop_reason = facts.stop_reason
        outcome.body = data
        outcome.response_dialect = call.dialect
        outcome.completed = True
        response = await self.responder.whole(raw, call_headers(call, attempt))
        outcome.first_byte_sent = True
        return response

    # ------------------------------------------------------------------ a stream

    async def _relay(self, upstream: UpstreamResponse, request: UpstreamRequest) -> web.StreamResponse:
        """Until its first complete event the attempt can still fail over; after that, failures
        end the client's stream with an error event (`run()` writes it)."""
        attempt, call = self.attempt, self.attempt.call
        attempt.outcome.streamed = True
        attempt.outcome.response_dialect = call.dialect
        translator = None
        if attempt.translated:
            translator = stream_translator(
                request.dialect, call.dialect, model=call.model,
                input_tokens=estimate_input_tokens(call.body or {}), include_usage=call.include_usage,
                request=call.body,
            )
        relay = self.relay = StreamRelay(request.dialect, translator, hide_usage=request.hide_usage,
                                         observers=attempt.stream_observers)
        chunks = upstream.chunks().__aiter__()
        first = await self._first_event(chunks, relay)
        if relay.facts.error is not None:
            raise stream_error(attempt, relay.facts.error)
        attempt.first_byte = time.perf_counter()
        response = await self.responder.open_stream(call_headers(call, attempt))  # its head leaves with `first`
        attempt.outcome.first_byte_sent = True
        # The events that arrived with the upstream's end are written with the client's end, in
        # one write (a short answer: head, events and end in one), instead of one write each.
        last = first
        if not upstream.ended():
            await response.write(first)
            last = b""
            while True:  # per chunk: kept inline, a helper coroutine would cost a frame a chunk
                waited = time.perf_counter()
                try:
                    chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
                    raise self._broke_off(exc) from exc
                finally:
                    attempt.upstream_seconds += time.perf_counter() - waited
                out = relay.push(chunk)
                if out:
                    if upstream.ended():
                        last = out
                        break
                    await response.write(out)
        upstream.release()
        facts = relay.facts
        if facts.error is None:
            if not facts.finished:
                if last:
                    await response.write(last)
                raise UpstreamUnavailable(
                    f"provider '{attempt.target.provider}' ended its stream before the end of the answer"
                )
            last += relay.finish()
        await response.write_eof(last)
        return response

    async def _first_event(self, chunks: AsyncIterator[bytes], relay: StreamRelay) -> bytes:
        """Read until the first complete event: what the client gets for it."""
        provider = self.attempt.target.provider
        timeout = self.provider.config.timeouts.first_byte if self.provider else None
        started = time.perf_counter()
        try:
            async with asyncio.timeout(timeout):
                while True:
                    try:
                        chunk = await anext(chunks)
                    except StopAsyncIteration:
                        raise UpstreamUnavailable(f"provider '{provider}' ended its stream before the first event") from None
                    out = relay.push(chunk)
                    if out is not None:
                        return out
        except TimeoutError as exc:
            raise UpstreamUnavailable(f"provider '{provider}' sent no event within {timeout:g}s", status=504) from exc
        except (aiohttp.ClientError, ConnectionError) as exc:
            raise UpstreamUnavailable(f"provider '{provider}' broke off its stream: {exc}") from exc
        finally:
            self.attempt.upstream_seconds += time.perf_counter() - started

    def _broke_off(self, exc: BaseException) -> UpstreamUnavailable:
        """A failure of the provider's stream after its first event."""
        kind = "stalled" if isinstance(exc, TimeoutError) else "broke off"
        return UpstreamUnavailable(
            f"provider '{self.attempt.target.provider}' {kind} its stream after the first event: "
            f"{exc or type(exc).__name__}"
        )

    # ------------------------------------------------------------------ endings

    def _replied(self) -> None:
        outcome = self.attempt.outcome
        outcome.streamed = self.attempt.call.stream
        outcome.completed = True
        outcome.first_byte_sent = True
        self.attempt.first_byte = time.perf_counter()

    async def _failed(self, error: GatewayError) -> web.StreamResponse | None:
        outcome = self.attempt.outcome
        if outcome.error is None:
            outcome.error = error
        if not self.responder.started:
            return None
        return await self.responder.error(outcome.error, self.attempt)

    def _client_left(self) -> web.StreamResponse:
        self.attempt.outcome.client_disconnected = True
        return self.responder.response or web.Response(status=CLIENT_CLOSED)

    async def _settle(self) -> None:
        """Fill the Outcome once from what happened, then run the post hooks of every plugin
        whose pre hook ran, to their end even if this task is being cancelled."""
        self._conclude()
        if self.progress.reached >= 0:
            await self.gateway.finish(self.gateway.dispatcher.post_attempt(self.attempt, self.progress.reached))

    def _conclude(self) -> None:
        attempt = self.attempt
        outcome = attempt.outcome
        if self.relay is not None:
            facts = self.relay.facts
            outcome.usage = usage_of(facts)
            outcome.model = answered_model(facts.model)
            outcome.stop_reason = facts.stop_reason
            if facts.error is not None and outcome.error is None:
                outcome.error = stream_error(attempt, facts.error)
            outcome.completed = facts.finished and outcome.error is None
        if outcome.reply is not None:
            outcome.usage = usage_of(reply_facts(outcome.reply.message))
            outcome.model = answered_model(outcome.reply.message.get("model"))
            outcome.stop_reason = _text(outcome.reply.message.get("stop_reason"))
        if outcome.error is not None:
            outcome.status = outcome.error.status
        elif outcome.client_disconnected and (outcome.streamed or not outcome.completed):
            outcome.status = CLIENT_CLOSED
        else:
            outcome.status = 200
        if attempt.ended is None:
            attempt.ended = time.perf_counter()


def response_facts(dialect: str, data: Any) -> usage_reader.StreamFacts:
    """Usage, model and stop reason of a whole answer; MalformedAnswer when it is not the
    dialect's success shape."""
    if not isinstance(data, dict):
        raise MalformedAnswer("the answer is not a JSON object")
    if dialect == "anthropic":
        return usage_reader.anthropic_response_facts(data)
    if dialect == GEMINI:
        return gemini_response_facts(data)
    if dialect == RESPONSES:
        return responses_response_facts(data)
    return usage_reader.openai_response_facts(data)


def reply_facts(message: dict[str, Any]) -> usage_reader.StreamFacts:
    """A plugin's reply is an Anthropic message; one that is not well formed bills nothing."""
    try:
        return usage_reader.anthropic_response_facts(message)
    except (MalformedAnswer, TypeError, ValueError):
        return usage_reader.StreamFacts()


def stream_error(attempt: Attempt, error: dict[str, Any]) -> GatewayError:
    """An error event the provider sent in its stream, as an upstream error."""
    kind = _text(error.get("type")) or "api_error"
    return UpstreamError(
        f"provider '{attempt.target.provider}' sent an error in its stream: {_text(error.get('message')) or kind}",
        status=_STREAM_ERROR_STATUS.get(kind, 500), error_type=kind if kind in ANTHROPIC_ERROR_TYPES else None,
    )


def usage_of(facts: usage_reader.StreamFacts) -> Usage:
    return Usage(facts.input_tokens, facts.output_tokens, facts.cache_read_tokens, facts.cache_write_tokens)


def _text(value: object, limit: int = 300) -> str | None:
    return value[:limit] if isinstance(value, str) else None


async def _error_body(upstream: UpstreamResponse) -> bytes:
    """A provider's error body, or b"" when even that could not be read (the status tells)."""
    try:
        return await upstream.read()
    except (aiohttp.ClientError, TimeoutError, ConnectionError):
        return b""
