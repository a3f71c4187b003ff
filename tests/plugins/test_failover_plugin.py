"""The plugin's hooks driven directly (no sockets): circuit bookkeeping across attempts."""

from __future__ import annotations

import bifrost_failover
import pytest
from bifrost_failover import FailoverPlugin
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import Attempt, Call, Target
from bifrost_py.errors import UpstreamError
from bifrost_py.gateway import Gateway

MODEL = "claude-sonnet-4-20250514"
KEY = ("primary", MODEL)


class Clock:
    def __init__(self) -> None:
        self.now = 10.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def plugin() -> FailoverPlugin:
    config = {
        "providers": {"primary": {"type": "anthropic", "keys": [{"value": "a"}]},
                      "fallback": {"type": "anthropic", "keys": [{"value": "b"}]}},
        "failover": {"chains": {MODEL: ["fallback"]}, "circuit": {"failures": 2}, "cooldown": "30s"},
    }
    gateway = Gateway(config_from_dict(config), plugins=[bifrost_failover], builtins=False)
    found = next(i.plugin for i in gateway.plugins.infos if isinstance(i.plugin, FailoverPlugin))
    found.board.clock = Clock()
    return found


def call(request_id: str) -> Call:
    return Call(request_id=request_id, dialect="anthropic", endpoint="messages",
                headers=CIMultiDictProxy(CIMultiDict()), model=MODEL)


async def start(plugin: FailoverPlugin, request: str | Call) -> Attempt:
    owner = call(request) if isinstance(request, str) else request
    attempt = Attempt(call=owner, target=Target(*KEY), number=1)
    await plugin.bifrost_pre_attempt(attempt)
    return attempt


async def end(plugin: FailoverPlugin, attempt: Attempt, status: int) -> None:
    attempt.outcome.status = status
    if status != 200:
        attempt.outcome.error = UpstreamError("boom", status=status)
    await plugin.bifrost_post_attempt(attempt)


async def test_a_success_already_under_way_does_not_close_an_open_circuit(plugin: FailoverPlugin) -> None:
    slow = await start(plugin, "slow")
    for name in ("a", "b"):
        await end(plugin, await start(plugin, name), 529)
    assert plugin.board.state(KEY) == "open"
    await end(plugin, slow, 200)
    assert plugin.board.state(KEY) == "open", "it started before the circuit opened"
    assert plugin.gateway.providers["primary"].health.circuit(MODEL) == "open"


async def test_the_probe_success_closes_and_publishes(plugin: FailoverPlugin) -> None:
    for name in ("a", "b"):
        await end(plugin, await start(plugin, name), 503)
    plugin.board.clock.now += 31  # type: ignore[attr-defined]
    routed = await plugin.bifrost_route(call("probe"), [Target(*KEY)])
    assert [t.provider for t in routed or []] == ["primary", "fallback"]
    probe = await start(plugin, "probe")
    assert plugin.board.snapshot(KEY)["state"] == "half_open"
    other = await plugin.bifrost_route(call("other"), [Target(*KEY)])
    assert [t.provider for t in other or []] == ["fallback"], "one probe at a time"
    await end(plugin, probe, 200)
    assert plugin.board.state(KEY) == "closed"
    assert plugin.gateway.providers["primary"].health.circuit(MODEL) == "closed"


async def test_an_unused_probe_is_given_back_at_request_end(plugin: FailoverPlugin) -> None:
    for name in ("a", "b"):
        await end(plugin, await start(plugin, name), 503)
    plugin.board.clock.now += 31  # type: ignore[attr-defined]
    holder = call("holder")
    await plugin.bifrost_route(holder, [Target(*KEY)])
    await start(plugin, holder)  # the probe is claimed, then the request ends without a result
    assert not plugin.board.admits(KEY, "next")
    await plugin.bifrost_request_end(holder)
    assert plugin.board.admits(KEY, "next")


async def test_timeout_setting_sets_the_deadline() -> None:
    config = {"providers": {"p": {"type": "anthropic", "keys": [{"value": "a"}]}}, "failover": {"timeout": "90s"}}
    gateway = Gateway(config_from_dict(config), plugins=[bifrost_failover], builtins=False)
    plugin = next(i.plugin for i in gateway.plugins.infos if isinstance(i.plugin, FailoverPlugin))
    c = call("r")
    assert await plugin.bifrost_route(c, []) is None
    assert c.deadline == pytest.approx(c.started + 90)


async def test_a_retry_into_an_open_circuit_is_no_trial(plugin: FailoverPlugin) -> None:
    for name in ("a", "b"):
        await end(plugin, await start(plugin, name), 503)
    await end(plugin, await start(plugin, "retrying"), 200)
    assert plugin.board.state(KEY) == "open", "a retry scheduled before the circuit opened proves nothing"


async def test_an_open_target_used_because_nothing_else_is_left_is_a_trial(plugin: FailoverPlugin) -> None:
    for name in ("a", "b"):
        await end(plugin, await start(plugin, name), 503)
    only_open = call("only-open")
    only_open.headers = CIMultiDictProxy(CIMultiDict({"x-bf-fallbacks": "none"}))
    routed = await plugin.bifrost_route(only_open, [Target(*KEY)])
    assert [t.provider for t in routed or []] == ["primary"], "when_all_open: try"
    attempt = Attempt(call=only_open, target=Target(*KEY), number=1)
    await plugin.bifrost_pre_attempt(attempt)
    await end(plugin, attempt, 200)
    assert plugin.board.state(KEY) == "closed"


async def test_holding_one_probe_makes_no_other_attempt_a_trial(plugin: FailoverPlugin) -> None:
    other = ("primary", "claude-haiku-4-5-20251001")
    for name in ("a", "b"):
        await end(plugin, await start(plugin, name), 503)
        attempt = Attempt(call=call(name), target=Target(*other), number=1)
        await plugin.bifrost_pre_attempt(attempt)
        await end(plugin, attempt, 503)
    plugin.board.clock.now += 31  # type: ignore[attr-defined]
    holder = call("holder")
    await end(plugin, await start(plugin, holder), 500)  # the probe of KEY, failed: open again
    plugin.board.clock.now -= 31  # type: ignore[attr-defined]  # `other` is open, not half-open
    attempt = Attempt(call=holder, target=Target(*other), number=2)
    await plugin.bifrost_pre_attempt(attempt)
    await end(plugin, attempt, 200)
    assert plugin.board.state(other) == "open"
