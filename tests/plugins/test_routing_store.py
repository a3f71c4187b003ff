"""Routing rules added at run time through `/api/routing/rules` (the web UI's Routing page):
refused with the message the config file gets for the same rule, evaluated after the file's
rules, used by the next request, recorded in the audit log, and followed by a second gateway on
the same database."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_routing
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.gateway import Gateway
from bifrost_py.testing import RunningGateway, RunningServer, provider_config

TOKEN = "admin-secret"
AUTH = {"authorization": f"Bearer {TOKEN}"}
HAIKU = "claude-haiku-4-5"
TO_OPENAI = {"name": "haiku-to-openai", "when": {"model": "claude-haiku-*"}, "to": "openai/gpt-4o-mini"}


def config(upstream: RunningServer, tmp_path: Path, **routing: Any) -> dict[str, Any]:
    return {"admin": {"token": TOKEN}, "storage": {"logs": f"sqlite:///{tmp_path / 'gw.db'}"},
            "providers": provider_config(upstream.url), "routing": routing}


async def call(gw: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, gw.url + "/api" + path, json=body, headers=AUTH) as response:
        return response.status, orjson.loads(await response.read())


async def ask(gw: RunningServer, model: str = HAIKU) -> dict[str, str]:
    """Send a real request; the headers say which provider answered and which rule sent it."""
    status, headers, _ = await gw.post("/v1/messages", json={
        "model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
        headers={"anthropic-version": "2023-06-01"})
    assert status == 200
    return {k.lower(): v for k, v in headers.items()}


async def start(start_gateway: Any, upstream: RunningServer, tmp_path: Path, **routing: Any) -> RunningGateway:
    gw: RunningGateway = await start_gateway(config(upstream, tmp_path, **routing), plugins=[bifrost_routing],
                                             builtins=False)
    return gw


def editable(gw: RunningGateway) -> Any:
    return next(i.plugin for i in gw.gateway.plugins.infos if isinstance(i.plugin, bifrost_routing.RoutingPlugin)).rules


BAD_RULES: list[dict[str, Any]] = [
    {"name": "r", "when": {"modle": "x"}, "to": "anthropic/claude-haiku-4-5"},
    {"name": "r", "when": {}},
    {"name": "r", "when": {}, "to": "nosuchmodel"},
    {"name": "r", "when": {"tools": "yes"}, "to": "anthropic"},
    {"name": "r", "when": {"min_input_tokens": 10, "max_input_tokens": 5}, "to": "anthropic"},
    {"name": "r", "when": {"min_input_tokens": -1}, "to": "anthropic"},
    {"name": "r", "when": {"model": 5}, "to": "anthropic"},
    {"name": "r", "when": {"header": "x-team"}, "to": "anthropic"},
    {"name": "r", "when": "always", "to": "anthropic"},
    {"name": "r", "to": "anthropic/"},
    {"name": "r", "to": "   "},
    {"name": "r", "to": "anthropic", "priority": 1},
]


def yaml_problems(upstream_url: str, rules: list[dict[str, Any]]) -> list[str]:
    """What the config file gets for `routing.rules: rules` (start-up and `bifrost-py check`)."""
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict({"providers": provider_config(upstream_url), "routing": {"rules": rules}}),
                plugins=[bifrost_routing], builtins=False)
    return caught.value.problems


@pytest.mark.parametrize("rule", BAD_RULES, ids=range(len(BAD_RULES)))
async def test_a_rule_the_file_refuses_is_refused_with_the_same_problems(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, rule: dict[str, Any]) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path)
    status, answer = await call(gw, "POST", "/routing/rules", rule)
    assert status == 400
    assert answer["error"]["problems"] == yaml_problems(mock_upstream.url, [rule])
    assert (await call(gw, "GET", "/routing/rules"))[1]["rules"] == []


async def test_a_rule_named_like_a_file_rule_is_refused_and_file_rules_are_read_only(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, rules=[{"name": "file", "to": "anthropic"}])
    assert (await call(gw, "POST", "/routing/rules", {**TO_OPENAI, "name": "file"}))[0] == 409
    status, answer = await call(gw, "PUT", "/routing/rules/file", {"to": "openai"})
    assert status == 409 and "config file" in answer["error"]["message"]
    assert (await call(gw, "DELETE", "/routing/rules/file"))[0] == 409
    assert (await call(gw, "PUT", "/routing/rules/nope", {"to": "openai"}))[0] == 404
    assert (await call(gw, "POST", "/routing/rules", {"when": {}, "to": "openai"}))[0] == 400
    assert (await call(gw, "POST", "/routing/rules", [1]))[0] == 400
    same = await asyncio.gather(*(call(gw, "POST", "/routing/rules", TO_OPENAI) for _ in range(4)))
    assert sorted(status for status, _ in same) == [201, 409, 409, 409]
    assert (await call(gw, "PUT", "/routing/rules", {"order": [{}]}))[0] == 400
    assert (await call(gw, "PUT", "/routing/rules", {"order": "file"}))[0] == 400


async def test_the_next_request_is_routed_by_an_added_rule_and_back_when_it_is_deleted(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path)
    assert (await ask(gw))["x-bf-provider"] == "anthropic"
    status, made = await call(gw, "POST", "/routing/rules", TO_OPENAI)
    assert status == 201 and made["source"] == "ui" and not made["read_only"]
    headers = await ask(gw)
    assert headers["x-bf-provider"] == "openai" and headers["x-bf-route"] == "haiku-to-openai"
    status, _ = await call(gw, "PUT", "/routing/rules/haiku-to-openai", {**TO_OPENAI, "to": "anthropic/claude-sonnet-4-5"})
    assert status == 200
    assert (await ask(gw))["x-bf-route-target"] == "anthropic/claude-sonnet-4-5"
    assert (await call(gw, "DELETE", "/routing/rules/haiku-to-openai"))[0] == 200
    headers = await ask(gw)
    assert headers["x-bf-provider"] == "anthropic" and "x-bf-route" not in headers


async def test_file_rules_come_first_and_added_rules_keep_the_order_set(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path,
                     rules=[{"name": "file-opus", "when": {"model": "claude-opus-*"}, "to": "openai/gpt-4o"}])
    await call(gw, "POST", "/routing/rules", {"name": "all-claude", "when": {"model": "claude-*"}, "to": "anthropic"})
    await call(gw, "POST", "/routing/rules", TO_OPENAI)
    listed = (await call(gw, "GET", "/routing/rules"))[1]["rules"]
    assert [(r["name"], r["source"], r["position"]) for r in listed] == [
        ("file-opus", "config", 0), ("all-claude", "ui", 1), ("haiku-to-openai", "ui", 2)]
    assert (await ask(gw))["x-bf-route"] == "all-claude"
    assert (await ask(gw, "claude-opus-4-1"))["x-bf-route"] == "file-opus"  # the file's rule wins
    assert (await call(gw, "PUT", "/routing/rules", {"order": ["all-claude"]}))[0] == 400
    status, answer = await call(gw, "PUT", "/routing/rules", {"order": ["haiku-to-openai", "all-claude"]})
    assert status == 200 and [r["name"] for r in answer["rules"]] == ["file-opus", "haiku-to-openai", "all-claude"]
    assert (await ask(gw))["x-bf-route"] == "haiku-to-openai"
    status, explained = await call(gw, "POST", "/routing/explain", {"body": {"model": HAIKU, "messages": []}})
    assert status == 200 and explained["rule"] == "haiku-to-openai" and explained["target"] == "openai/gpt-4o-mini"


async def test_every_change_is_in_the_audit_log_with_before_and_after(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path)
    await call(gw, "POST", "/routing/rules", TO_OPENAI)
    await call(gw, "PUT", "/routing/rules/haiku-to-openai", {"when": {"model": "claude-haiku-*"}, "to": "anthropic"})
    await call(gw, "DELETE", "/routing/rules/haiku-to-openai")
    entries = (await call(gw, "GET", "/audit?action=routing/rules"))[1]["entries"]
    assert [(e["method"], e["status"]) for e in entries] == [("DELETE", 200), ("PUT", 200), ("POST", 201)]
    delete, put, post = entries
    assert post["after"]["to"] == "openai/gpt-4o-mini" and post["resource"] == "haiku-to-openai"
    assert put["before"]["to"] == "openai/gpt-4o-mini" and put["after"]["to"] == "anthropic"
    assert delete["before"]["to"] == "anthropic" and delete["after"] is None


async def test_a_second_gateway_on_the_same_database_follows(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, logs_url: str) -> None:
    shared = {**config(mock_upstream, tmp_path), "storage": {"logs": logs_url}}  # SQLite, and PostgreSQL
    first, second = [await start_gateway(shared, plugins=[bifrost_routing], builtins=False) for _ in range(2)]
    await call(first, "POST", "/routing/rules", TO_OPENAI)
    await editable(second).follower.check()  # what its periodic check does within 2 s
    assert (await ask(second))["x-bf-provider"] == "openai"
    await call(second, "DELETE", "/routing/rules/haiku-to-openai")
    await editable(first).follower.check()
    assert (await ask(first))["x-bf-provider"] == "anthropic"


async def test_a_rule_whose_provider_is_deleted_leaves_service_and_comes_back_with_it(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BIFROST_DATA_DIR", str(tmp_path / "data"))  # the key file that seals provider keys
    gw = await start(start_gateway, mock_upstream, tmp_path)
    spare = {"name": "spare", "type": "anthropic", "base_url": mock_upstream.url, "keys": [{"value": "sk-spare"}],
             "models": ["spare-*"]}
    assert (await call(gw, "POST", "/providers", spare))[0] == 201
    assert (await call(gw, "POST", "/routing/rules", {**TO_OPENAI, "to": "spare/claude-haiku-4-5"}))[0] == 201
    assert (await ask(gw))["x-bf-provider"] == "spare"
    assert (await call(gw, "DELETE", "/providers/spare"))[0] == 200
    await editable(gw).follower.check()  # what its periodic check does within 2 s
    [rule] = (await call(gw, "GET", "/routing/rules"))[1]["rules"]
    assert rule["problems"] and "spare" in rule["problems"][0]
    assert (await ask(gw))["x-bf-provider"] == "anthropic"
    assert (await call(gw, "POST", "/providers", spare))[0] == 201
    await editable(gw).follower.check()
    assert (await call(gw, "GET", "/routing/rules"))[1]["rules"][0]["problems"] == []
    assert (await ask(gw))["x-bf-provider"] == "spare"


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
FIELDS = st.sampled_from(["when", "to", "name", "model", "tools", "header", "min_input_tokens", "x"])
RULE_DATA = st.dictionaries(FIELDS, JSON | st.dictionaries(FIELDS, JSON, max_size=4), max_size=4)


@settings(max_examples=200, deadline=None)
@given(data=RULE_DATA)
def test_any_rule_is_either_valid_or_refused_with_problems_never_an_exception(data: dict[str, Any]) -> None:
    gw = Gateway(config_from_dict({"providers": provider_config("http://127.0.0.1:9"), "routing": {}}),
                 plugins=[bifrost_routing], builtins=False)
    plugin = next(i.plugin for i in gw.plugins.infos if isinstance(i.plugin, bifrost_routing.RoutingPlugin))
    settings_read, problems = plugin.rules.check([("r", data)])
    assert all(isinstance(p, str) and p.startswith("routing.") for p in problems)
    if not problems:
        assert [rule.name for rule in settings_read.rules] == ["r"]
