"""The Gemini API as a client dialect: `POST /gemini/v1beta/models/{model}:{method}` turned into a
Call, `GET /gemini/v1beta/models` as Google lists models, and `:countTokens`.

The model is in the path, not the body, and the key comes in `x-goog-api-key` or `?key=` (the
gateway's own headers, x-bf-vk and the others, still win). The `key` parameter is taken out of
the query string the Call keeps, so it is neither forwarded nor stored. As in `inbound.py`,
nothing here raises: a request the gateway cannot take becomes a Call carrying its error, which
the pipeline answers in Google's error shape.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from .answers import Responder, call_headers
from .context import COUNT_TOKENS, MESSAGES, Call, ModelInfo, Target
from .dialects.gemini import GEMINI
from .dialects.gemini_inbound_request import gemini_request_to_anthropic
from .dialects.tokens import estimate_input_tokens
from .dialects.translate_errors import TranslationError
from .errors import InvalidRequest, NotFound, RequestTooLarge
from .inbound import new_call, session_id
from .limits import kept, model_problem
from .provider_count import provider_count
from .providers.base import UpstreamRequest

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.gemini_calls")
METHODS = {"generateContent": MESSAGES, "streamGenerateContent": MESSAGES, "countTokens": COUNT_TOKENS}


def gemini_endpoint(gateway: Gateway) -> Any:
    """The handler of `POST /gemini/v1beta/models/{target}`, target being `model:method`."""
    max_body_mb = gateway.config.max_body_mb

    async def handler(request: web.Request) -> web.StreamResponse:
        call = await read_gemini_call(request, max_body_mb)
        return await gateway.pipeline.handle(call, request)

    return handler


async def read_gemini_call(request: web.Request, max_body_mb: float) -> Call:
    """The Call for a Gemini model method, its body read and the fields the gateway reads
    checked; `call.error` when it cannot be served as sent."""
    model, _, method = request.match_info["target"].partition(":")
    call = new_call(request, GEMINI, METHODS.get(method, MESSAGES))
    call.credential = call.credential or kept(request.query.get("key"))  # x-goog-api-key: new_call
    call.query_string = urlencode([(k, v) for k, v in request.query.items() if k != "key"])
    call.model = model.removeprefix("models/")
    call.stream = method == "streamGenerateContent"
    call.session_id = session_id(call.headers, {})
    if method not in METHODS:
        call.error = NotFound(f"method '{method}' is not served for models/{call.model}: "
                              f"the gateway serves {', '.join(METHODS)}")
        return call
    problem = model_problem(call.model)
    if call.stream and request.query.get("alt") != "sse":
        problem = "streamGenerateContent is served as server-sent events only: add ?alt=sse"
    body: Any = None
    if problem is None:
        try:
            call.raw_body = await request.read()
            body = orjson.loads(call.raw_body)
        except web.HTTPRequestEntityTooLarge:
            call.error = RequestTooLarge(f"request body is larger than the gateway's limit of {max_body_mb:g} MB")
            return call
        except web.RequestPayloadError as exc:
            problem = f"request body could not be read: {exc}"
        except orjson.JSONDecodeError as exc:
            problem = f"request body is not valid JSON: {exc}"
        else:
            problem = body_problem(body, call.endpoint)
    if problem is not None:
        call.error = InvalidRequest(problem)
        return call
    call.body = body
    return call


def body_problem(body: Any, endpoint: str) -> str | None:
    """Type checks of what the gateway itself reads; the rest is Google's (passthrough) or the
    translator's (a TranslationError names the field) to check."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if endpoint == COUNT_TOKENS and isinstance(body.get("generateContentRequest"), dict):
        body = body["generateContentRequest"]
    contents = body.get("contents")
    if not isinstance(contents, list) or not all(isinstance(c, dict) for c in contents):
        return "contents: field required (a list of Content objects)"
    for name in ("generationConfig", "systemInstruction", "toolConfig"):
        if body.get(name) is not None and not isinstance(body[name], dict):
            return f"{name}: must be an object"
    return None


def gemini_model_list(models: list[ModelInfo]) -> dict[str, Any]:
    """`GET /v1beta/models` as Google answers it (one page)."""
    return {"models": [gemini_model(m) for m in models]}


def gemini_model(m: ModelInfo) -> dict[str, Any]:
    """One Model as Google describes it. `inputTokenLimit` where the price catalogue knows the
    context window; `outputTokenLimit` is left out: the catalogue does not know it, and a client
    taking the window for it would ask for more output than the model allows."""
    entry: dict[str, Any] = {
        "name": f"models/{m.id}", "baseModelId": m.id, "version": "001", "displayName": m.display_name or m.id,
        "description": f"{m.id} served by {m.provider} through bifrost-py",
        "supportedGenerationMethods": ["generateContent", "streamGenerateContent", "countTokens"]}
    if m.context_window:
        entry["inputTokenLimit"] = m.context_window
    return entry


async def count_gemini_tokens(gateway: Gateway, call: Call, responder: Responder, target: Target) -> web.StreamResponse:
    """`:countTokens`: a `gemini` provider's own count, else a local estimate of the request as
    Anthropic would read it, marked as one in `x-bf-estimate` (counting is free: no attempt)."""
    provider = gateway.providers.get(target.provider)
    headers = {**call_headers(call, None), "x-bf-provider": target.provider, "x-bf-model": target.model}
    body = call.body or {}
    if provider is not None and GEMINI in provider.dialects:
        model = provider.upstream_model(target.model)
        request = UpstreamRequest(endpoint=COUNT_TOKENS, dialect=GEMINI, body=call.raw_body, json=body,
                                  stream=False, model=model)
        answer = await provider_count(provider, request, target, _is_count, "countTokens")
        if answer is not None:
            return await responder.whole(answer, headers)
    inner = body.get("generateContentRequest")
    inner = inner if isinstance(inner, dict) else body
    try:
        anthropic, _ = gemini_request_to_anthropic(inner, model=target.model)
    except TranslationError as exc:
        raise InvalidRequest(f"cannot count this request: {exc}") from exc
    estimate = estimate_input_tokens(anthropic)
    return await responder.whole(orjson.dumps({"totalTokens": estimate}), {**headers, "x-bf-estimate": "true"})


def _is_count(answer: bytes) -> bool:
    try:
        data = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return False
    count = data.get("totalTokens") if isinstance(data, dict) else None
    return isinstance(count, int) and not isinstance(count, bool) and count >= 0
