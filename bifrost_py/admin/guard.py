"""The admin token check and the wrapper every admin handler runs inside.

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

from aiohttp import web

from ..storage.errors import StorageUnavailable
from .errors import admin_error, from_http_exception
from .helpers import AdminError
from .params import BadParameter

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

log = logging.getLogger("bifrost_py.admin")
CHALLENGE = {"www-authenticate": 'Bearer realm="bifrost-py admin"'}


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
        return await answered(handler, request)

    return check


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
