"""Caller's typed per-key settings: what an authenticating plugin sets and routing, failover and
the cache read; the deprecated `attrs` dict still accepted from writers for one release."""

from __future__ import annotations

from bifrost_py.context import Caller, ProviderWeight


def test_typed_fields_default_to_no_opinion() -> None:
    caller = Caller("k1", "dev")
    assert (caller.allowed_providers, caller.provider_weights, caller.fallbacks, caller.cache, caller.cache_ttl) == \
        (None, (), (), None, None)
    assert caller.attrs == {}


def test_a_plugin_that_still_writes_attrs_fills_the_typed_fields() -> None:
    caller = Caller("k1", "dev", attrs={
        "allowed_providers": ["anthropic"],
        "provider_weights": [{"provider": "anthropic", "weight": 3}, {"provider": "bedrock", "weight": "x"}],
        "fallbacks": ["openai/gpt-4o"],
        "cache": 0,
        "cache_ttl": 90,
    })
    assert caller.allowed_providers == ("anthropic",)
    assert caller.provider_weights == (ProviderWeight("anthropic", 3.0), ProviderWeight("bedrock", 0.0))
    assert caller.fallbacks == ("openai/gpt-4o",)
    assert caller.cache is False
    assert caller.cache_ttl == 90.0


def test_typed_fields_are_not_copied_into_attrs() -> None:
    caller = Caller("k1", "dev", team="backend", allowed_providers=("anthropic", "bedrock"),
                    provider_weights=(ProviderWeight("anthropic", 1.0),), fallbacks=("bedrock",),
                    cache=True, cache_ttl=60.0)
    assert caller.attrs == {}, "readers use the fields; filling attrs would cost every request"
    assert caller.provider_weights[0].weight == 1.0


def test_attrs_of_no_known_name_leave_the_typed_fields_alone() -> None:
    caller = Caller("k1", "dev", attrs={"tier": "gold", "allowed_providers": None, "cache_ttl": 0})
    assert caller.allowed_providers is None and caller.cache_ttl is None
    assert caller.attrs == {"tier": "gold", "allowed_providers": None, "cache_ttl": 0}
