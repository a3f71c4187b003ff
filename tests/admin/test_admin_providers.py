"""`/api/providers` through a real gateway and a real mock upstream: providers created, edited,
disabled, tested and deleted at run time, their keys sealed in the database (docs/web-ui.md,
docs/security.md "Secret storage")."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from bifrost_py.firststart import rotate_secret_key
from bifrost_py.testing import RunningGateway, RunningServer

TOKEN = "admin-secret"
AUTH = {"authorization": f"Bearer {TOKEN}"}
RAW_KEY = "sk-ant-raw-provider-key-4f9a2c"
NEW_KEY = "sk-ant-rotated-provider-key-77b1"
MESSAGE = {"model": "claude-sonnet-4-20250514", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BIFROST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("BIFROST_SECRET_KEY", raising=False)
    return tmp_path / "data"


def config(tmp_path: Path, providers: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"admin": {"token": TOKEN}, "storage": {"logs": f"sqlite:///{tmp_path / 'gw.db'}"},
            "providers": providers or {}}


async def call(gw: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, gw.url + path, json=body, headers=AUTH) as response:
        return response.status, orjson.loads(await response.read())


async def ask(gw: RunningServer, model: str = MESSAGE["model"]) -> tuple[int, dict[str, str]]:
    status, headers, _ = await gw.post("/v1/messages", json={**MESSAGE, "model": model},
                                       headers={"anthropic-version": "2023-06-01"})
    return status, headers


async def keys_seen(upstream: RunningServer) -> list[str]:
    _, _, body = await upstream.get("/_mock/requests")
    return [r["headers"].get("x-api-key", "") for r in orjson.loads(body) if r["path"] == "/v1/messages"]


def anthropic(upstream: RunningServer, *keys: str, **extra: Any) -> dict[str, Any]:
    return {"type": "anthropic", "base_url": upstream.url, "keys": [{"value": k} for k in keys], **extra}


async def test_a_created_provider_serves_the_next_request_and_a_rotated_key_is_used_at_once(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    assert (await ask(gw))[0] == 404  # nothing serves Claude yet
    status, created = await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)})
    assert status == 201 and created["source"] == "api" and created["keys"][0]["name"] == "key-1"
    status, headers = await ask(gw)
    assert status == 200 and headers["x-bf-provider"] == "claude"
    status, changed = await call(gw, "PATCH", "/api/providers/claude", {"keys": [{"name": "key-1", "value": NEW_KEY}]})
    assert status == 200 and changed["keys"][0]["key"] == "sk-a…77b1"
    assert (await ask(gw))[0] == 200
    assert await keys_seen(mock_upstream) == [RAW_KEY, NEW_KEY]


async def test_a_disabled_key_is_never_chosen_and_a_weight_change_keeps_the_stored_value(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY, NEW_KEY)})
    status, body = await call(gw, "PATCH", "/api/providers/claude",
                              {"keys": [{"name": "key-1", "weight": 5}, {"name": "key-2", "enabled": False}]})
    assert status == 200 and [k["enabled"] for k in body["keys"]] == [True, False]
    assert [k["weight"] for k in body["keys"]] == [5.0, 1.0]
    for _ in range(12):
        assert (await ask(gw))[0] == 200
    assert set(await keys_seen(mock_upstream)) == {RAW_KEY}


async def test_a_disabled_provider_stops_serving_and_comes_back_when_enabled(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)})
    status, body = await call(gw, "PATCH", "/api/providers/claude", {"enabled": False})
    assert status == 200 and body["enabled"] is False
    assert (await ask(gw))[0] == 404
    await call(gw, "PATCH", "/api/providers/claude", {"enabled": True})
    assert (await ask(gw))[0] == 200
    assert (await call(gw, "DELETE", "/api/providers/claude"))[0] == 200
    assert (await ask(gw))[0] == 404
    assert (await call(gw, "GET", "/api/providers/claude"))[0] == 404


async def test_config_file_providers_are_listed_read_only(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path, {"anthropic": anthropic(mock_upstream, RAW_KEY)}),
                                             builtins=False)
    status, listed = await call(gw, "GET", "/api/providers")
    assert status == 200 and listed["providers"][0]["source"] == "config" and listed["providers"][0]["read_only"]
    for method, body in (("PATCH", {"enabled": False}), ("DELETE", None)):
        status, error = await call(gw, method, "/api/providers/anthropic", body)
        assert status == 409 and "config file" in error["error"]["message"]
    status, error = await call(gw, "POST", "/api/providers", {"name": "anthropic", "type": "anthropic"})
    assert status == 409
    assert (await ask(gw))[0] == 200


@pytest.mark.parametrize(("body", "expected"), [
    ({"name": "x", "type": "claude"}, "providers.x.type: must be one of anthropic"),
    ({"name": "x", "type": "openai", "region": "eu"}, "providers.x.region: only for type: bedrock"),
    ({"name": "x", "type": "azure"}, "providers.x.base_url: is required for type: azure"),
    ({"name": "x", "type": "openai", "colour": "red"}, "providers.x.colour: unknown key"),
    ({"name": "x", "type": "openai", "keys": [{"value": "k", "weight": -1}]}, "providers.x.keys[0].weight: must be at least 0"),
    ({"name": "x", "type": "openai", "keys": [{"weight": 1}]}, "keys[0].value: is required"),
    ({"name": "x", "type": "openai", "keys": "sk-1"}, "keys: must be a list"),
    ({"name": "a/b", "type": "openai"}, "name: must be"),
    ({"name": "x"}, "type: is required"),
    ({"name": "x", "type": "openai", "enabled": "yes"}, "enabled: must be true or false"),
])
async def test_bad_settings_are_400s_naming_the_field_as_the_yaml_check_does(
        start_gateway: Any, tmp_path: Path, body: dict[str, Any], expected: str) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    status, error = await call(gw, "POST", "/api/providers", body)
    assert status == 400 and expected in error["error"]["message"], error
    assert (await call(gw, "GET", "/api/providers"))[1]["providers"] == []


async def test_secrets_are_nowhere_in_the_database_file_the_answers_or_the_log(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, data_dir: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "aws-secret-access-key-0c1d2e3f4a5b"
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    answers = [await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)}),
               await call(gw, "POST", "/api/providers", {"name": "bedrock", "type": "bedrock", "region": "eu-west-1",
                                                         "access_key_id": "AKIAEXAMPLE0001", "secret_access_key": secret,
                                                         "models": {"claude-bedrock-1": "anthropic.claude-v1"}}),
               await call(gw, "PATCH", "/api/providers/claude", {"keys": [{"name": "key-1", "value": NEW_KEY}]}),
               await call(gw, "GET", "/api/providers"), await call(gw, "GET", "/api/providers/bedrock"),
               await call(gw, "POST", "/api/providers/claude/test", {})]
    assert answers[-1][1]["ok"] is True
    await gw.gateway.storage.close()  # the WAL checkpointed into the file
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("gw.db*"))
    shown = orjson.dumps([body for _, body in answers]) + caplog.text.encode()
    for raw in (RAW_KEY, NEW_KEY, secret):
        assert raw.encode() not in stored and raw.encode() not in shown
        assert raw[-12:].encode() not in stored
    assert b"bfsec1:" in stored
    assert (data_dir / "secret.key").stat().st_mode & 0o777 == 0o600


async def test_rotating_the_master_key_re_encrypts_and_the_gateway_follows(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, data_dir: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)})
    before = (data_dir / "secret.key").read_text()
    said = await asyncio.to_thread(rotate_secret_key, gw.gateway.config)
    assert "re-encrypted the secrets of 1 providers" in said and (data_dir / "secret.key").read_text() != before
    await gw.gateway.registry._check()  # what the periodic check does within 2 s
    await call(gw, "PATCH", "/api/providers/claude", {"models": ["claude-*"]})
    assert (await ask(gw))[0] == 200
    assert await keys_seen(mock_upstream) == [RAW_KEY]


async def test_a_second_instance_on_the_same_database_follows_changes(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, logs_url: str) -> None:
    shared = {**config(tmp_path), "storage": {"logs": logs_url}}  # SQLite, and PostgreSQL
    first: RunningGateway = await start_gateway(shared, builtins=False)
    second: RunningGateway = await start_gateway(shared, builtins=False)
    await call(first, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)})
    await second.gateway.registry._check()
    assert (await ask(second))[0] == 200
    await call(first, "PATCH", "/api/providers/claude", {"enabled": False})
    await second.gateway.registry._check()
    assert (await ask(second))[0] == 404


async def test_the_test_action_shows_the_answer_or_the_providers_error(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path), builtins=False)
    await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)})
    status, result = await call(gw, "POST", "/api/providers/claude/test", {})
    assert status == 200 and result["ok"] and result["status"] == 200 and result["answer"]
    await mock_upstream.post("/_mock/script", json={"responses": [{"status": 401, "message": "invalid x-api-key"}]})
    status, result = await call(gw, "POST", "/api/providers/claude/test", {})
    assert status == 200 and not result["ok"] and result["status"] == 401 and "invalid x-api-key" in result["error"]
    assert (await call(gw, "POST", "/api/providers/claude/test", {"key": "nope"}))[0] == 400
    assert (await call(gw, "POST", "/api/providers/nope/test", {}))[0] == 404


async def test_a_models_glob_that_takes_a_family_is_a_warning(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw: RunningGateway = await start_gateway(config(tmp_path, {"anthropic": anthropic(mock_upstream, RAW_KEY)}),
                                             builtins=False)
    status, created = await call(gw, "POST", "/api/providers", {
        "name": "bedrock", "type": "bedrock", "region": "us-east-1", "access_key_id": "AKIAEXAMPLE0001",
        "secret_access_key": "x" * 20, "models": ["claude-*"]})
    assert status == 201 and "takes claude-* requests" in created["warnings"][0]
    assert "'anthropic'" in (await call(gw, "GET", "/api/providers"))[1]["warnings"][0]


async def test_a_yaml_only_gateway_makes_no_database_until_a_provider_is_added(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, data_dir: Path) -> None:
    quiet = {"storage": {"logs": f"sqlite:///{tmp_path / 'gw.db'}"},
             "providers": {"anthropic": anthropic(mock_upstream, RAW_KEY)}}
    gw: RunningGateway = await start_gateway(quiet, builtins=False)
    assert (await ask(gw))[0] == 200
    assert not (tmp_path / "gw.db").exists() and not data_dir.exists()
    await gw.gateway.registry.create({"name": "later", **anthropic(mock_upstream, NEW_KEY), "models": ["claude-later-*"]})
    assert (tmp_path / "gw.db").exists() and (data_dir / "secret.key").exists()
    assert (await ask(gw, "claude-later-1"))[1]["x-bf-provider"] == "later"


async def test_a_virtual_key_can_be_limited_to_a_provider_added_at_run_time(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    import bifrost_costlog
    import bifrost_governance

    gw: RunningGateway = await start_gateway(config(tmp_path), plugins=[bifrost_governance, bifrost_costlog],
                                             builtins=False)
    await call(gw, "POST", "/api/providers", {"name": "claude", **anthropic(mock_upstream, RAW_KEY)})
    status, key = await call(gw, "POST", "/api/governance/keys", {"name": "dana", "providers": [{"provider": "claude"}]})
    assert status == 201, key
    status, headers, _ = await gw.post("/v1/messages", json=MESSAGE,
                                       headers={"anthropic-version": "2023-06-01", "x-api-key": key["key"]})
    assert status == 200 and headers["x-bf-provider"] == "claude"
    status, refused = await call(gw, "POST", "/api/governance/keys",
                                 {"name": "erin", "providers": [{"provider": "nowhere"}]})
    assert status == 400 and "nowhere" in refused["error"]["message"]
