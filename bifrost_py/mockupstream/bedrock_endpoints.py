"""The Bedrock runtime endpoints of the mock: InvokeModel and InvokeModelWithResponseStream.

Every request must be signed with SigV4 for the mock's fixed credentials, and the signature is
recomputed from the raw path, headers and body (by the dialects layer's verifier, written
independently of botocore's signer) — or carry the mock's fixed Bedrock API key as a bearer
token. Any region is accepted (the one in the credential scope is checked against itself).
"""

from __future__ import annotations

import re
from datetime import timedelta

import orjson
from aiohttp import web

from ..dialects.bedrock import bedrock_response_headers
from ..dialects.sigv4 import check_signature
from .bedrock_wire import ERROR_TYPE_SUFFIX, BedrockWire, exception_for
from .calls import Call, error_call, plan
from .delivery import deliver
from .endpoints import STATE

ACCESS_KEY_ID = "AKIDMOCKMOCKMOCKMOCK"
SECRET_ACCESS_KEY = "mock-secret"
API_KEY = "ABSKmock-bedrock-api-key"  # a Bedrock API key, sent as `Authorization: Bearer`
MAX_SKEW = timedelta(minutes=15)      # what AWS allows between the signing clock and its own
_SCOPE_REGION = re.compile(r"Credential=[^/,]*/\d{8}/([^/,]+)/")


async def invoke(request: web.Request) -> web.StreamResponse:
    return await _model_call(request, streaming=False)


async def invoke_stream(request: web.Request) -> web.StreamResponse:
    return await _model_call(request, streaming=True)


async def _model_call(request: web.Request, streaming: bool) -> web.StreamResponse:
    state = request.app[STATE]
    wire = BedrockWire(request.match_info["model_id"], streaming)
    raw = await request.read()
    refusal = _refusal(request, raw)
    if refusal is not None:
        kind, message = refusal
        return _respond(_typed(error_call(wire, state, 403, message), kind))
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if not isinstance(body, dict):
        message = "Malformed input request: expected a JSON object, please reformat your input and try again."
        return _respond(_typed(error_call(wire, state, 400, message), "ValidationException"))
    call = plan(wire, body, state.options, state)
    if call.status != 200:
        _typed(call, exception_for(call.status)[0])
    elif not call.stream:
        _count_tokens(call)
    return await deliver(request, call, state)


def _refusal(request: web.Request, raw: bytes) -> tuple[str, str] | None:
    """(exception name, message) when the request is not authenticated, else None."""
    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer":
        if token.strip() == API_KEY:
            return None
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    if not authorization:
        return "MissingAuthenticationTokenException", "Missing Authentication Token"
    region = _SCOPE_REGION.search(authorization)
    problem = check_signature(
        request.method, request.raw_path, request.headers, raw,
        secret_key=SECRET_ACCESS_KEY, region=region.group(1) if region else "",
        service="bedrock", access_key=ACCESS_KEY_ID, max_skew=MAX_SKEW,
    )
    if problem is None:
        return None
    if "unknown access key" in problem:
        return "UnrecognizedClientException", "The security token included in the request is invalid."
    return "InvalidSignatureException", problem


def _typed(call: Call, kind: str) -> Call:
    """Bedrock names the exception in a header, not in the body."""
    call.headers["x-amzn-ErrorType"] = kind + ERROR_TYPE_SUFFIX
    return call


def _count_tokens(call: Call) -> None:
    """InvokeModel repeats the usage in headers (input counts the cached parts too)."""
    usage = orjson.loads(call.content)["usage"]
    read, written = usage["cache_read_input_tokens"], usage["cache_creation_input_tokens"]
    call.headers.update(bedrock_response_headers(usage["input_tokens"] + read + written, usage["output_tokens"]))


def _respond(call: Call) -> web.Response:
    return web.Response(status=call.status, body=call.content, headers=call.headers)


def routes() -> list[web.RouteDef]:
    return [
        web.post("/model/{model_id}/invoke", invoke),
        web.post("/model/{model_id}/invoke-with-response-stream", invoke_stream),
    ]
