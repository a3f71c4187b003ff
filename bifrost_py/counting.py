"""Anthropic's count_tokens: the provider's own count when it offers one, else a local estimate.

Counting is free and changes no state, so it is not an attempt: no budget is claimed, no
fallback is tried, and a provider that cannot count (or fails to) is answered for by the local
estimate, marked as one in `x-bf-estimate`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from .answers import Responder, call_headers
from .context import ANTHROPIC, RESPONSES, Call, StashKey, Target
from .dialects.gemini import GEMINI
from .dialects.tokens import estimate_input_tokens
from .gemini_calls import count_gemini_tokens
from .limits import request_json
from .provider_count import provider_count
from .providers.base import UpstreamRequest
from .translation import translate_request

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.counting")

# The local estimate of a call's prompt, with the body object it was made of.
ESTIMATE = StashKey[tuple[Any, int]]("counting.estimate")


def call_estimate(call: Call) -> int:
    """`estimate_input_tokens(call.body or {})`, made once per call: routing (a rule on tokens),
    governance (the hold) and count_tokens read the same figure, and a 78 KB Claude Code body
    is walked once instead of up to three times. Kept with the body object it was made of: a
    call whose `body` was replaced by another object is estimated again. (A body changed in
    place after the first estimate keeps that estimate; nothing in the gateway does that.)"""
    body = call.body
    memo = call.stash.get(ESTIMATE)
    if memo is not None and memo[0] is body:
        return memo[1]  # type: ignore[no-any-return]
    estimate = estimate_input_tokens(body or {})
    call.stash[ESTIMATE] = (body, estimate)
    return estimate


async def count_tokens(gateway: Gateway, call: Call, responder: Responder, target: Target) -> web.StreamResponse:
    if call.dialect == GEMINI:  # Gemini's countTokens: its own request and answer shapes
        return await count_gemini_tokens(gateway, call, responder, target)
    provider = gateway.providers.get(target.provider)
    headers = {**call_headers(call, None), "x-bf-provider": target.provider, "x-bf-model": target.model}
    if call.dialect == RESPONSES:  # /v1/responses/input_tokens: the estimate of its Messages form
        messages, _ = translate_request(call.body or {}, RESPONSES, ANTHROPIC, target.model)
        count = {"object": "response.input_tokens", "input_tokens": estimate_input_tokens(messages)}
        return await responder.whole(orjson.dumps(count), {**headers, "x-bf-estimate": "true"})
    if provider is not None and provider.supports_count_tokens and ANTHROPIC in provider.dialects:
        model = provider.upstream_model(target.model)
        body = {**(call.body or {}), "model": model}
        request = provider.prepare(UpstreamRequest(
            endpoint=call.endpoint, dialect=ANTHROPIC, body=request_json(body), json=body, stream=False,
            model=model, query_string=call.query_string if call.dialect == ANTHROPIC else "",
        ), call.headers)
        answer = await provider_count(provider, request, target, _is_count, "count_tokens")
        if answer is not None:
            return await responder.whole(answer, headers)
    estimate = call_estimate(call)
    return await responder.whole(orjson.dumps({"input_tokens": estimate}), {**headers, "x-bf-estimate": "true"})


def _is_count(answer: bytes) -> bool:
    """A count_tokens success answer: a JSON object with an integer input_tokens."""
    try:
        data = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return False
    count = data.get("input_tokens") if isinstance(data, dict) else None
    return isinstance(count, int) and not isinstance(count, bool) and count >= 0
