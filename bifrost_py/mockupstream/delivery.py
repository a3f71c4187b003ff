"""Carrying a planned `Call` out over HTTP: latency, resets, errors, streams, cuts, and counting.

A client that goes away is noticed within `POLL` seconds even during a long pause, whether or not
the server cancels handlers on disconnect, so `streams_cancelled` is reliable.
"""

from __future__ import annotations

import asyncio
import socket
import struct

from aiohttp import web

from .calls import Call
from .state import MockState

POLL = 0.05  # seconds between checks that the client is still there during a pause


async def deliver(request: web.Request, call: Call, state: MockState) -> web.StreamResponse:
    try:
        if call.latency:
            await pause(request, call.latency)
    except ConnectionResetError:
        return web.Response()  # nobody is listening any more
    if call.asked.reset:
        return reset(request)
    if call.status != 200 or not call.stream:
        if call.status == 200 and call.asked.cut is not None:
            return await _cut_body(request, call)
        return web.Response(status=call.status, body=call.content, headers=call.headers)
    return await _stream(request, call, state)


async def pause(request: web.Request, seconds: float) -> None:
    """Sleep, raising ConnectionResetError as soon as the client has gone."""
    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while (left := end - loop.time()) > 0:
        await asyncio.sleep(min(left, POLL))
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("client disconnected")


def reset(request: web.Request) -> web.Response:
    """Reset the connection (TCP RST where the socket allows) before any byte of the answer."""
    transport = request.transport
    if transport is not None:
        sock = transport.get_extra_info("socket")
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except (AttributeError, OSError):
            pass
        transport.abort()
    return web.Response()


async def _stream(request: web.Request, call: Call, state: MockState) -> web.StreamResponse:
    segments, cut = call.segments(state.options)
    if len(segments) == 1 and not cut and not segments[0].delay:
        return _whole_stream(segments[0].data, call, state)
    response = web.StreamResponse(status=200, headers=call.headers)
    stats = state.stats
    stats.in_flight += 1
    started = False
    try:
        await response.prepare(request)
        stats.streams_started += 1
        started = True
        for delay, data in segments:
            if delay:
                await pause(request, delay)
            await response.write(data)
        if cut:
            stats.streams_cut += 1
            _close(request)
            return response
        await response.write_eof()
        stats.streams_completed += 1
    except ConnectionResetError:
        stats.streams_cancelled += started
    except asyncio.CancelledError:
        stats.streams_cancelled += started
        raise
    finally:
        stats.in_flight -= 1
    return response


def _whole_stream(data: bytes, call: Call, state: MockState) -> web.Response:
    """An unpaced stream: still chunked, but headers and all events leave in one write."""
    response = web.Response(status=200, body=data, headers=call.headers)
    response.enable_chunked_encoding()
    state.stats.streams_started += 1
    state.stats.streams_completed += 1
    return response


async def _cut_body(request: web.Request, call: Call) -> web.StreamResponse:
    """Announce the whole body, send half of it, close: the client sees a truncated payload."""
    response = web.StreamResponse(status=200, headers=call.headers)
    response.content_length = len(call.content)
    try:
        await response.prepare(request)
        await response.write(call.content[: len(call.content) // 2])
    except ConnectionResetError:
        return response
    _close(request)
    return response


def _close(request: web.Request) -> None:
    """Close after what was written is flushed, without ending the HTTP message properly."""
    if request.transport is not None:
        request.transport.close()
