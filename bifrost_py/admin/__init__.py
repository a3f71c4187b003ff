"""The admin API (`/api/...`, Bearer admin token) and its OpenAPI document.

Plugins contribute routes through the `bifrost_admin_routes` hook; the core checks the token once
for all of them, so no handler can forget to.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from .params import BadParameter

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(slots=True)
class AdminRoute:
    """One admin endpoint. `path` is below /api (e.g. "/keys/{name}"); `summary`, `params` and
    `body` describe it in /api/openapi.json."""

    method: str
    path: str
    handler: Handler
    summary: str
    params: dict[str, str] = field(default_factory=dict)      # query parameter -> description
    body: dict[str, Any] | None = None                         # JSON schema of the request body
    tag: str = "admin"


def admin_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": {"message": message, "status": status}}, status=status)


def token_ok(request: web.Request, token: str) -> bool:
    """Constant-time check of `Authorization: Bearer <token>` (or ?token= for EventSource)."""
    if not token:
        return False
    header = request.headers.get("authorization", "")
    presented = header[7:] if header.lower().startswith("bearer ") else request.query.get("token", "")
    return hmac.compare_digest(presented.encode(), token.encode())


def guarded(handler: Handler, token: str) -> Handler:
    async def check(request: web.Request) -> web.StreamResponse:
        if not token:
            return admin_error(403, "the admin API is disabled: set admin.token in the config")
        if not token_ok(request, token):
            return admin_error(401, "wrong or missing admin token (Authorization: Bearer <admin token>)")
        try:
            return await handler(request)
        except BadParameter as exc:
            return admin_error(400, str(exc))

    return check


def openapi_document(routes: list[AdminRoute]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag],
            "security": [{"adminToken": []}],
            "responses": {"200": {"description": "OK"}, "401": {"description": "wrong admin token"}},
            "parameters": [
                {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
                for name, text in route.params.items()
            ]
            + [
                {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
                for part in route.path.split("/")
                if part.startswith("{")
            ],
        }
        if route.body is not None:
            operation["requestBody"] = {"content": {"application/json": {"schema": route.body}}}
        paths.setdefault("/api" + route.path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "bifrost-py admin API", "version": "1"},
        "components": {"securitySchemes": {"adminToken": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }
