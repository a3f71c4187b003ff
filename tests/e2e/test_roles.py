"""Roles through the real HTTP path: people sign in with a password (cookie + CSRF, as the web
UI does), then a finance lead reads usage and exports CSV but gets 403 on every write the
admin API has; a team manager changes the keys of their own team only, never above the team's
cap; every one of those writes is in the audit log with its author. What each role reads is
filtered on the server: a team manager's lists, usage and log rows hold only their teams (other
teams' things are 404s), finance reads and exports spend but never a key's secret or hash nor a
provider key's masked ends. Lock-out is counted in the database two gateway processes share,
and outlives a restart."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import bifrost_costlog
import bifrost_failover
import bifrost_governance
import orjson
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "accounts"))
from accounts_wire import ADMIN_TOKEN, Person, admin_call

from bifrost_py.testing import GatewayProcess, provider_config

SONNET = "claude-sonnet-4-20250514"
PASSWORD = "a long enough password"
PROVIDER_KEY = "sk-ant-test-0123456789"
GOVERNANCE = {
    "customers": {"acme": {"budget": {"limit": 5000}}},
    "teams": {"backend": {"customer": "acme", "budget": {"limit": 100, "reset": "monthly"}},
              "platform": {"customer": "acme", "budget": {"limit": 100, "reset": "monthly"}}},
    "virtual_keys": {"yaml-dev": {"key": "vk-yaml-dev", "team": "backend"},
                     "yaml-ops": {"key": "vk-yaml-ops", "team": "platform"}},
}


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> Any:
    providers = provider_config(mock_upstream.url)
    providers["anthropic"]["keys"] = [{"value": PROVIDER_KEY}]  # long enough to be shown masked: sk-a…6789
    config = {"providers": providers, "admin": {"token": ADMIN_TOKEN},
              "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"}, "logging": {"bodies": True},
              "costlog": {"flush_interval": "10ms"}, "governance": GOVERNANCE}
    return await start_gateway(config, plugins=[bifrost_governance, bifrost_costlog, bifrost_failover], builtins=False)


@pytest.fixture
async def person(gw: Any) -> Any:
    made: list[Person] = []

    async def sign_in(username: str, role: str, **extra: Any) -> Person:
        status, body = await admin_call(gw.url, "POST", "/users",
                                        {"username": username, "password": PASSWORD, "role": role, **extra})
        assert status == 201, body
        someone = Person(gw.url)
        made.append(someone)
        assert (await someone.sign_in(username, PASSWORD))[0] == 200
        return someone

    yield sign_in
    for someone in made:
        await someone.close()


async def one_request(gw: Any, key: str = "vk-yaml-dev") -> None:
    client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0)
    await client.messages.create(model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "secret plans"}])
    for _ in range(300):  # the log is written off the request path
        if any(r["key_name"] == key.removeprefix("vk-") for r in (await admin_call(gw.url, "GET", "/logs"))[1]["rows"]):
            return
        await asyncio.sleep(0.02)


def writes(document: dict[str, Any]) -> list[tuple[str, str]]:
    """Every change the admin API offers, but signing out and one's own tokens and password."""
    found = []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            if method != "get" and operation["x-bifrost-access"] not in ("self", "public"):
                found.append((method.upper(), path.removeprefix("/api").replace("{", "").replace("}", "")))
    return found


async def test_finance_reads_usage_and_exports_csv_but_every_write_is_refused(gw: Any, person: Any) -> None:
    await one_request(gw)
    fin = await person("fin", "finance")
    status, summary = await fin.call("GET", "/usage/summary")
    assert status == 200 and summary
    status, usage = await fin.call("GET", "/usage?by=team")
    assert status == 200 and "backend" in str(usage)
    status, csv = await fin.call("GET", "/logs/export")
    assert status == 200 and "yaml-dev" in csv and "secret plans" not in csv
    status, logs = await fin.call("GET", "/logs?bodies=true")
    assert status == 200 and logs["rows"] and "secret plans" not in str(logs)
    status, one = await fin.call("GET", f"/logs/{logs['rows'][0]['request_id']}")
    assert status == 200 and "secret plans" not in str(one)
    assert "secret plans" in str((await admin_call(gw.url, "GET", f"/logs/{logs['rows'][0]['request_id']}"))[1])
    assert (await fin.call("GET", "/audit"))[0] == 200

    _, document = await fin.call("GET", "/openapi.json")
    refused = writes(document)
    assert ("POST", "/governance/keys") in refused and ("POST", "/users") in refused and len(refused) > 10
    for method, path in refused:
        status, body = await fin.call(method, path, {"name": "x", "limit": 1})
        assert status == 403, (method, path, status, body)
        assert "finance" in body["error"]["message"]
    # The same with the finance lead's API token, as a script would send it.
    _, made = await fin.call("POST", "/tokens", {"name": "reports"})
    script = {"authorization": f"Bearer {made['token']}"}
    assert (await fin.call("GET", "/usage/summary", headers=script))[0] == 200
    assert (await fin.call("PATCH", "/governance/keys/yaml-dev", {"budget": {"limit": 1}}, headers=script))[0] == 403
    # Refused changes are in the audit log too, with their author.
    _, entries = await admin_call(gw.url, "GET", "/audit?actor=fin&limit=1000")
    assert {(e["method"], e["status"]) for e in entries["entries"]} >= {("POST", 403), ("PATCH", 403)}


async def test_a_team_manager_changes_their_teams_keys_only_within_the_cap(gw: Any, person: Any) -> None:
    status, other = await admin_call(gw.url, "POST", "/governance/keys",
                                     {"name": "platform-bot", "team": "platform", "budget": {"limit": 10}})
    assert status == 201, other
    lead = await person("lead", "team_manager", teams=["backend"])

    status, made = await lead.call("POST", "/governance/keys",
                                   {"name": "backend-ci", "team": "backend", "budget": {"limit": 50, "reset": "monthly"}})
    assert status == 201 and made["key"].startswith("vk-"), made
    status, changed = await lead.call("PATCH", "/governance/keys/backend-ci", {"budget": {"limit": 80, "reset": "monthly"}})
    assert status == 200 and changed["budgets"][0]["limit"] == 80, changed
    status, body = await lead.call("PATCH", "/governance/keys/backend-ci", {"budget": {"limit": 150, "reset": "monthly"}})
    assert status == 403 and "cap" in body["error"]["message"], body
    status, body = await lead.call("POST", "/governance/keys",
                                   {"name": "too-big", "team": "backend", "budget": {"limit": 101}})
    assert status == 403 and "cap" in body["error"]["message"]
    # Other teams' keys do not exist for a team manager (404, as an unknown name); keys with no
    # team, moving a key away, and the teams themselves: refused.
    assert (await lead.call("PATCH", "/governance/keys/platform-bot", {"budget": {"limit": 5}}))[0] == 404
    assert (await lead.call("DELETE", "/governance/keys/platform-bot"))[0] == 404
    assert (await lead.call("POST", "/governance/keys/platform-bot/rotate"))[0] == 404
    assert (await lead.call("POST", "/governance/keys", {"name": "sneaky", "team": "platform"}))[0] == 403
    assert (await lead.call("POST", "/governance/keys", {"name": "teamless"}))[0] == 403
    assert (await lead.call("PATCH", "/governance/keys/backend-ci", {"team": "platform"}))[0] == 403
    assert (await lead.call("PATCH", "/governance/teams/backend", {"budget": {"limit": 100000}}))[0] == 403
    assert (await lead.call("POST", "/users", {"username": "x", "password": PASSWORD, "role": "admin"}))[0] == 403
    status, rotated = await lead.call("POST", "/governance/keys/backend-ci/rotate")
    assert status == 200 and rotated["key"] != made["key"]
    assert (await lead.call("DELETE", "/governance/keys/backend-ci"))[0] == 200

    # Every one of those writes is in the audit log with its author, the key's before and after.
    _, audit = await admin_call(gw.url, "GET", "/audit?actor=lead&limit=1000")
    entries = audit["entries"]
    assert all(e["actor"] == "lead" and e["role"] == "team_manager" for e in entries)
    done = [(e["method"], e["resource"], e["status"]) for e in entries]
    assert ("POST", "backend-ci", 201) in done and ("PATCH", "backend-ci", 200) in done and ("DELETE", "backend-ci", 200) in done
    assert ("PATCH", "backend-ci", 403) in done and ("PATCH", "platform-bot", 404) in done
    raised = next(e for e in entries if e["method"] == "PATCH" and e["status"] == 200)
    assert raised["before"]["budgets"][0]["limit"] == 50 and raised["after"]["budgets"][0]["limit"] == 80
    assert all(made["key"] not in str(e) and rotated["key"] not in str(e) for e in entries)


async def test_a_viewer_reads_but_neither_exports_nor_sees_the_audit_log(gw: Any, person: Any) -> None:
    await one_request(gw)
    viewer = await person("vic", "viewer")
    assert (await viewer.call("GET", "/usage/summary"))[0] == 200
    assert (await viewer.call("GET", "/governance/keys"))[0] == 200
    status, logs = await viewer.call("GET", "/logs?bodies=true")
    assert status == 200 and "secret plans" not in str(logs)
    for path in ("/logs/export", "/audit", "/audit/export", "/users"):
        status, body = await viewer.call("GET", path)
        assert status == 403 and "viewer" in body["error"]["message"], path


async def test_a_team_manager_sees_only_their_teams_keys_usage_and_log_rows(gw: Any, person: Any) -> None:
    await one_request(gw, "vk-yaml-dev")
    await one_request(gw, "vk-yaml-ops")
    status, made = await admin_call(gw.url, "POST", "/governance/keys", {"name": "ops-bot", "team": "platform"})
    assert status == 201, made
    lead = await person("lead", "team_manager", teams=["backend"])

    _, keys = await lead.call("GET", "/governance/keys")
    assert [k["name"] for k in keys["keys"]] == ["yaml-dev"]
    assert all("key_sha256" not in k for k in keys["keys"])  # only admins see even the hash
    _, teams = await lead.call("GET", "/governance/teams")
    assert [t["name"] for t in teams["teams"]] == ["backend"]
    _, customers = await lead.call("GET", "/governance/customers")
    assert [c["name"] for c in customers["customers"]] == ["acme"]  # the customer of their team
    _, usage = await lead.call("GET", "/governance/usage")
    assert {k["name"] for k in usage["keys"]} == {"yaml-dev"} and {t["name"] for t in usage["teams"]} == {"backend"}
    # Another team's key does not exist for them: the same 404 as a name that is nowhere.
    for path in ("/governance/keys/ops-bot", "/governance/keys/yaml-ops/usage", "/governance/teams/platform",
                 "/governance/keys/no-such-key"):
        status, body = await lead.call("GET", path)
        assert status == 404 and "no " in body["error"]["message"], (path, status, body)

    _, logs = await lead.call("GET", "/logs")
    assert logs["rows"] and {r["team"] for r in logs["rows"]} == {"backend"}
    _, asked = await lead.call("GET", "/logs?team=platform")
    assert asked["rows"] == []
    _, everything = await admin_call(gw.url, "GET", "/logs?team=platform")
    status, _ = await lead.call("GET", f"/logs/{everything['rows'][0]['request_id']}")
    assert status == 404
    _, by_team = await lead.call("GET", "/usage?by=team")
    assert [g["group"] for g in by_team["groups"]] == ["backend"]
    _, summary = await lead.call("GET", "/usage/summary")
    _, whole = await admin_call(gw.url, "GET", "/usage/summary")
    assert summary["requests"] == 1 and whole["requests"] == 2
    # An admin and a finance lead read the whole gateway.
    fin = await person("fin", "finance")
    _, all_keys = await fin.call("GET", "/governance/keys")
    assert {k["name"] for k in all_keys["keys"]} == {"yaml-dev", "yaml-ops", "ops-bot"}


async def test_finance_exports_usage_but_never_sees_a_key_secret(gw: Any, person: Any) -> None:
    status, made = await admin_call(gw.url, "POST", "/governance/keys", {"name": "billing", "team": "backend"})
    assert status == 201
    secret = made["key"]
    await one_request(gw, secret)
    _, as_admin = await admin_call(gw.url, "GET", "/governance/keys/billing")
    digest = as_admin["key_sha256"]
    fin = await person("fin", "finance")
    seen = []
    for path in ("/governance/keys", "/governance/keys/billing", "/governance/usage", "/providers",
                 "/providers/anthropic", "/failover", "/logs", "/logs/export", "/usage?by=key", "/usage/summary", "/audit",
                 "/audit/export?format=json"):
        status, body = await fin.call("GET", path)
        assert status == 200, (path, status, body)
        seen.append(str(body))
    everything = "\n".join(seen)
    assert "billing" in everything  # the key's spend is there, by name
    for never in (secret, digest, PROVIDER_KEY, "sk-a", "…6789"):  # nor the provider keys' masked ends
        assert never not in everything, never
    for path in ("/providers", "/failover"):  # which an admin sees
        assert "sk-a…6789" in str((await admin_call(gw.url, "GET", path))[1]), path
    _, csv = await fin.call("GET", "/usage?by=key")
    assert any(g["group"] == "billing" for g in csv["groups"])
    assert (await fin.call("GET", "/users"))[0] == 403


async def test_me_lists_what_each_role_may_do_from_the_guards_table(gw: Any, person: Any) -> None:
    from bifrost_py.accounts.roles import ROLES
    for name, role in (("ana", "finance"), ("tom", "team_manager"), ("vic", "viewer")):
        someone = await person(name, role, **({"teams": ["backend"]} if role == "team_manager" else {}))
        _, me = await someone.call("GET", "/me")
        assert me["role"] == role and me["may"] == sorted(ROLES[role]), me
        assert me["scoped"] == (role == "team_manager")


async def test_lock_out_is_shared_by_two_gateway_processes_on_one_sqlite_file_and_outlives_a_restart(
        mock_upstream: Any, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({
        "providers": provider_config(mock_upstream.url), "admin": {"token": ADMIN_TOKEN},
        "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"},
        "accounts": {"lockout": {"attempts": 3, "window": "10m"}}}))
    first, second = GatewayProcess(config, tmp_path / "first.log"), GatewayProcess(config, tmp_path / "second.log")
    started = [first, second]
    try:
        async with aiohttp.ClientSession() as session:
            await first.ready(session)
            await second.ready(session)
        assert (await admin_call(first.url, "POST", "/users",
                                 {"username": "ana", "password": PASSWORD, "role": "viewer"}))[0] == 201
        ana_first, ana_second = Person(first.url), Person(second.url)
        try:
            # Three wrong passwords, spread over both gateways: the account is locked on both,
            # even for the right password.
            assert (await ana_first.sign_in("ana", "wrong 1"))[0] == 401
            assert (await ana_second.sign_in("ana", "wrong 2"))[0] == 401
            assert (await ana_first.sign_in("ana", "wrong 3"))[0] == 401
            for someone in (ana_first, ana_second):
                status, body = await someone.sign_in("ana", PASSWORD)
                assert status == 429 and "try again in" in body["error"]["message"], body
        finally:
            await ana_first.close()
            await ana_second.close()
        assert await first.stop() == 0 and await second.stop() == 0
        # A restart forgets nothing: the lock is in the database, not in a process.
        third = GatewayProcess(config, tmp_path / "third.log")
        started.append(third)
        async with aiohttp.ClientSession() as session:
            await third.ready(session)
        ana = Person(third.url)
        try:
            assert (await ana.sign_in("ana", PASSWORD))[0] == 429
        finally:
            await ana.close()
    finally:
        for process in started:
            if process.process.poll() is None:
                process.crash()


async def test_a_team_managers_live_log_streams_only_their_teams_rows(gw: Any, person: Any) -> None:
    lead = await person("lead", "team_manager", teams=["backend"])
    async with lead.session.get(gw.url + "/api/logs/stream") as stream:
        assert stream.status == 200
        await stream.content.readuntil(b": connected\n\n")
        await one_request(gw, "vk-yaml-ops")   # another team's row, logged first
        await one_request(gw, "vk-yaml-dev")

        async def first_row() -> dict[str, Any]:
            async for line in stream.content:
                if line.startswith(b"data: "):
                    return orjson.loads(line[6:])
            raise AssertionError("the stream ended")

        row = await asyncio.wait_for(first_row(), 60)  # a guard against hanging, not a timing check
    assert (row["key_name"], row["team"]) == ("yaml-dev", "backend")
