"""The cache's Prometheus metrics, registered on the gateway's own registry (served at /metrics)
and mirrored as plain counters for the admin API's stats."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge


class CacheMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.tally: Tally[str] = Tally()
        self.saved_usd = 0.0
        self._lookups = Counter(
            "bifrost_cache_lookups", "Cache lookups by result (hit_exact, hit_semantic, miss, bypass)",
            ["result"], registry=registry,
        )
        self._stores = Counter("bifrost_cache_stores", "Answers stored in the cache", registry=registry)
        self._skipped = Counter(
            "bifrost_cache_not_stored", "Answers not stored, by reason", ["reason"], registry=registry
        )
        self._evictions = Counter(
            "bifrost_cache_evictions", "Entries removed, by reason (size, expired, gone)", ["reason"], registry=registry
        )
        self._embed_errors = Counter(
            "bifrost_cache_embed_errors", "Embeddings that failed (the lookup fell back to exact)", registry=registry
        )
        self._entries = Gauge("bifrost_cache_entries", "Entries in this process's cache index", registry=registry)
        self._index_bytes = Gauge(
            "bifrost_cache_index_bytes", "Memory held by the vector index, bytes", registry=registry
        )

    def watch(self, entries: Callable[[], int], index_bytes: Callable[[], int]) -> None:
        self._entries.set_function(entries)
        self._index_bytes.set_function(index_bytes)

    def lookup(self, result: str) -> None:
        self.tally[result] += 1
        self._lookups.labels(result).inc()

    def stored(self) -> None:
        self.tally["stored"] += 1
        self._stores.inc()

    def not_stored(self, reason: str) -> None:
        self.tally[f"not_stored:{reason}"] += 1
        self._skipped.labels(reason).inc()

    def evicted(self, reason: str, count: int = 1) -> None:
        if count:
            self.tally[f"evicted:{reason}"] += count
            self._evictions.labels(reason).inc(count)

    def embed_error(self) -> None:
        self.tally["embed_errors"] += 1
        self._embed_errors.inc()

    def saved(self, usd: float) -> None:
        """Kept for the admin stats only: the cost log owns the per-model, per-key saved
        cost (bifrost_cache_saved_usd_total) and the per-request rows."""
        self.saved_usd += usd
