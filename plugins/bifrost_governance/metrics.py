"""Governance's Prometheus series, on the gateway's registry (served at /metrics)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class Metrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._refusals = Counter(
            "bifrost_governance_refusals", "Requests or attempts refused by governance",
            ["tier", "reason"], registry=registry,
        )
        self._overruns = Counter(
            "bifrost_governance_overruns",
            "Attempts that cost more than the worst case held for them (prompt under-estimated, "
            "or no max_tokens and a longer answer than default_max_tokens)",
            registry=registry,
        )
        self._unpriced = Counter(
            "bifrost_governance_unpriced", "Budgeted attempts for a model with no known price",
            registry=registry,
        )
        self._expired = Counter(
            "bifrost_governance_expired_holds",
            "Holds that outlived their attempt (never settled, or older than hold_max_age), charged "
            "at what they held; nonzero means a bug somewhere settles too little",
            registry=registry,
        )
        self._rebuilds = Counter(
            "bifrost_governance_redis_rebuilds",
            "Times this instance gave a Redis that had lost its data the budgets' spend from the database",
            registry=registry,
        )

    def refused(self, tier: str, reason: str) -> None:
        self._refusals.labels(tier, reason).inc()

    def overrun(self) -> None:
        self._overruns.inc()

    def unpriced(self) -> None:
        self._unpriced.inc()

    def expired(self, count: int) -> None:
        self._expired.inc(count)

    def rebuilt(self) -> None:
        self._rebuilds.inc()
