"""Choosing the translation between a client's dialect and a provider's, per attempt.

The dialect functions live in `dialects.anthropic_openai`; this module picks the pair that fits
the direction and says whose fault a failure is: a request that cannot be translated is the
client's (400), an answer that cannot be the provider's (`MalformedAnswer`, a 502 upstream error).
"""

from __future__ import annotations

from typing import Any

from .context import ANTHROPIC, OPENAI, RESPONSES
from .dialects import anthropic_openai as ao
from .dialects import responses
from .dialects.gemini import GEMINI
from .dialects.sse import SSEEvent
from .dialects.translate_errors import MalformedAnswer
from .errors import InvalidRequest
from .gemini_translation import (
    gemini_stream_translator,
    translate_gemini_request,
    translate_to_gemini_response,
)
from .relay import OPENAI_DONE, StreamTranslator, anthropic_wire, openai_wire, parse_event_data


def translate_request(body: dict[str, Any], source: str, target: str, model: str) -> tuple[dict[str, Any], list[str]]:
    """The client's request body in the provider's dialect (400 when it cannot be translated)."""
    try:
        if source == RESPONSES:
            return responses.translate_request(body, target, model)
        if source == GEMINI:
            return translate_gemini_request(body, target, model)
        if source == ANTHROPIC and target == OPENAI:
            return ao.anthropic_request_to_openai(body, model=model)
        if source == OPENAI and target == ANTHROPIC:
            return ao.openai_request_to_anthropic(body, model=model)
    except ao.TranslationError as exc:
        raise InvalidRequest(f"cannot translate this request for the {target} dialect: {exc}") from exc
    raise InvalidRequest(f"no translation from {source} to {target}")


def translate_response(body: dict[str, Any], source: str, target: str, model: str,
                       request: dict[str, Any] | None = None) -> dict[str, Any]:
    """A provider's non-stream answer in the client's dialect; raises MalformedAnswer when the
    answer cannot be translated (the provider's fault, not the client's). `request` is the
    client's body (a Responses answer gives namespaced tools their namespace back)."""
    try:
        if target == RESPONSES:
            return responses.translate_response(body, source, model, request)
        if target == GEMINI:
            return translate_to_gemini_response(body, source, model)
        if source == OPENAI and target == ANTHROPIC:
            return ao.openai_response_to_anthropic(body, model=model)
        if source == ANTHROPIC and target == OPENAI:
            return ao.anthropic_response_to_openai(body, model=model)
    except ao.TranslationError as exc:
        raise MalformedAnswer(f"the answer could not be translated: {exc}") from exc
    return body


def stream_translator(source: str, target: str, *, model: str, input_tokens: int, include_usage: bool,
                      request: dict[str, Any] | None = None) -> StreamTranslator:
    """Per-event translation of a provider stream (`source`) into client wire bytes (`target`)."""
    if target == RESPONSES:
        feed, finish = responses.stream_feed(source, model=model, input_tokens=input_tokens, request=request)
        return StreamTranslator(source, feed, finish)
    if target == GEMINI:
        return gemini_stream_translator(source, model=model, input_tokens=input_tokens)
    if source == OPENAI and target == ANTHROPIC:
        to_anthropic = ao.OpenAIStreamToAnthropic(model=model, input_tokens_estimate=input_tokens)

        def feed_openai(event: SSEEvent) -> bytes:
            if event.data == "[DONE]":
                return b""
            return anthropic_wire(to_anthropic.feed(_object(event)))

        return StreamTranslator(source, feed_openai, lambda: anthropic_wire(to_anthropic.finish()))

    to_openai = ao.AnthropicStreamToOpenAI(model=model, include_usage=include_usage)

    def feed_anthropic(event: SSEEvent) -> bytes:
        if event.event in (None, "ping"):
            return b""
        return openai_wire(to_openai.feed(event.event or "", _object(event)))

    return StreamTranslator(source, feed_anthropic, lambda: openai_wire(to_openai.finish()) + OPENAI_DONE)


def _object(event: SSEEvent) -> dict[str, Any]:
    data = parse_event_data(event.data)
    if not isinstance(data, dict):
        raise MalformedAnswer(f"a '{event.event or 'data'}' event is not a JSON object")
    return data


