"""The one answer a call gets: its x-bf-* headers, JSON errors in the caller's dialect, plugin
replies, and the rule that once bytes went out, a failure ends the stream instead of starting a
second response."""

from __future__ import annotations

import logging

from aiohttp import web

from .context import Attempt, Call, Reply
from .dialects.replies import reply_body, reply_stream
from .errors import GatewayError, error_body, error_event

log = logging.getLogger("bifrost_py.answers")

STREAM_HEADERS = {"content-type": "text/event-stream", "cache-control": "no-cache", "x-accel-buffering": "no"}
JSON_HEADERS = {"content-type": "application/json"}
CLIENT_CLOSED = 499  # nginx's status for "client closed the request", used in logs only
NOTES_HEADER_CHARS = 1000


def call_headers(call: Call, attempt: Attempt | None) -> dict[str, str]:
    """The x-bf-* headers of CONTRACT.md for an answer of `call` (from `attempt`, if any)."""
    headers = {"x-bf-request-id": call.request_id, "x-bf-attempts": str(len(call.attempts)), "x-bf-cache": "bypass"}
    if attempt is not None:
        headers["x-bf-provider"] = attempt.target.provider
        headers["x-bf-model"] = attempt.outcome.model or attempt.target.model
        if attempt.notes:
            headers["x-bf-translation-notes"] = "; ".join(attempt.notes)[:NOTES_HEADER_CHARS]
    if call.route_rule:
        headers["x-bf-route"] = call.route_rule
    headers.update(call.response_headers)
    return headers


class EventStream(web.StreamResponse):
    """A streamed answer whose head leaves with its first event, in one write (aiohttp's
    `web.Response` does this for a whole body; a plain StreamResponse writes its head alone
    at prepare()). The gateway opens a stream only once it holds the first event, so the head
    never waits for it: one syscall and one TCP segment fewer per stream, and the client reads
    status, headers and first event at once. (An aiohttp without this switch writes the head at
    prepare(), as before.)"""

    _send_headers_immediately = False


class Responder:
    """Owns the response of one call. `started` tells whether the client has seen a status line:
    after that, an error can only end the stream (an error event, then EOF and a closed
    connection), never be a response of its own."""

    __slots__ = ("call", "request", "response")

    def __init__(self, call: Call, request: web.Request) -> None:
        self.call = call
        self.request = request
        self.response: web.StreamResponse | None = None

    @property
    def started(self) -> bool:
        return self.response is not None and self.response.prepared

    async def whole(self, body: bytes, headers: dict[str, str], status: int = 200) -> web.StreamResponse:
        """A complete JSON answer."""
        response = self.response = web.Response(status=status, body=body, headers={**JSON_HEADERS, **headers})
        await response.prepare(self.request)
        await response.write_eof()
        return response

    async def open_stream(self, headers: dict[str, str]) -> web.StreamResponse:
        response = self.response = EventStream(status=200, headers={**STREAM_HEADERS, **headers})
        await response.prepare(self.request)
        return response

    async def error(self, error: GatewayError, attempt: Attempt | None = None) -> web.StreamResponse:
        """`error` in the caller's dialect: a JSON answer, or, once a stream is under way, its
        last event."""
        call = self.call
        started = self.response
        if started is None or not started.prepared:
            headers = {**call_headers(call, attempt), **error.headers}
            self.response = web.Response(
                status=error.status, body=error_body(error, call.dialect), headers={**JSON_HEADERS, **headers}
            )
            return self.response  # aiohttp sends it; a client gone meanwhile costs nothing more
        started.force_close()
        if isinstance(started, web.Response):
            return started  # a whole answer was being sent: nothing can be added to it
        try:
            await started.write(error_event(error, call.dialect))
            await started.write_eof()
        except ConnectionError:
            pass  # the client left: nothing to end
        return started

    async def reply(self, reply: Reply, attempt: Attempt | None) -> web.StreamResponse:
        """A plugin's complete answer, in the caller's dialect, streamed if a stream was asked for."""
        call = self.call
        headers = {**call_headers(call, attempt), **reply.headers}
        try:
            if not call.stream:
                return await self.whole(reply_body(reply.message, call.dialect, call.model), headers)
            wire = reply_stream(reply.message, call.dialect, call.model, include_usage=call.include_usage)
        except ValueError as exc:  # MalformedAnswer, TranslationError: the plugin's message is wrong
            raise GatewayError(f"a plugin's reply cannot be sent in the {call.dialect} dialect: {exc}") from exc
        response = await self.open_stream(headers)
        await response.write_eof(wire)  # head, events and end in one write
        return response
