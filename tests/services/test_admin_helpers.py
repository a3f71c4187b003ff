"""The admin helpers: one handler shape for every plugin. A handler raises, `guarded()` answers
in the admin error shape; these tests look at what a caller of the admin API sees."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    BadParameter,
    body_field,
    choice,
    flag,
    guarded,
    json_body,
    json_response,
    require_started,
    text,
    whole_number,
)
from bifrost_py.storage import StorageUnavailable

TOKEN = "admin-secret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


class Plugin:
    cache: dict[str, Any] | None = None


PLUGIN = Plugin()


async def create(request: web.Request) -> web.StreamResponse:
    cache = require_started(PLUGIN.cache, "the cache")
    body = await json_body(request, limit=200, hint='{"name": "x", "ttl": 60}')
    name = body_field(body, "name", str, required=True)
    ttl = body_field(body, "ttl", float)
    tags = body_field(body, "tags", list)
    cache[name] = ttl
    return json_response({"name": name, "ttl": ttl, "tags": tags}, status=201)


async def listing(request: web.Request) -> web.StreamResponse:
    return json_response({
        "limit": whole_number(request.query, "limit", default=100, minimum=1, maximum=1000),
        "scope": text(request.query, "scope", max_length=20),
        "bodies": flag(request.query, "bodies", default=False),
        "by": choice(request.query, "by", ("model", "key"), default="model"),
    })


async def conflict(request: web.Request) -> web.StreamResponse:
    raise AdminError(409, "defined in the config file", type="read_only", where="config.yaml")


async def down(request: web.Request) -> web.StreamResponse:
    raise StorageUnavailable("Redis lookup failed: connection refused")


def app() -> web.Application:
    application = web.Application()
    for route in (AdminRoute("POST", "/items", create, "create"), AdminRoute("GET", "/items", listing, "list"),
                  AdminRoute("GET", "/conflict", conflict, "409"), AdminRoute("GET", "/down", down, "503")):
        application.router.add_route(route.method, "/api" + route.path, guarded(route.handler, TOKEN))
    return application


@pytest.fixture
async def api(aiohttp_server: Any) -> str:
    PLUGIN.cache = {}
    server = await aiohttp_server(app())
    return str(server.make_url("/api"))


async def call(url: str, method: str = "GET", **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.request(method, url, headers=AUTH, **kwargs) as response:
        assert response.content_type == "application/json"
        return response.status, dict(response.headers), await response.json()


def error(body: Any, kind: str) -> str:
    assert set(body) == {"error"} and body["error"]["type"] == kind, body
    return str(body["error"]["message"])


async def test_a_good_body_is_read_and_answered_as_json(api: str) -> None:
    status, _, body = await call(api + "/items", "POST", data=b'{"name": "a", "ttl": 60, "tags": ["x"]}')
    assert (status, body) == (201, {"name": "a", "ttl": 60.0, "tags": ["x"]})
    assert PLUGIN.cache == {"a": 60.0}


@pytest.mark.parametrize(("raw", "message"), [
    (b"", "the request body is empty: expected a JSON object"),
    (b"{nope", "the request body is not valid JSON"),
    (b"[1, 2]", "the request body must be a JSON object, got a list"),
    (b'"text"', "the request body must be a JSON object, got a string"),
    (b"{}", "name: required, a string"),
    (b'{"name": 5}', "name: must be a string, got a whole number"),
    (b'{"name": "a", "ttl": true}', "ttl: must be a number, got true or false"),
    (b'{"name": "a", "ttl": "60"}', "ttl: must be a number, got a string"),
    (b'{"name": "a", "tags": {}}', "tags: must be a list, got an object"),
    (b'{"name": "a", "ttl": NaN}', "the request body is not valid JSON"),
])
async def test_a_bad_body_is_a_400_naming_the_problem(api: str, raw: bytes, message: str) -> None:
    status, _, body = await call(api + "/items", "POST", data=raw)
    assert status == 400
    assert error(body, "invalid_request").startswith(message)
    assert PLUGIN.cache == {}


async def test_the_hint_says_what_was_expected(api: str) -> None:
    _, _, body = await call(api + "/items", "POST", data=b"[]")
    assert '{"name": "x", "ttl": 60}' in error(body, "invalid_request")


async def test_a_number_beyond_a_double_reaches_the_field_check(api: str) -> None:
    status, _, _ = await call(api + "/items", "POST", data=b'{"name": "a", "ttl": 1e400}')
    assert status == 201  # orjson alone refuses the body; the handler's own range check sees inf
    assert PLUGIN.cache == {"a": float("inf")}


async def test_a_body_too_large_is_a_413(api: str) -> None:
    status, _, body = await call(api + "/items", "POST", data=b'{"name": "' + b"x" * 300 + b'"}')
    assert status == 413
    assert "at most 200" in error(body, "too_large")


async def test_not_started_is_a_503_with_retry_after(api: str) -> None:
    PLUGIN.cache = None
    status, headers, body = await call(api + "/items", "POST", data=b'{"name": "a"}')
    assert status == 503 and headers["Retry-After"] == "1"
    assert error(body, "unavailable") == "the cache has not started; try again shortly"


async def test_storage_unavailable_is_a_503_with_retry_after(api: str) -> None:
    status, headers, body = await call(api + "/down")
    assert status == 503 and headers["Retry-After"] == "1"
    assert "connection refused" in error(body, "unavailable")


async def test_an_admin_error_keeps_its_status_type_and_fields(api: str) -> None:
    status, _, body = await call(api + "/conflict")
    assert status == 409
    assert body == {"error": {"message": "defined in the config file", "type": "read_only", "where": "config.yaml"}}


async def test_typed_query_parameters(api: str) -> None:
    _, _, body = await call(api + "/items")
    assert body == {"limit": 100, "scope": None, "bodies": False, "by": "model"}
    _, _, body = await call(api + "/items?limit=5&scope=team-a&bodies=YES&by=key")
    assert body == {"limit": 5, "scope": "team-a", "bodies": True, "by": "key"}


@pytest.mark.parametrize(("query", "message"), [
    ("limit=0", "limit: must be between 1 and 1000"),
    ("limit=1e3", "limit: expected a whole number"),
    ("scope=" + "x" * 21, "scope: at most 20 characters"),
    ("scope=a%00b", "scope: must not contain NUL"),
    ("bodies=maybe", "bodies: expected true or false"),
    ("by=team", "by: expected one of model, key"),
])
async def test_bad_query_parameters_are_400s_naming_them(api: str, query: str, message: str) -> None:
    status, _, body = await call(api + "/items?" + query)
    assert status == 400
    assert error(body, "invalid_request").startswith(message)


def test_body_field_reads_ints_as_numbers_and_refuses_bools() -> None:
    assert body_field({"n": 3}, "n", float) == 3.0
    assert body_field({"n": 3}, "n", int) == 3
    assert body_field({}, "n", int) is None
    with pytest.raises(BadParameter, match="n: must be a whole number, got true or false"):
        body_field({"n": True}, "n", int)
    assert body_field({"s": "a"}, "s", (str, list)) == "a"
    with pytest.raises(BadParameter, match="s: must be a string or a list"):
        body_field({"s": 1}, "s", (str, list))
