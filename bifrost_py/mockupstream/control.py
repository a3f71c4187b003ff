"""`/_mock/*`: how a test steers the running mock and reads what it saw.

POST /_mock/script    {"responses": [{"status": 429, "retry_after": 1}, {"status": 200}]}
                      appends to a FIFO; each model request takes one entry first
POST /_mock/reset     forget script, records, stats, cache prefixes; options as at start
GET  /_mock/requests  recorded requests, oldest first (method, path, query, headers, body)
GET  /_mock/stats     request and stream counters
GET|POST /_mock/options  read, or change some of, the MockOptions live
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from .calls import error_call
from .endpoints import ANTHROPIC, OPENAI, STATE
from .faults import parse_duration, parse_script_entry
from .state import MockState, Record

PREFIX = "/_mock"


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(value), content_type="application/json")


def _problem(message: str) -> web.Response:
    return _json({"error": message}, 400)


async def script(request: web.Request) -> web.Response:
    try:
        payload = orjson.loads(await request.read())
        entries = payload.get("responses") if isinstance(payload, dict) else payload
        if not isinstance(entries, list):
            raise TypeError('expected {"responses": [...]}')
        parsed = [parse_script_entry(entry) for entry in entries]
    except (ValueError, TypeError) as error:
        return _problem(str(error))
    state = request.app[STATE]
    state.script.extend(parsed)
    return _json({"queued": len(state.script)})


async def reset(request: web.Request) -> web.Response:
    request.app[STATE].reset()
    return _json({"ok": True})


async def requests(request: web.Request) -> web.Response:
    return _json([record.as_dict() for record in request.app[STATE].records])


async def stats(request: web.Request) -> web.Response:
    return _json(request.app[STATE].stats.as_dict())


async def options(request: web.Request) -> web.Response:
    state = request.app[STATE]
    if request.method == "POST":
        try:
            changes = orjson.loads(await request.read())
            if not isinstance(changes, dict):
                raise TypeError("expected a JSON object of options")
            state.update_options(_durations(changes))
        except (ValueError, TypeError) as error:
            return _problem(str(error))
    return _json(asdict(state.options))


def _durations(changes: dict[str, Any]) -> dict[str, Any]:
    """`latency` and `retry_after` may be given as "20ms"-style strings."""
    return {
        k: parse_duration(v) if k in ("latency", "retry_after") and isinstance(v, str) else v
        for k, v in changes.items()
    }


@web.middleware
async def recorder(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Record every request to the fake APIs (not /_mock, not health probes), raw body included."""
    path = request.path
    if not path.startswith(PREFIX) and path not in ("/", "/health"):
        state: MockState = request.app[STATE]
        state.stats.requests += 1
        headers = {k.lower(): v for k, v in request.headers.items()}
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(path, state)
        state.records.append(Record(request.method, path, request.query_string, headers, body))
    return await handler(request)


def _too_large(path: str, state: MockState) -> web.Response:
    """A body over the size limit, refused in the API's own error format."""
    wire = OPENAI if path.startswith(("/v1/chat", "/v1/embeddings")) else ANTHROPIC
    call = error_call(wire, state, 413)
    return web.Response(status=413, body=call.content, headers=call.headers)


ROUTES = [
    web.post(PREFIX + "/script", script),
    web.post(PREFIX + "/reset", reset),
    web.get(PREFIX + "/requests", requests),
    web.get(PREFIX + "/stats", stats),
    web.get(PREFIX + "/options", options),
    web.post(PREFIX + "/options", options),
]
