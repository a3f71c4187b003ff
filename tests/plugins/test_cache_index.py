"""The vector index (contiguous partitions, O(1) add and remove) and the catalog (LRU, expiry)."""

from __future__ import annotations

import numpy as np
from bifrost_cache.catalog import Catalog, Meta
from bifrost_cache.index import VectorIndex
from hypothesis import given, settings
from hypothesis import strategies as st


def unit(seed: int, dims: int = 16) -> np.ndarray:
    vector = np.random.default_rng(seed).standard_normal(dims).astype(np.float32)
    return vector / np.linalg.norm(vector)


@settings(max_examples=60, deadline=None)
@given(ops=st.lists(st.tuples(st.booleans(), st.integers(0, 40)), max_size=120), query=st.integers(0, 40))
def test_search_agrees_with_brute_force_after_any_adds_and_removes(ops: list[tuple[bool, int]], query: int) -> None:
    index = VectorIndex()
    live: dict[str, np.ndarray] = {}
    for add, n in ops:
        key = f"k{n}"
        if add:
            index.add("p", key, unit(n))
            live[key] = unit(n)
        else:
            index.remove("p", key)
            live.pop(key, None)
    q = unit(query)
    found = index.search("p", q, -1.0)
    assert index.size("p") == len(live)
    if live:
        best = max(live, key=lambda k: float(live[k] @ q))
        assert found[0].key == best
        assert abs(found[0].similarity - float(live[best] @ q)) < 1e-5
    else:
        assert found == []


def test_partitions_never_mix_and_threshold_filters() -> None:
    index = VectorIndex()
    index.add("a", "x", unit(1))
    index.add("b", "y", unit(2))
    assert [m.key for m in index.search("a", unit(1), 0.99)] == ["x"]
    assert index.search("a", unit(2), 0.99) == []
    assert index.search("c", unit(1), 0.0) == []
    index.remove("a", "x")
    assert "a" not in index.partitions


def test_catalog_evicts_least_recently_used_first() -> None:
    catalog = Catalog(max_entries=2)
    assert catalog.add(Meta("a", "s", None, 0, 100)) == []
    catalog.add(Meta("b", "s", None, 0, 100))
    catalog.touch("a")
    evicted = catalog.add(Meta("c", "s", None, 0, 100))
    assert [m.key for m in evicted] == ["b"]
    assert list(catalog.entries) == ["a", "c"]


def test_catalog_expiry_and_max_age() -> None:
    catalog = Catalog(max_entries=10)
    catalog.add(Meta("old", "s", None, created=0, expires=10))
    catalog.add(Meta("new", "s", None, created=5, expires=50))
    assert [m.key for m in catalog.expired(now=11)] == ["old"]
    meta = catalog.get("new")
    assert meta is not None and meta.fresh(20) and not meta.fresh(20, max_age=10) and not meta.fresh(50)


def test_prefilter_finds_planted_matches_in_a_big_partition() -> None:
    """Above PREFILTER_ROWS the SimHash prefilter runs: near matches must still be found, at
    every similarity above the threshold, and nothing below it."""
    from bifrost_cache.index import PREFILTER_ROWS

    rng = np.random.default_rng(3)
    dims, rows = 64, PREFILTER_ROWS + 1000
    index = VectorIndex()
    base = rng.standard_normal((rows, dims)).astype(np.float32)
    base /= np.linalg.norm(base, axis=1, keepdims=True)
    for i, vector in enumerate(base):
        index.add("p", f"r{i}", vector)
    found_all = 0
    for trial in range(60):
        target = base[trial * 37]
        noise = rng.standard_normal(dims).astype(np.float32)
        noise -= (noise @ target) * target
        noise /= np.linalg.norm(noise)
        wanted = 0.905 + 0.09 * (trial % 10) / 9  # 0.905 ... 0.995
        query = wanted * target + np.sqrt(1 - wanted**2) * noise
        found = index.search("p", query, 0.9)
        brute = base @ query
        assert [m.key for m in found] == [f"r{i}" for i in np.argsort(-brute) if brute[i] >= 0.9][:4]
        found_all += bool(found)
    assert found_all == 60
    assert index.search("p", rng.standard_normal(dims).astype(np.float32) / 8, 0.9) == []
