"""Gemini's errors: the ``error`` object it sends (with a failure status, with 200, or inside a
stream) read as a `GeminiError`, and mapped to the Anthropic error type the client is told.

Whatever shape an ``error`` comes in, reading it never raises: its fields become text. A bad API
key, which Gemini answers 400 INVALID_ARGUMENT, maps to ``authentication_error`` so the gateway
treats it as a refused key. `gemini_error_body` writes the body Google sends, for the mock.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from .fields import describe


class GeminiError(Exception):
    """An ``error`` object from Gemini, e.g. inside a stream that had already started."""

    def __init__(self, code: int, status: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def anthropic_error_type(self) -> str:
        """The Anthropic error type to relay."""
        return _anthropic_error_type(self.code, self.status, self.message, self.reason)


_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "DEADLINE_EXCEEDED": "timeout_error",
    "UNAVAILABLE": "overloaded_error",
    "INTERNAL": "api_error",
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip


def _anthropic_error_type(code: int, status: str, message: str, reason: str | None) -> str:
    # Gemini answers a bad API key with 400 INVALID_ARGUMENT; clients must see a 401-type error.
    if reason == "API_KEY_INVALID" or "API key not valid" in message:
        return "authentication_error"
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    fallback = "api_error" if code >= 500 else "invalid_request_error"
    return _ERROR_TYPES.get(_STATUS_NAMES.get(code, ""), fallback)


def gemini_error(error: Any) -> GeminiError:
    """Whatever shape the ``error`` came in, a GeminiError with text in its fields."""
    error = error if isinstance(error, Mapping) else {"message": _text(error)}
    code = error["code"] if isinstance(error.get("code"), int) else 500
    details = error.get("details")
    reasons = [d.get("reason") for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []
    reason = next((r for r in reasons if isinstance(r, str)), None)
    return GeminiError(code, _text(error.get("status", "")), _text(error.get("message", "")), reason)


def _text(value: object) -> str:
    return value if isinstance(value, str) else describe(value)


def gemini_error_to_anthropic(status: int, body: bytes) -> tuple[str, str]:
    """(Anthropic error type, message) for a non-2xx Gemini response."""
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if isinstance(parsed, list) and parsed:  # some endpoints wrap the error in a list
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(error, Mapping):
        text = body.decode("utf-8", "replace").strip() or f"Gemini returned HTTP {status}"
        return _anthropic_error_type(status, "", text, None), text
    err = gemini_error({"code": status, **error})
    return err.anthropic_error_type, err.message


def gemini_error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    """A Gemini error body as Google sends it; for the mock upstream."""
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }
