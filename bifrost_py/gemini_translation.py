"""Translation for Gemini clients, per attempt: a Gemini request for an Anthropic- or
OpenAI-dialect provider, and that provider's answer (whole or streamed) back as Gemini's.

Anthropic Messages is the hub: a Gemini request becomes an Anthropic request
(`dialects/gemini_inbound_request.py`), which the Anthropic ⇄ OpenAI translation takes on to Chat
Completions (and so Bedrock); answers come back the same way. `translation.py` hands every pair
with the Gemini dialect in it here. Whose fault a failure is stays as there: a request that
cannot be translated is the client's (400), an answer that cannot be is the provider's
(`MalformedAnswer`).
"""

from __future__ import annotations

from typing import Any

from .context import ANTHROPIC, OPENAI
from .dialects import anthropic_openai as ao
from .dialects.gemini import GEMINI
from .dialects.gemini_inbound_request import gemini_request_to_anthropic
from .dialects.gemini_inbound_response import anthropic_response_to_gemini
from .dialects.gemini_inbound_stream import AnthropicStreamToGemini, gemini_sse
from .dialects.sse import SSEEvent
from .dialects.translate_errors import MalformedAnswer
from .errors import InvalidRequest
from .relay import StreamTranslator, parse_event_data


def translate_gemini_request(body: dict[str, Any], target: str, model: str) -> tuple[dict[str, Any], list[str]]:
    """A Gemini client's body in `target`'s dialect (400 when it cannot be translated)."""
    try:
        anthropic, notes = gemini_request_to_anthropic(body, model=model)
        if target == ANTHROPIC:
            return anthropic, notes
        if target == OPENAI:
            openai, more = ao.anthropic_request_to_openai(anthropic, model=model)
            return openai, notes + more
    except ao.TranslationError as exc:
        raise InvalidRequest(f"cannot translate this request for the {target} dialect: {exc}") from exc
    raise InvalidRequest(f"no translation from {GEMINI} to {target}")


def translate_to_gemini_response(body: dict[str, Any], source: str, model: str) -> dict[str, Any]:
    """A provider's whole answer (Anthropic or OpenAI) as a generateContent answer."""
    try:
        message = ao.openai_response_to_anthropic(body, model=model) if source == OPENAI else body
        return anthropic_response_to_gemini(message, model=model)
    except ao.TranslationError as exc:
        raise MalformedAnswer(f"the answer could not be translated: {exc}") from exc


def gemini_stream_translator(source: str, *, model: str, input_tokens: int) -> StreamTranslator:
    """Per-event translation of an Anthropic or OpenAI provider stream into Gemini SSE."""
    to_gemini = AnthropicStreamToGemini(model=model)

    def gemini_wire(events: list[tuple[str, dict[str, Any]]]) -> bytes:
        return gemini_sse([chunk for name, data in events for chunk in to_gemini.feed(name, data)])

    if source == OPENAI:
        to_anthropic = ao.OpenAIStreamToAnthropic(model=model, input_tokens_estimate=input_tokens)

        def feed_openai(event: SSEEvent) -> bytes:
            if event.data == "[DONE]":
                return b""
            return gemini_wire(to_anthropic.feed(_object(event)))

        return StreamTranslator(source, feed_openai, lambda: gemini_wire(to_anthropic.finish()) + _end(to_gemini))

    def feed_anthropic(event: SSEEvent) -> bytes:
        if event.event in (None, "ping"):
            return b""
        return gemini_sse(to_gemini.feed(event.event or "", _object(event)))

    return StreamTranslator(source, feed_anthropic, lambda: _end(to_gemini))


def _end(to_gemini: AnthropicStreamToGemini) -> bytes:
    return gemini_sse(to_gemini.finish())


def _object(event: SSEEvent) -> dict[str, Any]:
    data = parse_event_data(event.data)
    if not isinstance(data, dict):
        raise MalformedAnswer(f"a '{event.event or 'data'}' event is not a JSON object")
    return data
