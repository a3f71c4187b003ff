"""The one place every admin request passes: who is asking, may they, what they changed, and
the wrapper every admin handler runs inside.

`protected(route, accounts)` is what the gateway registers for every route: it authenticates
the request (the admin token, a user's API token or a signed-in session: accounts/service.py),
checks the session's CSRF token on writes, checks that the principal's role holds the access
class the route declares (`AdminRoute.access`; unsaid: reads for GET, admin-only writes for the
rest), hands the principal to the handler (`principal(request)`), and records every request
that is not a read in the audit log, with the route's snapshot of the resource before and after
when it has one. `guarded(handler, token)` is the token-only form (tests, embedding).

The token comes from `Authorization: Bearer <token>`. Only routes marked `query_token` (the
live log's EventSource, which cannot send headers) also take `?token=`: a token in a URL ends up
in browser history, proxy and access logs, so no other route accepts it there.

`guarded()` is also where every failure of a handler becomes the admin error shape: a caller's
bad parameter is a 400, an AdminError (helpers.py) or aiohttp HTTPException keeps its status, a
store that cannot answer (StorageUnavailable) is a 503 with Retry-After, anything else is a
logged 500 — a bug, but one that still answers JSON.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ..accounts.audit import AuditEntry
from ..accounts.roles import ADMIN, PUBLIC, SECRETS, Principal, default_access
from ..accounts.service import SAFE_METHODS, Accounts, client_address
from ..storage.errors import StorageUnavailable
from .errors import admin_error, from_http_exception
from .helpers import AdminError
from .params import BadParameter

if TYPE_CHECKING:
    from . import AdminRoute

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("bifrost_py.admin")
CHALLENGE = {"www-authenticate": 'Bearer realm="bifrost-py admin"'}
PRINCIPAL = web.RequestKey("bifrost_principal", Principal)
ANONYMOUS = Principal("anonymous", "", "none")
TOKEN_ADMIN = Principal("admin-token", ADMIN, "token")  # who the admin token is
WHAT = {"read": "read this", "export": "export data", "audit": "read the audit log",
        "team": "change team resources", "users": "manage people's accounts", "self": "do this", "bodies": "read request bodies",
        "secrets": "see or change secrets", "write": "make changes"}


def principal(request: web.Request) -> Principal:
    """Who made this admin request (the guard sets it before any handler runs). A handler that
    scopes what it shows or changes asks this: `principal(request).manages(team)`,
    `principal(request).may("bodies")`."""
    return request.get(PRINCIPAL, ANONYMOUS)


def shown_keys(request: web.Request, keys: Any) -> Any:
    """Provider API keys as `ProviderKeys.describe()` lists them, as this caller may see them:
    the masked text (`key`, `sk-a…wxyz`) to admins only (the `secrets` access); other roles see
    each key's name, weight and health."""
    if principal(request).may(SECRETS) or not isinstance(keys, list):
        return keys
    return [{k: v for k, v in key.items() if k != "key"} if isinstance(key, dict) else key for key in keys]


def bearer(request: web.Request) -> str | None:
    """The token of `Authorization: Bearer <token>`, or None when the header is absent or
    of another scheme."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def matches(presented: str, token: str) -> bool:
    """Constant-time comparison. Header bytes that are not UTF-8 reach us as lone surrogates;
    `surrogatepass` encodes any of them, so such a header is simply a wrong token (401), not a
    UnicodeEncodeError (500)."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), token.encode("utf-8", "surrogatepass"))


def token_ok(request: web.Request, token: str, *, query_token: bool = False) -> bool:
    """`token` was presented in the Authorization header (or, for an EventSource route, ?token=)."""
    if not token:
        return False
    presented = bearer(request)
    if presented is None and query_token:
        presented = request.query.get("token")
    return presented is not None and matches(presented, token)


def guarded(handler: Handler, token: str, *, query_token: bool = False) -> Handler:
    """`handler` behind the admin token, with every failure answered in the admin shape."""

    async def check(request: web.Request) -> web.StreamResponse:
        if not token:
            return admin_error(403, "the admin API is disabled: set admin.token in the config")
        if not token_ok(request, token, query_token=query_token):
            return admin_error(401, "wrong or missing admin token (Authorization: Bearer <admin token>)",
                               headers=CHALLENGE)
        request[PRINCIPAL] = TOKEN_ADMIN
        return await answered(handler, request)

    return check


def protected(route: AdminRoute, accounts: Accounts) -> Handler:
    """`route`'s handler behind authentication, its role check, CSRF and the audit log."""
    access = route.access or default_access(route.method)
    handler = route.handler

    async def check(request: web.Request) -> web.StreamResponse:
        try:
            who = await accounts.authenticate(request, query_token=route.query_token)
            if who is None and access != PUBLIC:
                return await refused(accounts)
        except StorageUnavailable as exc:
            return admin_error(503, f"storage unavailable ({exc}); try again shortly", headers={"retry-after": "1"})
        if who is not None:
            # A public route grants nothing a session adds (signing in again replaces it).
            if access != PUBLIC and not accounts.csrf_ok(request, who):
                return admin_error(403, "missing or wrong CSRF token: a signed-in browser sends X-CSRF-Token "
                                        "with every change (reload the page)")
            if not who.may(access):
                refusal = admin_error(403, f"your role ({who.role}) may not {WHAT.get(access, access)} "
                                           f"({route.method} /api{route.path})")
                if request.method not in SAFE_METHODS:  # a refused change is worth knowing about too
                    await record(accounts, route, request, who, refusal)
                return refusal
            request[PRINCIPAL] = who
        if request.method in SAFE_METHODS:
            return await answered(handler, request)
        return await audited(route, accounts, request)

    return check


async def refused(accounts: Accounts) -> web.Response:
    if not await accounts.enabled():
        return admin_error(403, "the admin API is disabled: set admin.token in the config, "
                                "or create the first account through the set-up link")
    return admin_error(401, "sign in, or send a token (Authorization: Bearer <admin token or API token>)",
                       headers=CHALLENGE)


async def audited(route: AdminRoute, accounts: Accounts, request: web.Request) -> web.StreamResponse:
    """Run a change and record it: who, what, the body (secrets masked), before and after."""
    before = await snapshot(route, request)
    response = await answered(route.handler, request)
    after = await snapshot(route, request) if route.snapshot and response.status < 400 else None
    if route.snapshot is None and response.status < 400:  # the answer is the best "after" there is
        after = json_of(response)
    await record(accounts, route, request, principal(request), response, before, after)
    return response


async def record(accounts: Accounts, route: AdminRoute, request: web.Request, who: Principal,
                 response: web.StreamResponse, before: Any = None, after: Any = None) -> None:
    body = await body_of(request)
    entry = AuditEntry(
        actor=who.name, role=who.role, via=who.via, method=request.method, path=request.path,
        action=f"{route.method} {route.path}", resource=resource_of(route, request, body),
        status=response.status, address=client_address(request), request=masked_body(route, body), before=before,
        after=after)
    try:
        await (await accounts.audit()).record(entry)
    except Exception:  # the change is made; a log that cannot be written must not hide that
        log.exception("could not write the audit log entry of %s %s by %s", request.method, request.path, who.name)


def resource_of(route: AdminRoute, request: web.Request, body: Any) -> str:
    """What a change named: the path's parameters, or for a create the body field the route
    declares (`AdminRoute.names`; `name` when unsaid)."""
    if request.match_info:
        return "/".join(request.match_info.values())
    named = body.get(route.names or "name") if isinstance(body, dict) else None
    return named[:200] if isinstance(named, str) else ""


def masked_body(route: AdminRoute, body: Any) -> Any:
    """The request body as the route's own answers show it (`AdminRoute.mask`); the audit log
    masks secret-named fields of what this returns. A mask that fails stores no body at all:
    a change is never recorded with a secret because its mask could not read the body."""
    if route.mask is None or body is None:
        return body
    try:
        return route.mask(body)
    except Exception:
        log.warning("the audit mask of %s %s failed; the body is left out", route.method, route.path, exc_info=True)
        return {"masked": True}


async def snapshot(route: AdminRoute, request: web.Request) -> Any:
    if route.snapshot is None:
        return None
    try:
        return await route.snapshot(request)
    except Exception:
        log.warning("snapshot of %s %s failed", request.method, request.path, exc_info=True)
        return None


async def body_of(request: web.Request) -> Any:
    """The request body as JSON (aiohttp keeps what the handler read), or its size. Every admin
    body is a JSON object, and masking works by field name: a body that is not one (a bare
    string, a list: a pasted key, say) is refused and recorded by its size only."""
    if not request.body_exists:
        return None
    try:
        raw = await request.read()
    except (web.HTTPException, web.RequestPayloadError, ConnectionError):
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    return parsed if isinstance(parsed, dict) else {"bytes": len(raw)}


def json_of(response: web.StreamResponse) -> Any:
    body = getattr(response, "body", None)
    if not isinstance(body, bytes) or not response.content_type.endswith("json"):
        return None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


async def answered(handler: Handler, request: web.Request) -> web.StreamResponse:
    """`handler`'s response, or its failure in the admin error shape.

    Once a streamed response (SSE, CSV export) has sent its first bytes no second response can
    follow: the failure is left to aiohttp, which closes the connection, so the client sees a
    truncated stream instead of an HTTP status line inside the body."""
    try:
        return await handler(request)
    except BadParameter as exc:
        return admin_error(400, str(exc))
    except AdminError as exc:
        if started(request):
            raise RuntimeError(f"{exc.status} raised after the response started") from exc
        return exc.response()
    except StorageUnavailable as exc:
        if started(request):
            raise
        log.warning("admin %s %s: storage unavailable: %s", request.method, request.path, exc)
        return admin_error(503, f"storage unavailable ({exc}); try again shortly", headers={"retry-after": "1"})
    except web.RequestPayloadError as exc:  # e.g. Content-Encoding: gzip on a body that is not
        return admin_error(400, f"request body could not be read: {exc}")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if started(request):
            raise RuntimeError(f"{exc.status} raised after the response started") from exc
        return from_http_exception(exc)
    except Exception:
        if started(request):
            raise
        log.exception("admin handler failed: %s %s", request.method, request.path)
        return admin_error(500, f"internal error answering {request.method} {request.path} "
                                "(a bug in the gateway; its log has the traceback)")


def started(request: web.Request) -> bool:
    """Bytes of a response already went out (aiohttp's own test, in RequestHandler.handle_error)."""
    return request.writer.output_size > 0
