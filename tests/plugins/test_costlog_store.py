"""The log stores (SQLite and a real PostgreSQL) and the queries on them: ids, paging, one
request, aggregates with percentiles against a reference computed in Python, spend periods,
retention, schema upgrades."""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from bifrost_costlog import rollup
from bifrost_costlog.columns import NAMES, TABLE, record
from bifrost_costlog.filters import Filters
from bifrost_costlog.queries import LogQueries
from bifrost_costlog.rollup import ERROR_BOUND
from bifrost_costlog.stores import Store, open_store, sqlite_path
from conftest import fresh_postgres

from bifrost_py.storage import numbered

NOW = 1_780_000_000.0   # a fixed "now" (2026-05-28), so periods are deterministic
KEYS = ["alice", "bob", None]
MODELS = ["claude-sonnet-4-20250514", "claude-haiku-4-5-20251001", "gpt-4o"]




@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Any) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/logs.db"
    else:
        url = await fresh_postgres(request.getfixturevalue("postgres_url"))
    opened = open_store(url)
    await opened.open()
    try:
        yield opened
    finally:
        await opened.close()


def make_rows(count: int, seed: int = 1) -> list[dict[str, Any]]:
    """Requests of 1-3 attempts each, over the week before NOW, with every kind of ending."""
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    request = 0
    while len(rows) < count:
        request += 1
        attempts = rng.choice([1, 1, 1, 2, 3])
        start = NOW - rng.uniform(0, 7 * 86400)
        request_ms = rng.uniform(5, 5000)
        key = rng.choice(KEYS)
        for number in range(1, attempts + 1):
            final = number == attempts
            status = rng.choice([200, 200, 200, 429, 529, 402]) if final else rng.choice([529, 503])
            tokens = [rng.randint(0, 5000) for _ in range(4)] if status == 200 or rng.random() < 0.2 else [0, 0, 0, 0]
            unknown = rng.random() < 0.05 and sum(tokens) > 0
            cache_hit = final and status == 200 and rng.random() < 0.15
            routed = final and status == 200 and rng.random() < 0.2
            cost = None if unknown else (0.0 if cache_hit else round(sum(tokens) * 1e-6 * rng.uniform(0.5, 3), 9))
            rows.append({
                "request_id": f"req_{seed}_{request}", "attempt": number, "final": final, "ts": start + number,
                "key_id": key and f"id-{key}", "key_name": key, "team": {"alice": "backend", "bob": "data"}.get(key or ""),
                "customer": "acme" if key else None, "endpoint": "messages", "dialect": "anthropic",
                "provider": rng.choice(["anthropic", "bedrock"]), "provider_type": "anthropic",
                "provider_key": "key-1", "requested_model": rng.choice(MODELS), "model": rng.choice(MODELS),
                "answered_model": None, "served_model": MODELS[request % 3] if request % 4 else None, "status": status,
                "error_type": None if status == 200 else "overloaded_error",
                "error_message": None if status == 200 else "overloaded",
                "refused_by": "governance" if status == 402 else None,
                "input_tokens": tokens[0], "output_tokens": tokens[1],
                "cache_read_tokens": tokens[2], "cache_write_tokens": tokens[3],
                "cost_usd": cost, "price_unknown": unknown,
                "saved_usd": rng.uniform(0, 0.01) if cache_hit else None,
                "requested_cost_usd": (cost or 0) * 2 if routed else None,
                "savings_unpriced": routed and request % 7 == 0,
                "latency_ms": request_ms / attempts, "ttft_ms": None, "upstream_ms": request_ms / attempts - 1,
                "overhead_ms": 1.0, "request_ms": request_ms, "streamed": rng.random() < 0.5, "completed": status == 200,
                "client_disconnected": False, "cache_hit": cache_hit, "fallback": number > 1, "translated": False,
                "stop_reason": "end_turn" if status == 200 else None, "route_rule": "cheap" if routed else None,
                "session_id": rng.choice(["s1", "s2", None]), "client_app": "claude-cli/2.1.3",
                "request_body": None, "response_body": None,
            })
    return rows


async def insert(store: Store, rows: list[dict[str, Any]], batch: int = 97) -> None:
    for i in range(0, len(rows), batch):
        ids = await store.insert([record(r) for r in rows[i:i + batch]])
        for row, row_id in zip(rows[i:i + batch], ids):
            row["id"] = row_id


# ----------------------------------------------------------------------------- reference


def nearest_rank(values: list[float], p: float) -> float | None:
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p * len(ordered))) - 1] if ordered else None


def reference(rows: list[dict[str, Any]], group: Any) -> dict[Any, dict[str, Any]]:
    out: dict[Any, dict[str, Any]] = defaultdict(lambda: defaultdict(float))
    latencies: dict[Any, list[float]] = defaultdict(list)
    for row in rows:
        g = out[group(row)]
        g["attempts"] += 1
        g["requests"] += row["final"]
        g["errors"] += row["final"] and row["status"] >= 400
        for name in ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens"):
            g[name] += row[name]
        g["cost_usd"] += row["cost_usd"] or 0.0
        g["unpriced"] += row["price_unknown"]
        g["cache_hits"] += row["cache_hit"]
        g["saved_by_cache_usd"] += row["saved_usd"] or 0.0
        if row["requested_cost_usd"] is not None:
            g["saved_by_routing_usd"] += row["requested_cost_usd"] - (row["cost_usd"] or 0.0)
        g["fallbacks"] += row["fallback"]
        if row["final"]:
            latencies[group(row)].append(row["request_ms"])
    for key, g in out.items():
        g["p50_ms"] = nearest_rank(latencies[key], 0.5)
        g["p95_ms"] = nearest_rank(latencies[key], 0.95)
    return out


def assert_matches(found: list[dict[str, Any]], expected: dict[Any, dict[str, Any]], *, rollup: bool = False) -> None:
    """Sums as computed in Python; percentiles exact from the log rows, and within the
    documented bound when the rollup answered (its histogram's bin instead of the value)."""
    assert {g["group"] for g in found} == set(expected)
    for g in found:
        want = expected[g["group"]]
        for name, value in want.items():
            if value is None or g[name] is None:
                assert g[name] == value, (g["group"], name)
            elif rollup and name in ("p50_ms", "p95_ms"):
                assert g[name] == pytest.approx(value, rel=ERROR_BOUND + 1e-9, abs=0.5), (g["group"], name)
            else:
                assert g[name] == pytest.approx(value, rel=1e-9, abs=1e-9), (g["group"], name)


# ----------------------------------------------------------------------------- tests


async def test_ids_are_new_and_increasing_and_rows_read_back(store: Store) -> None:
    rows = make_rows(50)
    await insert(store, rows)
    ids = [r["id"] for r in rows]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    queries = LogQueries(store, "UTC")
    back = {r["id"]: r for r in await queries.page(Filters(), cursor=None, limit=1000, bodies=True)}
    for row in rows:
        stored = back[row["id"]]
        for name in NAMES:
            value = row[name]
            if isinstance(value, bool):
                value = int(value)
            if isinstance(value, float):
                assert stored[name] == pytest.approx(value), name
            else:
                assert stored[name] == value, name


async def test_paging_walks_every_row_once_newest_first(store: Store) -> None:
    rows = make_rows(230)
    await insert(store, rows)
    queries = LogQueries(store, "UTC")
    seen: list[int] = []
    cursor = None
    for _ in range(100):
        page = await queries.page(Filters(key="alice"), cursor=cursor, limit=25)
        seen += [r["id"] for r in page]
        if len(page) < 25:
            break
        cursor = page[-1]["id"]
    expected = sorted((r["id"] for r in rows if r["key_name"] == "alice"), reverse=True)
    assert seen == expected


async def test_one_request_in_attempt_order(store: Store) -> None:
    rows = make_rows(120)
    await insert(store, rows)
    multi = next(r["request_id"] for r in rows if r["attempt"] == 3)
    found = await LogQueries(store, "UTC").request(multi)
    assert [r["attempt"] for r in found] == [1, 2, 3]
    assert [r["final"] for r in found] == [0, 0, 1]


@pytest.mark.parametrize("by", ["key", "team", "customer", "model", "provider", "session", "day", "hour"])
async def test_usage_matches_a_reference_computation(store: Store, by: str) -> None:
    rows = make_rows(400, seed=7)
    await insert(store, rows)
    queries = LogQueries(store, "UTC")
    column = {"key": "key_name", "session": "session_id"}.get(by, by)

    def group(row: dict[str, Any]) -> Any:
        if by == "day":
            return datetime.fromtimestamp(row["ts"], UTC).strftime("%Y-%m-%d")
        if by == "hour":
            return datetime.fromtimestamp(row["ts"], UTC).strftime("%Y-%m-%d %H:00")
        return row[column]

    assert_matches(await queries.usage(Filters(), by), reference(rows, group), rollup=True)  # every grouping has a rollup
    since = NOW - 3 * 86400
    subset = [r for r in rows if r["ts"] >= since and r["status"] >= 400]
    assert_matches(await queries.usage(Filters(since=since, status="error"), by), reference(subset, group))


async def test_totals_over_everything(store: Store) -> None:
    rows = make_rows(300, seed=3)
    await insert(store, rows)
    totals = await LogQueries(store, "UTC").totals(Filters())
    expected = reference(rows, lambda row: "")[""]
    assert_matches([totals], {"": expected}, rollup=True)


async def test_days_are_cut_in_the_configured_time_zone(store: Store) -> None:
    zone = ZoneInfo("Asia/Kolkata")  # UTC+05:30, no DST
    rows = make_rows(2)
    rows[0]["ts"] = datetime(2026, 5, 27, 20, 0, tzinfo=ZoneInfo("UTC")).timestamp()   # 01:30 on the 28th in India
    rows[1]["ts"] = datetime(2026, 5, 27, 18, 0, tzinfo=ZoneInfo("UTC")).timestamp()   # 23:30 on the 27th
    await insert(store, rows)
    days = {g["group"] for g in await LogQueries(store, "Asia/Kolkata").usage(Filters(), "day")}
    assert days == {"2026-05-28", "2026-05-27"}
    assert str(zone) == "Asia/Kolkata"


async def test_spend_today_this_week_this_month(store: Store) -> None:
    queries = LogQueries(store, "UTC")
    starts = queries.period_starts(NOW)   # Thursday 2026-05-28: week from Monday the 25th
    rows = make_rows(4)
    for row, ts, cost in zip(rows, [starts["today"] + 60, starts["week"] + 60, starts["month"] + 60, starts["month"] - 60],
                             [1.0, 2.0, 4.0, 8.0]):
        row.update(ts=ts, cost_usd=cost)
    await insert(store, rows)
    assert await queries.spend(Filters(), NOW) == {"today": 1.0, "week": 3.0, "month": 7.0}


async def test_retention_deletes_only_old_rows(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    import bifrost_costlog.stores.postgres as pg
    import bifrost_costlog.stores.sqlite as lite

    monkeypatch.setattr(pg, "PRUNE_CHUNK", 7)
    monkeypatch.setattr(lite, "PRUNE_CHUNK", 7)
    rows = make_rows(100)
    await insert(store, rows)
    cut = NOW - 3 * 86400
    deleted = await store.delete_before(cut)
    assert deleted == sum(r["ts"] < cut for r in rows)
    left = await LogQueries(store, "UTC").page(Filters(), cursor=None, limit=1000)
    assert sorted(r["id"] for r in left) == sorted(r["id"] for r in rows if r["ts"] >= cut)


async def test_a_log_from_before_savings_gains_the_savings_columns(store: Store) -> None:
    """A SQLite or PostgreSQL log written before `served_model`/`savings_unpriced` existed: its
    table and its rollup gain the columns at start-up, old rows count no unpriced saving."""
    old = make_rows(20, seed=5)
    await insert(store, old)
    db = store.db  # type: ignore[attr-defined]
    for statement in (f"ALTER TABLE {TABLE} DROP COLUMN served_model", f"ALTER TABLE {TABLE} DROP COLUMN savings_unpriced",
                      f"ALTER TABLE {rollup.ROLLUP} DROP COLUMN savings_unpriced"):
        await db.execute(statement)
    again = open_store(store.url)  # type: ignore[attr-defined]
    await again.open()  # what a gateway of this version does at start-up
    try:
        new = make_rows(10, seed=6)
        for row in new:
            row["savings_unpriced"] = True
        await insert(again, new)
        queries = LogQueries(again, "UTC")
        assert await queries.rollup_plan(Filters(), "model") is not None
        _, totals = await queries.usage_and_totals(Filters(), "model")
        assert totals["savings_unpriced"] == 10 and totals["attempts"] == 30
        (raw,) = await queries.raw_usage(Filters(), "none")
        assert raw["savings_unpriced"] == 10
        back = await queries.request(new[0]["request_id"])
        assert back[0]["served_model"] == new[0]["served_model"]
    finally:
        await again.close()


async def test_an_older_sqlite_table_gains_new_columns(tmp_path: Any) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY AUTOINCREMENT, request_id TEXT, ts REAL)")
        db.execute(f"INSERT INTO {TABLE} (request_id, ts) VALUES ('req_old', 1.0)")
    store = open_store(f"sqlite:///{path}")
    await store.open()
    try:
        await store.insert([record(make_rows(1)[0])])
        found = await LogQueries(store, "UTC").request("req_old")
        assert found and found[0]["session_id"] is None
    finally:
        await store.close()


async def test_postgres_instances_starting_together_create_the_schema_once(postgres_url: str) -> None:
    url = await fresh_postgres(postgres_url)
    stores = [open_store(url) for _ in range(4)]
    await asyncio.gather(*(s.open() for s in stores))
    try:
        ids = await asyncio.gather(*(s.insert([record(r) for r in make_rows(10, seed=i)]) for i, s in enumerate(stores)))
        flat = [i for batch in ids for i in batch]
        assert len(set(flat)) == len(flat) == sum(len(b) for b in ids)
    finally:
        await asyncio.gather(*(s.close() for s in stores))


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///bifrost.db") == "bifrost.db"
    assert sqlite_path("sqlite:////var/lib/bifrost/x.db") == "/var/lib/bifrost/x.db"
    with pytest.raises(ValueError):
        sqlite_path("sqlite://")


def test_placeholders_are_numbered_for_postgres() -> None:
    assert numbered("a = ? AND (b = ? OR c = ?)") == "a = $1 AND (b = $2 OR c = $3)"
