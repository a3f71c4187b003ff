"""What goes wrong when translating between Anthropic and OpenAI, and how each dialect names errors.

`TranslationError` is raised for input that has no meaningful translation (OpenAI `n>1`, tool call
arguments that are not JSON, a message role that does not exist). Raised while translating a
client's request it means the client sent something we cannot forward (a 400 naming why); raised
while translating an upstream's answer it means the provider sent something broken (a 502).
"""

from __future__ import annotations


class TranslationError(ValueError):
    """The input cannot be translated meaningfully; the message says which field and why."""


# Error `type` strings differ between the dialects; mid-stream errors are translated with these.
_OPENAI_TO_ANTHROPIC = {
    "invalid_request_error": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "rate_limit_exceeded": "rate_limit_error",
    "tokens": "rate_limit_error",
    "requests": "rate_limit_error",
    "insufficient_quota": "billing_error",
    "server_error": "api_error",
    "overloaded": "overloaded_error",
}

_ANTHROPIC_TO_OPENAI = {
    "invalid_request_error": "invalid_request_error",
    "request_too_large": "invalid_request_error",
    "authentication_error": "authentication_error",
    "permission_error": "permission_error",
    "not_found_error": "not_found_error",
    "rate_limit_error": "rate_limit_error",
    "billing_error": "insufficient_quota",
    "overloaded_error": "server_error",
    "api_error": "server_error",
}


def anthropic_error_type(openai_type: object) -> str:
    """Anthropic's name for an OpenAI error type; unknown ones are server-side (`api_error`)."""
    if isinstance(openai_type, str):
        return _OPENAI_TO_ANTHROPIC.get(openai_type, "api_error")
    return "api_error"


def openai_error_type(anthropic_type: object) -> str:
    """OpenAI's name for an Anthropic error type; unknown ones are server-side (`server_error`)."""
    if isinstance(anthropic_type, str):
        return _ANTHROPIC_TO_OPENAI.get(anthropic_type, "server_error")
    return "server_error"
