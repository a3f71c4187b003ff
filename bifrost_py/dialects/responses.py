"""The OpenAI Responses API as a client dialect: the one import for the core.

A Responses client (Codex CLI, `client.responses.*`) is served three ways:

    an `openai` provider     passthrough: the body untouched but for the model name (and the
                             reasoning items an Anthropic answer left in it, `responses_reasoning`)
    an Anthropic-dialect     translated both ways: `responses_request`, `responses_response`,
    provider (and so          `responses_stream`
    Bedrock, Gemini)
    a Chat Completions-only  through Anthropic Messages: the request translated to Messages, then
    provider (Azure)          by the existing Messages -> Chat Completions translator; the answer
                             the same way back. One path to keep right instead of two.

Whole answers from plugins (cache hits, replies) are Anthropic messages and are rendered here as
a Responses object or stream. All of it is pure: dicts in, dicts or bytes out, no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from . import anthropic_openai as ao
from .responses_request import namespaced_tools, responses_request_to_anthropic
from .responses_response import anthropic_response_to_responses
from .responses_stream import AnthropicStreamToResponses, Event
from .sse import SSEEvent
from .synthesize import message_events
from .usage import answer_object

JSON = dict[str, Any]
RESPONSES = "responses"
ANTHROPIC = "anthropic"
OPENAI = "openai"


def translate_request(body: JSON, target: str, model: str) -> tuple[JSON, list[str]]:
    """A Responses request in the provider's dialect; TranslationError when it cannot be."""
    anthropic, notes = responses_request_to_anthropic(body, model=model)
    if target == ANTHROPIC:
        return anthropic, notes
    chat, more = ao.anthropic_request_to_openai(anthropic, model=model)
    if body.get("max_output_tokens") is None:  # the default Anthropic needed is not the client's
        chat.pop("max_tokens", None)
        chat.pop("max_completion_tokens", None)
    return chat, notes + [n for n in more if n not in notes]


def translate_response(body: JSON, source: str, model: str, request: JSON | None) -> JSON:
    """A provider's whole answer (`source` dialect) as a Responses object."""
    if source == OPENAI:
        body = ao.openai_response_to_anthropic(body, model=model)
    return anthropic_response_to_responses(body, model=model, names=namespaced_tools(request or {}))


def wire(events: list[Event]) -> bytes:
    """Events in wire form (orjson never writes a raw newline, so each is one `data:` line)."""
    if len(events) == 1:  # a delta: the usual case
        name, data = events[0]
        return b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"
    return b"".join(b"event: " + name.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n" for name, data in events)


def stream_feed(source: str, *, model: str, input_tokens: int,
                request: JSON | None) -> tuple[Callable[[SSEEvent], bytes], Callable[[], bytes]]:
    """(feed, finish) turning a provider's stream (`source` dialect) into Responses wire bytes."""
    to_responses = AnthropicStreamToResponses(model=model, names=namespaced_tools(request or {}))
    if source == ANTHROPIC:
        def feed_anthropic(event: SSEEvent) -> bytes:
            if event.event in (None, "ping"):
                return b""
            return wire(to_responses.feed(event.event or "", answer_object(event.data)))

        return feed_anthropic, lambda: wire(to_responses.finish())

    to_anthropic = ao.OpenAIStreamToAnthropic(model=model, input_tokens_estimate=input_tokens)

    def relay(events: list[tuple[str, JSON]]) -> bytes:
        return wire([out for name, data in events for out in to_responses.feed(name, data)])

    def feed_openai(event: SSEEvent) -> bytes:
        if event.data == "[DONE]":
            return b""
        return relay(to_anthropic.feed(answer_object(event.data)))

    return feed_openai, lambda: relay(to_anthropic.finish()) + wire(to_responses.finish())


def reply_body(message: JSON, model: str) -> bytes:
    """A whole Anthropic message (a plugin's reply, a cache hit) as a Responses object."""
    return orjson.dumps(anthropic_response_to_responses(message, model=model))


def reply_stream(message: JSON, model: str) -> bytes:
    """The same message as the Responses event stream."""
    to_responses = AnthropicStreamToResponses(model=model)
    return wire([out for name, data in message_events(message) for out in to_responses.feed(name, data)])
