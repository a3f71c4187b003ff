"""The admin API (`/api/...`, Bearer admin token) and the operator's other surfaces.

Plugins contribute routes through the `bifrost_admin_routes` hook; the core checks the token once
for all of them (guard.py), so no handler can forget to, and answers every failure in one shape,
`{"error": {"message": M, "type": T}}` (errors.py).

    guard.py     the token check and the wrapper every admin handler runs inside
    errors.py    the admin error shape
    params.py    query parameters read with their type and range checked
    helpers.py   JSON bodies and answers, body fields, "not started" 503s, AdminError
    openapi.py   /api/openapi.json, built from the routes
    routes.py    registering the core's and the plugins' routes
    probes.py    /health, /metrics (optionally behind metrics.token), base-URL probes
    webui.py     the web UI's files, with the headers that keep it from being framed
    fallback.py  unknown paths and wrong methods: JSON in the dialect of the path
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ..accounts.roles import Principal
from .errors import admin_error
from .guard import Handler, guarded, principal, shown_keys, token_ok
from .helpers import AdminError, NotStarted, body_field, json_body, json_response, require_started
from .openapi import openapi_document
from .params import BadParameter, choice, flag, number, text, whole_number

__all__ = [
    "AdminError", "AdminRoute", "BadParameter", "Handler", "NotStarted", "Principal", "admin_error", "body_field",
    "choice", "flag", "guarded", "json_body", "json_response", "number", "openapi_document", "principal",
    "require_started", "shown_keys", "text", "token_ok", "whole_number",
]


@dataclass(slots=True)
class AdminRoute:
    """One admin endpoint. `path` is below /api (e.g. "/keys/{name}"); `summary`, `params` and
    `body` describe it in /api/openapi.json. `query_token` marks an EventSource route: browsers
    cannot send headers there, so it alone also accepts the token as `?token=`.

    `access` is what the caller's role must hold (bifrost_py/accounts/roles.py): "read",
    "export", "audit", "team", "self", "bodies", "secrets", "write" or "public"; unsaid, a GET
    is a read and anything else an admin-only write. `snapshot(request)`, when given, returns
    the resource the request names as it is (secrets may be left in: the audit log masks
    them); the audit log records it before and after each change.

    `names` is the body field that names what a create (POST) makes, for the audit log's
    `resource` (a path's parameters name it otherwise); unsaid, `name`. `mask(body)`, when
    given, returns the request body as the route's own answers show it (a Slack URL, itself a
    secret, cut as the channel's GET cuts it): the audit log stores that copy of the body, then
    masks secret-named fields as it does for every route."""

    method: str
    path: str
    handler: Handler
    summary: str
    params: dict[str, str] = field(default_factory=dict)      # query parameter -> description
    body: dict[str, Any] | None = None                         # JSON schema of the request body
    tag: str = "admin"
    query_token: bool = False
    access: str = ""
    snapshot: Callable[[web.Request], Awaitable[Any]] | None = None
    names: str = ""
    mask: Callable[[Any], Any] | None = None
