"""Weighted splits: they converge to the weights over many requests and over many sessions; a
session's draw is stable; the key's own provider weights win; unhealthy targets are skipped;
a session's API key is pinned the same way."""

from __future__ import annotations

import random
from collections import Counter
from typing import Any

import bifrost_routing
import orjson
from bifrost_routing import draw
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import ANTHROPIC, MESSAGES, Call, Caller, ProviderWeight, Target
from bifrost_py.gateway import Gateway
from bifrost_py.health import Circuit, TargetHealth

PROVIDERS = {
    "anthropic": {"type": "anthropic", "base_url": "http://127.0.0.1:9",
                  "keys": [{"value": "sk-a1", "name": "a1"}, {"value": "sk-a2", "name": "a2"},
                           {"value": "sk-a3", "name": "a3", "weight": 2}]},
    "bedrock": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "models": ["claude-*"],
                "keys": [{"value": "sk-b"}]},
    "openai": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "keys": [{"value": "sk-o"}]},
}
SONNET = "claude-sonnet-4-5"
ANTHROPIC_SONNET = "anthropic/" + SONNET  # the client names the provider: no split, only the key draw
SPLIT = {"weights": {SONNET: [{"to": "anthropic", "weight": 1}, {"to": f"bedrock/{SONNET}", "weight": 3}]}}


def gateway(routing: dict[str, Any]) -> tuple[Gateway, Any]:
    gw = Gateway(config_from_dict({"providers": PROVIDERS, "routing": routing}), plugins=[bifrost_routing],
                 builtins=False)
    found = next(i.plugin for i in gw.plugins.infos if isinstance(i.plugin, bifrost_routing.RoutingPlugin))
    return gw, found


def make_call(model: str = SONNET, *, session: str | None = None, caller: Caller | None = None) -> Call:
    body = {"model": model, "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    call = Call(request_id="req_t", dialect=ANTHROPIC, endpoint=MESSAGES, headers=CIMultiDictProxy(CIMultiDict()),
                body=body, raw_body=orjson.dumps(body), model=model)
    call.session_id, call.caller = session, caller
    return call


def decide(gw: Gateway, plugin: Any, call: Call) -> Target:
    decision = plugin.router.decide(call, gw.resolve(call.model))
    assert decision is not None
    return decision.target


def share(counts: Counter[str], name: str) -> float:
    return counts[name] / sum(counts.values())


def test_requests_without_a_session_converge_to_the_weights() -> None:
    gw, plugin = gateway(SPLIT)
    plugin.router.rng = random.Random(7)
    counts = Counter(decide(gw, plugin, make_call()).provider for _ in range(20_000))
    assert abs(share(counts, "bedrock") - 0.75) < 0.02, counts
    assert set(counts) == {"anthropic", "bedrock"}


def test_sessions_converge_to_the_weights_and_each_keeps_its_draw() -> None:
    gw, plugin = gateway(SPLIT)
    counts: Counter[str] = Counter()
    for i in range(8_000):
        session = f"session-{i}"
        first = decide(gw, plugin, make_call(session=session))
        assert decide(gw, plugin, make_call(session=session)).provider == first.provider
        counts[first.provider] += 1
    assert abs(share(counts, "bedrock") - 0.75) < 0.025, counts


@settings(max_examples=200, deadline=None)
@given(session=st.text(min_size=1, max_size=60), weights=st.lists(st.floats(0.01, 100), min_size=2, max_size=6))
def test_a_session_draw_is_a_pure_function_of_its_id(session: str, weights: list[float]) -> None:
    names = [f"t{i}" for i in range(len(weights))]
    first = draw.by_session(session, names, weights, names)
    assert all(draw.by_session(session, names, weights, names) == first for _ in range(3))


@settings(max_examples=100, deadline=None)
@given(weights=st.lists(st.floats(0.1, 10), min_size=3, max_size=5), gone=st.integers(0, 4))
def test_when_a_target_drops_out_only_its_sessions_move(weights: list[float], gone: int) -> None:
    names = [f"p{i}/m" for i in range(len(weights))]
    gone %= len(names)
    rest = [(n, w) for n, w in zip(names, weights) if n != names[gone]]
    for i in range(200):
        session = f"s{i}"
        before = draw.by_session(session, names, weights, names)
        after = draw.by_session(session, [n for n, _ in rest], [w for _, w in rest], [n for n, _ in rest])
        if before != names[gone]:
            assert after == before


def test_zero_weight_entries_are_never_drawn_while_others_exist() -> None:
    names = ["a", "b", "c"]
    picks = {draw.by_session(f"s{i}", names, [0.0, 1.0, 1.0], names) for i in range(500)}
    assert picks == {"b", "c"}
    rng = random.Random(1)
    assert {draw.by_chance(rng, names, [0.0, 0.0, 5.0]) for _ in range(200)} == {"c"}


def test_glob_splits_keep_the_requested_model() -> None:
    gw, plugin = gateway({"weights": {"claude-*": [{"to": "anthropic", "weight": 1}, {"to": "bedrock", "weight": 1}]}})
    plugin.router.rng = random.Random(3)
    seen = {str(decide(gw, plugin, make_call("claude-opus-4-1"))) for _ in range(100)}
    assert seen == {"anthropic/claude-opus-4-1", "bedrock/claude-opus-4-1"}


def test_the_keys_own_provider_weights_win_over_the_global_split() -> None:
    gw, plugin = gateway(SPLIT)
    plugin.router.rng = random.Random(5)
    caller = Caller(key_id="k", key_name="dev", provider_weights=(
        ProviderWeight("anthropic", 1.0), ProviderWeight("bedrock", 0.0), ProviderWeight("openai", 5.0)))
    calls = [make_call(caller=caller) for _ in range(200)]
    decisions = [plugin.router.decide(c, gw.resolve(c.model)) for c in calls]
    assert {str(d.target) for d in decisions} == {f"anthropic/{SONNET}"}, "weight 0 and non-serving providers are out"
    assert decisions[0].rule == "key-weights"
    both = Caller(key_id="k", key_name="dev", provider_weights=(
        ProviderWeight("anthropic", 1.0), ProviderWeight("bedrock", 1.0)))
    counts = Counter(decide(gw, plugin, make_call(caller=both)).provider for _ in range(4000))
    assert abs(share(counts, "anthropic") - 0.5) < 0.04, counts


def test_key_weights_that_serve_nothing_fall_back_to_the_global_split() -> None:
    gw, plugin = gateway(SPLIT)
    caller = Caller(key_id="k", key_name="dev", provider_weights=(ProviderWeight("openai", 1.0),))
    decision = plugin.router.decide(make_call(caller=caller), gw.resolve(SONNET))
    assert decision.rule == "weights"


def test_allowed_providers_narrow_the_candidates() -> None:
    gw, plugin = gateway(SPLIT)
    caller = Caller(key_id="k", key_name="dev", allowed_providers=("anthropic",))
    assert {decide(gw, plugin, make_call(caller=caller)).provider for _ in range(100)} == {"anthropic"}


def test_unhealthy_targets_are_skipped_while_a_healthy_one_is_left() -> None:
    gw, plugin = gateway(SPLIT)
    bedrock = gw.providers["bedrock"]
    bedrock.keys.put_aside("key-1", 60, "rate limited")
    assert {decide(gw, plugin, make_call(session=f"s{i}")).provider for i in range(200)} == {"anthropic"}
    bedrock.keys.restore("key-1")
    gw.providers["anthropic"].health.publish(SONNET, TargetHealth(Circuit.OPEN))
    assert {decide(gw, plugin, make_call()).provider for _ in range(200)} == {"bedrock"}
    gw.providers["bedrock"].health.publish(SONNET, TargetHealth(Circuit.OPEN))
    assert {decide(gw, plugin, make_call()).provider for _ in range(200)} == {"anthropic", "bedrock"}, \
        "when every target is unhealthy, all stay candidates (failover decides what to do)"


def test_a_session_keeps_one_api_key_and_sessions_spread_over_the_keys_by_weight() -> None:
    gw, plugin = gateway({})
    counts: Counter[str] = Counter()
    for i in range(4000):
        key = decide(gw, plugin, make_call(ANTHROPIC_SONNET, session=f"s{i}")).key_name
        assert decide(gw, plugin, make_call(ANTHROPIC_SONNET, session=f"s{i}")).key_name == key
        counts[str(key)] += 1
    assert abs(share(counts, "a3") - 0.5) < 0.04, counts
    call = make_call(ANTHROPIC_SONNET)
    assert plugin.router.decide(call, gw.resolve(call.model)) is None, "no session, nothing configured: no decision"


def test_a_session_moves_to_another_key_only_when_its_key_is_put_aside() -> None:
    gw, plugin = gateway({})
    key = decide(gw, plugin, make_call(ANTHROPIC_SONNET, session="s1")).key_name
    pool = gw.providers["anthropic"].keys
    pool.put_aside(str(key), 60)
    moved = decide(gw, plugin, make_call(ANTHROPIC_SONNET, session="s1")).key_name
    assert moved not in (None, key)
    pool.restore(str(key))
    assert decide(gw, plugin, make_call(ANTHROPIC_SONNET, session="s1")).key_name == key


def test_single_key_providers_are_not_pinned() -> None:
    gw, plugin = gateway({})
    assert decide(gw, plugin, make_call("gpt-4o", session="s1")).key_name is None
