"""HTTP handlers of the Anthropic and OpenAI endpoints.

Each handler: authenticate like the real API, parse the body once, `plan` the call, `deliver` it.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from . import anthropic_wire, openai_wire
from .calls import Call, error_call, plan, plan_count_tokens, plan_embeddings
from .delivery import deliver
from .state import MockState
from .wire import BadRequest, Wire

STATE = web.AppKey("mock_upstream_state", MockState)
ANTHROPIC, OPENAI = anthropic_wire.WIRE, openai_wire.WIRE
JSON = "application/json"


async def messages(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    refused = _anthropic_gate(request, state)
    if refused is not None:
        return refused
    body = await _json_body(request, ANTHROPIC, state)
    if isinstance(body, web.Response):
        return body
    return await deliver(request, plan(ANTHROPIC, body, state.options, state), state)


async def count_tokens(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    refused = _anthropic_gate(request, state)
    if refused is not None:
        return refused
    body = await _json_body(request, ANTHROPIC, state)
    if isinstance(body, web.Response):
        return body
    return _respond(plan_count_tokens(body, state))


async def chat_completions(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    refused = _openai_gate(request, state)
    if refused is not None:
        return refused
    body = await _json_body(request, OPENAI, state)
    if isinstance(body, web.Response):
        return body
    return await deliver(request, plan(OPENAI, body, state.options, state), state)


async def embeddings(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    refused = _openai_gate(request, state)
    if refused is not None:
        return refused
    body = await _json_body(request, OPENAI, state)
    if isinstance(body, web.Response):
        return body
    return await deliver(request, plan_embeddings(body, state.options, state), state)


async def models(request: web.Request) -> web.StreamResponse:
    """Anthropic's list when the caller speaks Anthropic (anthropic-version header), else OpenAI's."""
    state = request.app[STATE]
    anthropic = "anthropic-version" in request.headers
    wire: Wire = ANTHROPIC if anthropic else OPENAI
    refused = _anthropic_gate(request, state, False) if anthropic else _openai_gate(request, state)
    if refused is not None:
        return refused
    content = anthropic_wire.models_json() if anthropic else openai_wire.models_json()
    headers = {wire.request_id_header: wire.request_id(state)}
    return web.Response(body=content, headers=headers, content_type=JSON)


async def head_root(request: web.Request) -> web.Response:
    return web.Response()


async def health(request: web.Request) -> web.Response:
    return web.Response(body=b'{"status":"ok"}', content_type=JSON)


def _anthropic_gate(
    request: web.Request, state: MockState, version: bool = True
) -> web.Response | None:
    headers = request.headers
    if not headers.get("x-api-key") and not _bearer(request):
        return _respond(error_call(ANTHROPIC, state, 401, "x-api-key header is required"))
    if version and "anthropic-version" not in headers:
        return _respond(error_call(ANTHROPIC, state, 400, "anthropic-version: header is required"))
    return None


def _openai_gate(request: web.Request, state: MockState) -> web.Response | None:
    if _bearer(request) or request.headers.get("api-key"):  # api-key: Azure's spelling
        return None
    return _respond(
        error_call(OPENAI, state, 401, openai_wire.NO_KEY, BadRequest(openai_wire.NO_KEY))
    )


def _bearer(request: web.Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def _json_body(
    request: web.Request, wire: Wire, state: MockState
) -> dict[str, Any] | web.Response:
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        bad = BadRequest("We could not parse the JSON body of your request.")
        return _respond(error_call(wire, state, 400, bad.message, bad))
    if not isinstance(body, dict):
        bad = BadRequest("The request body must be a JSON object.")
        return _respond(error_call(wire, state, 400, bad.message, bad))
    return body


def _respond(call: Call) -> web.Response:
    return web.Response(status=call.status, body=call.content, headers=call.headers)
