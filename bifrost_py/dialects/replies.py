"""A complete Anthropic message (a plugin's Reply, a cache hit) rendered as the answer a client
of either dialect expects: one JSON body, or the event stream the API would have sent for it."""

from __future__ import annotations

from typing import Any

import orjson

from . import responses
from .gemini import GEMINI
from .gemini_inbound_response import anthropic_response_to_gemini
from .gemini_inbound_stream import AnthropicStreamToGemini, gemini_sse
from .sse import encode_event
from .synthesize import message_events
from .translate_response import anthropic_response_to_openai
from .translate_stream_to_openai import AnthropicStreamToOpenAI

ANTHROPIC = "anthropic"
OPENAI_DONE = b"data: [DONE]\n\n"


def reply_body(message: dict[str, Any], dialect: str, model: str) -> bytes:
    """The non-stream answer carrying `message` in `dialect`."""
    if dialect == GEMINI:
        return orjson.dumps(anthropic_response_to_gemini(message, model=model))
    if dialect == ANTHROPIC:
        return orjson.dumps(message)
    if dialect == responses.RESPONSES:
        return responses.reply_body(message, model)
    return orjson.dumps(anthropic_response_to_openai(message, model=model))


def reply_stream(message: dict[str, Any], dialect: str, model: str, *, include_usage: bool) -> bytes:
    """The whole event stream carrying `message` in `dialect` (OpenAI: with `[DONE]`)."""
    if dialect == GEMINI:
        to_gemini = AnthropicStreamToGemini(model=model)
        chunks = [chunk for name, data in message_events(message) for chunk in to_gemini.feed(name, data)]
        return gemini_sse(chunks + to_gemini.finish())
    if dialect == responses.RESPONSES:
        return responses.reply_stream(message, model)
    events = message_events(message)
    if dialect == ANTHROPIC:
        return b"".join(encode_event(orjson.dumps(data), event=name) for name, data in events)
    to_openai = AnthropicStreamToOpenAI(model=model, include_usage=include_usage)
    chunks = [chunk for name, data in events for chunk in to_openai.feed(name, data)]
    chunks += to_openai.finish()
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\n\n" for chunk in chunks) + OPENAI_DONE
