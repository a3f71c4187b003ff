"""Routing's Prometheus metrics, on the gateway's registry (served at /metrics).

Label children are cached per (rule, provider), so counting a decision is a dict lookup and an
increment, not a `.labels()` call per request. Labels never carry a model name: clients choose
those, and every new label value is a new time series.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge


class RoutingMetrics:
    def __init__(self, registry: CollectorRegistry, remembered: Callable[[], int]) -> None:
        self.decisions = Counter(
            "bifrost_routing_decisions", "Routing decisions, by what decided and the chosen provider",
            ["rule", "provider"], registry=registry,
        )
        self.sessions = Counter(
            "bifrost_routing_session_placements",
            "Requests of client sessions: kept on their target, placed for the first time, or moved",
            ["placement"], registry=registry,
        )
        gauge = Gauge("bifrost_routing_sessions_remembered", "Client sessions whose placement is remembered",
                      registry=registry)
        gauge.set_function(remembered)
        self._decision_children: dict[tuple[str, str], Counter] = {}
        self._session_children: dict[str, Counter] = {}

    def decided(self, rule: str | None, provider: str, placement: str | None) -> None:
        key = (rule or "none", provider)
        child = self._decision_children.get(key)
        if child is None:
            child = self._decision_children[key] = self.decisions.labels(*key)
        child.inc()
        if placement is not None:
            session_child = self._session_children.get(placement)
            if session_child is None:
                session_child = self._session_children[placement] = self.sessions.labels(placement)
            session_child.inc()
