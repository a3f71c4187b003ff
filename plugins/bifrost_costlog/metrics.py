"""Prometheus metrics of the request log, on the gateway's own registry (served at /metrics).

The per-request counters and histograms are plain dicts behind one custom collector: recording a
request is a few dict updates on the event loop (about a third of what prometheus_client's
locked `labels().inc()` costs; bench/costlog_writer.py measures it), and prometheus_client still
renders the exposition format when /metrics is scraped. The writer's few counters are ordinary
prometheus_client metrics.

Labels are bounded: provider names come from the config and statuses are HTTP codes, but key
names, model names and upstream error types come from users and providers, so each keeps its
first `max_label_values` distinct values (error types: ERROR_TYPES) of at most MAX_LABEL_LENGTH
characters and reports the rest as "other". A request that never reached an attempt (bad JSON,
no key, unknown model, too large) has model "none": what it asked for was never checked, and an
unauthenticated caller must not be able to mint label values. Its key label is that of the
caller a plugin authenticated ("none" without one), which comes from the configuration.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector

from .rows import Row

OTHER = "other"
NONE = "none"
LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
TOKEN_KINDS = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cache_read", "cache_read_tokens"),
    ("cache_write", "cache_write_tokens"),
)
PMKS = ("provider", "model", "key", "status")
PM = ("provider", "model")
TOKEN_COLUMNS = tuple(column for _, column in TOKEN_KINDS)
MAX_LABEL_LENGTH = 128
MEMO_SIZE = 4096  # combinations of provider, model and key whose labels are kept
ERROR_TYPES = 50  # distinct error types (the gateway has a dozen; upstreams may send any)


class LabelCap:
    """The first `limit` distinct values of at most `length` characters pass; later ones, and
    longer ones, become "other"."""

    __slots__ = ("length", "limit", "seen")

    def __init__(self, limit: int, length: int = MAX_LABEL_LENGTH) -> None:
        self.seen: set[str] = set()
        self.limit = limit
        self.length = length

    def __call__(self, value: str | None) -> str:
        if value is None:
            return NONE
        if value in self.seen:
            return value
        if len(self.seen) < self.limit and len(value) <= self.length:
            self.seen.add(value)
            return value
        return OTHER


class Counters:
    """One counter family: label values -> total."""

    __slots__ = ("doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...]) -> None:
        self.name, self.doc, self.labels = name, doc, labels
        self.values: dict[tuple[str, ...], float] = {}

    def inc(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        values = self.values
        values[key] = values.get(key, 0.0) + amount

    def family(self) -> Metric:
        family = CounterMetricFamily(self.name, self.doc, labels=self.labels)
        for key, value in self.values.items():
            family.add_metric(key, value)
        return family


class Histograms:
    """One histogram family: label values -> [count per bucket..., count above all, sum]."""

    __slots__ = ("bounds", "doc", "labels", "name", "values")

    def __init__(self, name: str, doc: str, labels: tuple[str, ...], buckets: tuple[float, ...]) -> None:
        self.name, self.doc, self.labels, self.bounds = name, doc, labels, buckets
        self.values: dict[tuple[str, ...], list[float]] = {}

    def observe(self, key: tuple[str, ...], value: float) -> None:
        slot = self.values.get(key)
        if slot is None:
            slot = self.values[key] = [0.0] * (len(self.bounds) + 2)
        slot[bisect_left(self.bounds, value)] += 1  # first bucket whose bound is >= value ("le")
        slot[-1] += value

    def family(self) -> Metric:
        family = HistogramMetricFamily(self.name, self.doc, labels=self.labels)
        for key, slot in self.values.items():
            buckets, running = [], 0.0
            for bound, count in zip((*map(str, self.bounds), "+Inf"), slot[:-1]):
                running += count
                buckets.append((bound, running))
            family.add_metric(key, buckets, slot[-1])
        return family


class RequestMetrics(Collector):
    """The per-request families, collected at scrape time."""

    def __init__(self) -> None:
        self.requests = Counters(
            "bifrost_requests",
            "Requests, by the provider and model that gave the final answer and its status",
            PMKS,
        )
        self.errors = Counters(
            "bifrost_errors",
            "Attempts that ended in an error (fallen-back-from attempts included)",
            (*PMKS, "type"),
        )
        self.tokens = Counters(
            "bifrost_tokens", "Tokens consumed from providers", ("provider", "model", "key", "kind")
        )
        self.cost = Counters(
            "bifrost_cost_usd", "Cost of the tokens consumed, USD", ("provider", "model", "key")
        )
        self.unpriced = Counters(
            "bifrost_unpriced_requests",
            "Attempts that used tokens of a model with no known price (their cost is not counted)",
            PM,
        )
        self.cache_hits = Counters("bifrost_cache_hits", "Requests answered from the cache", ("model", "key"))
        self.cache_saved = Counters(
            "bifrost_cache_saved_usd", "What the cache hits would have cost, USD", ("model", "key")
        )
        self.fallbacks = Counters(
            "bifrost_fallbacks", "Attempts after the first (retries and fallbacks), by the target tried", PM
        )
        self.budget_refusals = Counters(
            "bifrost_budget_refusals",
            "Requests or attempts refused because a budget was exhausted (402)",
            ("key",),
        )
        self.latency = Histograms(
            "bifrost_request_duration_seconds",
            "Whole request as the client saw it (all attempts)",
            PM,
            LATENCY_BUCKETS,
        )
        self.ttft = Histograms(
            "bifrost_time_to_first_token_seconds",
            "Streams: from the attempt's start to its first event",
            PM,
            TTFT_BUCKETS,
        )
        self.overhead = Histograms(
            "bifrost_gateway_overhead_seconds",
            "Time per request spent in the gateway rather than waiting on a provider",
            (),
            OVERHEAD_BUCKETS,
        )
        self.families: tuple[Counters | Histograms, ...] = (
            self.requests,
            self.errors,
            self.tokens,
            self.cost,
            self.unpriced,
            self.cache_hits,
            self.cache_saved,
            self.fallbacks,
            self.budget_refusals,
            self.latency,
            self.ttft,
            self.overhead,
        )

    def collect(self) -> Iterator[Metric]:
        for family in self.families:
            yield family.family()


class Metrics:
    """Every metric the cost log exports; `record()` takes one request's finished rows."""

    def __init__(self, registry: CollectorRegistry, max_label_values: int) -> None:
        self.key = LabelCap(max_label_values)
        self.model = LabelCap(max_label_values)
        self.error_type = LabelCap(ERROR_TYPES)
        self._memo: dict[tuple[Any, ...], Labels] = {}
        self.per_request = RequestMetrics()
        registry.register(self.per_request)
        self.dropped = Counter(
            "bifrost_log_rows_dropped",
            "Log rows dropped because the queue to the store was full",
            registry=registry,
        )
        self.written = Counter("bifrost_log_rows_written", "Log rows written to the store", registry=registry)
        self.write_errors = Counter(
            "bifrost_log_write_errors",
            "Failed writes to the log store (retried when the store is down; split up when it refuses a row)",
            registry=registry,
        )
        rejected = Counter(
            "bifrost_log_rows_rejected",
            "Log rows the store refused as they were: written with their text escaped, or dropped",
            ("outcome",),
            registry=registry,
        )
        self.rows_escaped = rejected.labels("escaped")
        self.rows_unwritable = rejected.labels("dropped")
        self.queue_depth = Gauge(
            "bifrost_log_queue_rows", "Log rows waiting for the writer", registry=registry
        )

    def record(self, rows: list[Row]) -> None:
        """One request's rows (the last is final). Runs on the request path: keep it cheap (the
        label values of a provider, model and key, and the keys built of them, are worked out
        once: `_labels`)."""
        m = self.per_request
        overhead = 0.0
        for row in rows:
            labels = self._attempt(m, row)
            overhead += row["overhead_ms"] or 0.0
        final = rows[-1]   # (`labels` are the final row's)
        if final["attempt"] == 0:
            overhead = final["request_ms"]
        status = final["status"]
        key = labels.requests.get(status)
        if key is None:
            key = labels.requests[status] = (*labels.pmk, str(status))
        values = m.requests.values
        values[key] = values.get(key, 0.0) + 1.0
        m.latency.observe(labels.pm, final["request_ms"] / 1000.0)
        m.overhead.observe((), overhead / 1000.0)

    def _labels(self, row: Row) -> Labels:
        """The labels of a row's provider, model ("none" for a request that never reached an
        attempt) and key. A LabelCap's answer for a value never changes once given, so they are
        kept per combination (bounded: the combinations come from clients)."""
        model = None if row["attempt"] == 0 else row["model"]
        memo_key = (row["provider"], model, row["key_name"], model is None)
        found = self._memo.get(memo_key)
        if found is None:
            found = Labels(row["provider"] or NONE, NONE if model is None else self.model(model),
                           self.key(row["key_name"]))
            if len(self._memo) < MEMO_SIZE:
                self._memo[memo_key] = found
        return found

    def _attempt(self, m: RequestMetrics, row: Row) -> Labels:
        labels = self._labels(row)
        if row["error_type"] is not None:
            provider, model, key = labels.pmk
            m.errors.inc((provider, model, key, str(row["status"]), self.error_type(row["error_type"])))
            if row["status"] == 402:
                m.budget_refusals.inc((labels.key,))
        tokens = m.tokens.values
        for column, label in zip(TOKEN_COLUMNS, labels.tokens):
            amount = row[column]
            if amount:
                tokens[label] = tokens.get(label, 0.0) + amount
        if row["cost_usd"]:
            m.cost.inc(labels.pmk, row["cost_usd"])
        if row["price_unknown"]:
            m.unpriced.inc(labels.pm)
        if row["ttft_ms"] is not None:
            m.ttft.observe(labels.pm, row["ttft_ms"] / 1000.0)
        if row["cache_hit"]:
            m.cache_hits.inc(labels.mk)
            if row["saved_usd"]:
                m.cache_saved.inc(labels.mk, row["saved_usd"])
        if row["fallback"]:
            m.fallbacks.inc(labels.pm)
        return labels


class Labels:
    """The label values of one provider, model and key, and the label keys of each family."""

    __slots__ = ("key", "mk", "pm", "pmk", "requests", "tokens")

    def __init__(self, provider: str, model: str, key: str) -> None:
        self.key = key
        self.pm = (provider, model)
        self.pmk = (provider, model, key)
        self.mk = (model, key)
        self.tokens = tuple((provider, model, key, kind) for kind, _ in TOKEN_KINDS)
        self.requests: dict[Any, tuple[str, ...]] = {}   # by status
