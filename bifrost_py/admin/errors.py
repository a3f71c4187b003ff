"""The admin error shape, `{"error": {"message": M, "type": T}}`, and its one renderer.

Every failure under /api (and of the operator's own surfaces: /metrics, the UI's files) is
answered in this shape, so the UI and scripts read `error.message` from every refusal alike.
The type is derived from the status unless a handler names a finer one.
"""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web

# status -> the admin error type (CONTRACT.md names the shape; these are its vocabulary).
TYPES = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "too_large",
    429: "rate_limited",
    500: "internal",
    502: "unavailable",
    503: "unavailable",
    504: "unavailable",
}

# Headers of an aiohttp HTTPException that describe its own plain-text body, not the error.
_BODY_HEADERS = frozenset(("content-type", "content-length", "content-encoding", "transfer-encoding"))


def error_type(status: int) -> str:
    """The admin type for `status`: a 4xx not listed is a bad request, a 5xx an internal error."""
    return TYPES.get(status, "internal" if status >= 500 else "invalid_request")


def admin_error(status: int, message: str, *, type: str | None = None,
                headers: dict[str, str] | None = None, **extra: Any) -> web.Response:
    """The admin error response. `extra` adds fields next to message and type (e.g. a list of
    `problems` when a body has several); `headers` adds response headers (Allow, WWW-Authenticate)."""
    error = {"message": printable(message), "type": type or error_type(status), **extra}
    return web.Response(body=orjson.dumps({"error": error}), status=status,
                        content_type="application/json", headers=headers)


def from_http_exception(exc: web.HTTPException) -> web.Response:
    """An aiohttp HTTPException (raised by the framework or a handler) in the admin shape; its
    own headers (Allow, Retry-After) are kept, its plain-text body is not."""
    default = f"{exc.status}: {exc.reason}"
    message = exc.text if exc.text and exc.text != default else exc.reason
    kept = {name: value for name, value in exc.headers.items() if name.lower() not in _BODY_HEADERS}
    return admin_error(exc.status, message or exc.reason, headers=kept)


def printable(text: str, limit: int = 2000) -> str:
    """`text` safe to put in JSON: lone surrogates (from non-UTF-8 request bytes) escaped as
    \\udcXX text, and at most `limit` characters, since messages may echo what a caller sent."""
    if len(text) > limit:
        text = text[:limit] + "…"
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
