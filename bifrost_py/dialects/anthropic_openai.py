"""Translation between Anthropic Messages and OpenAI Chat Completions: the one import for the core.

    requests   anthropic_request_to_openai, openai_request_to_anthropic   -> (body, notes)
    responses  openai_response_to_anthropic, anthropic_response_to_openai -> body
    streams    OpenAIStreamToAnthropic, AnthropicStreamToOpenAI           -> feed() ... finish()
    errors     TranslationError (the client's request, a 400) and MalformedAnswer (the
               upstream's answer, a 502): ValueErrors naming the field and why

All of it is pure: dicts in, dicts out, no I/O. The pieces live in the `translate_*` modules.
"""

from __future__ import annotations

from .translate_errors import MalformedAnswer, TranslationError
from .translate_request import anthropic_request_to_openai, openai_request_to_anthropic
from .translate_response import anthropic_response_to_openai, openai_response_to_anthropic
from .translate_stream import AnthropicStreamToOpenAI, OpenAIStreamToAnthropic

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
