"""Caller's typed per-key settings: what an authenticating plugin sets and routing, failover and
the cache read. The untyped `attrs` dict they used to travel in is gone."""

from __future__ import annotations

import pytest

from bifrost_py.context import Caller, ProviderWeight


def test_typed_fields_default_to_no_opinion() -> None:
    caller = Caller("k1", "dev")
    assert (caller.allowed_providers, caller.provider_weights, caller.fallbacks, caller.cache, caller.cache_ttl) == \
        (None, (), (), None, None)


def test_typed_fields_are_keyword_only_and_kept_as_given() -> None:
    caller = Caller("k1", "dev", "backend", "acme", allowed_providers=("anthropic", "bedrock"),
                    provider_weights=(ProviderWeight("anthropic", 1.0),), fallbacks=("bedrock",),
                    cache=True, cache_ttl=60.0)
    assert (caller.team, caller.customer) == ("backend", "acme")
    assert caller.allowed_providers == ("anthropic", "bedrock") and caller.fallbacks == ("bedrock",)
    assert caller.provider_weights[0].weight == 1.0 and caller.cache_ttl == 60.0


def test_the_removed_attrs_dict_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match="attrs"):
        Caller("k1", "dev", attrs={"fallbacks": ["openai/gpt-4o"]})  # type: ignore[call-arg]
    assert not hasattr(Caller("k1", "dev"), "attrs")
