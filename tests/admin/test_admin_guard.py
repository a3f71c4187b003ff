"""The admin guard through real sockets: where the token may come from, and what every failure
of an admin handler looks like to the caller (always the admin JSON shape, never plain text)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
import pytest
from admin_wire import exchange
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.admin import AdminRoute, BadParameter, guarded

TOKEN = "admin-secret-é"
AUTH = {"authorization": f"Bearer {TOKEN}"}


async def ok(request: web.Request) -> web.StreamResponse:
    return web.json_response({"ok": True})


async def read_body(request: web.Request) -> web.StreamResponse:
    return web.json_response({"bytes": len(await request.read())})


async def closed_log(request: web.Request) -> web.StreamResponse:
    raise web.HTTPServiceUnavailable(text="the request log is not open")


async def bad_param(request: web.Request) -> web.StreamResponse:
    raise BadParameter("since: must be between 0 and 1e+10, got 'inf'")


async def bug(request: web.Request) -> web.StreamResponse:
    return web.json_response({"value": {}["missing"]})


async def moved(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/api/ok")


async def stream_then_bug(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: 1\n\n")
    raise RuntimeError("a bug after the first event")


async def stream_then_http_error(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream"})
    await response.prepare(request)
    await response.write(b"data: 1\n\n")
    raise web.HTTPBadRequest(text="too late for a status")


ROUTES = [
    AdminRoute("GET", "/ok", ok, "plain"),
    AdminRoute("GET", "/stream", ok, "an EventSource route", query_token=True),
    AdminRoute("POST", "/body", read_body, "reads its body"),
    AdminRoute("GET", "/closed", closed_log, "raises 503"),
    AdminRoute("GET", "/bad", bad_param, "raises BadParameter"),
    AdminRoute("GET", "/bug", bug, "raises KeyError"),
    AdminRoute("GET", "/moved", moved, "redirects"),
    AdminRoute("GET", "/cut", stream_then_bug, "fails mid-stream"),
    AdminRoute("GET", "/cut-http", stream_then_http_error, "raises an HTTPException mid-stream"),
]


def admin_app(token: str) -> web.Application:
    app = web.Application(client_max_size=1024)
    for route in ROUTES:
        app.router.add_route(route.method, "/api" + route.path,
                             guarded(route.handler, token, query_token=route.query_token))
    return app


@pytest.fixture
async def api(aiohttp_server: Any) -> str:
    server = await aiohttp_server(admin_app(TOKEN))
    return str(server.make_url(""))


async def call(base: str, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], Any]:
    async with aiohttp.ClientSession() as session, session.request(method, base + path, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else await response.read()
        return response.status, dict(response.headers), body


def assert_admin_error(body: Any, kind: str) -> str:
    assert set(body) == {"error"} and body["error"]["type"] == kind, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return str(body["error"]["message"])


# ------------------------------------------------------------------ where the token comes from


async def test_the_token_is_read_from_the_authorization_header(api: str) -> None:
    assert (await call(api, "GET", "/api/ok", headers=AUTH))[0] == 200
    assert (await call(api, "GET", "/api/ok", headers={"authorization": f"bearer {TOKEN}"}))[0] == 200
    status, headers, body = await call(api, "GET", "/api/ok")
    assert status == 401 and headers["WWW-Authenticate"].startswith("Bearer")
    assert "Authorization: Bearer" in assert_admin_error(body, "authentication")
    for wrong in ("Bearer nope", f"Basic {TOKEN}", TOKEN, f"Bearer {TOKEN}x", "Bearer"):
        assert (await call(api, "GET", "/api/ok", headers={"authorization": wrong}))[0] == 401, wrong


async def test_query_token_only_on_eventsource_routes(api: str) -> None:
    status, _, body = await call(api, "GET", "/api/ok", params={"token": TOKEN})
    assert status == 401
    assert_admin_error(body, "authentication")
    assert (await call(api, "GET", "/api/stream", params={"token": TOKEN}))[0] == 200
    assert (await call(api, "GET", "/api/stream", params={"token": "nope"}))[0] == 401
    # A header, when sent, is the credential: a right ?token= does not rescue a wrong header.
    assert (await call(api, "GET", "/api/stream", params={"token": TOKEN},
                       headers={"authorization": "Bearer nope"}))[0] == 401


async def test_non_utf8_authorization_is_a_401_in_json(api: str) -> None:
    for value in (b"Bearer \xff\xfe", b"Bearer " + TOKEN.encode("latin-1"), b"\xc3\x28 \x80", b"Bearer \xed\xa0\x80"):
        answer = await exchange(api, "GET", b"/api/ok", {"Authorization": value})
        assert answer.status == 401, value
        assert answer.headers["content-type"].startswith("application/json")
        assert_admin_error(answer.json(), "authentication")
    right = await exchange(api, "GET", b"/api/ok", {"Authorization": b"Bearer " + TOKEN.encode()})
    assert right.status == 200, "the UTF-8 bytes of the token are the token"


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.binary(max_size=60).map(lambda b: bytes(c for c in b if c not in b"\r\n\x00")))
async def test_any_authorization_bytes_are_refused_as_json(api: str, value: bytes) -> None:
    answer = await exchange(api, "GET", b"/api/ok", {"Authorization": b"Bearer " + value})
    if answer.status == 400 and not answer.headers.get("content-type", "").startswith("application/json"):
        return  # aiohttp's HTTP parser refused the header line itself, before any route ran
    assert answer.status == 401
    assert_admin_error(answer.json(), "authentication")


async def test_a_gateway_without_admin_token_refuses_every_admin_call(aiohttp_server: Any) -> None:
    server = await aiohttp_server(admin_app(""))
    for headers in ({}, {"authorization": "Bearer "}, {"authorization": "Bearer x"}):
        status, _, body = await call(str(server.make_url("")), "GET", "/api/ok", headers=headers)
        assert status == 403
        assert "admin.token" in assert_admin_error(body, "permission")


# ------------------------------------------------------------------ failures of handlers


async def test_http_exceptions_keep_their_status_in_the_admin_shape(api: str) -> None:
    status, _, body = await call(api, "GET", "/api/closed", headers=AUTH)
    assert status == 503 and assert_admin_error(body, "unavailable") == "the request log is not open"
    status, _, body = await call(api, "POST", "/api/body", data=b"x" * 5000, headers=AUTH)
    assert status == 413
    assert "1024" in assert_admin_error(body, "too_large")
    status, headers, _ = await call(api, "GET", "/api/moved", headers=AUTH, allow_redirects=False)
    assert status == 302 and headers["Location"] == "/api/ok", "a redirect is not an error"


async def test_a_bad_parameter_is_a_400_naming_it(api: str) -> None:
    status, _, body = await call(api, "GET", "/api/bad", headers=AUTH)
    assert status == 400 and assert_admin_error(body, "invalid_request").startswith("since:")


async def test_a_bug_is_a_logged_500_in_json(api: str, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="bifrost_py.admin"):
        status, _, body = await call(api, "GET", "/api/bug", headers=AUTH)
    assert status == 500
    assert "GET /api/bug" in assert_admin_error(body, "internal")
    assert "missing" not in body["error"]["message"], "the exception's text stays in the log"
    assert any(r.exc_info and r.exc_info[0] is KeyError for r in caplog.records)


@pytest.mark.parametrize("path", [b"/api/cut", b"/api/cut-http"])
async def test_a_failure_after_the_first_byte_cuts_the_stream_without_a_second_response(api: str, path: bytes) -> None:
    answer = await exchange(api, "GET", path, {"Authorization": b"Bearer " + TOKEN.encode()})
    assert answer.status == 200 and answer.body == b"data: 1\n\n"
    assert answer.raw.count(b"HTTP/1.") == 1, answer.raw
    assert not answer.raw.endswith(b"0\r\n\r\n"), "the chunked body is not ended as if complete"
