"""The whole admin API under random input, through a real gateway with every built-in plugin:
whatever the path parameters, query values, body and token, the answer is never a 5xx and every
refusal is JSON in the admin shape."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.testing import RunningGateway, provider_config

TOKEN = "admin-secret"
SKIPPED = {("/api/logs/stream", "get")}   # an endless event stream: covered by test_admin_plugin_routes


@pytest.fixture
async def gw(start_gateway: Any, tmp_path: Path) -> RunningGateway:
    config = {"admin": {"token": TOKEN}, "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
              "providers": provider_config("http://127.0.0.1:9"), "cache": {"enabled": True},
              "governance": {"teams": {"backend": {}}, "virtual_keys": {"dev": {"key": "vk-dev-secret", "team": "backend"}}}}
    gateway: RunningGateway = await start_gateway(config)
    return gateway


NUMBERS = st.sampled_from(["inf", "-inf", "nan", "1e300", "-1", "0", "99999999999999999999", "1.5", "", "0x10",
                           "1e-300", "9" * 400])
TEXT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20)
QUERY_VALUE = st.one_of(NUMBERS, TEXT, st.sampled_from(["true", "false", "2024-01-01", "2024-13-45T99:00", "model",
                                                         "key:dev", "anthropic", "200", "4xx"]))
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3), max_leaves=8)
FIELDS = st.sampled_from(["name", "team", "customer", "key", "budget", "rate_limit", "models", "providers", "limit",
                          "reset", "requests", "tokens", "window", "body", "model", "headers", "fallbacks", "cache",
                          "enabled", "ttl", "password", "role", "key_sha256", "dialect"])
# The standard library's dumps: unlike orjson it writes integers past 64 bits, which callers send too.
BODY = st.one_of(
    st.dictionaries(FIELDS, JSON, max_size=5).map(lambda value: json.dumps(value).encode()),
    JSON.map(lambda value: json.dumps(value).encode()),
    st.binary(max_size=40),
)


# Read by some handlers without being declared: tried on every route.
COMMON_PARAMS = ("since", "until", "limit", "cursor", "by", "period", "window", "key", "model", "status")


@st.composite
def admin_requests(draw: st.DrawFn, routes: list[tuple[str, str, list[str]]]) -> tuple[str, str, bytes, dict[str, str]]:
    path, method, params = draw(st.sampled_from(routes))
    filled = "/".join(quote(draw(TEXT) or "x", safe="") if part.startswith("{") else part for part in path.split("/"))
    names = draw(st.lists(st.sampled_from(sorted({*params, *COMMON_PARAMS})), unique=True, max_size=4))
    query = {name: draw(QUERY_VALUE) for name in names}
    body = draw(BODY) if method in ("post", "patch", "put") else b""
    auth = draw(st.sampled_from([f"Bearer {TOKEN}"] * 8 + ["Bearer wrong", ""]))
    target = filled + ("?" + urlencode(query) if query else "")
    return method.upper(), target, body, {"authorization": auth} if auth else {}


_ROUTES: dict[str, list[tuple[str, str, list[str]]]] = {}


async def routes_of(gw: RunningGateway) -> list[tuple[str, str, list[str]]]:
    """(path, method, query parameter names) of every admin route, from /api/openapi.json."""
    if gw.url not in _ROUTES:
        async with aiohttp.ClientSession() as session, session.get(gw.url + "/api/openapi.json") as response:
            document = await response.json()
        _ROUTES[gw.url] = [(path, method, [p["name"] for p in op["parameters"] if p["in"] == "query"])
                           for path, ops in document["paths"].items() for method, op in ops.items()
                           if (path, method) not in SKIPPED]
    return _ROUTES[gw.url]


@settings(max_examples=500, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
async def test_no_admin_route_answers_5xx_or_plain_text(gw: RunningGateway, data: st.DataObject) -> None:
    routes = await routes_of(gw)
    assert len(routes) > 20, "every built-in plugin's routes are served"
    method, target, body, headers = data.draw(admin_requests(routes))
    async with aiohttp.ClientSession() as session, \
            session.request(method, gw.url + target, data=body, headers=headers) as response:
        payload = await response.read()
    assert response.status < 500, (method, target, body[:200], payload[:300])
    if response.status >= 400:
        assert response.content_type == "application/json", (method, target, payload[:200])
        error = orjson.loads(payload)["error"]
        assert isinstance(error["message"], str) and isinstance(error["type"], str)
