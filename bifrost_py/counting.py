"""Anthropic's count_tokens: the provider's own count when it offers one, else a local estimate.

Counting is free and changes no state, so it is not an attempt: no budget is claimed, no
fallback is tried, and a provider that cannot count (or fails to) is answered for by the local
estimate, marked as one in `x-bf-estimate`.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import aiohttp
import orjson
from aiohttp import web

from .answers import Responder, call_headers
from .context import ANTHROPIC, RESPONSES, Call, Target
from .dialects.gemini import GEMINI
from .dialects.tokens import estimate_input_tokens
from .errors import GatewayError
from .gemini_calls import count_gemini_tokens
from .limits import request_json
from .providers.base import UpstreamRequest
from .translation import translate_request

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger("bifrost_py.counting")


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
        key = provider.keys.get(target.key_name) if target.key_name else provider.keys.pick()
        try:
            async with await provider.send(request, key) as upstream:
                status, answer = upstream.status, await upstream.read()
                if status < 300 and _is_count(answer):
                    return await responder.whole(answer, headers)
                if 400 <= status < 500 and status not in (401, 403, 429):
                    raise provider.error_for(status, upstream.headers, answer)
                log.info("count_tokens at %s answered %s; answering with the local estimate", provider.name, status)
        except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
            log.info("count_tokens at %s failed (%s); answering with the local estimate", provider.name, exc)
        except GatewayError as exc:
            if 400 <= exc.status < 500:
                raise  # the provider says the request is wrong: the client must hear it
            log.info("count_tokens at %s failed (%s); answering with the local estimate", provider.name, exc)
    estimate = estimate_input_tokens(call.body or {})
    return await responder.whole(orjson.dumps({"input_tokens": estimate}), {**headers, "x-bf-estimate": "true"})


def _is_count(answer: bytes) -> bool:
    """A count_tokens success answer: a JSON object with an integer input_tokens."""
    try:
        data = orjson.loads(answer)
    except orjson.JSONDecodeError:
        return False
    count = data.get("input_tokens") if isinstance(data, dict) else None
    return isinstance(count, int) and not isinstance(count, bool) and count >= 0
