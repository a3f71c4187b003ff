"""The built-in plugins' admin routes behind the core's guard: the live log is the one route that
takes ?token=, numbers are range-checked, wrongly typed bodies are 400s naming the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import bifrost_cache
import bifrost_costlog
import bifrost_routing
import pytest

from bifrost_py.testing import RunningGateway, provider_config

TOKEN = "admin-secret"
AUTH = {"authorization": f"Bearer {TOKEN}"}


def config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    return {"admin": {"token": TOKEN}, "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
            "providers": provider_config("http://127.0.0.1:9"), **extra}


async def call(gw: RunningGateway, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(method, gw.url + path, **kwargs) as response:
        body = await response.json() if response.content_type == "application/json" else await response.read()
        return response.status, body


def error_of(body: Any, kind: str = "invalid_request") -> str:
    assert set(body) == {"error"} and body["error"]["type"] == kind, body
    return str(body["error"]["message"])


async def test_the_live_log_alone_takes_the_token_from_the_query(start_gateway: Any, tmp_path: Path) -> None:
    gw = await start_gateway(config(tmp_path), plugins=[bifrost_costlog], builtins=False)
    for path in ("/api/logs", "/api/logs/export", "/api/usage/summary", "/api/providers", "/api/settings"):
        status, body = await call(gw, "GET", path, params={"token": TOKEN})
        assert status == 401, path
        error_of(body, "authentication")
        assert (await call(gw, "GET", path, headers=AUTH))[0] == 200, path
    async with aiohttp.ClientSession() as session:
        async with session.get(gw.url + "/api/logs/stream", params={"token": TOKEN}) as live:
            assert live.status == 200 and live.content_type == "text/event-stream"
        async with session.get(gw.url + "/api/logs/stream", params={"token": "wrong"}) as refused:
            assert refused.status == 401


async def test_the_openapi_document_says_which_route_takes_a_query_token(start_gateway: Any, tmp_path: Path) -> None:
    gw = await start_gateway(config(tmp_path), plugins=[bifrost_costlog], builtins=False)
    status, document = await call(gw, "GET", "/api/openapi.json")
    assert status == 200
    query_routes = [(path, method) for path, ops in document["paths"].items() for method, op in ops.items()
                    if {"adminTokenQuery": []} in op["security"]]
    assert query_routes == [("/api/logs/stream", "get")]
    assert document["paths"]["/api/logs"]["get"]["responses"]["400"]["content"]


@pytest.mark.parametrize("limit", ["0", "-1", "abc", "1e3", "1001", "99999999999999999999999", "inf", " 5"])
async def test_cache_entries_limit_is_range_checked(start_gateway: Any, tmp_path: Path, limit: str) -> None:
    gw = await start_gateway(config(tmp_path, cache={"enabled": True}), plugins=[bifrost_cache], builtins=False)
    status, body = await call(gw, "GET", "/api/cache/entries", params={"limit": limit}, headers=AUTH)
    assert status == 400 and error_of(body).startswith("limit:")


async def test_cache_entries_within_range(start_gateway: Any, tmp_path: Path) -> None:
    gw = await start_gateway(config(tmp_path, cache={"enabled": True}), plugins=[bifrost_cache], builtins=False)
    for limit in ("1", "1000", ""):
        status, body = await call(gw, "GET", "/api/cache/entries", params={"limit": limit}, headers=AUTH)
        assert status == 200 and body == {"entries": []}


REQUEST = {"model": "claude-sonnet-4-20250514", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.parametrize(("explain", "field"), [
    ([1, 2], "the request body must be a JSON object"),
    ({}, "body"),
    ({"body": "text"}, "body"),
    ({"body": {"model": 3}}, "body.model"),
    ({"body": {**REQUEST, "messages": 5}}, "body.messages"),
    ({"body": {**REQUEST, "tools": {"a": 1}}}, "body.tools"),
    ({"body": {**REQUEST, "system": 5}}, "body.system"),
    ({"body": REQUEST, "headers": ["x"]}, "headers"),
    ({"body": REQUEST, "headers": {"x-bf-session-id": 5}}, "headers.x-bf-session-id"),
    ({"body": REQUEST, "dialect": "gemini"}, "dialect"),
    ({"body": REQUEST, "endpoint": 1}, "endpoint"),
    ({"body": REQUEST, "key": 5}, "key"),
    ({"body": REQUEST, "team": ["a"]}, "team"),
    ({"body": REQUEST, "session_id": {}}, "session_id"),
])
async def test_routing_explain_names_the_wrong_field(start_gateway: Any, tmp_path: Path, explain: Any,
                                                     field: str) -> None:
    gw = await start_gateway(config(tmp_path), plugins=[bifrost_routing], builtins=False)
    status, body = await call(gw, "POST", "/api/routing/explain", json=explain, headers=AUTH)
    assert status == 400 and error_of(body).startswith((field + ":", field + ", got")), body


async def test_routing_explain_still_explains(start_gateway: Any, tmp_path: Path) -> None:
    gw = await start_gateway(config(tmp_path), plugins=[bifrost_routing], builtins=False)
    explain = {"body": REQUEST, "headers": {"x-bf-session-id": "s1"}, "dialect": "openai", "key": "k", "team": "t"}
    status, body = await call(gw, "POST", "/api/routing/explain", json=explain, headers=AUTH)
    assert status == 200 and body["session"] == "s1" and body["target"] == "anthropic/claude-sonnet-4-20250514"
    assert body["facts"]["input_tokens"] > 0
