"""Routing end to end through real sockets with the official SDKs: the Claude Code recipe
(background requests to a cheaper model), session stickiness measured on a replayed multi-turn
session under a 50/50 split, a session moving only when its provider fails, the example custom
router, and the routing admin API."""

from __future__ import annotations

import itertools
import json
import random
import sys
import tomllib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anthropic
import bifrost_routing
import openai
import orjson
import pytest

from bifrost_py.testing import provider_config, running_mock_upstream

SONNET = "claude-sonnet-4-6"
HAIKU = "claude-haiku-4-5-20251001"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "custom_router"
ADMIN = {"token": "admin-secret"}


@pytest.fixture
async def second_upstream() -> AsyncIterator[Any]:
    async with running_mock_upstream() as upstream:
        yield upstream


def claude(gw: Any, **headers: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-test", max_retries=0,
                                    default_headers=headers or None)


async def recorded(upstream: Any) -> list[dict[str, Any]]:
    return orjson.loads((await upstream.get("/_mock/requests"))[2])


# ---------------------------------------------------------------------- rules


async def test_claude_code_recipe_background_to_a_cheap_model_main_loop_stays(start_gateway: Any,
                                                                              mock_upstream: Any) -> None:
    routing = {"rules": [
        {"name": "long-context", "when": {"min_input_tokens": 60000}, "to": f"anthropic/{SONNET}"},
        {"name": "background", "when": {"model": "claude-*haiku*"}, "to": "openai/gpt-4o-mini"},
        {"name": "web-search", "when": {"web_search": True}, "to": f"anthropic/{SONNET}"},
    ]}
    gw = await start_gateway({"providers": provider_config(mock_upstream.url), "routing": routing},
                             plugins=[bifrost_routing], builtins=False)
    client = claude(gw)
    raw = await client.messages.with_raw_response.create(
        model=HAIKU, max_tokens=50, messages=[{"role": "user", "content": "Summarise this title in 5 words"}])
    message = await raw.parse()
    assert raw.headers["x-bf-route"] == "background"
    assert raw.headers["x-bf-route-target"] == "openai/gpt-4o-mini"
    assert raw.headers["x-bf-provider"] == "openai"
    assert message.content[0].text, "the OpenAI answer came back in the Anthropic dialect"
    sent = (await recorded(mock_upstream))[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert orjson.loads(sent["body"])["model"] == "gpt-4o-mini"

    tool = {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}}
    raw = await client.messages.with_raw_response.create(
        model=SONNET, max_tokens=50, tools=[tool], messages=[{"role": "user", "content": "Fix the bug"}])
    assert raw.headers["x-bf-provider"] == "anthropic"
    assert "x-bf-route" not in raw.headers, "no rule matched: the core's own resolution"
    assert orjson.loads((await recorded(mock_upstream))[-1]["body"])["model"] == SONNET

    # count_tokens follows the same rules: a background request counted for an OpenAI target is
    # the local estimate, marked as one; the main loop's is Anthropic's own count.
    raw = await client.messages.with_raw_response.count_tokens(
        model=HAIKU, tools=[tool], messages=[{"role": "user", "content": "Summarise"}])
    assert raw.headers["x-bf-estimate"] == "true" and raw.headers["x-bf-provider"] == "openai"
    assert (await raw.parse()).input_tokens > 346, "the estimate counts the tool and its system prompt"
    raw = await client.messages.with_raw_response.count_tokens(
        model=SONNET, messages=[{"role": "user", "content": "Fix the bug"}])
    assert "x-bf-estimate" not in raw.headers
    assert (await recorded(mock_upstream))[-1]["path"] == "/v1/messages/count_tokens"


# ---------------------------------------------------------------------- stickiness


def split_config(east: Any, west: Any) -> dict[str, Any]:
    return {
        "providers": {
            "east": {"type": "anthropic", "base_url": east.url, "models": ["claude-*"],
                     "keys": [{"value": "sk-east-1", "name": "e1"}, {"value": "sk-east-2", "name": "e2"}]},
            "west": {"type": "anthropic", "base_url": west.url, "models": ["claude-*"],
                     "keys": [{"value": "sk-west-1", "name": "w1"}, {"value": "sk-west-2", "name": "w2"}]},
        },
        "routing": {"weights": {SONNET: [{"to": "east", "weight": 1}, {"to": "west", "weight": 1}]}},
        "admin": ADMIN,
    }


@dataclass
class Turn:
    provider: str
    placement: str | None
    cache_write: int
    cache_read: int


async def replay(client: anthropic.AsyncAnthropic, turns: int, system: str = "", **kwargs: Any) -> list[Turn]:
    """A multi-turn conversation, each turn sending the whole history after a system prompt
    marked for caching (as Claude Code marks its own)."""
    history: list[dict[str, Any]] = []
    blocks = [{"type": "text", "text": system or "You are a coding agent.", "cache_control": {"type": "ephemeral"}}]
    seen = []
    for turn in range(turns):
        history.append({"role": "user", "content": f"turn {turn}: keep going"})
        raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=30, system=blocks,
                                                             messages=history, **kwargs)
        message = await raw.parse()
        history.append({"role": "assistant", "content": message.content[0].text})
        usage = message.usage
        seen.append(Turn(raw.headers["x-bf-provider"], raw.headers.get("x-bf-route-session"),
                         usage.cache_creation_input_tokens or 0, usage.cache_read_input_tokens or 0))
    return seen


def switches(providers: list[str]) -> int:
    return sum(1 for a, b in itertools.pairwise(providers) if a != b)


async def test_a_replayed_session_keeps_one_target_under_a_50_50_split(start_gateway: Any, mock_upstream: Any,
                                                                       second_upstream: Any) -> None:
    gw = await start_gateway(split_config(mock_upstream, second_upstream), plugins=[bifrost_routing], builtins=False)
    plugin = next(i.plugin for i in gw.gateway.plugins.infos if isinstance(i.plugin, bifrost_routing.RoutingPlugin))
    plugin.router.rng = random.Random(2024)
    turns = 12

    sticky = await replay(claude(gw, **{"x-claude-code-session-id": "1c17ef8a-a934-4b6f-b5f5-cd7499ceaf92"}), turns,
                          system="Sticky session system prompt. " * 50)
    providers = [t.provider for t in sticky]
    assert switches(providers) == 0, providers
    assert [t.placement for t in sticky] == ["new"] + ["kept"] * (turns - 1)
    assert [bool(t.cache_write) for t in sticky] == [True] + [False] * (turns - 1), "one cache write, then reads"
    assert all(t.cache_read for t in sticky[1:])

    loose = await replay(claude(gw), turns, system="Session-less system prompt. " * 50)
    loose_providers = [t.provider for t in loose]
    assert switches(loose_providers) > 0 and set(loose_providers) == {"east", "west"}, "each request is drawn"
    assert sum(1 for t in loose if t.cache_write) == 2, "the prompt is written to each provider's cache"

    upstreams = {"east": mock_upstream, "west": second_upstream}
    keys = {r["headers"]["x-api-key"] for r in (await recorded(upstreams[providers[0]]))[:turns]}
    assert len(keys) == 1, f"the session kept one API key too: {keys}"
    print(f"\nstickiness, {turns} turns under a 50/50 split: with a session {switches(providers)} provider "
          f"switches, {sum(1 for t in sticky if t.cache_write)} cache writes; without {switches(loose_providers)} "
          f"switches, {sum(1 for t in loose if t.cache_write)} cache writes")


async def test_sessions_by_header_metadata_or_bf_header_spread_over_both_targets(
        start_gateway: Any, mock_upstream: Any, second_upstream: Any) -> None:
    gw = await start_gateway(split_config(mock_upstream, second_upstream), plugins=[bifrost_routing], builtins=False)
    homes = set()
    for i in range(24):
        session = f"5e55-{i:04d}-aaaa-bbbb"
        how = i % 3
        if how == 0:
            client, kwargs = claude(gw, **{"x-claude-code-session-id": session}), {}
        elif how == 1:
            user_id = json.dumps({"device_id": "d", "account_uuid": "", "session_id": session})
            client, kwargs = claude(gw), {"metadata": {"user_id": user_id}}
        else:
            client, kwargs = claude(gw, **{"x-bf-session-id": session}), {}
        seen = [t.provider for t in await replay(client, 3, **kwargs)]
        assert switches(seen) == 0, (how, seen)
        homes.add(seen[0])
    assert homes == {"east", "west"}, "sessions are spread by the split"


async def test_a_session_moves_only_when_its_provider_fails_then_stays(start_gateway: Any, mock_upstream: Any,
                                                                      second_upstream: Any) -> None:
    gw = await start_gateway(split_config(mock_upstream, second_upstream), plugins=[bifrost_routing], builtins=False)
    client = claude(gw, **{"x-bf-session-id": "session-that-moves"})
    messages = [{"role": "user", "content": "hello"}]
    raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=20, messages=messages)
    home = raw.headers["x-bf-provider"]
    upstreams = {"east": mock_upstream, "west": second_upstream}
    away = "west" if home == "east" else "east"
    await upstreams[home].post("/_mock/script", json={"responses": [{"status": 529}]})
    with pytest.raises(anthropic.APIStatusError) as failed:
        await client.messages.create(model=SONNET, max_tokens=20, messages=messages)
    assert failed.value.status_code == 529
    for expected in ("moved", "kept", "kept"):
        raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=20, messages=messages)
        assert raw.headers["x-bf-provider"] == away
        assert raw.headers["x-bf-route-session"] == expected
    status, _, body = await gw.get("/api/routing/sessions/session-that-moves",
                                   headers={"authorization": "Bearer admin-secret"})
    assert status == 200
    placement = orjson.loads(body)["placements"][SONNET]
    assert placement["provider"] == away and placement["key"] in ("e1", "e2", "w1", "w2")


# ---------------------------------------------------------------------- custom router


def custom_router_config(upstream: Any) -> dict[str, Any]:
    return {
        "providers": provider_config(upstream.url),
        "plugins": {"load": ["bifrost_custom_router", "bifrost_routing"], "order": ["custom_router", "routing"]},
        "custom_router": {"tiers": {"gold": f"anthropic/{SONNET}", "free": "openai/gpt-4o-mini"}},
        "routing": {"rules": [{"name": "everything-to-haiku", "when": {}, "to": f"anthropic/{HAIKU}"}]},
    }


async def test_the_example_custom_router_decides_before_the_builtin(start_gateway: Any, mock_upstream: Any,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    monkeypatch.delitem(sys.modules, "bifrost_custom_router", raising=False)
    gw = await start_gateway(custom_router_config(mock_upstream), builtins=False)
    names = [info.name for info in gw.gateway.plugins.ordered()]
    assert names == ["custom_router", "routing"]

    free = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk", max_retries=0,
                              default_headers={"x-team-tier": "free"})
    raw = await free.chat.completions.with_raw_response.create(
        model=SONNET, messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-bf-route"] == "tier:free"
    assert raw.headers["x-bf-provider"] == "openai" and raw.headers["x-bf-model"].startswith("gpt-4o-mini")

    raw = await claude(gw, **{"x-team-tier": "gold"}).messages.with_raw_response.create(
        model=HAIKU, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-bf-route"] == "tier:gold" and raw.headers["x-bf-model"] == SONNET

    raw = await claude(gw).messages.with_raw_response.create(
        model=SONNET, max_tokens=20, messages=[{"role": "user", "content": "hi"}])
    assert raw.headers["x-bf-route"] == "everything-to-haiku", "no tier header: the built-in rules decide"

    with pytest.raises(anthropic.BadRequestError, match="unknown tier 'platinum'"):
        await claude(gw, **{"x-team-tier": "platinum"}).messages.create(
            model=SONNET, max_tokens=20, messages=[{"role": "user", "content": "hi"}])


async def test_the_example_custom_router_checks_its_config(start_gateway: Any, mock_upstream: Any,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from bifrost_py.configschema import ConfigError

    monkeypatch.syspath_prepend(str(EXAMPLE / "src"))
    config = custom_router_config(mock_upstream)
    config["custom_router"] = {"tiers": {"gold": "nowhere/x"}, "default": "silver", "colour": "blue"}
    with pytest.raises(ConfigError) as caught:
        await start_gateway(config, builtins=False)
    problems = "\n".join(caught.value.problems)
    for expected in ("custom_router.tiers.gold", "custom_router.default", "custom_router.colour: unknown key"):
        assert expected in problems


def test_the_example_is_an_installable_package_with_an_entry_point() -> None:
    project = tomllib.loads((EXAMPLE / "pyproject.toml").read_text())
    entry = project["project"]["entry-points"]["bifrost_py"]
    assert entry == {"custom_router": "bifrost_custom_router"}
    assert (EXAMPLE / "src" / entry["custom_router"] / "__init__.py").is_file()
    assert (EXAMPLE / "README.md").is_file()


# ---------------------------------------------------------------------- admin API


async def test_admin_explains_a_decision_without_changing_anything(start_gateway: Any, mock_upstream: Any,
                                                                   second_upstream: Any) -> None:
    config = split_config(mock_upstream, second_upstream)
    config["routing"]["rules"] = [{"name": "images", "when": {"images": True}, "to": f"west/{SONNET}"}]
    gw = await start_gateway(config, plugins=[bifrost_routing], builtins=False)
    auth = {"authorization": "Bearer admin-secret"}

    status, _, body = await gw.get("/api/routing", headers=auth)
    assert status == 200
    view = orjson.loads(body)
    assert view["rules"] == [{"name": "images", "when": {"images": True}, "to": f"west/{SONNET}"}]
    assert view["weights"][SONNET] == [{"to": "east", "weight": 1.0}, {"to": "west", "weight": 1.0}]

    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "AAAA"}}
    request = {"body": {"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": [image]}]}}
    status, _, body = await gw.post("/api/routing/explain", json=request, headers=auth)
    explained = orjson.loads(body)
    assert status == 200 and explained["rule"] == "images" and explained["target"] == f"west/{SONNET}"
    assert explained["facts"]["images"] is True

    plain = {"body": {"model": SONNET, "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]},
             "headers": {"x-bf-session-id": "abc"}}
    status, _, body = await gw.post("/api/routing/explain", json=plain, headers=auth)
    explained = orjson.loads(body)
    assert explained["rule"] == "weights" and explained["placement"] == "new"
    assert [c["target"] for c in explained["candidates"]] == [f"east/{SONNET}", f"west/{SONNET}"]
    assert (await gw.get("/api/routing/sessions/abc", headers=auth))[0] == 404, "explain remembers nothing"

    await claude(gw, **{"x-bf-session-id": "abc"}).messages.create(
        model=SONNET, max_tokens=5, messages=[{"role": "user", "content": "hi"}])
    assert (await gw.get("/api/routing/sessions/abc", headers=auth))[0] == 200
    status, _, _ = await gw.get("/api/routing", headers={"authorization": "Bearer wrong"})
    assert status == 401
    assert (await _delete(gw, "/api/routing/sessions/abc", auth)) == 200
    assert (await _delete(gw, "/api/routing/sessions/abc", auth)) == 404
    status, _, body = await gw.post("/api/routing/explain", data=b"not json", headers=auth)
    assert status == 400
    status, _, body = await gw.post("/api/routing/explain", json={"body": {"model": 3}}, headers=auth)
    assert status == 400

    paths = orjson.loads((await gw.get("/api/openapi.json"))[2])["paths"]
    assert {"/api/routing", "/api/routing/explain", "/api/routing/sessions/{session_id}"} <= set(paths)

    metrics = (await gw.get("/metrics"))[2].decode()
    decided = [line for line in metrics.splitlines() if line.startswith("bifrost_routing_decisions_total{")]
    assert len(decided) == 1 and 'rule="weights"' in decided[0] and decided[0].endswith(" 1.0"), decided
    assert 'provider="east"' in decided[0] or 'provider="west"' in decided[0]
    assert 'bifrost_routing_session_placements_total{placement="new"} 1.0' in metrics


async def _delete(gw: Any, path: str, headers: dict[str, str]) -> int:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.delete(gw.url + path, headers=headers) as response:
        return response.status


async def test_with_failover_a_session_moves_within_the_request_and_stays(start_gateway: Any, mock_upstream: Any,
                                                                         second_upstream: Any) -> None:
    """The built-in failover plugin tries the split's other target; routing remembers that it
    answered, so the session's next requests go straight there."""
    config = split_config(mock_upstream, second_upstream)
    config["plugins"] = {"load": ["bifrost_routing", "bifrost_failover"]}
    config["failover"] = {"chains": {SONNET: ["east", "west"]}, "retries": 0}
    gw = await start_gateway(config, builtins=False)
    assert [i.name for i in gw.gateway.plugins.ordered()] == ["routing", "failover"]
    client = claude(gw, **{"x-bf-session-id": "session-with-failover"})
    messages = [{"role": "user", "content": "hello"}]
    raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=20, messages=messages)
    home = raw.headers["x-bf-provider"]
    away = "west" if home == "east" else "east"
    upstreams = {"east": mock_upstream, "west": second_upstream}
    await upstreams[home].post("/_mock/script", json={"responses": [{"status": 529}]})
    raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=20, messages=messages)
    assert raw.headers["x-bf-attempts"] == "2" and raw.headers["x-bf-provider"] == away
    for _ in range(3):
        raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=20, messages=messages)
        assert raw.headers["x-bf-attempts"] == "1", "no more detours through the failed target"
        assert raw.headers["x-bf-provider"] == away


async def test_a_keys_provider_weights_from_governance_override_the_split(start_gateway: Any, mock_upstream: Any,
                                                                         second_upstream: Any, tmp_path: Any) -> None:
    """Through the real governance plugin: dev-east's key lists `providers: east 1, west 0`, so
    its sessions all go east although the model is split 50/50; other keys follow the split."""
    config = split_config(mock_upstream, second_upstream)
    config["storage"] = {"logs": f"sqlite:///{tmp_path}/routing.db"}
    config["plugins"] = {"load": ["bifrost_governance", "bifrost_routing"]}
    config["governance"] = {"virtual_keys": {
        "dev-east": {"key": "vk-east-secret", "providers": [{"provider": "east", "weight": 1}, {"provider": "west", "weight": 0}]},
        "dev-any": {"key": "vk-any-secret"},
    }}
    gw = await start_gateway(config, builtins=False)
    assert [i.name for i in gw.gateway.plugins.ordered()] == ["governance", "routing"]
    homes: dict[str, set[str]] = {"vk-east-secret": set(), "vk-any-secret": set()}
    for i in range(16):
        for key, seen in homes.items():
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0,
                                              default_headers={"x-bf-session-id": f"s-{i}"})
            raw = await client.messages.with_raw_response.create(
                model=SONNET, max_tokens=10, messages=[{"role": "user", "content": "hi"}])
            seen.add(raw.headers["x-bf-provider"])
            if key == "vk-east-secret":
                assert raw.headers["x-bf-route"] == "key-weights"
    assert homes == {"vk-east-secret": {"east"}, "vk-any-secret": {"east", "west"}}
