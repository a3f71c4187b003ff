"""Savings, honestly computed (issue 15): for any mix of plain, routed, cached, failed-over and
Bedrock-mapped requests, some of them for models with no known price, the spend and the savings
that /api/usage, the dashboard and `bifrost-py report` show are exactly the sums of the log rows,
and every row is priced at what was served."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from bifrost_costlog.columns import record
from bifrost_costlog.filters import Filters
from bifrost_costlog.present import Presenter
from bifrost_costlog.queries import LogQueries
from bifrost_costlog.report import render
from bifrost_costlog.rows import RowBuilder
from bifrost_costlog.settings import Settings
from bifrost_costlog.stores import open_store
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.context import Attempt, Call, Outcome, Reply, Target, Usage
from bifrost_py.errors import UpstreamError
from bifrost_py.pricing import PriceBook

PRICES = PriceBook()
SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"
OPUS = "claude-opus-4-1-20250805"
BEDROCK_SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"
UNKNOWN = "house-model-v2"
KINDS = ("plain", "routed", "cached", "failed_over", "bedrock_mapped", "unknown_requested", "unknown_served",
         "cached_unknown")

request = st.tuples(
    st.sampled_from(KINDS),
    st.integers(0, 200_000),  # input tokens
    st.integers(0, 20_000),  # output tokens
    st.integers(0, 50_000),  # cache reads
)


def builder() -> RowBuilder:
    return RowBuilder(PRICES, Settings(), frozenset({"anthropic", "bedrock"}))


def attempt(call: Call, number: int, provider: str, model: str, served: str, outcome: Outcome) -> Attempt:
    made = Attempt(call=call, target=Target(provider, model), number=number, provider_type=provider)
    made.upstream_model = served
    made.outcome = outcome
    made.started, made.ended, made.upstream_seconds = 100.0, 100.5, 0.4
    call.attempts.append(made)
    return made


def request_rows(n: int, kind: str, tokens_in: int, tokens_out: int, reads: int) -> list[dict[str, Any]]:
    """The rows the cost log writes for one request of this kind."""
    requested = {"unknown_requested": UNKNOWN, "bedrock_mapped": OPUS, "cached_unknown": UNKNOWN}.get(kind, SONNET)
    call = Call(request_id=f"req_{n}", dialect="anthropic", endpoint="messages",
                headers=CIMultiDictProxy(CIMultiDict()), model=requested)
    usage = Usage(tokens_in, tokens_out, reads, 0)
    ok = Outcome(status=200, usage=usage, completed=True)
    rows = []
    if kind == "failed_over":
        failed = Outcome(status=529, error=UpstreamError("overloaded", status=529, error_type="overloaded_error"))
        rows.append(builder().attempt_row(attempt(call, 1, "anthropic", SONNET, SONNET, failed)))
        rows.append(builder().attempt_row(attempt(call, 2, "bedrock", HAIKU, HAIKU, ok)))
    elif kind in ("cached", "cached_unknown"):
        message = {"model": requested, "usage": {"input_tokens": tokens_in, "output_tokens": tokens_out,
                                                 "cache_read_input_tokens": reads}}
        cached = Outcome(status=200, reply=Reply(message, source="cache"), completed=True)
        rows.append(builder().attempt_row(attempt(call, 1, "anthropic", requested, requested, cached)))
    elif kind == "bedrock_mapped":
        rows.append(builder().attempt_row(attempt(call, 1, "bedrock", OPUS, BEDROCK_SONNET, ok)))
    elif kind == "unknown_served":
        rows.append(builder().attempt_row(attempt(call, 1, "anthropic", UNKNOWN, UNKNOWN, ok)))
    else:
        model = SONNET if kind == "plain" else HAIKU
        rows.append(builder().attempt_row(attempt(call, 1, "anthropic", model, model, ok)))
    finished = builder().finish(call, rows)
    for row in finished:
        row["ts"] = 1_780_000_000.0 + n
    return finished


def expected(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "cost_usd": sum(r["cost_usd"] or 0.0 for r in rows),
        "saved_by_cache_usd": sum(r["saved_usd"] or 0.0 for r in rows),
        "saved_by_routing_usd": sum(r["requested_cost_usd"] - r["cost_usd"] for r in rows
                                    if r["requested_cost_usd"] is not None),
        "unpriced": sum(bool(r["price_unknown"]) for r in rows),
        "savings_unpriced": sum(bool(r["savings_unpriced"]) for r in rows),
        "cache_hits": sum(bool(r["cache_hit"]) for r in rows),
    }


def assert_totals(found: dict[str, Any], want: dict[str, Any], where: str) -> None:
    for name, value in want.items():
        assert found[name] == pytest.approx(value, rel=1e-9, abs=1e-12), (where, name)


def check_rows(rows: list[dict[str, Any]]) -> None:
    """Each row is priced at what was served, and never at another model's price."""
    for row in rows:
        if row["requested_cost_usd"] is not None:
            assert row["cost_usd"] is not None and not row["savings_unpriced"]
        if row["savings_unpriced"]:
            assert row["requested_cost_usd"] is None and row["saved_usd"] is None
        if row["cache_hit"]:
            assert row["cost_usd"] == 0.0 and row["input_tokens"] == 0
        if row["served_model"] == BEDROCK_SONNET and row["input_tokens"] + row["output_tokens"]:
            sonnet = PRICES.price(BEDROCK_SONNET, "bedrock")
            assert sonnet is not None
            assert row["cost_usd"] == pytest.approx(
                sonnet.cost(Usage(row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], 0)))
        if row["served_model"] == UNKNOWN and row["input_tokens"] + row["output_tokens"] + row["cache_read_tokens"]:
            assert row["cost_usd"] is None and row["price_unknown"]


async def read_back(rows: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    store = open_store("sqlite:///:memory:")
    await store.open()
    try:
        await store.insert([record(r) for r in rows])
        queries = LogQueries(store, "UTC")
        assert await queries.rollup_plan(Filters(), "model") is not None  # the rollup answers these
        groups, totals = await queries.usage_and_totals(Filters(), "model")
        (raw,) = await queries.raw_usage(Filters(), "none")  # and the rows, without it
        return totals, raw, groups
    finally:
        await store.close()


@settings(max_examples=60, deadline=None)
@given(st.lists(request, min_size=1, max_size=25))
def test_spend_and_savings_are_the_sums_of_the_rows(requests: list[tuple[str, int, int, int]]) -> None:
    rows = [row for n, spec in enumerate(requests) for row in request_rows(n, *spec)]
    check_rows(rows)
    want = expected(rows)
    totals, raw, groups = asyncio.run(read_back(rows))
    assert_totals(totals, want, "rollup")
    assert_totals(raw, want, "rows")
    for name in ("cost_usd", "saved_by_cache_usd", "saved_by_routing_usd"):  # the groups add up to the total
        assert sum(g[name] for g in groups) == pytest.approx(want[name], rel=1e-9, abs=1e-12)
    presenter = Presenter("INR", 84.0, lambda usd: f"₹{usd * 84:,.2f}")
    document = json.loads(render(groups, totals, by="model", since=0.0, until=1.0, fmt="json", presenter=presenter,
                                 top=1))
    shown = document["totals"]
    assert_totals(shown, want, "report")
    saved = want["saved_by_cache_usd"] + want["saved_by_routing_usd"]
    assert shown["saved_total_usd"] == pytest.approx(saved, rel=1e-9, abs=1e-12)
    assert shown["without_gateway_usd"] == pytest.approx(want["cost_usd"] + saved, rel=1e-9, abs=1e-12)
    listed = document["groups"] + ([document["others"]] if document["others"] else [])
    assert sum(g["cost_usd"] for g in listed) == pytest.approx(want["cost_usd"], rel=1e-9, abs=1e-12)


def test_a_bedrock_mapped_opus_request_is_priced_at_sonnet_and_saves_the_difference() -> None:
    """The record from issue 15: answered by Sonnet, it must not be logged at Opus rates."""
    (row,) = request_rows(1, "bedrock_mapped", 100_000, 4_000, 0)
    assert row["served_model"] == BEDROCK_SONNET
    assert row["cost_usd"] == pytest.approx((100_000 * 3 + 4_000 * 15) / 1e6)
    assert row["requested_cost_usd"] == pytest.approx((100_000 * 15 + 4_000 * 75) / 1e6)
