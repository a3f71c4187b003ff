"""Bodies of the governance admin API with wrong types and absurd numbers, over real sockets:
each is a 400 whose message names the field, never a 500, and nothing half-made is stored.
Whatever is accepted can be read back and its usage shown."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import bifrost_governance
import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.testing import RunningGateway, provider_config

ADMIN = {"authorization": "Bearer admin-secret", "content-type": "application/json"}
KINDS = {"customers": {}, "teams": {}, "keys": {"key": "vk-new-key-secret"}}


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> RunningGateway:
    config = {"providers": provider_config(mock_upstream.url), "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
              "admin": {"token": "admin-secret"}, "currency": {"code": "EUR", "per_usd": 0.5},
              "governance": {"teams": {"ops": {}}}}
    gateway: RunningGateway = await start_gateway(config, plugins=[bifrost_governance], builtins=False)
    return gateway


async def send(gw: RunningGateway, method: str, path: str, raw: bytes | None = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, \
            session.request(method, gw.url + "/api/governance/" + path, data=raw, headers=ADMIN) as response:
        body = await response.read()
        assert response.content_type == "application/json", body[:200]
        return response.status, orjson.loads(body)


# (kind, body as sent — raw text, so that numbers beyond a double reach the gateway —, field
# the message must name)
BAD = [
    ("customers", '"budget": {"limit": 1e400}', "budget.limit"),
    ("customers", '"budget": {"limit": -1e400}', "budget.limit"),
    ("customers", '"budget": {"limit": 1e300}', "budget.limit"),
    ("customers", '"budget": {"limit": 1' + "0" * 400 + "}", "budget.limit"),
    ("keys", '"max_concurrent": 1' + "0" * 400, "max_concurrent"),
    ("keys", '"providers": [{"provider": "anthropic", "weight": -1' + "0" * 400 + "}]", "providers[0].weight"),
    ("customers", '"budget": {"limit": -5}', "budget.limit"),
    ("customers", '"budget": {"limit": "ten"}', "budget.limit"),
    ("customers", '"budget": {"limit": true}', "budget.limit"),
    ("customers", '"budgets": 5', "budgets"),
    ("customers", '"budgets": [{"limit": 1, "reset": "yearly"}]', "budgets[0].reset"),
    ("teams", '"rate_limit": {"requests": 1e400}', "rate_limit.requests"),
    ("teams", '"rate_limit": {"requests": 100000000000000000000000000000}', "rate_limit.requests"),
    ("teams", '"rate_limit": {"tokens": -3}', "rate_limit.tokens"),
    ("teams", '"rate_limit": {"tokens": 2.5}', "rate_limit.tokens"),
    ("teams", '"rate_limit": {"requests": 5, "window": "999999d"}', "rate_limit.window"),
    ("teams", '"rate_limit": {"requests": 5, "window": 1e400}', "rate_limit.window"),
    ("teams", '"rate_limit": {"requests": 5, "window": "0s"}', "rate_limit.window"),
    ("keys", '"max_concurrent": 1e400', "max_concurrent"),
    ("keys", '"max_concurrent": 100000000000000000000000000000', "max_concurrent"),
    ("keys", '"max_concurrent": 0', "max_concurrent"),
    ("keys", '"expires_at": 1e400', "expires_at"),
    ("keys", '"expires_at": 1e20', "expires_at"),
    ("keys", '"expires_at": -5', "expires_at"),
    ("keys", '"expires_at": "99999-01-01"', "expires_at"),
    ("keys", '"expires_at": "0001-01-01T00:00:00+14:00"', "expires_at"),
    ("keys", '"providers": [{"provider": "anthropic", "weight": 1e400}]', "providers[0].weight"),
    ("keys", '"providers": [{"provider": "anthropic", "weight": -1}]', "providers[0].weight"),
    ("keys", '"providers": [{"provider": "anthropic", "budget": {"limit": 1e400}}]', "providers[0].budget.limit"),
    ("keys", '"cache": {"ttl": 1e400}', "cache.ttl"),
    ("keys", '"cache": {"ttl": -1}', "cache.ttl"),
    ("keys", '"models": 5', "models"),
]


@pytest.mark.parametrize(("kind", "fields", "named"), BAD)
async def test_a_bad_field_is_a_400_naming_it_on_create_and_on_change(gw: RunningGateway, kind: str, fields: str,
                                                                       named: str) -> None:
    secret = ', "key": "vk-new-key-secret"' if kind == "keys" else ""
    status, error = await send(gw, "POST", kind, f'{{"name": "n1"{secret}, {fields}}}'.encode())
    assert status == 400 and named in error["error"]["message"], error
    assert (await send(gw, "GET", f"{kind}/n1"))[0] == 404, "nothing was stored"

    assert (await send(gw, "POST", kind, f'{{"name": "n2"{secret}}}'.encode()))[0] == 201
    status, error = await send(gw, "PATCH", f"{kind}/n2", f"{{{fields}}}".encode())
    assert status == 400 and named in error["error"]["message"], error
    status, kept = await send(gw, "GET", f"{kind}/n2")
    assert status == 200 and kept["name"] == "n2" and set(kept) <= {"name", "source", "read_only", "key_sha256",
                                                                    "active"}, "the change was not applied"


async def test_bodies_that_are_not_json_objects_are_400(gw: RunningGateway) -> None:
    for raw in (b"[1]", b'{"name": NaN}', b'{"name": Infinity}', b"\xff\xfe", b'{"name": "\\ud800"}',
                b"[" * 5000 + b"]" * 5000, b'{"limit": ' + b"9" * 6000 + b"}"):
        status, error = await send(gw, "POST", "customers", raw)
        assert status == 400 and error["error"]["type"] == "invalid_request", (raw[:40], error)


# ------------------------------------------------------------------ random bodies

ABSURD = st.sampled_from([1e400, -1e400, 1e300, -1.0, 0, 0.5, 10**30, -(10**30), 2**63, 1e20, True, None, "x",
                          "1e400s", "999999d", "2026-12-31", "9999-12-31T23:59:59", [], {}])
VALUE = st.one_of(ABSURD, st.integers(-10, 10**6), st.floats(0, 1e6))


def section(names: list[str]) -> Any:
    return st.one_of(ABSURD, st.fixed_dictionaries({}, optional={n: VALUE for n in names}))


FIELDS = {
    "budget": section(["limit", "reset"]),
    "budgets": st.lists(section(["limit", "reset"]), max_size=2),
    "rate_limit": section(["requests", "tokens", "window"]),
    "rate_limits": st.lists(section(["requests", "tokens", "window"]), max_size=2),
    "max_concurrent": VALUE,
    "expires_at": VALUE,
    "providers": st.lists(st.fixed_dictionaries({"provider": st.sampled_from(["anthropic", "openai", "nope"])},
                                                optional={"weight": VALUE, "budget": section(["limit", "reset"]),
                                                          "rate_limit": section(["requests", "window"])}),
                          max_size=2),
    "cache": st.one_of(ABSURD, section(["enabled", "ttl"])),
    "active": VALUE,
    "description": VALUE,
}


def dumps(body: dict[str, Any]) -> bytes:
    """The standard library's dumps: it writes 1e400 as Infinity (turned back into the number
    text here) and integers past 64 bits, as callers may."""
    return json.dumps(body).replace("-Infinity", "-1e400").replace("Infinity", "1e400").encode()


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(sorted(KINDS)), body=st.fixed_dictionaries({}, optional=FIELDS),
       change=st.fixed_dictionaries({}, optional=FIELDS))
async def test_any_body_is_stored_and_shown_or_refused_with_a_400(gw: RunningGateway, kind: str, body: dict[str, Any],
                                                                  change: dict[str, Any]) -> None:
    if kind != "keys":
        body.pop("max_concurrent", None)
        body.pop("expires_at", None)
        body.pop("providers", None)
        body.pop("cache", None)
        body.pop("active", None)
    status, answer = await send(gw, "POST", kind, dumps({"name": "any", **KINDS[kind], **body}))
    assert status in (201, 400), answer
    if status == 400:
        assert answer["error"]["message"] and answer["error"]["type"] == "invalid_request"
        return
    try:
        status, answer = await send(gw, "PATCH", f"{kind}/any", dumps(change))
        assert status in (200, 400), answer
        assert (await send(gw, "GET", f"{kind}/any"))[0] == 200
        assert (await send(gw, "GET", f"{kind}/any/usage"))[0] == 200
        assert (await send(gw, "GET", "usage"))[0] == 200
    finally:
        assert (await send(gw, "DELETE", f"{kind}/any"))[0] == 200
