"""Unknown paths and wrong methods, answered in JSON in the dialect of the path.

    /anthropic/..., /v1/messages...       Anthropic {"type": "error", "error": {...}}
    /api/..., /ui/..., /metrics, /health  the admin shape {"error": {"message", "type"}}
    everything else (/v1/..., /openai/...) OpenAI {"error": {"message", "type", "param", "code"}}

An unknown path is a 404; a known path with the wrong method a 405 with `Allow`. This is one
catch-all route registered after every other one, not a middleware: aiohttp's router tries it
only when nothing else matched, so the model endpoints pay nothing for it. Because the
catch-all matches every method, aiohttp's own 405 never happens; the methods the path does
serve are found here, by asking each route, on this error path only.
"""

from __future__ import annotations

from aiohttp import web

from ..errors import ANTHROPIC, OPENAI, GatewayError, InvalidRequest, NotFound, error_body
from .errors import admin_error, printable

ADMIN = "admin"
_OPERATOR_PATHS = ("/metrics", "/health")
_OPERATOR_PREFIXES = ("/api/", "/ui/")


class UnknownPath(NotFound):
    """A path the gateway does not serve. NotFound's OpenAI code, `model_not_found`, would send
    a client looking for a model problem when its base URL is wrong."""

    openai_code = "unknown_url"


class WrongMethod(InvalidRequest):
    status = 405
    openai_code = "method_not_allowed"


def dialect_of(path: str) -> str:
    """Whose error shape a client of `path` reads."""
    if path in ("/anthropic", "/v1/messages") or path.startswith(("/anthropic/", "/v1/messages/")):
        return ANTHROPIC
    if path in ("/api", *_OPERATOR_PATHS) or path.startswith(_OPERATOR_PREFIXES):
        return ADMIN
    return OPENAI


def add_fallback(app: web.Application) -> None:
    """Register the catch-all. Call it last: aiohttp tries routes of one path prefix in the order
    they were added, so a pattern starting at the root (`/{name}`) added after it would never match."""
    resource = app.router.add_resource(r"/{tail:[\s\S]*}")  # `.*` would miss a path holding %0A

    async def fallback(request: web.Request) -> web.StreamResponse:
        allowed = await allowed_methods(request, skip=resource)
        return not_served(request, allowed)

    resource.add_route("*", fallback)


async def allowed_methods(request: web.Request, *, skip: web.AbstractResource) -> set[str]:
    """The methods the routes of `request.path` serve (empty when the path is unknown)."""
    allowed: set[str] = set()
    for resource in request.app.router.resources():
        if resource is not skip:
            _, methods = await resource.resolve(request)
            allowed |= methods
    return allowed


def not_served(request: web.Request, allowed: set[str]) -> web.Response:
    """The 404 (or, when `allowed` is not empty, 405) answer for `request`."""
    where = printable(f"{request.method} {request.path}", limit=300)
    dialect = dialect_of(request.path)
    if allowed:
        allow = ", ".join(sorted(allowed))
        message = f"{where}: this path accepts {allow}"
        return _render(WrongMethod(message, headers={"allow": allow}), dialect)
    listed = "/api/openapi.json" if dialect == ADMIN and request.path.startswith("/api") else "docs/api.md"
    message = f"{where}: no such endpoint on this gateway (the endpoints are listed in {listed})"
    return _render(UnknownPath(message), dialect)


def _render(error: GatewayError, dialect: str) -> web.Response:
    if dialect == ADMIN:
        return admin_error(error.status, error.message, headers=error.headers)
    return web.Response(status=error.status, body=error_body(error, dialect),
                        content_type="application/json", headers=error.headers)
