"""The governance admin API over real sockets: CRUD of customers, teams and keys, secrets shown
once, YAML entries read-only, usage views, persistence in SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import aiohttp
import anthropic
import bifrost_governance
import orjson
import pytest

from bifrost_py.testing import provider_config, running_gateway

SONNET = "claude-sonnet-4-20250514"
PROMPT = [{"role": "user", "content": "hello"}]
ADMIN = {"authorization": "Bearer admin-secret"}
YAML = {
    "customers": {"acme": {"budget": {"limit": 1000}}},
    "teams": {"platform": {"customer": "acme"}},
    "virtual_keys": {"ops": {"key": "vk-ops-secret", "team": "platform"}},
}


def config(upstream: Any, logs: str, **governance: Any) -> dict[str, Any]:
    return {"providers": provider_config(upstream.url), "storage": {"logs": logs}, "admin": {"token": "admin-secret"},
            "currency": {"code": "EUR", "per_usd": 0.5}, "governance": {**YAML, **governance}}


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> Any:
    return await start_gateway(config(mock_upstream, f"sqlite:///{tmp_path}/gov.db"),
                               plugins=[bifrost_governance], builtins=False)


async def call(gw: Any, method: str, path: str, body: Any = None, headers: Any = ADMIN) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, \
            session.request(method, gw.url + "/api" + path, json=body, headers=headers) as response:
        return response.status, orjson.loads(await response.read())


async def ask(gw: Any, secret: str, max_tokens: int = 10) -> Any:
    client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=secret, max_retries=0)
    return await client.messages.create(model=SONNET, max_tokens=max_tokens, messages=PROMPT)


async def test_routes_are_described_and_need_the_admin_token(gw: Any) -> None:
    _, document = await call(gw, "GET", "/openapi.json", headers={})
    paths = document["paths"]
    for path in ("/api/governance/keys", "/api/governance/keys/{name}", "/api/governance/keys/{name}/usage",
                 "/api/governance/keys/{name}/rotate", "/api/governance/teams", "/api/governance/customers",
                 "/api/governance/usage"):
        assert path in paths, path
    assert set(paths["/api/governance/keys/{name}"]) == {"get", "patch", "delete"}
    assert "virtual_keys" not in str(paths) and "budget" in str(paths["/api/governance/keys"]["post"])
    assert (await call(gw, "GET", "/governance/keys", headers={}))[0] == 401
    assert (await call(gw, "GET", "/governance/keys", headers={"authorization": "Bearer nope"}))[0] == 401


async def test_yaml_entries_are_listed_marked_and_read_only(gw: Any) -> None:
    status, listed = await call(gw, "GET", "/governance/keys")
    assert status == 200
    assert listed["keys"] == [{"name": "ops", "source": "config", "read_only": True, "team": "platform",
                               "key_sha256": hashlib.sha256(b"vk-ops-secret").hexdigest(), "active": True}]
    assert (await call(gw, "PATCH", "/governance/keys/ops", {"active": False}))[0] == 409
    assert (await call(gw, "DELETE", "/governance/teams/platform"))[0] == 409
    status, error = await call(gw, "POST", "/governance/customers", {"name": "acme"})
    assert status == 409 and error["error"]["message"] == "customer 'acme' already exists"


async def test_create_a_team_and_key_then_use_the_key_at_once(gw: Any) -> None:
    status, team = await call(gw, "POST", "/governance/teams",
                              {"name": "data", "customer": "acme", "budget": {"limit": 50, "reset": "daily"}})
    assert status == 201 and team == {"name": "data", "source": "api", "read_only": False, "customer": "acme",
                                      "budgets": [{"limit": 50.0, "reset": "daily"}]}
    status, created = await call(gw, "POST", "/governance/keys", {
        "name": "dana", "team": "data", "budgets": [{"limit": 5, "reset": "monthly"}],
        "rate_limit": {"requests": 10, "window": "1m"}, "models": ["claude-*"], "max_concurrent": 2,
    })
    assert status == 201
    secret = created.pop("key")
    assert secret.startswith("vk-") and len(secret) > 40
    assert created["key_sha256"] == hashlib.sha256(secret.encode()).hexdigest()
    status, shown = await call(gw, "GET", "/governance/keys/dana")
    assert status == 200 and "key" not in shown and shown == created, "the secret is shown only once"
    answer = await ask(gw, secret)
    assert answer.content[0].text
    status, view = await call(gw, "GET", "/governance/keys/dana/usage")
    assert view["currency"] == "EUR" and view["budgets"][0]["limit"] == 5.0
    assert 0 < view["budgets"][0]["spent"] < 0.01 and view["budgets"][0]["resets_at"].endswith("-01T00:00:00Z")
    assert view["rate_limits"][0] == {**view["rate_limits"][0], "kind": "requests", "limit": 10, "used": 1,
                                      "remaining": 9}
    assert view["in_flight"] == {"max_concurrent": 2, "in_flight": 0}
    status, team_view = await call(gw, "GET", "/governance/teams/data/usage")
    assert team_view["budgets"][0]["spent"] == view["budgets"][0]["spent"]
    status, overview = await call(gw, "GET", "/governance/usage")
    assert [k["name"] for k in overview["keys"]] == ["ops", "dana"] and len(overview["teams"]) == 2


async def test_change_rotate_deactivate_and_delete_a_key(gw: Any) -> None:
    _, created = await call(gw, "POST", "/governance/keys", {"name": "eve", "budget": {"limit": 1}})
    old = created["key"]
    status, changed = await call(gw, "PATCH", "/governance/keys/eve", {"budget": {"limit": 2, "reset": "weekly"},
                                                                       "description": "contractor"})
    assert status == 200 and changed["budgets"] == [{"limit": 2.0, "reset": "weekly"}]
    assert changed["description"] == "contractor"
    status, changed = await call(gw, "PATCH", "/governance/keys/eve", {"description": None})
    assert "description" not in changed
    status, rotated = await call(gw, "POST", "/governance/keys/eve/rotate")
    assert status == 200 and rotated["key"] != old
    with pytest.raises(anthropic.AuthenticationError):
        await ask(gw, old)
    await ask(gw, rotated["key"])
    await call(gw, "PATCH", "/governance/keys/eve", {"active": False})
    with pytest.raises(anthropic.AuthenticationError):
        await ask(gw, rotated["key"])
    assert (await call(gw, "DELETE", "/governance/keys/eve")) == (200, {"deleted": "eve"})
    assert (await call(gw, "GET", "/governance/keys/eve"))[0] == 404


async def test_bad_definitions_are_refused_with_their_paths(gw: Any) -> None:
    status, error = await call(gw, "POST", "/governance/keys", {
        "name": "bad", "budget": {"limit": "lots", "reset": "yearly"}, "team": "nowhere", "shoe_size": 44})
    assert status == 400
    assert error["error"]["problems"] == [
        "key.budget.limit: expected a number, got a string 'lots'",
        "key.budget.reset: must be daily, weekly, monthly, never or a duration like 30m, 12h, 7d; got 'yearly'",
        "key.shoe_size: unknown key",
    ]
    status, error = await call(gw, "POST", "/governance/keys", {"name": "bad", "team": "nowhere"})
    assert status == 400 and error["error"]["problems"] == ["key.team: no team named 'nowhere'"]
    status, error = await call(gw, "POST", "/governance/keys", {"name": "x", "key_sha256":
                                                                hashlib.sha256(b"vk-ops-secret").hexdigest()})
    assert status == 400 and "the same secret as virtual key 'ops'" in error["error"]["message"]
    assert (await call(gw, "POST", "/governance/keys", {"name": "has space"}))[0] == 400
    await call(gw, "POST", "/governance/teams", {"name": "t2"})
    await call(gw, "POST", "/governance/keys", {"name": "k2", "team": "t2"})
    status, error = await call(gw, "DELETE", "/governance/teams/t2")
    assert status == 409 and error["error"]["message"] == "team 't2' is still used by virtual key 'k2'"


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
async def test_created_entities_survive_a_restart(database: str, mock_upstream: Any, tmp_path: Any,
                                                  request: Any) -> None:
    logs = f"sqlite:///{tmp_path}/gov.db" if database == "sqlite" else request.getfixturevalue("postgres_url")
    name = f"persist-{database}"
    async with running_gateway(config(mock_upstream, logs), plugins=[bifrost_governance], builtins=False) as gw:
        status, created = await call(gw, "POST", "/governance/keys",
                                     {"name": name, "budget": {"limit": 3, "reset": "monthly"}})
        assert status == 201, created
        await ask(gw, created["key"])
        _, before = await call(gw, "GET", f"/governance/keys/{name}/usage")
    async with running_gateway(config(mock_upstream, logs), plugins=[bifrost_governance], builtins=False) as gw:
        await ask(gw, created["key"])
        _, after = await call(gw, "GET", f"/governance/keys/{name}/usage")
        await call(gw, "DELETE", f"/governance/keys/{name}")
    assert after["budgets"][0]["spent"] == pytest.approx(2 * before["budgets"][0]["spent"], abs=2e-6)


async def test_a_key_made_on_one_instance_reaches_another(mock_upstream: Any, tmp_path: Any) -> None:
    logs = f"sqlite:///{tmp_path}/shared.db"
    settings = config(mock_upstream, logs, sync_interval="100ms")
    async with running_gateway(settings, plugins=[bifrost_governance], builtins=False) as one, \
            running_gateway(settings, plugins=[bifrost_governance], builtins=False) as two:
        _, created = await call(one, "POST", "/governance/keys", {"name": "roamer"})
        for _ in range(100):
            if (await call(two, "GET", "/governance/keys/roamer"))[0] == 200:
                break
            await asyncio.sleep(0.05)
        assert (await ask(two, created["key"])).content[0].text
