"""Whose fault it is when JSON cannot be translated, and how each dialect names errors.

The dialect layer raises exactly two errors, and which one says whose mistake it was:

    TranslationError   the CLIENT's request cannot be read or translated (a wrongly typed
                       field, OpenAI `n>1`, tool arguments that are not JSON, a role that does not
                       exist). The message names the field path: the core answers 400
                       `invalid_request_error` with it.
    MalformedAnswer    an UPSTREAM answer is not the dialect's success shape (not a JSON object, an
                       error object sent with status 200, usage that is not a token count, an event
                       that is not JSON, a Bedrock or Gemini frame that cannot be decoded). The core
                       answers 502 naming the provider, and may fail over.

An error the upstream itself declares (an Anthropic `error` event, an OpenAI `{"error": ...}`
chunk) is not malformed: it is read as what it is and reported as the upstream's error.
"""

from __future__ import annotations


class TranslationError(ValueError):
    """The client's request cannot be translated; the message says which field and why."""


class MalformedAnswer(ValueError):
    """An upstream answer is not the dialect's success shape (not a JSON object, an error object
    sent with 200, usage that is not a count, an event that is not JSON): the provider's fault,
    answered 502 and eligible for failover."""


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
