"""Asking a provider for its own token count, for Anthropic's count_tokens and Gemini's
countTokens alike: its answer when it is one, None when the local estimate must answer."""

from __future__ import annotations

import logging
from collections.abc import Callable

import aiohttp

from .context import Target
from .errors import GatewayError
from .providers.base import Provider, UpstreamRequest

log = logging.getLogger("bifrost_py.counting")


async def provider_count(provider: Provider, request: UpstreamRequest, target: Target,
                         is_count: Callable[[bytes], bool], what: str) -> bytes | None:
    """The provider's count answer, or None when it failed or cannot count (a 5xx, a refused
    gateway key, a rate limit, a network error, an answer that is not a count). A 4xx that says
    the request itself is wrong is raised: the client must hear it."""
    key = provider.keys.get(target.key_name) if target.key_name else provider.keys.pick()
    try:
        async with await provider.send(request, key) as upstream:
            status, answer = upstream.status, await upstream.read()
            if status < 300 and is_count(answer):
                return answer
            if 400 <= status < 500 and status not in (401, 403, 429):
                raise provider.error_for(status, upstream.headers, answer)
            log.info("%s at %s answered %s; answering with the local estimate", what, provider.name, status)
    except (aiohttp.ClientError, TimeoutError, ConnectionError) as exc:
        log.info("%s at %s failed (%s); answering with the local estimate", what, provider.name, exc)
    except GatewayError as exc:
        if 400 <= exc.status < 500:
            raise
        log.info("%s at %s failed (%s); answering with the local estimate", what, provider.name, exc)
    return None
