"""The OpenAPI 3.1 document of the admin API (`/api/openapi.json`), built from the routes, so a
route cannot exist without being described. The UI reads it to hide what a disabled plugin does
not serve."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..accounts.roles import PUBLIC, ROLES, default_access

if TYPE_CHECKING:
    from . import AdminRoute

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {
        "type": "object",
        "required": ["message", "type"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"}},
    }},
}
_ERROR = {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
_RESPONSES = {"400": "a query parameter or the body is wrong (the message names it)",
              "401": "not signed in, or a wrong token",
              "403": "your role may not do this (or the admin API is disabled: no admin.token and no account)"}


def openapi_document(routes: list[AdminRoute]) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    for route in routes:
        paths.setdefault("/api" + route.path, {})[route.method.lower()] = _operation(route)
    return {
        "openapi": "3.1.0",
        "info": {"title": "bifrost-py admin API", "version": "1"},
        "components": {
            "securitySchemes": {
                "adminToken": {"type": "http", "scheme": "bearer",
                               "description": "the admin token, or a person's API token (acts with their role)"},
                "session": {"type": "apiKey", "in": "cookie", "name": "bifrost_session",
                            "description": "a signed-in browser; writes also send X-CSRF-Token"},
                "adminTokenQuery": {"type": "apiKey", "in": "query", "name": "token",
                                    "description": "only on EventSource routes, which cannot send headers"},
            },
            "schemas": {"Error": ERROR_SCHEMA},
        },
        "paths": paths,
    }


def _operation(route: AdminRoute) -> dict[str, Any]:
    access = route.access or default_access(route.method)
    security: list[dict[str, list[str]]] = [] if access == PUBLIC else [{"adminToken": []}, {"session": []}]
    if route.query_token:
        security.append({"adminTokenQuery": []})
    operation: dict[str, Any] = {
        "summary": route.summary,
        "tags": [route.tag],
        "security": security,
        # What the caller's role must hold, and which roles hold it (docs/security.md).
        "x-bifrost-access": access,
        "x-bifrost-roles": [role for role, held in ROLES.items() if access in held],
        "responses": {"200": {"description": "OK"},
                      **{status: {**_ERROR, "description": text} for status, text in _RESPONSES.items()}},
        "parameters": [
            {"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
            for name, text in route.params.items()
        ] + [
            {"name": part[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
            for part in route.path.split("/")
            if part.startswith("{")
        ],
    }
    if route.body is not None:
        operation["requestBody"] = {"content": {"application/json": {"schema": route.body}}}
    return operation
