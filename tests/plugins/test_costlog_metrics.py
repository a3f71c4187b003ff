"""Prometheus metrics: what one request's rows add, and label values kept bounded."""

from __future__ import annotations

from typing import Any

from bifrost_costlog.metrics import MAX_LABEL_LENGTH, OTHER, LabelCap, Metrics
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, generate_latest


def row(**fields: Any) -> dict[str, Any]:
    base = {
        "attempt": 1, "final": True, "provider": "anthropic", "model": "claude-sonnet-4-20250514", "key_name": "alice",
        "status": 200, "error_type": None, "input_tokens": 100, "output_tokens": 20, "cache_read_tokens": 0,
        "cache_write_tokens": 0, "cost_usd": 0.0006, "price_unknown": False, "ttft_ms": None, "cache_hit": False,
        "saved_usd": None, "fallback": False, "overhead_ms": 0.4, "request_ms": 250.0,
    }
    base.update(fields)
    return base


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


def test_a_request_with_a_fallback() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, 200)
    failed = row(final=False, status=529, error_type="overloaded_error", input_tokens=0, output_tokens=0, cost_usd=0.0, overhead_ms=0.3)
    answered = row(attempt=2, provider="bedrock", fallback=True, ttft_ms=120.0, overhead_ms=0.5)
    metrics.record([failed, answered])
    assert value(registry, "bifrost_requests_total", provider="bedrock", model="claude-sonnet-4-20250514", key="alice", status="200") == 1
    assert value(registry, "bifrost_errors_total", provider="anthropic", model="claude-sonnet-4-20250514", key="alice",
                 status="529", type="overloaded_error") == 1
    assert value(registry, "bifrost_fallbacks_total", provider="bedrock", model="claude-sonnet-4-20250514") == 1
    assert value(registry, "bifrost_tokens_total", provider="bedrock", model="claude-sonnet-4-20250514", key="alice", kind="input") == 100
    assert value(registry, "bifrost_cost_usd_total", provider="bedrock", model="claude-sonnet-4-20250514", key="alice") == 0.0006
    assert value(registry, "bifrost_time_to_first_token_seconds_count", provider="bedrock", model="claude-sonnet-4-20250514") == 1
    assert value(registry, "bifrost_request_duration_seconds_sum", provider="bedrock", model="claude-sonnet-4-20250514") == 0.25
    assert value(registry, "bifrost_gateway_overhead_seconds_count") == 1
    assert abs(value(registry, "bifrost_gateway_overhead_seconds_sum") - 0.0008) < 1e-12


def test_refusals_cache_hits_and_unknown_prices() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, 200)
    metrics.record([row(status=402, error_type="billing_error", input_tokens=0, output_tokens=0, cost_usd=0.0)])
    metrics.record([row(cache_hit=True, saved_usd=0.01, input_tokens=0, output_tokens=0, cost_usd=0.0)])
    metrics.record([row(model="house-model", cost_usd=None, price_unknown=True)])
    assert value(registry, "bifrost_budget_refusals_total", key="alice") == 1
    assert value(registry, "bifrost_cache_hits_total", model="claude-sonnet-4-20250514", key="alice") == 1
    assert value(registry, "bifrost_cache_saved_usd_total", model="claude-sonnet-4-20250514", key="alice") == 0.01
    assert value(registry, "bifrost_unpriced_requests_total", provider="anthropic", model="house-model") == 1
    assert value(registry, "bifrost_cost_usd_total", provider="anthropic", model="house-model", key="alice") == 0


def test_request_without_attempt_counts_its_whole_time_as_overhead() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, 200)
    metrics.record([row(attempt=0, provider=None, key_name=None, status=401, error_type="authentication_error",
                        input_tokens=0, output_tokens=0, cost_usd=0.0, overhead_ms=2.0, request_ms=2.0)])
    assert value(registry, "bifrost_requests_total", provider="none", model="none", key="none", status="401") == 1
    assert value(registry, "bifrost_errors_total", provider="none", model="none", key="none", status="401",
                 type="authentication_error") == 1
    assert value(registry, "bifrost_gateway_overhead_seconds_sum") == 0.002


def test_key_and_model_labels_are_capped() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, 3)
    for i in range(10):
        metrics.record([row(key_name=f"key-{i}", model=f"model-{i}")])
    keys = {s.labels["key"] for m in registry.collect() if m.name == "bifrost_requests" for s in m.samples}
    assert keys == {"key-0", "key-1", "key-2", OTHER}
    assert value(registry, "bifrost_requests_total", provider="anthropic", model=OTHER, key=OTHER, status="200") == 7


@given(st.lists(st.one_of(st.none(), st.text(max_size=4)), max_size=80), st.integers(1, 10))
def test_label_cap(values: list[str | None], limit: int) -> None:
    cap = LabelCap(limit)
    out = [cap(v) for v in values]
    kept = {v for v in out if v not in (OTHER, "none")}
    assert len(kept - {OTHER}) <= limit
    first = []
    for v in values:
        if v is not None and v not in first and len(first) < limit:
            first.append(v)
    for v, shown in zip(values, out):
        if v is None:
            assert shown == "none"
        elif v in first:
            assert shown == v
        else:
            assert shown == OTHER


def test_a_label_value_longer_than_the_limit_is_other() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, 200)
    metrics.record([row(model="m" * (MAX_LABEL_LENGTH + 1))])
    metrics.record([row(model="m" * MAX_LABEL_LENGTH)])
    assert value(registry, "bifrost_requests_total", provider="anthropic", model=OTHER, key="alice", status="200") == 1
    assert value(registry, "bifrost_requests_total", provider="anthropic", model="m" * MAX_LABEL_LENGTH, key="alice",
                 status="200") == 1


def test_requests_without_an_attempt_do_not_grow_the_exposition() -> None:
    """Ten thousand unauthenticated requests, each naming another (huge) model, add no label
    value: /metrics is as large after them as after the first."""
    registry = CollectorRegistry()
    metrics = Metrics(registry, 200)

    def refused(i: int) -> dict[str, Any]:
        return row(attempt=0, provider=None, key_name=None, status=401, error_type="authentication_error",
                   model=f"model-{i}-" + "x" * (i % 3) * 100_000, input_tokens=0, output_tokens=0, cost_usd=0.0)

    metrics.record([refused(0)])
    size = len(generate_latest(registry))
    for i in range(1, 10_000):
        metrics.record([refused(i)])
    assert len(generate_latest(registry)) <= size + 100  # only counts and sums grew a few digits


def test_upstream_error_types_are_capped() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry, 200)
    for i in range(200):
        metrics.record([row(status=500, error_type=f"weird_{i}", input_tokens=0, output_tokens=0, cost_usd=0.0)])
    types = {s.labels["type"] for m in registry.collect() if m.name == "bifrost_errors" for s in m.samples}
    assert OTHER in types and len(types) <= 51
