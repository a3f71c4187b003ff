"""Failover chains added at run time through `/api/failover/chains` (the web UI's Routing
page): refused with the message the config file gets for the same chain, used by the next
request that fails, file chains read-only, and followed by a second gateway on the same
database."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import bifrost_failover
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
SONNET = "claude-sonnet-4-5"
CHAIN = {"model": "claude-sonnet-*", "chain": ["openai/gpt-4o"]}


def config(upstream: RunningServer, tmp_path: Path, **failover: Any) -> dict[str, Any]:
    return {"admin": {"token": TOKEN}, "storage": {"logs": f"sqlite:///{tmp_path / 'gw.db'}"},
            "providers": provider_config(upstream.url), "failover": {"retries": 0, **failover}}


async def call(gw: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, gw.url + "/api" + path, json=body, headers=AUTH) as response:
        return response.status, orjson.loads(await response.read())


async def ask_while_anthropic_is_overloaded(gw: RunningServer, upstream: RunningServer) -> tuple[int, str]:
    """One real request whose first upstream answer is a 529: (status, provider that answered)."""
    await upstream.post("/_mock/reset")
    await upstream.post("/_mock/script", json={"responses": [{"status": 529}]})
    status, headers, _ = await gw.post("/v1/messages", json={
        "model": SONNET, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]},
        headers={"anthropic-version": "2023-06-01"})
    return status, {k.lower(): v for k, v in headers.items()}.get("x-bf-provider", "")


async def start(start_gateway: Any, upstream: RunningServer, tmp_path: Path, **failover: Any) -> RunningGateway:
    gw: RunningGateway = await start_gateway(config(upstream, tmp_path, **failover), plugins=[bifrost_failover],
                                             builtins=False)
    return gw


def editable(gw: RunningGateway) -> Any:
    return next(i.plugin for i in gw.gateway.plugins.infos
                if isinstance(i.plugin, bifrost_failover.FailoverPlugin)).editable


BAD_CHAINS: list[dict[str, Any]] = [
    {"model": "claude-*", "chain": ["nowhere"]},
    {"model": "claude-*", "chain": ["nope/gpt-4o"]},
    {"model": "claude-*", "chain": [""]},
    {"model": "claude-*", "chain": [1, "openai"]},
    {"model": "claude-*"},
    {"model": "claude-*", "chain": ["openai"], "retries": 3},
]


def yaml_problems(upstream_url: str, chain: dict[str, Any]) -> list[str]:
    """What the config file gets for `failover.chains: {model: chain}`."""
    value = chain["chain"] if set(chain) == {"model", "chain"} else {k: v for k, v in chain.items() if k != "model"}
    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict({"providers": provider_config(upstream_url),
                                  "failover": {"retries": 0, "chains": {chain["model"]: value}}}),
                plugins=[bifrost_failover], builtins=False)
    return caught.value.problems


@pytest.mark.parametrize("chain", BAD_CHAINS, ids=range(len(BAD_CHAINS)))
async def test_a_chain_the_file_refuses_is_refused_with_the_same_problems(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, chain: dict[str, Any]) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path)
    status, answer = await call(gw, "POST", "/failover/chains", chain)
    assert status == 400
    assert answer["error"]["problems"] == yaml_problems(mock_upstream.url, chain)
    assert (await call(gw, "GET", "/failover/chains"))[1]["chains"] == []


async def test_the_next_failing_request_follows_an_added_chain(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path)
    assert (await ask_while_anthropic_is_overloaded(gw, mock_upstream))[0] == 529
    status, made = await call(gw, "POST", "/failover/chains", CHAIN)
    assert status == 201 and made == {**CHAIN, "source": "ui", "read_only": False, "problems": [], "position": 0}
    assert await ask_while_anthropic_is_overloaded(gw, mock_upstream) == (200, "openai")
    assert (await call(gw, "DELETE", "/failover/chains/claude-sonnet-*"))[0] == 200
    assert (await ask_while_anthropic_is_overloaded(gw, mock_upstream))[0] == 529


async def test_file_chains_are_listed_first_and_read_only(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, chains={"gpt-4o": ["anthropic/claude-sonnet-4-5"]})
    assert (await call(gw, "POST", "/failover/chains", {"model": "gpt-4o", "chain": ["openai"]}))[0] == 409
    assert (await call(gw, "PUT", "/failover/chains/gpt-4o", {"chain": ["openai"]}))[0] == 409
    assert (await call(gw, "POST", "/failover/chains", CHAIN))[0] == 201
    assert (await call(gw, "POST", "/failover/chains", CHAIN))[0] == 409
    status, listed = await call(gw, "GET", "/failover/chains")
    assert [(c["model"], c["source"]) for c in listed["chains"]] == [("gpt-4o", "config"), ("claude-sonnet-*", "ui")]
    assert "config file" in listed["order"]
    status, changed = await call(gw, "PUT", "/failover/chains/claude-sonnet-*", {"chain": ["openai/gpt-4o-mini"]})
    assert status == 200 and changed["chain"] == ["openai/gpt-4o-mini"]
    status, state = await call(gw, "GET", "/failover")
    assert state["settings"]["chains"] == {"gpt-4o": ["anthropic/claude-sonnet-4-5"],
                                           "claude-sonnet-*": ["openai/gpt-4o-mini"]}


async def test_a_second_gateway_on_the_same_database_follows(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path, logs_url: str) -> None:
    shared = {**config(mock_upstream, tmp_path), "storage": {"logs": logs_url}}  # SQLite, and PostgreSQL
    first, second = [await start_gateway(shared, plugins=[bifrost_failover], builtins=False) for _ in range(2)]
    await call(first, "POST", "/failover/chains", CHAIN)
    await editable(second).follower.check()  # what its periodic check does within 2 s
    assert await ask_while_anthropic_is_overloaded(second, mock_upstream) == (200, "openai")


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)
ENTRIES = st.sampled_from(["openai", "anthropic", "openai/gpt-4o", "gpt-4o", "nope", "nope/x", "", " "])


@settings(max_examples=200, deadline=None)
@given(data=st.dictionaries(st.sampled_from(["chain", "model", "x"]), JSON | st.lists(ENTRIES, max_size=4), max_size=3))
def test_any_chain_is_either_valid_or_refused_with_problems_never_an_exception(data: dict[str, Any]) -> None:
    gw = Gateway(config_from_dict({"providers": provider_config("http://127.0.0.1:9"), "failover": {}}),
                 plugins=[bifrost_failover], builtins=False)
    plugin = next(i.plugin for i in gw.plugins.infos if isinstance(i.plugin, bifrost_failover.FailoverPlugin))
    settings_read, problems = plugin.editable.check([("claude-*", data)])
    assert all(isinstance(p, str) and p.startswith("failover.chains") for p in problems)
    if not problems:
        assert list(settings_read.chains) == ["claude-*"]
