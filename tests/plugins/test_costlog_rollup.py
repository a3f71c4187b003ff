"""The usage rollup against the log rows it sums, on SQLite and a real PostgreSQL: the same
requests, tokens and money for random rows, filters and time ranges (rollup plus the log rows at
the ends of a range vs. the log rows alone), percentiles within the documented bound, the build
of an older database's rollup while rows keep coming, and retention cutting inside a half hour.
The same for the sessions rollup (by session and client app, with each session's key, team,
client and first/last time seen)."""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
from typing import Any

import pytest
from bifrost_costlog import rollup
from bifrost_costlog.columns import NAMES, TABLE, record
from bifrost_costlog.filters import Filters
from bifrost_costlog.queries import LogQueries, shape_for
from bifrost_costlog.stores import Store, open_store
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.clients import client_name

NOW = 1_780_000_000.0
SPAN = 3 * 86400.0  # rows over the three days before NOW
GROUPS = ["key", "team", "customer", "model", "provider", "none", "day", "hour", "session", "client"]
NAMES_OF = {"key": ["alice", "bob", "", None], "team": ["backend", "data", None], "customer": ["acme", None],
            "provider": ["anthropic", "bedrock", None],
            "model": ["claude-sonnet-4-20250514", "claude-haiku-4-5-20251001", "gpt-4o", None],
            "session": ["s-1", "s-2", "0b6c7d", "", None]}
CLIENT_APPS = ["claude-cli/2.1.3", "claude-cli/2.0.1 (external, cli)", "codex_exec/0.171.0", "GeminiCLI-tui/0.61.0",
               "OpenAI/Python 1.99", "curl/8.5", "", None]
CLIENTS = ["claude-code", "codex", "gemini-cli", "openai-sdk", "curl/8.5", ""]


def random_rows(count: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(count):
        final = rng.random() < 0.8
        status = rng.choice([200, 200, 200, 429, 529, None])
        unknown = rng.random() < 0.05
        cost = None if unknown else rng.choice([0.0, round(rng.uniform(0, 0.5), 9), rng.uniform(0, 2)])
        rows.append({
            "request_id": f"req_{seed}_{i}", "attempt": 1, "final": final,
            "ts": NOW - rng.uniform(0, SPAN) if rng.random() > 0.01 else None,
            "key_name": rng.choice(NAMES_OF["key"]), "team": rng.choice(NAMES_OF["team"]),
            "customer": rng.choice(NAMES_OF["customer"]), "provider": rng.choice(NAMES_OF["provider"]),
            "model": rng.choice(NAMES_OF["model"]), "requested_model": rng.choice(NAMES_OF["model"]),
            "answered_model": rng.choice(NAMES_OF["model"]), "status": status,
            "input_tokens": rng.choice([None, 0, rng.randint(0, 100_000)]), "output_tokens": rng.randint(0, 5000),
            "cache_read_tokens": rng.randint(0, 50_000), "cache_write_tokens": rng.choice([None, rng.randint(0, 9000)]),
            "cost_usd": cost, "price_unknown": unknown, "saved_usd": rng.choice([None, rng.uniform(0, 0.1)]),
            "requested_cost_usd": rng.choice([None, rng.uniform(0, 1)]),
            "savings_unpriced": rng.random() < 0.1,
            "request_ms": rng.choice([0.0, 0.4, rng.lognormvariate(7, 1.5), rng.uniform(1, 200_000)]),
            "cache_hit": rng.random() < 0.1, "fallback": rng.random() < 0.1,
            "session_id": rng.choice(NAMES_OF["session"]), "client_app": rng.choice(CLIENT_APPS),
        })
    return rows


async def insert(store: Store, rows: list[dict[str, Any]], batch: int = 37) -> None:
    for i in range(0, len(rows), batch):
        await store.insert([record(r) for r in rows[i:i + batch]])


async def drop(store: Store, log: bool) -> None:
    """Drop the rollup (and empty the log) through the store's own connections."""
    statements = [*(f"DROP TABLE {shape.table}" for shape in rollup.SHAPES), f"DROP TABLE {rollup.STATE}",
                  *([f"DELETE FROM {TABLE}"] if log else [])]
    for statement in statements:
        await store.db.execute(statement)  # type: ignore[attr-defined]


async def fresh(url: str, zone: str) -> Store:
    """An empty log whose rollup is made for `zone` (hypothesis reuses the database)."""
    store = open_store(url)
    await store.open()
    await drop(store, log=True)
    await store.close()
    store = open_store(url, zone)
    await store.open()
    return store


def assert_same(fast: dict[str, Any], exact: dict[str, Any], where: Any) -> None:
    """Counts and tokens equal, money equal to rounding, percentiles within the bound."""
    for name in ("attempts", "requests", "errors", "input_tokens", "output_tokens", "cache_read_tokens",
                 "cache_write_tokens", "unpriced", "cache_hits", "fallbacks", "savings_unpriced"):
        assert fast[name] == exact[name], (where, name)
    for name in ("cost_usd", "saved_by_cache_usd", "saved_by_routing_usd"):
        assert fast[name] == pytest.approx(exact[name], rel=1e-9, abs=1e-9), (where, name)
    for name in ("p50_ms", "p95_ms"):
        assert within_bound(fast[name], exact[name]), (where, name, fast[name], exact[name])


def within_bound(estimate: float | None, value: float | None) -> bool:
    if value is None or estimate is None:
        return estimate == value
    if value < 1.0:
        return abs(estimate - value) <= 0.5
    if value >= rollup.TOP_MS:
        return estimate >= rollup.TOP_MS
    return abs(estimate - value) <= rollup.ERROR_BOUND * value * (1 + 1e-9)


async def compare(queries: LogQueries, filters: Filters, by: str, pruned_at: float | None = None) -> None:
    """The rollup's answer (it must be the one used) against the log rows'."""
    plan = await queries.rollup_plan(filters, by)
    assert plan is not None
    if by in ("session", "client") or filters.session is not None or filters.client is not None:
        assert plan.shape is rollup.SESSIONS
    groups, totals = await queries.usage_and_totals(filters, by)
    exact = await queries.raw_usage(filters, by)
    exact_totals = await queries.raw_usage(filters, "none")
    assert [g["group"] for g in groups] == [g["group"] for g in exact] or by not in ("day", "hour")
    assert {g["group"] for g in groups} == {g["group"] for g in exact}
    by_group = {g["group"]: g for g in exact}
    for group in groups:
        assert_same(group, by_group[group["group"]], (by, group["group"]))
    if exact_totals:
        assert_same(totals, exact_totals[0], (by, "totals"))
    else:
        assert totals["attempts"] == 0 and totals["cost_usd"] == 0.0 and totals["p50_ms"] is None
    if by == "session":
        assert_details(groups, await raw_details(queries, filters), pruned_at)


async def raw_details(queries: LogQueries, filters: Filters) -> dict[Any, dict[str, Any]]:
    """Each session's key(s), team(s), client app(s) and first/last time seen, from the rows in Python."""
    where, params = filters.where()
    rows = await queries.store.fetch(f"SELECT session_id, key_name, team, client_app, ts FROM {TABLE} WHERE {where}",
                                     params)
    found: dict[Any, dict[str, Any]] = {}
    for row in rows:
        seen = found.setdefault(row["session_id"], {"key": set(), "team": set(), "client": set(), "ts": []})
        for name, value in (("key", row["key_name"]), ("team", row["team"]), ("client", client_name(row["client_app"]))):
            if value:
                seen[name].add(value)
        if row["ts"] is not None:
            seen["ts"].append(row["ts"])
    return {session: {"key": ", ".join(sorted(seen["key"])) or None, "team": ", ".join(sorted(seen["team"])) or None,
                      "client": ", ".join(sorted(seen["client"])) or None,
                      "first_ts": min(seen["ts"], default=None), "last_ts": max(seen["ts"], default=None)}
            for session, seen in found.items()}


def assert_details(groups: list[dict[str, Any]], expected: dict[Any, dict[str, Any]], pruned_at: float | None) -> None:
    """The same details; after retention cut at `pruned_at` inside a bucket, the first time seen
    may be the cut instead of the first row kept (within that bucket)."""
    assert {g["group"] for g in groups} == set(expected)
    for group in groups:
        want = dict(expected[group["group"]])
        if pruned_at is not None and want["first_ts"] is not None and group["first_ts"] is not None:
            assert pruned_at <= group["first_ts"] <= want["first_ts"]
            assert group["first_ts"] == want["first_ts"] or want["first_ts"] < rollup.bucket_of(pruned_at) + rollup.GRAIN
            want["first_ts"] = group["first_ts"]
        assert {k: group[k] for k in want} == pytest.approx(want), group["group"]


# --------------------------------------------------------------------------- histogram


@given(st.lists(st.one_of(st.floats(0, 0.999), st.floats(1, 1e9)), min_size=1, max_size=300),
       st.sampled_from([0.5, 0.95, 0.01, 1.0]))
def test_histogram_percentile_is_within_the_bound(values: list[float], p: float) -> None:
    counts: dict[int, int] = {}
    for value in values:
        b = rollup.latency_bin(value)
        counts[b] = counts.get(b, 0) + 1
    ordered = sorted(values)
    exact = ordered[max(1, math.ceil(p * len(ordered))) - 1]
    assert within_bound(rollup.percentile(counts, p), exact)
    assert rollup.blob_to_counts(rollup.counts_to_blob(counts)) == counts


@given(st.dictionaries(st.integers(0, rollup.TOP_BIN), st.integers(1, 2**31 - 1), max_size=40),
       st.dictionaries(st.integers(0, rollup.TOP_BIN), st.integers(1, 2**31 - 1), max_size=40))
def test_histogram_blobs_add_and_subtract(a: dict[int, int], b: dict[int, int]) -> None:
    total = dict(a)
    rollup.merge_into(total, b)
    added = rollup.hist_add(rollup.counts_to_blob(a), rollup.counts_to_blob(b))
    assert rollup.blob_to_counts(added) == total
    assert rollup.blob_to_counts(rollup.hist_sub(added, rollup.counts_to_blob(b))) == a


# --------------------------------------------------------------------------- against the rows


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    seed=st.integers(0, 10**6),
    count=st.integers(0, 300),
    by=st.sampled_from(GROUPS),
    since=st.one_of(st.none(), st.floats(NOW - SPAN - 3600, NOW)),
    length=st.one_of(st.none(), st.floats(2 * rollup.GRAIN, SPAN)),
    names=st.fixed_dictionaries({}, optional={
        **{name: st.sampled_from([v for v in values if v is not None]) for name, values in NAMES_OF.items()},
        "client": st.sampled_from(CLIENTS), "teams": st.sampled_from([(), ("data",), ("backend", "data")])}),
    zone=st.sampled_from(["UTC", "Asia/Kolkata", "America/New_York"]),
)
def test_rollup_answers_like_the_rows(logs_url: str, seed: int, count: int, by: str, since: float | None,
                                      length: float | None, names: dict[str, str], zone: str) -> None:
    until = None if since is None or length is None else since + length
    # One rollup answers: the main one has no sessions, the sessions one no models or providers.
    sessions = by in ("session", "client") or (by not in ("model", "provider") and random.Random(seed).random() < 0.5)
    dropped = ("model", "provider") if sessions else ("session", "client")
    filters = Filters(since=since, until=until, **{k: v for k, v in names.items() if k not in dropped})
    assert shape_for(filters, by) is not None

    async def check() -> None:
        store = await fresh(logs_url, zone)
        try:
            await insert(store, random_rows(count, seed))
            queries = LogQueries(store, zone)
            await compare(queries, filters, by)
            exact = await queries.raw_usage(filters, "none")
            assert bool(exact) == bool(await queries.usage(filters, "none"))
        finally:
            await store.close()

    asyncio.run(check())


async def test_spend_from_the_rollup_matches_the_rows(logs_url: str) -> None:
    rows = random_rows(600, 5)
    for zone in ("UTC", "Asia/Kolkata", "Asia/Kathmandu"):
        store = await fresh(logs_url, zone)
        try:
            await insert(store, rows)
            queries = LogQueries(store, zone)
            for filters in (Filters(), Filters(key="alice"), Filters(model="gpt-4o", team="data"),
                            Filters(session="s-1"), Filters(client="codex", team="data")):
                spent = await queries.spend(filters, NOW - 1234.5)
                starts = queries.period_starts(NOW - 1234.5)
                for name, start in starts.items():
                    expected = sum(r["cost_usd"] or 0.0 for r in rows
                                   if r["ts"] is not None and r["ts"] >= start and filters.accepts(r))
                    assert spent[name] == pytest.approx(expected, rel=1e-9, abs=1e-9), (zone, name)
        finally:
            await store.close()


async def test_which_questions_the_rollup_answers(tmp_path: Any) -> None:
    assert [rollup.grain_for(z) for z in ("UTC", "Europe/Berlin", "Asia/Kolkata", "Asia/Kathmandu", "Nope/Nope")] == [
        3600, 3600, 1800, 900, 3600]
    for zone in ("Asia/Kolkata", "Asia/Kathmandu"):
        store = open_store(f"sqlite:///{tmp_path}/{zone[5:]}.db", zone)
        await store.open()
        assert await LogQueries(store, zone).rollup_plan(Filters(), "day") is not None
        assert await LogQueries(store, "UTC").rollup_plan(Filters(), "hour") is not None
        await store.close()
    store = open_store(f"sqlite:///{tmp_path}/logs.db")
    await store.open()
    try:
        queries = LogQueries(store, "UTC")
        assert await queries.rollup_plan(Filters(since=NOW - 86400), "key") is not None
        assert await queries.rollup_plan(Filters(model="gpt-4o", until=NOW), "hour") is not None
        assert (await queries.rollup_plan(Filters(), "session")).shape is rollup.SESSIONS  # type: ignore[union-attr]
        assert (await queries.rollup_plan(Filters(key="alice", client="codex"), "day")).shape is rollup.SESSIONS  # type: ignore[union-attr]
        assert (await queries.rollup_plan(Filters(teams=("a", "b")), "key")).shape is rollup.MAIN  # type: ignore[union-attr]
        assert await queries.rollup_plan(Filters(model="gpt-4o"), "session") is None
        assert await queries.rollup_plan(Filters(session="s-1"), "provider") is None
        assert await queries.rollup_plan(Filters(status="error"), "key") is None
        assert await queries.rollup_plan(Filters(final=True), "none") is None
        assert await queries.rollup_plan(Filters(since=NOW - 600, until=NOW), "none") is None  # inside a half hour
        # hourly buckets, made for UTC: days in India (UTC+05:30) are read from the rows
        assert await LogQueries(store, "Asia/Kolkata").rollup_plan(Filters(), "day") is None
        assert await LogQueries(store, "Asia/Kolkata").rollup_plan(Filters(), "team") is not None
    finally:
        await store.close()


# --------------------------------------------------------------------------- upkeep


@pytest.mark.parametrize("before", ["no rollup", "no sessions rollup"])
async def test_an_older_database_gets_its_rollup_built_while_rows_keep_coming(
    logs_url: str, monkeypatch: pytest.MonkeyPatch, before: str
) -> None:
    monkeypatch.setattr(rollup, "BUILD_CHUNK", 50)
    old, new = random_rows(420, 1), random_rows(130, 2)
    store = open_store(logs_url)
    await store.open()
    try:
        await insert(store, old)  # then make it look like a database from before the rollup
        await drop(store, log=False)
        if before == "no sessions rollup":  # the main rollup of every row, as the last version left it
            await store.close()
            store = open_store(logs_url)
            await store.open()
            while await store.build_rollup_step() is not None:
                pass
            await store.db.execute(f"DROP TABLE {rollup.SESSIONS.table}")  # type: ignore[attr-defined]
            await store.db.execute(f"DELETE FROM {rollup.STATE} WHERE id = ?", rollup.SESSIONS.state_id)  # type: ignore[attr-defined]
    finally:
        await store.close()
    store = open_store(logs_url)
    await store.open()
    try:
        queries = LogQueries(store, "UTC")
        assert not await store.rollup_ready(rollup.SESSIONS)
        assert await store.rollup_ready() == (before == "no sessions rollup")
        assert await queries.rollup_plan(Filters(), "session") is None  # the rows answer meanwhile
        assert (await queries.rollup_plan(Filters(), "key") is None) == (before == "no rollup")
        steps = 0
        while (left := await store.build_rollup_step()) is not None:
            steps += 1
            if steps <= len(new) // 10:  # rows written during the build are counted once
                await insert(store, new[(steps - 1) * 10:steps * 10], batch=10)
            assert left >= 0
        await insert(store, new[(steps) * 10:] if steps < len(new) // 10 else [], batch=10)
        assert steps >= 420 // 50
        assert await store.rollup_ready() and await store.rollup_ready(rollup.SESSIONS)
        for by in ("key", "model", "day", "session", "client"):
            await compare(queries, Filters(), by)
            await compare(queries, Filters(since=NOW - 86400 - 77.7), by)
    finally:
        await store.close()


async def test_retention_cutting_inside_a_half_hour_keeps_the_rollup_exact(
    logs_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bifrost_costlog.stores.postgres as pg
    import bifrost_costlog.stores.sqlite as lite

    monkeypatch.setattr(pg, "PRUNE_CHUNK", 7)
    monkeypatch.setattr(lite, "PRUNE_CHUNK", 7)
    rows = [r for r in random_rows(500, 3) if r["ts"] is not None]
    store = open_store(logs_url)
    await store.open()
    try:
        await insert(store, rows)
        queries = LogQueries(store, "UTC")
        left = list(rows)
        for cut in (NOW - 2 * 86400 - 1000.25, NOW - 86400 + 0.5, NOW - 86400 + 0.5, NOW - 3600 * 5):
            deleted = await store.delete_before(cut)
            assert deleted == sum(1 for r in left if r["ts"] < cut)
            left = [r for r in left if r["ts"] >= cut]
            for by in ("key", "hour", "none", "session", "client"):
                await compare(queries, Filters(), by, pruned_at=cut)
        for shape in rollup.SHAPES:
            empty = await store.fetch(f"SELECT COUNT(*) AS n FROM {shape.table} WHERE attempts = 0")
            assert int(empty[0]["n"]) == 0
    finally:
        await store.close()


def test_the_rollup_holds_every_row_once(tmp_path: Any) -> None:
    """Straight from the tables: the rollup's sums are those of the rows."""
    async def fill() -> None:
        store = open_store(f"sqlite:///{tmp_path}/logs.db")
        await store.open()
        await insert(store, random_rows(777, 9), batch=100)
        await store.close()

    asyncio.run(fill())
    with sqlite3.connect(tmp_path / "logs.db") as db:
        raw = db.execute(f"SELECT COUNT(*), SUM(final), SUM(output_tokens) FROM {TABLE}").fetchone()
        rolled = db.execute(f"SELECT SUM(attempts), SUM(requests), SUM(output_tokens) FROM {rollup.ROLLUP}").fetchone()
    assert raw == rolled
    assert len(NAMES) > len(rollup.SOURCE)
