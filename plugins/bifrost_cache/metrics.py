"""The cache's Prometheus metrics, registered on the gateway's own registry (served at /metrics)
and read by the admin API's stats.

The counters are one plain tally behind one custom collector: counting a lookup or a store is a
dict update on the request path, and prometheus_client renders the exposition format only when
/metrics is scraped (its `labels(...).inc()` took a lock and a label lookup per call, some 17 us
per request under cProfile; the cost log's metrics do the same)."""

from __future__ import annotations

from collections import Counter as Tally
from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

FAMILIES = (  # (name, help, label, the tally's key prefix); lookups are the keys without one
    ("bifrost_cache_lookups", "Cache lookups by result (hit_exact, hit_semantic, miss, bypass)", "result", ""),
    ("bifrost_cache_not_stored", "Answers not stored, by reason", "reason", "not_stored:"),
    ("bifrost_cache_evictions", "Entries removed, by reason (size, expired, gone)", "reason", "evicted:"),
)
UNLABELLED = {"stored": ("bifrost_cache_stores", "Answers stored in the cache"),
              "embed_errors": ("bifrost_cache_embed_errors", "Embeddings that failed (the lookup fell back to exact)")}


class CacheMetrics(Collector):
    def __init__(self, registry: CollectorRegistry) -> None:
        # lookup results ("miss"), "stored", "embed_errors", "not_stored:<reason>", "evicted:<reason>"
        self.tally: Tally[str] = Tally()
        self.saved_usd = 0.0
        registry.register(self)
        self._entries = Gauge("bifrost_cache_entries", "Entries in this process's cache index", registry=registry)
        self._index_bytes = Gauge(
            "bifrost_cache_index_bytes", "Memory held by the vector index, bytes", registry=registry
        )

    def collect(self) -> Iterator[Metric]:
        tally = self.tally
        for name, doc, label, prefix in FAMILIES:
            family = CounterMetricFamily(name, doc, labels=(label,))
            for key, count in tally.items():
                if prefix:
                    if key.startswith(prefix):
                        family.add_metric((key[len(prefix):],), count)
                elif ":" not in key and key not in UNLABELLED:
                    family.add_metric((key,), count)
            yield family
        for key, (name, doc) in UNLABELLED.items():
            yield CounterMetricFamily(name, doc, value=tally[key])

    def watch(self, entries: Callable[[], int], index_bytes: Callable[[], int]) -> None:
        self._entries.set_function(entries)
        self._index_bytes.set_function(index_bytes)

    def lookup(self, result: str) -> None:
        self.tally[result] += 1

    def stored(self) -> None:
        self.tally["stored"] += 1

    def not_stored(self, reason: str) -> None:
        self.tally["not_stored:" + reason] += 1

    def evicted(self, reason: str, count: int = 1) -> None:
        if count:
            self.tally["evicted:" + reason] += count

    def embed_error(self) -> None:
        self.tally["embed_errors"] += 1

    def saved(self, usd: float) -> None:
        """Kept for the admin stats only: the cost log owns the per-model, per-key saved
        cost (bifrost_cache_saved_usd_total) and the per-request rows."""
        self.saved_usd += usd
