"""One model call, from request body to what is sent back; and the in-process entry points.

`plan` decides everything about a call up front (status, latency, faults, the answer), so the
HTTP server (delivery.py) and the in-process functions below only carry the plan out and answer
identically. Order of precedence: the next scripted response, then markers in the prompt, then
`MockOptions` (fail_rate draws only when neither says a status).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from . import anthropic_wire, malformed, openai_wire
from .answers import Answer, build_answer
from .faults import (
    Directives,
    MockConnectionReset,
    MockHTTPError,
    MockStreamCut,
    format_seconds,
    parse_markers,
)
from .pacing import Event, Segment, schedule
from .state import MockOptions, MockState
from .wire import BadRequest, Reply, Wire

JSON = "application/json"


@dataclass(slots=True)
class Call:
    """Everything decided about one request before the first byte is sent."""

    wire: Wire
    status: int
    headers: dict[str, str]
    asked: Directives
    latency: float = 0.0
    content: bytes = b""  # the body of a non-stream answer or of an error
    stream: bool = False
    answer: Answer | None = None
    reply: Reply | None = None
    body: dict[str, Any] | None = None

    def segments(self, options: MockOptions) -> tuple[list[Segment], bool]:
        """The stream as timed writes, and whether it is cut after the last one."""
        assert self.answer is not None and self.reply is not None and self.body is not None
        events = malformed.stream_events(self.wire, self.answer, self.reply, self.body, self.asked)
        if self.asked.stream_error:
            events = _error_after_first_delta(events, self.wire.stream_error())
        rate = options.tokens_per_second
        return schedule(
            events,
            per_delta=1 / rate if rate > 0 else 0.0,
            stall=self.asked.stall,
            cut=self.asked.cut,
        )


def error_call(
    wire: Wire,
    state: MockState,
    status: int,
    message: str | None = None,
    bad: BadRequest | None = None,
    retry_after: float | None = None,
) -> Call:
    """A call answered at once with an error in the wire's format."""
    request_id = wire.request_id(state)
    headers = {wire.request_id_header: request_id, "content-type": JSON}
    if retry_after is not None and (status == 429 or status >= 500):
        headers["retry-after"] = format_seconds(retry_after)
    return Call(
        wire, status, headers, Directives(), content=wire.error(status, message, request_id, bad)
    )


def decide(text: str, options: MockOptions, state: MockState) -> tuple[Directives, int]:
    """What this request asks for, and the status it gets (script, markers, then fail_rate)."""
    asked = parse_markers(text).overlaid_by(state.next_script())
    if asked.status is not None:
        return asked, asked.status
    failing = options.fail_rate > 0 and state.rng.random() < options.fail_rate
    return asked, options.fail_status if failing else 200


def plan(wire: Wire, body: dict[str, Any], options: MockOptions, state: MockState) -> Call:
    """Decide one model call; an invalid body is a 400 call (no script entry is used up)."""
    try:
        prompt = wire.prompt(body)
    except BadRequest as bad:
        return error_call(wire, state, 400, bad.message, bad)
    asked, status = decide(prompt.text, options, state)
    latency = asked.latency if asked.latency is not None else options.latency
    if status != 200:
        call = _failure(wire, state, status, asked, options)
        call.latency = latency
        return call
    reply = Reply(prompt.model, wire.message_id(state), wire.request_id(state), int(time.time()))
    answer = build_answer(prompt, asked, state, state.seen_prefixes)
    stream = wire.wants_stream(body)
    headers = {wire.request_id_header: reply.request_id}
    if stream:
        headers |= {"content-type": wire.stream_content_type, "cache-control": "no-cache"}
        return Call(
            wire, 200, headers, asked, latency, stream=True, answer=answer, reply=reply, body=body
        )
    headers["content-type"] = JSON
    content = malformed.message_body(wire, wire.message(answer, reply), asked, reply.request_id)
    return Call(wire, 200, headers, asked, latency, content=content)


def plan_embeddings(body: dict[str, Any], options: MockOptions, state: MockState) -> Call:
    wire = openai_wire.WIRE
    try:
        inputs = openai_wire.embedding_inputs(body)
        asked, status = decide(" ".join(inputs), options, state)
        content = openai_wire.embeddings(body, inputs) if status == 200 else b""
    except BadRequest as bad:
        return error_call(wire, state, 400, bad.message, bad)
    latency = asked.latency if asked.latency is not None else options.latency
    if status != 200:
        call = _failure(wire, state, status, asked, options)
    else:
        request_id = wire.request_id(state)
        headers = {wire.request_id_header: request_id, "content-type": JSON}
        content = malformed.message_body(wire, content, asked, request_id)
        call = Call(wire, 200, headers, asked, content=content)
    call.latency = latency
    return call


def _failure(
    wire: Wire, state: MockState, status: int, asked: Directives, options: MockOptions
) -> Call:
    retry_after = asked.retry_after if asked.retry_after is not None else options.retry_after
    call = error_call(wire, state, status, asked.message, retry_after=retry_after)
    call.asked = asked
    return call


def _error_after_first_delta(events: list[Event], error: Event) -> list[Event]:
    first = next((i for i, e in enumerate(events) if e.is_delta), len(events) - 1)
    return [*events[: first + 1], error]


# ---- in-process entry points (the core's `mock` provider and `bifrost-py demo`) ----------------

_PROCESS_STATES: dict[int | None, MockState] = {}


def process_state(options: MockOptions) -> MockState:
    """The state in-process calls share (cache prefixes, ids), one per seed."""
    state = _PROCESS_STATES.get(options.seed)
    if state is None:
        state = _PROCESS_STATES[options.seed] = MockState(MockOptions(seed=options.seed))
    return state


async def respond(
    wire: Wire, body: dict[str, Any], options: MockOptions, state: MockState | None = None
) -> tuple[int, dict[str, str], bytes]:
    if body.get("stream") is True:
        body = {**body, "stream": False}
    return await _carry_out(plan(wire, body, options, state or process_state(options)))


async def _carry_out(call: Call) -> tuple[int, dict[str, str], bytes]:
    if call.latency:
        await asyncio.sleep(call.latency)
    if call.asked.reset:
        raise MockConnectionReset("mock upstream reset the connection")
    if call.status == 200 and call.asked.cut is not None:
        raise MockStreamCut("mock upstream closed the connection mid-body")
    return call.status, call.headers, call.content


async def open_stream(
    wire: Wire, body: dict[str, Any], options: MockOptions, state: MockState | None = None
) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
    """Status and headers once the response starts, then its chunks (an error body is one chunk)."""
    if body.get("stream") is not True:
        body = {**body, "stream": True}
    call = plan(wire, body, options, state or process_state(options))
    if call.latency:
        await asyncio.sleep(call.latency)
    if call.asked.reset:
        raise MockConnectionReset("mock upstream reset the connection")
    if call.status != 200:
        return call.status, call.headers, _once(call.content)
    return 200, call.headers, _chunks(call, options)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _chunks(call: Call, options: MockOptions) -> AsyncIterator[bytes]:
    segments, cut = call.segments(options)
    for delay, data in segments:
        if delay:
            await asyncio.sleep(delay)
        yield data
    if cut:
        raise MockStreamCut("mock upstream closed the connection mid-stream")


async def stream(
    wire: Wire, body: dict[str, Any], options: MockOptions, state: MockState | None = None
) -> AsyncIterator[bytes]:
    status, headers, chunks = await open_stream(wire, body, options, state)
    if status != 200:
        raise MockHTTPError(status, headers, b"".join([c async for c in chunks]))
    async for chunk in chunks:
        yield chunk


async def anthropic_response(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A non-stream Messages answer: (status, headers, body), errors in Anthropic's format."""
    return await respond(anthropic_wire.WIRE, body, options, state)


def anthropic_stream(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> AsyncIterator[bytes]:
    """Messages SSE bytes as api.anthropic.com sends them; faults raise (see faults.py)."""
    return stream(anthropic_wire.WIRE, body, options, state)


async def openai_response(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> tuple[int, dict[str, str], bytes]:
    """A non-stream Chat Completions answer: (status, headers, body), errors in OpenAI's format."""
    return await respond(openai_wire.WIRE, body, options, state)


def openai_stream(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> AsyncIterator[bytes]:
    """Chat Completions SSE bytes (`data: [DONE]` last); faults raise (see faults.py)."""
    return stream(openai_wire.WIRE, body, options, state)


async def open_anthropic_stream(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
    """Like `anthropic_stream`, but a non-2xx comes back as (status, headers, one error chunk)."""
    return await open_stream(anthropic_wire.WIRE, body, options, state)


async def open_openai_stream(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> tuple[int, dict[str, str], AsyncIterator[bytes]]:
    """Like `openai_stream`, but a non-2xx comes back as (status, headers, one error chunk)."""
    return await open_stream(openai_wire.WIRE, body, options, state)


async def embeddings_response(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> tuple[int, dict[str, str], bytes]:
    """An OpenAI embeddings answer: (status, headers, body)."""
    return await _carry_out(plan_embeddings(body, options, state or process_state(options)))


async def count_tokens_response(
    body: dict[str, Any], options: MockOptions, *, state: MockState | None = None
) -> tuple[int, dict[str, str], bytes]:
    """An Anthropic count_tokens answer `{"input_tokens": N}`: (status, headers, body)."""
    return _respond_now(plan_count_tokens(body, state or process_state(options)))


def _respond_now(call: Call) -> tuple[int, dict[str, str], bytes]:
    return call.status, call.headers, call.content


def plan_count_tokens(body: dict[str, Any], state: MockState) -> Call:
    wire = anthropic_wire.WIRE
    try:
        tokens = anthropic_wire.count_tokens(body)
    except BadRequest as bad:
        return error_call(wire, state, 400, bad.message, bad)
    headers = {wire.request_id_header: wire.request_id(state), "content-type": JSON}
    return Call(wire, 200, headers, Directives(), content=orjson.dumps({"input_tokens": tokens}))
