"""Session stickiness: the memory is bounded and forgets idle sessions; a session stays where
it was last served while that target is healthy, moves when the target fails it, and stays
where it moved to."""

from __future__ import annotations

from typing import Any

import bifrost_routing
import orjson
from bifrost_routing.sessions import Placement, SessionMemory
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import ANTHROPIC, MESSAGES, Attempt, Call, Outcome, Reply, Target
from bifrost_py.errors import BudgetExceeded, InvalidRequest, UpstreamError
from bifrost_py.gateway import Gateway

SONNET = "claude-sonnet-4-5"
PROVIDERS = {
    "one": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "models": ["claude-*"], "keys": [{"value": "k1"}]},
    "two": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "models": ["claude-*"], "keys": [{"value": "k2"}]},
}
SPLIT = {"weights": {SONNET: [{"to": "one", "weight": 1}, {"to": "two", "weight": 1}]}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_memory_forgets_idle_sessions_after_the_ttl() -> None:
    clock = Clock()
    memory = SessionMemory(max_sessions=10, ttl=60, clock=clock)
    memory.remember("s1", "g", Placement("one", SONNET))
    clock.now += 59
    assert memory.get("s1") is not None, "seen again: the ttl starts over"
    clock.now += 59
    assert memory.get("s1") is not None
    clock.now += 61
    assert memory.get("s1") is None
    assert len(memory) == 0


def test_memory_is_bounded_least_recently_used_first() -> None:
    clock = Clock()
    memory = SessionMemory(max_sessions=3, ttl=3600, clock=clock)
    for name in ("a", "b", "c"):
        memory.remember(name, "g", Placement("one", SONNET))
    memory.get("a")
    memory.remember("d", "g", Placement("one", SONNET))
    assert len(memory) == 3
    assert memory.get("b") is None, "b was the least recently used"
    assert all(memory.get(name) is not None for name in ("a", "c", "d"))


def test_memory_bound_holds_under_many_sessions() -> None:
    memory = SessionMemory(max_sessions=100, ttl=3600, clock=Clock())
    for i in range(5000):
        memory.remember(f"s{i}", "g", Placement("one", SONNET))
    assert len(memory) == 100


def test_avoid_expires_and_a_success_clears_it() -> None:
    clock = Clock()
    memory = SessionMemory(max_sessions=10, ttl=3600, clock=clock)
    memory.remember("s", "g", Placement("one", SONNET))
    memory.avoid("s", "g", ("one", SONNET), 30)
    state = memory.get("s")
    assert state is not None and "g" not in state.placements
    assert state.avoided(clock()) == {("one", SONNET)}
    clock.now += 31
    assert state.avoided(clock()) == set()
    memory.avoid("s", "g", ("one", SONNET), 30)
    memory.remember("s", "g", Placement("one", SONNET))
    assert memory.get("s").avoided(clock()) == set()


# ---------------------------------------------------------------------- through the plugin


def setup(routing: dict[str, Any] | None = None) -> tuple[Gateway, Any, Clock]:
    gw = Gateway(config_from_dict({"providers": PROVIDERS, "routing": routing or SPLIT}),
                 plugins=[bifrost_routing], builtins=False)
    plugin = next(i.plugin for i in gw.plugins.infos if isinstance(i.plugin, bifrost_routing.RoutingPlugin))
    clock = Clock()
    plugin.router.clock = clock
    plugin.router.sessions.clock = clock
    return gw, plugin, clock


def make_call(session: str | None) -> Call:
    body = {"model": SONNET, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    call = Call(request_id="req_t", dialect=ANTHROPIC, endpoint=MESSAGES, headers=CIMultiDictProxy(CIMultiDict()),
                body=body, raw_body=orjson.dumps(body), model=SONNET)
    call.session_id = session
    return call


async def attempt(gw: Gateway, plugin: Any, session: str, outcome: Outcome) -> tuple[Call, Target]:
    """Route one call of the session and end its first attempt with `outcome`."""
    call = make_call(session)
    targets = await gw.dispatcher.route(call, gw.resolve(call.model))
    tried = Attempt(call=call, target=targets[0], number=1, outcome=outcome)
    await plugin.bifrost_post_attempt(tried)
    return call, targets[0]


def ok() -> Outcome:
    return Outcome(status=200, completed=True, first_byte_sent=True)


def failed(status: int) -> Outcome:
    return Outcome(status=status, error=UpstreamError("boom", status=status))


def other(target: Target) -> str:
    return "two" if target.provider == "one" else "one"


async def test_a_session_is_kept_then_moves_when_its_target_fails_and_stays_moved() -> None:
    gw, plugin, clock = setup()
    call, first = await attempt(gw, plugin, "s", ok())
    assert call.response_headers["x-bf-route-session"] == "new"
    for _ in range(5):
        call, target = await attempt(gw, plugin, "s", ok())
        assert target.provider == first.provider
        assert call.response_headers["x-bf-route-session"] == "kept"
    call, target = await attempt(gw, plugin, "s", failed(529))
    assert target.provider == first.provider
    call, moved = await attempt(gw, plugin, "s", ok())
    assert moved.provider == other(first)
    assert call.response_headers["x-bf-route-session"] == "moved"
    clock.now += 3 * plugin.settings.stickiness.avoid_for
    for _ in range(3):
        call, target = await attempt(gw, plugin, "s", ok())
        assert target.provider == other(first), "healthy where it moved to: it stays there"
        assert call.response_headers["x-bf-route-session"] == "kept"


async def test_client_errors_and_final_refusals_do_not_move_a_session() -> None:
    gw, plugin, _ = setup()
    _, first = await attempt(gw, plugin, "s", ok())
    await attempt(gw, plugin, "s", Outcome(status=400, error=InvalidRequest("bad body")))
    refused = Outcome(status=402, error=BudgetExceeded("key budget"), refused_by="governance")
    await attempt(gw, plugin, "s", refused)
    cache_hit = Outcome(status=200, reply=Reply({"content": []}))
    await attempt(gw, plugin, "s", cache_hit)
    _, target = await attempt(gw, plugin, "s", ok())
    assert target.provider == first.provider


async def test_a_non_final_refusal_moves_the_session() -> None:
    gw, plugin, _ = setup()
    _, first = await attempt(gw, plugin, "s", ok())
    tier = Outcome(status=402, error=BudgetExceeded("provider budget", final=False), refused_by="governance")
    await attempt(gw, plugin, "s", tier)
    _, target = await attempt(gw, plugin, "s", ok())
    assert target.provider == other(first)


async def test_a_fallback_outside_the_split_is_not_remembered() -> None:
    gw, plugin, _ = setup()
    call = make_call("s")
    targets = await gw.dispatcher.route(call, gw.resolve(SONNET))
    fallback = Attempt(call=call, target=Target("elsewhere", "gpt-4o"), number=2, outcome=ok())
    await plugin.bifrost_post_attempt(fallback)
    assert plugin.router.sessions.get("s") is None
    assert targets


async def test_stickiness_can_be_turned_off() -> None:
    gw, plugin, _ = setup({**SPLIT, "stickiness": {"enabled": False}})
    import random

    plugin.router.rng = random.Random(11)
    seen = {(await attempt(gw, plugin, "s", ok()))[1].provider for _ in range(60)}
    assert seen == {"one", "two"}
    assert len(plugin.router.sessions) == 0


async def test_the_same_session_id_under_two_keys_is_two_sessions() -> None:
    from bifrost_py.context import Caller

    gw, plugin, _ = setup()
    placed = {}
    for key in ("alice", "bob"):
        call = make_call("shared-id")
        call.caller = Caller(key_id=key, key_name=key)
        targets = await gw.dispatcher.route(call, gw.resolve(SONNET))
        await plugin.bifrost_post_attempt(Attempt(call=call, target=targets[0], number=1, outcome=ok()))
        placed[key] = targets[0].provider
        assert call.response_headers["x-bf-route-session"] == "new", "bob's session is not alice's"
    assert len(plugin.router.sessions) == 2
    await attempt(gw, plugin, "shared-id", ok())  # no caller: a third session
    assert len(plugin.router.sessions) == 3
