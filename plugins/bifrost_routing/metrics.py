"""Routing's Prometheus metrics, on the gateway's registry (served at /metrics).

Counting a decision is a dict update on the request path: the counts are a plain tally behind one
custom collector, and prometheus_client renders them only when /metrics is scraped (its
`labels(...).inc()` takes a lock per call; the cache's and the cost log's metrics do the same).
Labels never carry a model name: clients choose those, and every new label value is a new time
series. Rule names and providers come from the configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Gauge
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector


class RoutingMetrics(Collector):
    def __init__(self, registry: CollectorRegistry, remembered: Callable[[], int]) -> None:
        self.decisions: dict[tuple[str, str], int] = {}   # (rule or "none", provider) -> count
        self.placements: dict[str, int] = {}              # kept / new / moved -> count
        registry.register(self)
        gauge = Gauge("bifrost_routing_sessions_remembered", "Client sessions whose placement is remembered",
                      registry=registry)
        gauge.set_function(remembered)

    def collect(self) -> Iterator[Metric]:
        decisions = CounterMetricFamily(
            "bifrost_routing_decisions", "Routing decisions, by what decided and the chosen provider",
            labels=("rule", "provider"),
        )
        for labels, count in list(self.decisions.items()):
            decisions.add_metric(labels, count)
        yield decisions
        placements = CounterMetricFamily(
            "bifrost_routing_session_placements",
            "Requests of client sessions: kept on their target, placed for the first time, or moved",
            labels=("placement",),
        )
        for placement, count in list(self.placements.items()):
            placements.add_metric((placement,), count)
        yield placements

    def decided(self, rule: str | None, provider: str, placement: str | None) -> None:
        key = (rule or "none", provider)
        decisions = self.decisions
        decisions[key] = decisions.get(key, 0) + 1
        if placement is not None:
            self.placements[placement] = self.placements.get(placement, 0) + 1
