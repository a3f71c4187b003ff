"""A provider's key pool: keys drawn by weight, put aside after a refusal until their time is
up or they are restored, and left out when an attempt excludes them."""

from __future__ import annotations

import random
from collections import Counter
from unittest.mock import patch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.config import ProviderKey
from bifrost_py.providers import keys as keys_module
from bifrost_py.providers.keys import KeyPool

DRAWS = 20_000


class Clock:
    """time.monotonic for the pool, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    clock = Clock()
    monkeypatch.setattr(keys_module.time, "monotonic", clock)
    return clock


def pool(*weights: float) -> KeyPool:
    keys = [ProviderKey(value=f"sk-secret-value-{i}", weight=w, name=f"k{i}") for i, w in enumerate(weights)]
    return KeyPool(keys, rng=random.Random(42))


def shares(keys: KeyPool, **kwargs: object) -> dict[str, float]:
    counts = Counter(key.name for key in (keys.pick(**kwargs) for _ in range(DRAWS)) if key)  # type: ignore[arg-type]
    return {name: count / DRAWS for name, count in counts.items()}


def test_keys_are_drawn_in_proportion_to_their_weights() -> None:
    drawn = shares(pool(1, 3, 6))
    for name, expected in (("k0", 0.1), ("k1", 0.3), ("k2", 0.6)):
        assert abs(drawn[name] - expected) < 0.02, drawn


def test_a_zero_weight_key_is_drawn_only_when_nothing_else_is_left() -> None:
    keys = pool(0, 1)
    assert shares(keys) == {"k1": 1.0}
    keys.put_aside("k1", 60)
    assert keys.pick().name == "k0"  # type: ignore[union-attr]
    assert set(shares(pool(0, 0))) == {"k0", "k1"}


def test_a_key_put_aside_is_not_drawn_until_its_time_is_up(clock: Clock) -> None:
    keys = pool(1, 1)
    keys.put_aside("k0", 30, "429 from the provider")
    assert set(shares(keys)) == {"k1"}
    described = {d["name"]: d for d in keys.describe()}
    assert described["k0"]["usable"] is False and described["k0"]["reason"] == "429 from the provider"
    assert described["k0"]["aside_for_seconds"] == 30.0
    clock.now += 30
    assert set(shares(keys)) == {"k0", "k1"}
    assert {d["name"]: d["reason"] for d in keys.describe()}["k0"] == ""


def test_a_restored_key_is_drawn_again_at_once(clock: Clock) -> None:
    keys = pool(1, 1)
    keys.put_aside("k1", 3600, "refused")
    keys.restore("k1")
    assert set(shares(keys)) == {"k0", "k1"}
    keys.put_aside("nobody", 10)  # unknown names change nothing
    keys.restore("nobody")
    assert len(keys.usable()) == 2


def test_excluded_keys_are_never_drawn_and_an_empty_choice_is_none(clock: Clock) -> None:
    keys = pool(5, 1, 1)
    assert set(shares(keys, exclude={"k0"})) == {"k1", "k2"}
    assert keys.pick(exclude={"k0", "k1", "k2"}) is None
    for name in ("k0", "k1", "k2"):
        keys.put_aside(name, 1)
    assert keys.pick() is None and keys.usable() == []
    assert KeyPool([]).pick() is None


def test_keys_are_found_by_name_and_described_without_their_secret() -> None:
    keys = pool(1, 2)
    assert keys.get("k1") is not None and keys.get("k1").weight == 2  # type: ignore[union-attr]
    assert keys.get("k9") is None and len(keys) == 2
    for described in keys.describe():
        assert "secret" not in str(described) and described["key"] == "sk-s…ue-" + str(described["name"])[1]


@given(
    st.lists(st.tuples(st.booleans(), st.sampled_from([0.0, -5.0, 990.0, 1000.0, 1010.0])), max_size=4),
    st.sampled_from([frozenset(), frozenset({"k0"})]),
)
def test_has_usable_and_pick_agree_with_the_list_of_usable_keys(
    states: list[tuple[bool, float]], exclude: frozenset[str]
) -> None:
    """`has_usable()` answers as `usable()` does, and a pool of one key picks what the list
    holds, for keys enabled or not, never put aside, back already, or still aside."""
    keys = pool(*([1.0] * len(states)))
    for state, (enabled, until) in zip(keys.states, states):
        state.key.enabled = enabled
        state.aside_until = until
    with patch.object(keys_module.time, "monotonic", lambda: 1000.0):
        listed = keys.usable(exclude)
        assert keys.has_usable() is bool(keys.usable())
        if len(states) <= 1:
            assert keys.pick(exclude) == (listed[0] if listed else None)
