"""Turning an ended attempt (or a request that never reached one) into a priced log row.

This runs on every request, after the answer went to the client: it only reads attributes,
prices the usage (a dict lookup and a few multiplications, see bifrost_py.pricing) and builds a
dict. Everything slow happens in the writer.

Text that the client or an upstream chose (model names, user agent, session id, error message)
is bounded and escaped before the row is queued (`columns.CLIENT_TEXT`, `text.bounded`), so one
request cannot make a row megabytes long or one that a store refuses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Collection
from typing import Any

import orjson

from bifrost_py.context import Attempt, Call, Outcome, StashKey, Usage
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.pricing import PriceBook
from bifrost_py.relay import observed_events

from .columns import BODIES, CLIENT_TEXT, NAMES
from .settings import Settings
from .text import TRUNCATED, bounded, storable

Row = dict[str, Any]

ROWS = StashKey[list[Row]]("costlog.rows")
STREAM_BODY = StashKey["StreamBody"]("costlog.stream_body")
# The token and cost columns of a row for which no provider was paid (a plugin's reply, a
# request that ended before any attempt).
NOTHING_CONSUMED: dict[str, Any] = {
    "input_tokens": 0, "output_tokens": 0, "cache_read_tokens": 0, "cache_write_tokens": 0,
    "cost_usd": 0.0, "price_unknown": False, "saved_usd": None, "requested_cost_usd": None,
    "savings_unpriced": False,
}


# Every column of an attempt's row but the bodies, in column order, with NOTHING_CONSUMED's values
# (`finish` sets request_ms).
_ATTEMPT_ROW: Row = {name: None for name in NAMES if name not in BODIES and name != "id"} | NOTHING_CONSUMED


class RowBuilder:
    """Builds rows; holds only what pricing and body logging need."""

    def __init__(self, prices: PriceBook, settings: Settings, providers: Collection[str]) -> None:
        self.prices = prices
        self.bodies = settings.bodies
        self.body_limit = settings.max_body_bytes
        self.providers = providers

    # ------------------------------------------------------------------ one attempt

    def attempt_row(self, attempt: Attempt) -> Row:
        """The attempt's row: a copy of a template with every column in order (a dict literal of
        this size is built in chunks merged with dict updates; a copy of a dict of the same keys
        is one memory copy), its values set in place, its tokens and cost by the pricing below."""
        call = attempt.call
        outcome = attempt.outcome
        target = attempt.target
        error = outcome.error
        reply = outcome.reply
        caller = call.caller
        latency = attempt.latency
        upstream = attempt.upstream_seconds
        ttft = attempt.ttft if outcome.streamed else None
        cache_hit = reply is not None and reply.source == "cache"
        row = _ATTEMPT_ROW.copy()
        row["request_id"] = call.request_id
        row["attempt"] = attempt.number
        row["final"] = False
        row["ts"] = attempt.started_at
        row["key_id"] = caller.key_id if caller else None
        row["key_name"] = caller.key_name if caller else None
        row["team"] = caller.team if caller else None
        row["customer"] = caller.customer if caller else None
        row["endpoint"] = call.endpoint
        row["dialect"] = call.dialect
        row["provider"] = target.provider
        row["provider_type"] = attempt.provider_type or None
        row["provider_key"] = attempt.key_name
        row["requested_model"] = call.model or None
        row["model"] = target.model
        row["answered_model"] = outcome.model
        row["served_model"] = attempt.upstream_model
        row["status"] = outcome.status or (error.status if error is not None else 0)
        row["error_type"] = error.type if error is not None else None
        row["error_message"] = error.message if error is not None else None
        row["refused_by"] = outcome.refused_by
        row["latency_ms"] = latency * 1000.0
        row["ttft_ms"] = None if ttft is None else ttft * 1000.0
        row["upstream_ms"] = upstream * 1000.0
        row["overhead_ms"] = (latency - upstream) * 1000.0 if latency > upstream else 0.0
        row["streamed"] = outcome.streamed
        row["completed"] = outcome.completed
        row["client_disconnected"] = outcome.client_disconnected
        row["cache_hit"] = cache_hit
        row["fallback"] = attempt.number > 1
        row["translated"] = attempt.translated
        row["stop_reason"] = outcome.stop_reason
        row["route_rule"] = target.rule or call.route_rule
        row["session_id"] = call.session_id
        row["client_app"] = call.client_app
        if reply is not None:
            self._price_reply(row, attempt, reply.message, cache_hit)
        else:
            self._price_usage(row, attempt, outcome.usage)
        if self.bodies:
            row["response_body"] = self._response_body(attempt, outcome)
        return row

    def _price_usage(self, row: Row, attempt: Attempt, usage: Usage) -> None:
        """What was paid: the usage at the price of what the provider served (its own id, a
        Bedrock or Azure mapping resolved: `PriceBook.served`). When the client asked for
        another model (a routing rule, a fallback, a mapping to another model), also what the
        same usage would have cost on that one: "saved by routing" is the difference. A price
        that is not known is never replaced by another model's: the row is marked instead.
        (The row comes with the columns of NOTHING_CONSUMED.)"""
        if usage.total == 0:
            return
        row["input_tokens"] = usage.input_tokens
        row["output_tokens"] = usage.output_tokens
        row["cache_read_tokens"] = usage.cache_read_tokens
        row["cache_write_tokens"] = usage.cache_write_tokens
        cost = self.prices.served_cost(attempt, usage)
        row["cost_usd"], row["price_unknown"] = cost, cost is None
        requested = self._requested_model(attempt)
        if requested is None or not attempt.outcome.ok:
            return
        requested_cost = self.prices.cost(requested, attempt.provider_type or None, usage)
        if cost is None or requested_cost is None:
            row["savings_unpriced"] = True  # no saving can be told: none is counted
        else:
            row["requested_cost_usd"] = requested_cost

    def _price_reply(self, row: Row, attempt: Attempt, message: dict[str, Any], cached: bool) -> None:
        """A plugin answered: nothing was consumed from a provider, so tokens and cost are 0;
        a cache hit records as `saved_usd` what the cached answer's usage costs at the price of
        what the provider would have served (the id the target maps to, else the model the
        cached answer names); unknown: `savings_unpriced`. (The row comes with the columns of
        NOTHING_CONSUMED.)"""
        if cached:
            usage = usage_of_message(message)
            if usage.total:
                price = self.prices.served(attempt)
                named = message.get("model")
                if price is None and isinstance(named, str) and named:
                    price = self.prices.price(named, attempt.provider_type or None)
                if price is None:
                    row["savings_unpriced"] = True
                else:
                    row["saved_usd"] = price.cost(usage)

    def _requested_model(self, attempt: Attempt) -> str | None:
        """The model the client asked for, when what was served is another one: routing or a
        fallback targeted another model, or the provider maps the name to another id."""
        requested = attempt.call.model
        prefix, slash, rest = requested.partition("/")
        if slash and prefix in self.providers:
            requested = rest
        if not requested:
            return None
        served = attempt.upstream_model
        if requested == attempt.target.model and (served is None or served == requested):
            return None
        return requested

    def _response_body(self, attempt: Attempt, outcome: Outcome) -> str | None:
        observer = attempt.stash.get(STREAM_BODY)
        if observer is not None and outcome.streamed:
            return storable(observer.text())
        if outcome.reply is not None:
            return self.cut(_json(outcome.reply.message))
        if outcome.body is not None:
            return self.cut(_json(outcome.body))
        return None

    # ------------------------------------------------------------------ no attempt

    def call_row(self, call: Call) -> Row:
        """A request that ended before any attempt (bad JSON, unknown key, unknown model, a
        plugin's answer at request_start, count_tokens)."""
        error = call.error
        row = _caller_fields(call)
        row.update(
            request_id=call.request_id,
            attempt=0,
            final=True,
            ts=call.started_at,
            provider=call.targets[0].provider if call.targets else None,
            provider_type=None,
            provider_key=None,
            requested_model=call.model or None,
            model=call.model or None,
            answered_model=None,
            status=error.status if error is not None else 200,
            error_type=error.type if error is not None else None,
            error_message=error.message if error is not None else None,
            refused_by=None,
            **NOTHING_CONSUMED,
            ttft_ms=None,
            upstream_ms=0.0,
            streamed=False,
            completed=error is None,
            client_disconnected=False,
            cache_hit=False,
            fallback=False,
            translated=False,
            stop_reason=None,
            route_rule=call.route_rule,
        )
        return row

    # ------------------------------------------------------------------ request end

    def finish(self, call: Call, rows: list[Row] | None) -> list[Row]:
        """The request's rows, complete: one per attempt (also for attempts whose post hook
        this plugin did not see), the last one marked final, the request's duration on all."""
        attempts = call.attempts
        if not attempts:
            rows = [self.call_row(call)]
        elif rows is None or len(rows) != len(attempts):
            seen = {row["attempt"]: row for row in rows or ()}
            rows = [seen.get(a.number) or self.attempt_row(a) for a in attempts]
        request_ms = (time.perf_counter() - call.started) * 1000.0
        for row in rows:
            row["request_ms"] = request_ms
            bound_client_text(row)
        last = rows[-1]
        last["final"] = True
        if not attempts:
            last["latency_ms"] = last["overhead_ms"] = request_ms
        if self.bodies and call.raw_body:
            last["request_body"] = self.cut(call.raw_body)
        return rows

    def cut(self, raw: bytes) -> str:
        if len(raw) <= self.body_limit:
            return storable(raw.decode("utf-8", "replace"))
        return storable(raw[: self.body_limit].decode("utf-8", "ignore")) + TRUNCATED


def _caller_fields(call: Call) -> Row:
    caller = call.caller
    return {
        "key_id": caller.key_id if caller else None,
        "key_name": caller.key_name if caller else None,
        "team": caller.team if caller else None,
        "customer": caller.customer if caller else None,
        "endpoint": call.endpoint,
        "dialect": call.dialect,
        "session_id": call.session_id,
        "client_app": call.client_app,
    }


def _json(value: Any) -> bytes:
    """A body as JSON; one a plugin built with a lone surrogate or an odd type, which orjson
    refuses, is written with the standard library's escapes instead of failing the hook."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, default=repr).encode()


def bound_client_text(row: Row) -> None:
    """Cut and escape the row's text from outside (`columns.CLIENT_TEXT`). Printable ASCII
    within its limit, nearly always the case, is left as it is after three C-level checks."""
    for name, limit in CLIENT_TEXT:
        value = row.get(name)
        if value is None or (type(value) is str and len(value) <= limit and value.isascii() and value.isprintable()):
            continue
        row[name] = bounded(value if isinstance(value, str) else str(value), limit)


def usage_of_message(message: dict[str, Any]) -> Usage:
    """The usage of an Anthropic-shaped message (how the cache keeps the original answer)."""
    usage = message.get("usage")
    if not isinstance(usage, dict):
        return Usage()
    return Usage(
        _int(usage.get("input_tokens")),
        _int(usage.get("output_tokens")),
        _int(usage.get("cache_read_input_tokens")),
        _int(usage.get("cache_creation_input_tokens")),
    )


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


class StreamBody:
    """Collects the text of a stream, for `logging.bodies: true`: a bytes observer (registered
    with attempt.observe_stream) that keeps the provider's complete events as they pass and
    reads the text out of them only when the row is built, or whenever it holds `limit` bytes
    (at least 64 KB) of them, so what it keeps stays bounded; it stops at the size limit."""

    __slots__ = ("_chunks", "_dialect", "_kept", "limit", "parts", "size")

    def __init__(self, limit: int) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.limit = limit
        self._chunks: list[bytes] = []
        self._kept = 0
        self._dialect = "anthropic"

    def on_bytes(self, dialect: str, data: bytes) -> None:
        if self.size >= self.limit:
            return
        self._dialect = dialect
        self._chunks.append(data)
        self._kept += len(data)
        if self._kept >= max(self.limit, 65536):
            self._read()

    def _read(self) -> None:
        """The kept events' text, as `on_event` takes it, up to the first event that is not JSON
        (where the relay would have ended the stream)."""
        data = b"".join(self._chunks)
        self._chunks = []
        self._kept = 0
        names = _ANTHROPIC_TEXT if self._dialect == "anthropic" else None
        try:
            for name, value in observed_events(self._dialect, data, names):
                self.on_event(self._dialect, name, value)
                if self.size >= self.limit:
                    return
        except MalformedAnswer:
            return

    def on_event(self, dialect: str, name: str | None, data: Any) -> None:
        """One parsed event (what the kept bytes are read through)."""
        if self.size >= self.limit or not isinstance(data, dict):
            return
        if dialect == "anthropic":
            piece = _anthropic_piece(name, data)
        elif dialect == "responses":
            piece = _responses_piece(name, data)
        elif dialect == "gemini":
            piece = _gemini_piece(data)
        else:
            piece = _openai_piece(data)
        if piece:
            self.parts.append(piece)
            self.size += len(piece)

    def text(self) -> str:
        if self._chunks:
            try:
                self._read()
            except (AttributeError, TypeError, ValueError):
                pass  # an event of a shape it does not know: the text read so far
        text = "".join(self.parts)
        return text if len(text) <= self.limit else text[: self.limit] + TRUNCATED


_ANTHROPIC_TEXT = frozenset({"content_block_delta"})  # the only Anthropic events with text in them


def _anthropic_piece(name: str | None, data: dict[str, Any]) -> str:
    if name != "content_block_delta":
        return ""
    delta = data.get("delta") or {}
    return str(delta.get("text") or delta.get("partial_json") or delta.get("thinking") or "")


def _openai_piece(data: dict[str, Any]) -> str:
    pieces = []
    for choice in data.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content"):
            pieces.append(str(delta["content"]))
        for call in delta.get("tool_calls") or ():
            arguments = (call.get("function") or {}).get("arguments")
            if arguments:
                pieces.append(str(arguments))
    return "".join(pieces)


_RESPONSES_DELTAS = frozenset({"response.output_text.delta", "response.function_call_arguments.delta",
                               "response.reasoning_summary_text.delta"})


def _responses_piece(name: str | None, data: dict[str, Any]) -> str:
    """A passed-through Responses API stream (Codex against an `openai` provider)."""
    if (name or data.get("type")) not in _RESPONSES_DELTAS:
        return ""
    return str(data.get("delta") or "")


def _gemini_piece(data: dict[str, Any]) -> str:
    """A passed-through Gemini stream chunk: its parts' text and function calls' arguments."""
    pieces = []
    for candidate in data.get("candidates") or ():
        for part in ((candidate.get("content") or {}).get("parts") or ()):
            if part.get("text"):
                pieces.append(str(part["text"]))
            elif isinstance(part.get("functionCall"), dict):
                pieces.append(_json(part["functionCall"].get("args") or {}).decode())
    return "".join(pieces)
