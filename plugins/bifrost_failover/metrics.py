"""Failover's Prometheus metrics, on the gateway's registry (served at /metrics).

The circuit state is a gauge computed at scrape time from the breakers themselves, so a circuit
that went half-open by the passing of time is shown as such without anyone having to update it.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from .breaker import STATE_NUMBERS, BreakerBoard


class CircuitCollector(Collector):
    def __init__(self, board: BreakerBoard) -> None:
        self.board = board

    def collect(self) -> Iterator[Metric]:
        gauge = GaugeMetricFamily(
            "bifrost_failover_circuit_state",
            "Circuit of each target: 0 closed, 1 half-open (probing), 2 open (skipped)",
            labels=["provider", "model"],
        )
        for provider, model in self.board.targets():
            gauge.add_metric([provider, model], STATE_NUMBERS[self.board.state((provider, model))])
        yield gauge


class FailoverMetrics:
    def __init__(self, registry: CollectorRegistry, board: BreakerBoard) -> None:
        registry.register(CircuitCollector(board))
        self.decisions = Counter(
            "bifrost_failover_decisions", "What failover advised after a failed attempt",
            ["action", "kind"], registry=registry,
        )
        self.circuit_opened = Counter(
            "bifrost_failover_circuit_opened", "Times a target's circuit opened",
            ["provider", "model"], registry=registry,
        )
        self.skipped = Counter(
            "bifrost_failover_targets_skipped", "Targets left out of a request's chain",
            ["provider", "model", "why"], registry=registry,
        )
        self.keys_put_aside = Counter(
            "bifrost_failover_keys_put_aside", "Provider API keys put aside",
            ["provider", "reason"], registry=registry,
        )
