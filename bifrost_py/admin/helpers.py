"""What a plugin's admin handler needs besides its own logic, in one shape for every plugin.

    async def create(request: web.Request) -> web.StreamResponse:
        cache = require_started(plugin.cache, "the cache")       # 503 until bifrost_startup ran
        body = await json_body(request)                          # a dict, or a 400/413 answered
        ttl = body_field(body, "ttl", float, required=True)           # 400 "ttl: must be a number"
        scope = text(request.query, "scope")                     # typed query parameters: params.py
        return json_response({"stored": await cache.put(ttl, scope)}, status=201)

Handlers raise, `guarded()` answers (guard.py): BadParameter is a 400 naming the parameter or
field, AdminError any status in the admin shape, NotStarted a 503 with Retry-After, and the
storage's StorageUnavailable a 503 with Retry-After too. So a handler needs no try/except of
its own for the caller's mistakes, a plugin that has not started, or a database that is down.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

import orjson
from aiohttp import web

from .errors import admin_error
from .params import BadParameter

T = TypeVar("T")

BODY_LIMIT = 1 << 20  # bytes of a JSON body, unless a route says otherwise
_KINDS = {str: "a string", dict: "an object", list: "a list", int: "a whole number", float: "a number",
          bool: "true or false"}


class AdminError(Exception):
    """Raise to answer `admin_error(status, message, ...)` from anywhere in a handler."""

    def __init__(self, status: int, message: str, *, type: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.headers = headers
        self.extra = extra

    def response(self) -> web.Response:
        return admin_error(self.status, self.message, type=self.type, headers=self.headers, **self.extra)


class NotStarted(AdminError):
    """A 503 (with Retry-After): what the route needs has not started yet, or has stopped."""

    def __init__(self, what: str) -> None:
        super().__init__(503, f"{what} has not started; try again shortly", headers={"retry-after": "1"})


def require_started(value: T | None, what: str) -> T:
    """`value`, or NotStarted(`what`) when it is None (set in bifrost_startup, cleared at shutdown)."""
    if value is None:
        raise NotStarted(what)
    return value


def json_response(data: Any, *, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """`data` as a JSON answer (orjson: dataclasses, datetimes and numpy-free speed)."""
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json",
                        headers=headers)


async def json_body(request: web.Request, *, limit: int = BODY_LIMIT, hint: str = "") -> dict[str, Any]:
    """The request body as a JSON object. 413 when longer than `limit` bytes; 400 naming the
    problem when it is not JSON or not an object (`hint`, e.g. an example body, is appended).
    Numbers beyond a double (`1e400`) are read as infinity rather than refused, so the field's
    own check names them."""
    if request.content_length is not None and request.content_length > limit:
        raise AdminError(413, f"the request body is {request.content_length} bytes; at most {limit} are accepted")
    raw = await request.read()
    if len(raw) > limit:
        raise AdminError(413, f"the request body is {len(raw)} bytes; at most {limit} are accepted")
    suffix = f" ({hint})" if hint else ""
    if not raw.strip():
        raise BadParameter(f"the request body is empty: expected a JSON object{suffix}")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        body = _lenient(raw)
        if body is None:
            raise BadParameter(f"the request body is not valid JSON: {exc}{suffix}") from None
    if not isinstance(body, dict):
        raise BadParameter(f"the request body must be a JSON object, got {_kind(body)}{suffix}")
    return body


def body_field(data: dict[str, Any], name: str, kind: type[T] | tuple[type, ...], *, required: bool = False,
          what: str = "") -> Any:
    """`data[name]` when it is a `kind` (an int is a float too; true is not a number); None when
    absent or null and not `required`. Otherwise BadParameter naming the field (`what` says
    what it must be when the type name does not)."""
    value = data.get(name)
    if value is None:
        if required:
            raise BadParameter(f"{name}: required, {what or _expected(kind)}")
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and not isinstance(value, bool) and isinstance(value, int):
        return float(value)
    if isinstance(value, bool) and bool not in kinds or not isinstance(value, kinds):
        raise BadParameter(f"{name}: must be {what or _expected(kind)}, got {_kind(value)}")
    return value


def _expected(kind: type | tuple[type, ...]) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(_KINDS.get(k, k.__name__) for k in kinds)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    for kind in (bool, str, dict, list, int, float):
        if isinstance(value, kind):
            return _KINDS[kind]
    return type(value).__name__


def _lenient(raw: bytes) -> Any:
    """`raw` read by the standard library (which takes 1e400 as infinity where orjson refuses
    the whole body); None if that fails too, or if it holds text that is not valid UTF-8."""
    try:
        body = json.loads(raw, parse_constant=_no_constant)
        json.dumps(body, ensure_ascii=False).encode()  # raises on a lone surrogate
    except (ValueError, TypeError, RecursionError):
        return None
    return body


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")
