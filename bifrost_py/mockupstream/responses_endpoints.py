"""The OpenAI Responses API endpoint of the mock: `POST /v1/responses`, keyed like Chat
Completions (`Authorization: Bearer`). Markers, scripts and faults work as for the others."""

from __future__ import annotations

from aiohttp import web

from .calls import plan
from .delivery import deliver
from .endpoints import STATE, _json_body, _openai_gate
from .responses_wire import ResponsesWire


async def responses(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    refused = _openai_gate(request, state)
    if refused is not None:
        return refused
    wire = ResponsesWire()
    body = await _json_body(request, wire, state)
    if isinstance(body, web.Response):
        return body
    return await deliver(request, plan(wire, body, state.options, state), state)


def routes() -> list[web.RouteDef]:
    return [web.post("/v1/responses", responses)]
