"""The Providers page's "Test": one minimal real request to a provider, and what it answered.

The request is the smallest a provider bills: one user word, at most one output token, in the
provider's preferred dialect, sent with one of its keys (a named one, or one its pool picks)
exactly as the pipeline sends it. What comes back is shown as it came: the status, the first
words of the answer or the provider's error message, and how long it took.
"""

from __future__ import annotations

import fnmatch
import time
from typing import Any

import orjson

from .context import MESSAGES
from .errors import GatewayError
from .providers.base import Provider, UpstreamRequest, error_details

ANSWER_CHARS = 200
TEST_MODELS = {"anthropic": "claude-haiku-4-5-20251001", "bedrock": "claude-haiku-4-5-20251001",
               "mock": "claude-haiku-4-5-20251001", "openai": "gpt-4o-mini", "azure": "gpt-4o-mini",
               "gemini": "gemini-2.5-flash"}


def probe_model(provider: Provider) -> str:
    """A model the provider serves: its first listed name that is not a glob, else a small
    model of its family."""
    for model in provider.config.models:
        if not any(ch in model for ch in "*?["):
            return model
    default = TEST_MODELS.get(provider.type, "claude-haiku-4-5-20251001")
    for pattern in provider.config.models:
        if fnmatch.fnmatchcase(default, pattern):
            return default
    return default


async def probe(provider: Provider, model: str | None = None, key_name: str | None = None) -> dict[str, Any]:
    """Send the test request; {ok, status, model, key, answer | error, milliseconds}."""
    model = model or probe_model(provider)
    key = provider.keys.get(key_name) if key_name else provider.keys.pick()
    dialect = provider.dialects[0]
    body: dict[str, Any] = {"model": provider.upstream_model(model), "max_tokens": 1,
                            "messages": [{"role": "user", "content": "ping"}]}
    raw = orjson.dumps(body)
    request = UpstreamRequest(endpoint=MESSAGES, dialect=dialect, body=raw, json=body, stream=False,
                              model=provider.upstream_model(model))
    request = provider.prepare(request, {})
    started = time.monotonic()
    shown = {"model": model, "key": key.name if key else None}
    try:
        async with await provider.send(request, key) as response:
            status, answer = response.status, await response.read()
    except GatewayError as exc:
        return {**shown, "ok": False, "status": exc.status, "error": str(exc), "milliseconds": _ms(started)}
    if status >= 300:
        message, _ = error_details(answer)
        return {**shown, "ok": False, "status": status, "error": message, "milliseconds": _ms(started)}
    return {**shown, "ok": True, "status": status, "answer": _text(answer), "milliseconds": _ms(started)}


def _ms(started: float) -> float:
    return round((time.monotonic() - started) * 1000, 1)


def _text(raw: bytes) -> str:
    """The answer's text (Anthropic content blocks or OpenAI choices), else its start."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw[:ANSWER_CHARS].decode("utf-8", "replace")
    if isinstance(data, dict):
        blocks = data.get("content")
        if isinstance(blocks, list):
            return "".join(b.get("text", "") for b in blocks if isinstance(b, dict))[:ANSWER_CHARS] or "(empty answer)"
        choices = data.get("choices")
        if isinstance(choices, list) and choices and isinstance(choices[0], dict):
            message = choices[0].get("message") or {}
            return str(message.get("content") or "(empty answer)")[:ANSWER_CHARS]
    return raw[:ANSWER_CHARS].decode("utf-8", "replace")
