"""The audit log through the admin API: every change, by whom, with the resource before and
after (from the route's own GET when it has one), secrets masked; filters and exports."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_failover
import bifrost_governance
import pytest
from accounts_wire import ADMIN, admin_call, gateway_config


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> Any:
    config = gateway_config(mock_upstream, tmp_path, governance={"teams": {"backend": {}}})
    return await start_gateway(config, plugins=[bifrost_governance], builtins=False)


async def test_changes_are_recorded_with_before_and_after_and_no_secret(gw: Any) -> None:
    status, made = await admin_call(gw.url, "POST", "/governance/keys", {"name": "ci", "team": "backend",
                                                                          "budget": {"limit": 5}})
    assert status == 201
    assert (await admin_call(gw.url, "PATCH", "/governance/keys/ci", {"budget": {"limit": 7}}))[0] == 200
    assert (await admin_call(gw.url, "POST", "/governance/keys/ci/rotate"))[0] == 200
    assert (await admin_call(gw.url, "DELETE", "/governance/keys/ci"))[0] == 200
    assert (await admin_call(gw.url, "DELETE", "/governance/keys/ci"))[0] == 404

    status, audit = await admin_call(gw.url, "GET", "/audit?action=governance/keys")
    entries = audit["entries"]
    assert [(e["method"], e["status"]) for e in entries] == [
        ("DELETE", 404), ("DELETE", 200), ("POST", 200), ("PATCH", 200), ("POST", 201)]
    assert all(e["actor"] == "admin-token" and e["role"] == "admin" and e["via"] == "token" for e in entries)
    patch = entries[3]
    assert patch["resource"] == "ci" and patch["action"] == "PATCH /governance/keys/{name}"
    assert patch["request"] == {"budget": {"limit": 7}}
    assert patch["before"]["budgets"][0]["limit"] == 5 and patch["after"]["budgets"][0]["limit"] == 7
    assert entries[1]["before"]["name"] == "ci" and entries[1]["after"] is None
    assert made["key"] not in str(audit) and entries[4]["after"]["key"].startswith("••••")

    async with aiohttp.ClientSession() as session, \
            session.get(gw.url + "/api/audit/export", params={"resource": "ci"}, headers=ADMIN) as response:
        assert response.status == 200 and response.content_type == "text/csv"
        rows = list(csv.DictReader(io.StringIO(await response.text())))
    assert len(rows) == 5 and {r["actor"] for r in rows} == {"admin-token"} and made["key"] not in str(rows)
    status, exported = await admin_call(gw.url, "GET", "/audit/export?format=json&actor=nobody")
    assert status == 200 and exported == {"entries": []}
    status, body = await admin_call(gw.url, "GET", "/audit?since=abc")
    assert status == 400 and "since" in body["error"]["message"]
    status, page = await admin_call(gw.url, "GET", "/audit?limit=2")
    assert len(page["entries"]) == 2 and page["next"]
    status, rest = await admin_call(gw.url, "GET", f"/audit?before={page['next']}")
    assert [e["id"] for e in page["entries"] + rest["entries"]] == [e["id"] for e in entries]


async def test_reads_are_not_recorded(gw: Any) -> None:
    for _ in range(3):
        assert (await admin_call(gw.url, "GET", "/governance/keys"))[0] == 200
    assert (await admin_call(gw.url, "GET", "/audit"))[1]["entries"] == []


async def test_a_failover_chain_change_names_the_chain(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    config = gateway_config(mock_upstream, tmp_path, failover={"retries": 0})
    gw = await start_gateway(config, plugins=[bifrost_failover], builtins=False)
    status, missing = await admin_call(gw.url, "POST", "/failover/chains", {"model": "claude-*"})
    assert status == 400
    problem = "failover.chains.claude-*: missing 'chain' (the providers or models to try in order, e.g. " \
              "[bedrock, openai/gpt-4o])"
    assert missing["error"]["problems"] == [problem]
    assert "failover.chains.claude-*: missing 'chain'" in missing["error"]["message"]
    chain = {"model": "claude-sonnet-*", "chain": ["openai/gpt-4o"]}
    assert (await admin_call(gw.url, "POST", "/failover/chains", chain))[0] == 201
    assert (await admin_call(gw.url, "PUT", "/failover/chains/claude-sonnet-*", {"chain": ["openai"]}))[0] == 200
    status, audit = await admin_call(gw.url, "GET", "/audit?action=failover/chains")
    assert [(e["method"], e["status"], e["resource"]) for e in audit["entries"]] == [
        ("PUT", 200, "claude-sonnet-*"), ("POST", 201, "claude-sonnet-*"), ("POST", 400, "claude-*")]
    status, found = await admin_call(gw.url, "GET", "/audit?resource=claude-sonnet-*")
    assert [e["method"] for e in found["entries"]] == ["PUT", "POST"]


async def test_a_provider_key_in_a_refused_body_is_nowhere_in_the_audit_or_the_database(
        gw: Any, tmp_path: Path) -> None:
    raw = "sk-ant-pasted-as-a-bare-string-7f3e9a"
    refused = [{"name": "extra", "type": "anthropic", "keys": [raw]},       # a key as a bare string
               {"name": "extra", "type": "anthropic", "keys": raw},         # `keys` as one string
               raw, [raw]]                                                  # not a JSON object at all
    for body in refused:
        assert (await admin_call(gw.url, "POST", "/providers", body))[0] == 400
    assert (await admin_call(gw.url, "PATCH", "/providers/extra", {"keys": [raw]}))[0] in (400, 404)
    status, audit = await admin_call(gw.url, "GET", "/audit?action=providers")
    assert status == 200 and len(audit["entries"]) == 5 and raw not in str(audit)
    shown = [e["request"] for e in reversed(audit["entries"])]
    masked = "…" + raw[-4:]  # as the provider's answers show a key
    assert shown[:4] == [{"name": "extra", "type": "anthropic", "keys": [masked]},
                         {"name": "extra", "type": "anthropic", "keys": [masked]},
                         {"bytes": len(raw) + 2}, {"bytes": len(raw) + 4}]
    for file in tmp_path.glob("gateway.db*"):
        assert raw.encode() not in file.read_bytes(), file.name


async def test_a_new_person_is_recorded_under_their_user_name(gw: Any) -> None:
    body = {"username": "asha", "password": "a long enough password", "role": "viewer"}
    assert (await admin_call(gw.url, "POST", "/users", body))[0] == 201
    _status, audit = await admin_call(gw.url, "GET", "/audit?action=POST /users")
    assert [(e["resource"], e["status"]) for e in audit["entries"]] == [("asha", 201)]
    assert body["password"] not in str(audit)
