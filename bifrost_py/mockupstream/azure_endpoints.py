"""The Azure OpenAI endpoints of the mock: a deployment's chat completions and embeddings,
`POST /openai/deployments/{deployment}/chat/completions?api-version=...` and `.../embeddings`.

As on Azure: the key goes in `api-key` (a Microsoft Entra `Authorization: Bearer` token is
accepted too, unchecked), a missing `api-version` is a 404, the body's `model` is ignored (the
deployment decides, and it is what the answer names).
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from .azure_wire import WIRE
from .calls import Call, error_call, plan, plan_embeddings
from .delivery import deliver
from .endpoints import STATE
from .wire import BadRequest


async def chat_completions(request: web.Request) -> web.StreamResponse:
    body = await _checked_body(request)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    return await deliver(request, plan(WIRE, body, state.options, state), state)


async def embeddings(request: web.Request) -> web.StreamResponse:
    body = await _checked_body(request)
    if isinstance(body, web.Response):
        return body
    state = request.app[STATE]
    return await deliver(request, plan_embeddings(body, state.options, state), state)


async def _checked_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The body with the deployment as its model, or Azure's refusal."""
    state = request.app[STATE]
    if not request.query.get("api-version"):
        return _respond(error_call(WIRE, state, 404))
    if not request.headers.get("api-key") and not request.headers.get("authorization", "").lower().startswith("bearer "):
        return _respond(error_call(WIRE, state, 401))
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        bad = BadRequest("We could not parse the JSON body of your request.")
        return _respond(error_call(WIRE, state, 400, bad.message, bad))
    return {**body, "model": request.match_info["deployment"]}


def _respond(call: Call) -> web.Response:
    return web.Response(status=call.status, body=call.content, headers=call.headers)


def routes() -> list[web.RouteDef]:
    prefix = "/openai/deployments/{deployment}"
    return [
        web.post(prefix + "/chat/completions", chat_completions),
        web.post(prefix + "/embeddings", embeddings),
    ]
