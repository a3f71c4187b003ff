"""Translation between Anthropic Messages and OpenAI Chat Completions: the one import for the core.

    requests   anthropic_request_to_openai, openai_request_to_anthropic   -> (body, notes)
    responses  openai_response_to_anthropic, anthropic_response_to_openai -> body
    streams    OpenAIStreamToAnthropic, AnthropicStreamToOpenAI           -> feed() ... finish()
    errors     TranslationError (the client's request, a 400) and MalformedAnswer (the
               upstream's answer, a 502): ValueErrors naming the field and why

All of it is pure: dicts in, dicts out, no I/O. The pieces live in the `translate_*` modules:

    translate_request_to_openai      Anthropic -> OpenAI request: the top-level fields
    translate_messages_to_openai       ... and the conversation (system prompt, messages)
    translate_request_to_anthropic   OpenAI -> Anthropic request: the top-level fields
    translate_messages_to_anthropic    ... and the conversation (messages)
    translate_response               both directions, and the ids, stop reasons and usage the
                                       streams share with them
    translate_stream_to_anthropic    OpenAI chunks -> Anthropic events
    translate_stream_to_openai       Anthropic events -> OpenAI chunks
    translate_shared                 the target model, block types, tool ids and arguments
    translate_errors                 the two errors and the error-type maps

and `notes` holds the notes every request translator returns.
"""

from __future__ import annotations

from .translate_errors import MalformedAnswer, TranslationError
from .translate_request_to_anthropic import openai_request_to_anthropic
from .translate_request_to_openai import anthropic_request_to_openai
from .translate_response import anthropic_response_to_openai, openai_response_to_anthropic
from .translate_stream_to_anthropic import OpenAIStreamToAnthropic
from .translate_stream_to_openai import AnthropicStreamToOpenAI

__all__ = [
    "AnthropicStreamToOpenAI",
    "MalformedAnswer",
    "OpenAIStreamToAnthropic",
    "TranslationError",
    "anthropic_request_to_openai",
    "anthropic_response_to_openai",
    "openai_request_to_anthropic",
    "openai_response_to_anthropic",
]
