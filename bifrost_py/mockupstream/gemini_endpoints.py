"""The Gemini API endpoints of the mock: `POST /v1beta/models/{model}:generateContent`,
`:streamGenerateContent` and `:countTokens` (also under `/v1`), keyed by `x-goog-api-key` or
`?key=`.

A 429 says when to retry the way Google does, with a google.rpc.RetryInfo in the error body
(`retryDelay`), not with a retry-after header.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

from ..dialects.gemini import GEMINI_API_KEY_HEADER
from .answers import estimate_tokens, json_bytes
from .calls import Call, error_call, plan
from .delivery import deliver
from .endpoints import STATE
from .faults import format_seconds
from .gemini_wire import GeminiWire

METHODS = {"generateContent": False, "streamGenerateContent": True}
UNREGISTERED = (
    "Method doesn't allow unregistered callers (callers without established identity). "
    "Please use API Key or other form of API consumer identity to call this API."
)


async def model_method(request: web.Request) -> web.StreamResponse:
    state = request.app[STATE]
    model, _, method = request.match_info["target"].rpartition(":")
    wire = GeminiWire(model, METHODS.get(method, False), sse=request.query.get("alt") == "sse")
    if not request.headers.get(GEMINI_API_KEY_HEADER) and not request.query.get("key"):
        return _respond(error_call(wire, state, 403, UNREGISTERED))
    if method not in METHODS and method != "countTokens" or not model:
        message = f"models/{model} is not found for API version {request.path.split('/')[1]}, or {method} is not supported."
        return _respond(error_call(wire, state, 404, message))
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        return _respond(error_call(wire, state, 400, "Invalid JSON payload received."))
    if method == "countTokens":
        return web.json_response(count_tokens(body))
    call = plan(wire, body, state.options, state)
    if call.status == 429:
        _retry_info(call)
    return await deliver(request, call, state)


def count_tokens(body: dict[str, Any]) -> dict[str, Any]:
    """`:countTokens` as Google answers it, for a request given whole (`generateContentRequest`)
    or as its parts."""
    request = body.get("generateContentRequest")
    request = request if isinstance(request, dict) else body
    total = estimate_tokens(*(json_bytes(request.get(k)) for k in ("systemInstruction", "contents", "tools")))
    return {"totalTokens": total, "promptTokensDetails": [{"modality": "TEXT", "tokenCount": total}]}


def _retry_info(call: Call) -> None:
    """Move a retry-after header into the body as Google's RetryInfo detail."""
    seconds = call.headers.pop("retry-after", None)
    if seconds is None:
        return
    body: dict[str, Any] = orjson.loads(call.content)
    body["error"]["details"] = [
        {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{format_seconds(float(seconds))}s"}
    ]
    call.content = orjson.dumps(body)


def _respond(call: Call) -> web.Response:
    return web.Response(status=call.status, body=call.content, headers=call.headers)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/v1beta/models/{target}", model_method),
        web.post("/v1/models/{target}", model_method),
    ]
