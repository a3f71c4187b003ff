"""Routing rules, aliases and the default model: each rule kind selects as configured, the
first match wins, and config mistakes are reported with their path."""

from __future__ import annotations

from typing import Any

import bifrost_routing
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.context import (
    ANTHROPIC,
    COUNT_TOKENS,
    EMBEDDINGS,
    MESSAGES,
    OPENAI,
    Call,
    Caller,
    Target,
)
from bifrost_py.gateway import Gateway

HAIKU = "anthropic/claude-haiku-4-5"
PROVIDERS = {
    "anthropic": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "keys": [{"value": "sk-a"}]},
    "openai": {"type": "openai", "base_url": "http://127.0.0.1:9/v1", "keys": [{"value": "sk-o"}]},
}


def gateway(routing: dict[str, Any], providers: dict[str, Any] | None = None) -> Gateway:
    config = config_from_dict({"providers": providers or PROVIDERS, "routing": routing})
    return Gateway(config, plugins=[bifrost_routing], builtins=False)


def plugin(gw: Gateway) -> Any:
    return next(info.plugin for info in gw.plugins.infos if isinstance(info.plugin, bifrost_routing.RoutingPlugin))


def make_call(body: dict[str, Any], *, headers: dict[str, str] | None = None, caller: Caller | None = None,
              session: str | None = None, endpoint: str = MESSAGES, dialect: str = ANTHROPIC) -> Call:
    call = Call(request_id="req_test", dialect=dialect, endpoint=endpoint,
                headers=CIMultiDictProxy(CIMultiDict(headers or {})), body=body,
                raw_body=orjson.dumps(body), model=body["model"])
    call.session_id = session
    call.caller = caller
    return call


async def route(gw: Gateway, call: Call) -> list[Target]:
    """What the core would do: resolve, then the route hooks."""
    return await gw.dispatcher.route(call, gw.resolve(call.model))


def body(model: str = "claude-sonnet-4-5", text: str = "hi", **extra: Any) -> dict[str, Any]:
    return {"model": model, "max_tokens": 100, "messages": [{"role": "user", "content": text}], **extra}


TOOL = {"name": "Read", "description": "Read a file", "input_schema": {"type": "object", "properties": {}}}
IMAGE = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}}
LONG = "word " * 8000  # ~11,000 tokens by the estimate

# (condition, a body it matches, a body it does not match), one per rule kind.
KINDS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    ("model glob", {"model": "claude-*haiku*"}, body("claude-haiku-4-5-20251001"), body("claude-sonnet-4-5")),
    ("model list", {"model": ["gpt-4o", "claude-3-5-haiku-*"]}, body("claude-3-5-haiku-20241022"), body("claude-opus-4-1")),
    ("max tokens", {"max_input_tokens": 2000}, body(text="short"), body(text=LONG)),
    ("min tokens", {"min_input_tokens": 5000}, body(text=LONG), body(text="short")),
    ("tools", {"tools": True}, body(tools=[TOOL]), body()),
    ("no tools", {"tools": False}, body(), body(tools=[TOOL])),
    ("thinking", {"thinking": True}, body(thinking={"type": "enabled", "budget_tokens": 2000}),
     body(thinking={"type": "disabled"})),
    ("adaptive thinking", {"thinking": True}, body(thinking={"type": "adaptive"}), body()),
    ("openai reasoning", {"thinking": True}, body("gpt-5", reasoning_effort="high"), body("gpt-5", reasoning_effort="none")),
    ("images", {"images": True},
     {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [{"role": "user", "content": [IMAGE, {"type": "text", "text": "what?"}]}]},
     body(text="no picture here, only the word image")),
    ("image in a tool result", {"images": True},
     {"model": "claude-sonnet-4-5", "max_tokens": 9, "messages": [
         {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": [IMAGE]}]}]},
     body()),
    ("openai image_url", {"images": True},
     {"model": "gpt-4o", "messages": [{"role": "user", "content": [
         {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}]},
     body("gpt-4o")),
    ("web search tool", {"web_search": True},
     body(tools=[{"type": "web_search_20250305", "name": "web_search", "max_uses": 5}]),
     body(tools=[{"name": "WebSearch", "description": "Claude Code's own tool", "input_schema": {"type": "object"}}])),
    ("openai web_search_options", {"web_search": True}, body("gpt-4o", web_search_options={}), body("gpt-4o")),
]


@pytest.mark.parametrize(("condition", "hit", "miss"), [k[1:] for k in KINDS], ids=[k[0] for k in KINDS])
async def test_each_rule_kind_selects_as_configured(condition: dict[str, Any], hit: dict[str, Any],
                                                    miss: dict[str, Any]) -> None:
    gw = gateway({"rules": [{"name": "the-rule", "when": condition, "to": HAIKU}]})
    chosen = await route(gw, call := make_call(hit))
    assert str(chosen[0]) == HAIKU and chosen[0].rule == "the-rule"
    assert call.route_rule == "the-rule"
    assert call.response_headers["x-bf-route-target"] == HAIKU
    other = make_call(miss)
    chosen = await route(gw, other)
    assert str(chosen[0]) != HAIKU
    assert other.route_rule is None


async def test_header_rule_exact_glob_and_missing() -> None:
    gw = gateway({"rules": [
        {"name": "beta", "when": {"header": {"X-Client-Tier": "beta-*"}}, "to": HAIKU},
        {"name": "ci", "when": {"header": {"x-ci": "*"}}, "to": "openai/gpt-4o-mini"},
    ]})
    assert (await route(gw, make_call(body(), headers={"x-client-tier": "beta-7"})))[0].rule == "beta"
    assert (await route(gw, make_call(body(), headers={"x-client-tier": "stable"})))[0].rule is None
    assert (await route(gw, make_call(body(), headers={"X-CI": "1"})))[0].rule == "ci"
    assert (await route(gw, make_call(body())))[0].rule is None


async def test_key_team_and_customer_rules() -> None:
    gw = gateway({"rules": [
        {"name": "interns", "when": {"key": "dev-intern-*"}, "to": "openai/gpt-4o-mini"},
        {"name": "research", "when": {"team": ["research", "ml-*"]}, "to": "anthropic/claude-opus-4-1"},
        {"name": "acme", "when": {"customer": "acme"}, "to": HAIKU},
    ]})
    intern = Caller(key_id="k1", key_name="dev-intern-ravi", team="backend")
    ml = Caller(key_id="k2", key_name="dev-asha", team="ml-infra")
    acme = Caller(key_id="k3", key_name="svc", team="backend", customer="acme")
    plain = Caller(key_id="k4", key_name="dev-lee", team="backend")
    assert str((await route(gw, make_call(body(), caller=intern)))[0]) == "openai/gpt-4o-mini"
    assert str((await route(gw, make_call(body(), caller=ml)))[0]) == "anthropic/claude-opus-4-1"
    assert str((await route(gw, make_call(body(), caller=acme)))[0]) == HAIKU
    assert (await route(gw, make_call(body(), caller=plain)))[0].rule is None
    assert (await route(gw, make_call(body())))[0].rule is None, "no caller: key/team rules cannot match"


async def test_first_match_wins_and_conditions_combine() -> None:
    gw = gateway({"rules": [
        {"name": "long-context", "when": {"min_input_tokens": 5000}, "to": "anthropic/claude-sonnet-4-5"},
        {"name": "background", "when": {"model": "claude-*haiku*"}, "to": "openai/gpt-4o-mini"},
        {"name": "small-edits", "when": {"model": "claude-sonnet-*", "max_input_tokens": 2000, "tools": False,
                                         "thinking": False}, "to": HAIKU},
    ]})
    long_haiku = make_call(body("claude-haiku-4-5", text=LONG))
    assert (await route(gw, long_haiku))[0].rule == "long-context", "the first matching rule decides"
    assert (await route(gw, make_call(body("claude-haiku-4-5"))))[0].rule == "background"
    assert (await route(gw, make_call(body())))[0].rule == "small-edits"
    thinking = make_call(body(thinking={"type": "enabled", "budget_tokens": 1024}))
    assert (await route(gw, thinking))[0].rule is None, "every condition of a rule must hold"
    assert str((await route(gw, thinking))[0]) == "anthropic/claude-sonnet-4-5"


async def test_rule_to_a_bare_provider_keeps_the_model_and_to_a_model_is_resolved() -> None:
    providers = {**PROVIDERS, "bedrock-ish": {"type": "anthropic", "base_url": "http://127.0.0.1:9",
                                               "models": ["claude-*"], "keys": [{"value": "k"}]}}
    gw = gateway({"rules": [
        {"name": "team-x", "when": {"team": "x"}, "to": "anthropic"},
        {"name": "cheap", "when": {"max_input_tokens": 10}, "to": "gpt-4o-mini"},
    ]}, providers)
    x = make_call(body(text=LONG), caller=Caller(key_id="a", key_name="a", team="x"))
    assert str((await route(gw, x))[0]) == "anthropic/claude-sonnet-4-5"
    tiny = make_call(body(text="."))
    assert str((await route(gw, tiny))[0]) == "openai/gpt-4o-mini"


async def test_aliases_and_rules_that_match_the_alias_target() -> None:
    gw = gateway({
        "aliases": {"sonnet": "claude-sonnet-4-5", "fast": "openai/gpt-4o-mini"},
        "rules": [{"name": "sonnet-tools", "when": {"model": "claude-sonnet-*", "tools": True}, "to": "openai/gpt-4o"}],
    })
    call = make_call(body("sonnet"))
    assert str((await route(gw, call))[0]) == "anthropic/claude-sonnet-4-5"
    assert call.route_rule == "alias"
    assert str((await route(gw, make_call(body("fast"))))[0]) == "openai/gpt-4o-mini"
    with_tools = make_call(body("sonnet", tools=[TOOL]))
    assert str((await route(gw, with_tools))[0]) == "openai/gpt-4o", "rules see the name the alias resolves to"


async def test_default_model_catches_unserved_names_only_for_messages() -> None:
    gw = gateway({"default_model": "openai/gpt-4o-mini"})
    unknown = make_call(body("some-model-nobody-serves"))
    assert str((await route(gw, unknown))[0]) == "openai/gpt-4o-mini"
    assert unknown.route_rule == "default_model"
    known = make_call(body("claude-sonnet-4-5"))
    assert str((await route(gw, known))[0]) == "anthropic/claude-sonnet-4-5"
    assert known.route_rule is None
    counting = make_call(body("nobody-serves-this"), endpoint=COUNT_TOKENS)
    assert str((await route(gw, counting))[0]) == "openai/gpt-4o-mini"
    embed = make_call({"model": "nobody-embeds", "input": "x"}, endpoint=EMBEDDINGS, dialect=OPENAI)
    assert await route(gw, embed) == [], "an embedding model is never replaced by a chat model"


async def test_without_default_model_an_unknown_model_stays_unrouted() -> None:
    gw = gateway({"rules": [{"name": "r", "when": {"model": "gpt-*"}, "to": HAIKU}]})
    assert await route(gw, make_call(body("no-such-model"))) == []


async def test_provider_prefix_beats_rules_as_the_contract_says() -> None:
    gw = gateway({"rules": [{"name": "all", "when": {}, "to": HAIKU}]})
    call = make_call(body("openai/gpt-4o"))
    assert str((await route(gw, call))[0]) == "openai/gpt-4o"
    assert call.route_rule is None
    assert str((await route(gw, make_call(body("gpt-4o"))))[0]) == HAIKU, "an empty when: matches everything"


async def test_an_earlier_decision_is_left_alone() -> None:
    gw = gateway({"rules": [{"name": "all", "when": {}, "to": HAIKU}]})
    call = make_call(body())
    call.route_rule = "tier:gold"
    decided = [Target("openai", "gpt-4o", rule="tier:gold")]
    assert await plugin(gw).bifrost_route(call, decided) is None


async def test_later_targets_are_kept_behind_the_chosen_one() -> None:
    gw = gateway({"rules": [{"name": "all", "when": {}, "to": HAIKU}]})
    extra = Target("openai", "gpt-4o", rule="earlier-plugin")
    out = await plugin(gw).bifrost_route(make_call(body()), [Target("anthropic", "claude-sonnet-4-5"), extra])
    assert [str(t) for t in out] == [HAIKU, "openai/gpt-4o"]


async def test_nothing_configured_costs_a_return() -> None:
    gw = gateway({})
    call = make_call(body())
    assert await plugin(gw).bifrost_route(call, gw.resolve(call.model)) is None
    assert call.route_rule is None and not call.response_headers


@pytest.mark.parametrize(("routing", "problem"), [
    ({"rules": [{"name": "r", "when": {"modle": "x"}, "to": HAIKU}]}, "routing.rules[0].when.modle: unknown key"),
    ({"rules": [{"name": "r", "when": {}}]}, "routing.rules[0].to: is required"),
    ({"rules": [{"name": "r", "when": {}, "to": "nosuchmodel"}]}, "routing.rules[0].to: no provider serves model 'nosuchmodel'"),
    ({"rules": [{"name": "r", "when": {"tools": "yes"}, "to": HAIKU}]}, "routing.rules[0].when.tools"),
    ({"rules": [{"name": "r", "when": {"min_input_tokens": 10, "max_input_tokens": 5}, "to": HAIKU}]},
     "routing.rules[0].when.min_input_tokens: is above max_input_tokens"),
    ({"rules": [{"name": "r", "when": {}, "to": HAIKU}, {"name": "r", "when": {}, "to": HAIKU}]},
     "routing.rules: two rules are named 'r'"),
    ({"weights": {"claude-sonnet-4-5": [{"to": "anthropic", "weight": 0}]}},
     "routing.weights.claude-sonnet-4-5: needs at least one entry with a weight above 0"),
    ({"weights": {"claude-sonnet-4-5": [{"to": "anthropic", "weight": -1}]}}, "routing.weights.claude-sonnet-4-5[0].weight"),
    ({"weights": {"claude-sonnet-4-5": [{"to": "anthropic", "wieght": 1}]}}, "routing.weights.claude-sonnet-4-5[0].wieght: unknown key"),
    ({"aliases": {"a": "b", "b": "gpt-4o"}}, "routing.aliases.a: points at the alias 'b'"),
    ({"aliases": {"mini": "gpt-4o-mini"}, "weights": {"gpt-4o": [{"to": "mini"}]}},
     "routing.weights.gpt-4o[0].to: points at the alias 'mini'"),
    ({"aliases": {"a": "openai"}}, "routing.aliases.a: 'openai' is a provider"),
    ({"default_model": "nothing-serves-me"}, "routing.default_model: no provider serves model"),
    ({"stickiness": {"ttl": "soon"}}, "routing.stickiness.ttl"),
    ({"rulez": []}, "routing.rulez: unknown key"),
])
def test_config_problems_name_their_path(routing: dict[str, Any], problem: str) -> None:
    with pytest.raises(ConfigError) as caught:
        gateway(routing)
    assert any(line.startswith(problem) for line in caught.value.problems), caught.value.problems


def test_a_good_config_has_no_problems() -> None:
    gw = gateway({
        "aliases": {"sonnet": "claude-sonnet-4-5", "mini": "openai/gpt-4o-mini"},
        "rules": [{"name": "bg", "when": {"model": "claude-*haiku*"}, "to": "mini"},
                  {"name": "images", "when": {"images": True}, "to": "openai"}],
        "weights": {"claude-sonnet-*": [{"to": "anthropic", "weight": 3}, {"to": "openai/gpt-4o", "weight": 1}]},
        "default_model": "gpt-4o",
        "stickiness": {"enabled": True, "ttl": "30m", "max_sessions": 1000, "avoid_for": "2m"},
    })
    settings = plugin(gw).settings
    assert settings.stickiness.ttl == 1800 and settings.stickiness.avoid_for == 120
    assert [r.name for r in settings.rules] == ["bg", "images"]


async def test_a_rule_and_the_default_model_may_point_at_an_alias() -> None:
    gw = gateway({"aliases": {"mini": "openai/gpt-4o-mini"}, "default_model": "mini",
                  "rules": [{"name": "bg", "when": {"model": "claude-*haiku*"}, "to": "mini"}]})
    assert str((await route(gw, make_call(body("claude-haiku-4-5"))))[0]) == "openai/gpt-4o-mini"
    assert str((await route(gw, make_call(body("unheard-of"))))[0]) == "openai/gpt-4o-mini"


def test_every_routing_example_in_the_docs_is_a_valid_config() -> None:
    import re
    from pathlib import Path

    import yaml

    text = (Path(__file__).parents[2] / "docs" / "routing.md").read_text()
    blocks = [yaml.safe_load(b) for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)]
    routing_blocks = [b for b in blocks if isinstance(b, dict) and "routing" in b]
    assert len(routing_blocks) >= 3
    providers = {**PROVIDERS, "bedrock": {"type": "anthropic", "base_url": "http://127.0.0.1:9",
                                          "models": ["claude-*"], "keys": [{"value": "k"}]}}
    for block in routing_blocks:
        gateway(block["routing"], providers)


# ---------------------------------------------------------------------- the remembered rule set

_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5", "gpt-4o", "gpt-4o-mini")
_condition = st.fixed_dictionaries({}, optional={
    "models": st.lists(st.sampled_from(("claude-*", "*haiku*", "gpt-4o", "gpt-*", "*")), min_size=1, max_size=2)
    .map(tuple),
    "tools": st.booleans(),
    "thinking": st.booleans(),
    "max_input_tokens": st.integers(0, 20),
    "headers": st.just((("x-tier", "gold*"),)),
    "teams": st.just(("eng",)),
})


@settings(max_examples=300, deadline=None)
@given(conditions=st.lists(_condition, max_size=5),
       requests=st.lists(st.tuples(st.sampled_from(_MODELS), st.booleans(), st.booleans(), st.booleans(),
                                   st.sampled_from((None, "eng", "ops"))), min_size=1, max_size=6))
def test_the_remembered_rule_set_decides_as_every_rule_in_order(conditions: list[dict[str, Any]],
                                                                requests: list[tuple[Any, ...]]) -> None:
    """A rule set that remembers which rules a model can match picks the same first rule as
    checking every rule's whole condition in order, request after request."""
    from bifrost_routing.facts import RequestFacts
    from bifrost_routing.rules import RuleSet, first_match
    from bifrost_routing.settings import Condition, Rule, Spec

    rules = tuple(Rule(f"r{i}", Condition(**c), Spec("anthropic", None)) for i, c in enumerate(conditions))
    rule_set = RuleSet(rules)
    for model, tools, gold, long_text, team in requests:
        extra: dict[str, Any] = {"tools": [{"name": "t", "input_schema": {}}]} if tools else {}
        call = make_call(body(model, "word " * (40 if long_text else 1), **extra),
                         headers={"x-tier": "gold"} if gold else None,
                         caller=Caller(key_id="k1", key_name="k1", team=team) if team else None)
        names = (model,)
        expected = first_match(rules, call, names, RequestFacts(call.body))
        assert rule_set.first_match(call, names) is expected
