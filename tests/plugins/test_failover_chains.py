"""Fallback chains: where they come from, how entries become targets, the request header."""

from __future__ import annotations

import pytest
from bifrost_failover import chains
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import Call, Caller, Target
from bifrost_py.errors import InvalidRequest
from bifrost_py.gateway import Gateway

SONNET = "claude-sonnet-4-20250514"


@pytest.fixture(scope="module")
def gateway() -> Gateway:
    providers = {
        "anthropic": {"type": "anthropic", "keys": [{"value": "a"}]},
        "bedrock": {"type": "anthropic", "base_url": "http://127.0.0.1:1", "models": [SONNET], "keys": [{"value": "b"}]},
        "openai": {"type": "openai", "keys": [{"value": "o"}]},
    }
    return Gateway(config_from_dict({"providers": providers}), builtins=False)


def call(headers: dict[str, str] | None = None, fallbacks: list[str] | None = None, model: str = SONNET) -> Call:
    c = Call(request_id="r", dialect="anthropic", endpoint="messages",
             headers=CIMultiDictProxy(CIMultiDict(headers or {})), model=model)
    if fallbacks is not None:
        c.caller = Caller("k", "key", fallbacks=tuple(fallbacks))
    return c


ENTRY = st.text(alphabet=st.characters(blacklist_characters=",", blacklist_categories=("Cs",)), min_size=1).filter(
    lambda s: s.strip() and s.strip().lower() not in chains.NO_FALLBACKS)


@given(st.lists(ENTRY, min_size=1, max_size=6), st.sampled_from([",", ", ", " ,  "]))
def test_header_round_trips_any_entries(entries: list[str], separator: str) -> None:
    assert chains.parse_header(separator.join(entries)) == [e.strip() for e in entries]


@pytest.mark.parametrize("value", ["none", "NONE", " off ", ""])
def test_header_can_ask_for_no_fallback(value: str) -> None:
    assert chains.parse_header(value) == []


def test_lookup_prefers_exact_names_then_globs_in_order() -> None:
    table = {"claude-*": ("a",), SONNET: ("b",), "*": ("c",)}
    assert chains.lookup(table, SONNET) == ("b",)
    assert chains.lookup(table, "claude-haiku-4-5") == ("a",)
    assert chains.lookup(table, "gpt-4o") == ("c",)
    assert chains.lookup({"x": ("a",)}, "routed-model", "x") == ("a",), "the client's model as well"
    assert chains.lookup({}, SONNET) is None


def test_entries_become_targets_without_duplicates(gateway: Gateway) -> None:
    primary = [Target("anthropic", SONNET, rule="routing:weights")]
    out = chains.extend(primary, ["anthropic", "bedrock", "openai/gpt-4o", "gpt-4o-mini", "bedrock", "nowhere"],
                        chains.SOURCE_CHAIN, gateway, strict=False)
    assert [(t.provider, t.model) for t in out] == [
        ("anthropic", SONNET), ("bedrock", SONNET), ("openai", "gpt-4o"), ("openai", "gpt-4o-mini")]
    assert out[0].rule == "routing:weights", "the routed target is kept as it was"
    assert {t.rule for t in out[1:]} == {"failover:chain"}


def test_a_bad_header_entry_is_the_callers_mistake(gateway: Gateway) -> None:
    with pytest.raises(InvalidRequest, match="'nowhere/x'"):
        chains.extend([Target("anthropic", SONNET)], ["nowhere/x"], chains.SOURCE_HEADER, gateway, strict=True)


def test_most_specific_chain_wins() -> None:
    table = chains.ChainTable({SONNET: ("bedrock",)})
    primary = Target("anthropic", SONNET)
    assert chains.chain_for(call(), primary, table, True) == ("chain", ("bedrock",))
    assert chains.chain_for(call(fallbacks=["openai/gpt-4o"]), primary, table, True) == ("key", ("openai/gpt-4o",))
    both = call({"x-bf-fallbacks": "openai/gpt-4o-mini"}, fallbacks=["openai/gpt-4o"])
    assert chains.chain_for(both, primary, table, True) == ("header", ("openai/gpt-4o-mini",))
    assert chains.chain_for(both, primary, table, False) == ("key", ("openai/gpt-4o",)), "header switched off"
    assert chains.chain_for(call({"x-bf-fallbacks": "none"}), primary, table, True) == ("header", ())
    assert chains.chain_for(call(model="gpt-4o"), Target("openai", "gpt-4o"), table, True) is None


def test_a_remembered_chain_follows_the_providers_replaced_at_run_time() -> None:
    providers = {
        "anthropic": {"type": "anthropic", "keys": [{"value": "a"}]},
        "openai": {"type": "openai", "keys": [{"value": "o"}]},
    }
    gw = Gateway(config_from_dict({"providers": providers}), builtins=False)
    table = chains.ChainTable({SONNET: ("openai/gpt-4o", "bedrock")})
    primary = [Target("anthropic", SONNET)]

    def chain() -> list[tuple[str, str]]:
        entries = table.lookup(SONNET, SONNET)
        assert entries is not None
        out = chains.extend(primary, entries, chains.SOURCE_CHAIN, gw, strict=False, table=table)
        return [(t.provider, t.model) for t in out[1:]]

    assert chain() == [("openai", "gpt-4o")] == chain(), "bedrock is not configured yet"
    bedrock = Gateway(config_from_dict({"providers": {"bedrock": {"type": "anthropic", "keys": [{"value": "b"}]}}}),
                      builtins=False).providers["bedrock"]
    gw.replace_providers({"anthropic": gw.providers["anthropic"], "bedrock": bedrock})
    assert chain() == [("bedrock", SONNET)], "openai removed, bedrock added: the chain follows"
