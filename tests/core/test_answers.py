"""The Responder: a call's one answer. Before the first byte an error is a JSON answer in the
caller's dialect; once a stream is under way it is the stream's last event, then EOF and a
closed connection — never a second status line inside the body. Read as raw bytes."""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import web

from bifrost_py.answers import NOTES_HEADER_CHARS, Responder, call_headers
from bifrost_py.context import ANTHROPIC, MESSAGES, OPENAI, Attempt, Call, Reply, Target
from bifrost_py.errors import GatewayError, RateLimited, UpstreamError, UpstreamUnavailable

from .kit import (
    ANTHROPIC_HEADERS,
    RawAnswer,
    RawConnection,
    lineup,
    message,
    not_json,
    not_sse,
    raw_post,
    request_bytes,
    settled,
    sse_events,
)

Script = Callable[[Responder], Awaitable[web.StreamResponse]]
REPLY = Reply({"id": "msg_r", "type": "message", "role": "assistant", "model": "claude-x",
               "content": [{"type": "text", "text": "canned answer"}], "stop_reason": "end_turn",
               "stop_sequence": None, "usage": {"input_tokens": 5, "output_tokens": 2}},
              headers={"x-bf-cache": "hit"})


def new_call(request: web.Request, dialect: str, stream: bool = False, **body: Any) -> Call:
    call = Call(request_id="req_answers", dialect=dialect, endpoint=MESSAGES, headers=request.headers,
                stream=stream, model="claude-x", body={"model": "claude-x", **body})
    return call


@pytest.fixture
async def serve() -> AsyncIterator[Callable[[str, Script], Awaitable[RawAnswer]]]:
    """`await serve(dialect, script)`: one request answered by `script(responder)`, read raw."""
    runners: list[web.AppRunner] = []

    async def run(dialect: str, script: Script, stream: bool = False, **body: Any) -> RawAnswer:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await script(Responder(new_call(request, dialect, stream, **body), request))

        app = web.Application()
        app.router.add_post("/", handler)
        runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
        runners.append(runner)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return await raw_post(f"http://127.0.0.1:{port}", "/", b"{}", [])

    yield run
    for runner in runners:
        await runner.cleanup()


ERRORS = [
    RateLimited("slow down", retry_after=2.2),
    UpstreamError("provider 'p' answered 529: Overloaded", status=529),
    UpstreamUnavailable("provider 'p' could not be reached"),
    GatewayError("internal gateway error (KeyError)"),
]


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dialect", [ANTHROPIC, OPENAI])
async def test_an_error_before_the_answer_started_is_json_in_the_callers_dialect(
    serve: Any, dialect: str, error: GatewayError
) -> None:
    answer = await serve(dialect, lambda responder: responder.error(error))
    assert answer.status == error.status and answer.status_lines == 1 and answer.complete
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["x-bf-request-id"] == "req_answers"
    for name, value in error.headers.items():
        assert answer.headers[name] == value
    body = answer.json()
    if dialect == ANTHROPIC:
        assert body == {"type": "error", "error": {"type": error.anthropic_type, "message": error.message}}
    else:
        assert body == {"error": {"message": error.message, "type": error.openai_type, "param": None,
                                  "code": error.openai_code}}


@pytest.mark.parametrize("dialect", [ANTHROPIC, OPENAI])
async def test_an_error_after_the_stream_started_is_its_last_event_then_eof(serve: Any, dialect: str) -> None:
    first = b'event: message_start\ndata: {"type":"message_start"}\n\n' if dialect == ANTHROPIC else \
        b'data: {"choices":[]}\n\n'

    async def script(responder: Responder) -> web.StreamResponse:
        response = await responder.open_stream({})
        await response.write(first)
        assert responder.started
        return await responder.error(UpstreamUnavailable("provider 'p' broke off its stream"))

    answer = await serve(dialect, script)
    assert answer.status == 200 and answer.status_lines == 1
    assert answer.complete and not answer.rest, answer.raw
    assert answer.headers["connection"] == "close"
    assert answer.body.startswith(first)
    name, data = sse_events(answer.body)[-1]
    assert name == ("error" if dialect == ANTHROPIC else None)
    assert data["error"]["message"] == "provider 'p' broke off its stream"
    assert data["error"]["type"] == "api_error"


async def test_an_error_after_a_whole_answer_went_out_adds_nothing(serve: Any) -> None:
    async def script(responder: Responder) -> web.StreamResponse:
        await responder.whole(b'{"id":"msg_1"}', {})
        return await responder.error(GatewayError("too late"))

    answer = await serve(ANTHROPIC, script)
    assert answer.status == 200 and answer.body == b'{"id":"msg_1"}'
    assert answer.status_lines == 1 and not answer.rest


async def test_a_reply_is_the_message_for_an_anthropic_client(serve: Any) -> None:
    answer = await serve(ANTHROPIC, lambda responder: responder.reply(REPLY, None))
    assert answer.status == 200 and answer.json() == REPLY.message
    assert answer.headers["x-bf-cache"] == "hit"


async def test_a_reply_is_a_chat_completion_for_an_openai_client(serve: Any) -> None:
    answer = await serve(OPENAI, lambda responder: responder.reply(REPLY, None))
    body = answer.json()
    assert body["object"] == "chat.completion"
    assert body["choices"][0]["message"]["content"] == "canned answer"
    assert body["usage"]["completion_tokens"] == 2


async def test_a_streamed_reply_is_a_whole_anthropic_stream(serve: Any) -> None:
    answer = await serve(ANTHROPIC, lambda responder: responder.reply(REPLY, None), stream=True)
    assert answer.headers["content-type"] == "text/event-stream" and answer.complete
    events = sse_events(answer.body)
    assert events[0][0] == "message_start" and events[-1][0] == "message_stop"
    text = "".join(d["delta"]["text"] for n, d in events if n == "content_block_delta")
    assert text == "canned answer"


async def test_a_streamed_reply_for_openai_has_its_usage_chunk_when_asked_and_done(serve: Any) -> None:
    answer = await serve(OPENAI, lambda responder: responder.reply(REPLY, None), stream=True,
                         stream_options={"include_usage": True})
    events = sse_events(answer.body)
    assert events[-1][1] == "[DONE]"
    usage = [d["usage"] for _, d in events[:-1] if d.get("usage")]
    assert usage and usage[-1]["completion_tokens"] == 2
    text = "".join(c["delta"].get("content") or "" for _, d in events[:-1] for c in d["choices"])
    assert text == "canned answer"


def test_call_headers_say_which_attempt_answered_and_bound_the_notes() -> None:
    from multidict import CIMultiDict, CIMultiDictProxy

    call = Call(request_id="req_h", dialect=ANTHROPIC, endpoint=MESSAGES, headers=CIMultiDictProxy(CIMultiDict()))
    assert call_headers(call, None) == {"x-bf-request-id": "req_h", "x-bf-attempts": "0", "x-bf-cache": "bypass"}
    attempt = Attempt(call=call, target=Target("anthropic", "claude-x"), number=1)
    call.attempts.append(attempt)
    attempt.notes.extend(["n" * 600, "m" * 600])
    attempt.outcome.model = "claude-x-20250101"
    call.route_rule = "rule-1"
    call.response_headers["x-bf-cache"] = "miss"
    headers = call_headers(call, attempt)
    assert headers["x-bf-provider"] == "anthropic" and headers["x-bf-model"] == "claude-x-20250101"
    assert len(headers["x-bf-translation-notes"]) == NOTES_HEADER_CHARS
    assert headers["x-bf-route"] == "rule-1" and headers["x-bf-cache"] == "miss" and headers["x-bf-attempts"] == "1"


# ----------------------------------------------------------------------------- through the gateway


@pytest.mark.parametrize(("path", "fault", "extra"), [
    ("/anthropic/v1/messages", "[[garbage:1]]", {}),
    ("/anthropic/v1/messages", "[[garbage:1:raw]]", {}),
    ("/anthropic/v1/messages", "[[bad_usage:message_delta:string]]", {}),
    ("/openai/v1/chat/completions", "[[garbage:1]]", {}),
    ("/openai/v1/chat/completions", "[[garbage:1]]", {"stream_options": {"include_usage": True}}),
], ids=["anthropic-not-json", "anthropic-not-sse", "anthropic-bad-usage", "openai-not-json",
        "openai-include-usage-not-json"])
async def test_a_stream_that_turns_bad_ends_with_one_error_event_and_eof(
    gateway: Any, path: str, fault: str, extra: dict[str, Any]
) -> None:
    """The client must never be handed what the upstream sent broken: an event its SDK cannot
    parse, or bytes that are not SSE. It gets the events before, one error event, then EOF."""
    line = lineup()
    gw = await gateway(line.plugins)
    model = "claude-sonnet-4" if "anthropic" in path else "gpt-4o"
    body = orjson.dumps(message(f"hi {fault} [[stall:100ms]]", model=model, stream=True, **extra))
    answer = await raw_post(gw.url, path, body, ANTHROPIC_HEADERS)
    await line.journal.ended(len(line.plugins))
    assert answer.status == 200 and answer.status_lines == 1, answer.raw
    assert answer.complete and not answer.rest, answer.raw
    assert not_sse(answer.body) == [], "bytes that are not SSE were relayed to the client"
    events = sse_events(answer.body)
    assert not_json(events) == [], "an event the client cannot parse was relayed to it"
    errors = [data for _, data in events if isinstance(data, dict) and "error" in data]
    assert len(errors) == 1 and events[-1][1] is errors[0], events
    assert "malformed" in errors[0]["error"]["message"]
    assert settled(line) == [502]


async def test_a_streams_head_reaches_the_client_with_its_first_event() -> None:
    """The gateway opens a stream once it holds the first event: status line and headers wait
    for that event and leave with it, so the client's first read has both. (On loopback a write
    is in the client's socket the moment it returns: nothing there after open_stream() means
    the head was held.)"""
    first = b'event: message_start\ndata: {"type":"message_start"}\n\n'
    opened, go, release = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        responder = Responder(new_call(request, ANTHROPIC, True), request)
        response = await responder.open_stream({})
        opened.set()
        await go.wait()
        await response.write(first)
        await release.wait()
        await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    connection = await RawConnection.open(f"http://127.0.0.1:{port}")
    peek = socket.socket(fileno=os.dup(connection.writer.get_extra_info("socket").fileno()))
    try:
        await connection.send(request_bytes("/", b"{}", []))
        await opened.wait()
        with pytest.raises(BlockingIOError):
            peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # no head on its own
        go.set()
        received = await connection.reader.read(65536)
        assert received.startswith(b"HTTP/1.1 200 "), received
        assert received.endswith(b"\r\n" + first + b"\r\n"), received  # the head, then one chunk: the event
        release.set()
        assert await connection.reader.read() == b"0\r\n\r\n"  # then only the stream's end
    finally:
        go.set()
        release.set()
        peek.close()
        connection.close()
        await runner.cleanup()
