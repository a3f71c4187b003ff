"""Filters: parsing query parameters, and the SQL condition agreeing with the in-memory test the
live stream uses, on any rows and any filters (hypothesis, against SQLite)."""

from __future__ import annotations

import sqlite3
from dataclasses import replace

import pytest
from aiohttp.test_utils import make_mocked_request
from bifrost_costlog.api import scoped
from bifrost_costlog.columns import COLUMNS, NAMES, SQLITE_TYPES, TABLE, record
from bifrost_costlog.filters import Filters, parse_filters, parse_time, status_range
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.accounts.roles import Principal
from bifrost_py.admin.guard import PRINCIPAL

NOW = 1_780_000_000.0
names = st.sampled_from(["a", "b", "c"])
maybe = st.one_of(st.none(), names)

rows = st.lists(st.fixed_dictionaries({
    "request_id": names, "key_name": maybe, "team": maybe, "customer": maybe, "provider": maybe,
    "session_id": maybe, "endpoint": st.sampled_from(["messages", "count_tokens"]),
    "model": maybe, "requested_model": maybe, "answered_model": maybe,
    "status": st.sampled_from([0, 200, 201, 400, 401, 402, 429, 499, 500, 529]),
    "cache_hit": st.booleans(), "final": st.booleans(), "price_unknown": st.booleans(),
    "streamed": st.booleans(), "fallback": st.booleans(),
    "ts": st.floats(NOW - 10 * 86400, NOW, allow_nan=False),
}), max_size=25)

filters = st.builds(
    Filters, key=maybe, team=maybe, customer=maybe, provider=maybe, session=maybe, request_id=maybe,
    endpoint=st.one_of(st.none(), st.just("messages")), model=maybe,
    status=st.one_of(st.none(), st.sampled_from(["200", "4xx", "5xx", "ok", "error", "499"])),
    cache_hit=st.one_of(st.none(), st.booleans()), final=st.one_of(st.none(), st.booleans()),
    price_unknown=st.one_of(st.none(), st.booleans()), streamed=st.one_of(st.none(), st.booleans()),
    fallback=st.one_of(st.none(), st.booleans()),
    since=st.one_of(st.none(), st.floats(NOW - 10 * 86400, NOW)), until=st.one_of(st.none(), st.floats(NOW - 10 * 86400, NOW)),
    teams=st.one_of(st.none(), st.lists(names, max_size=3, unique=True).map(tuple)),
)


@pytest.fixture(scope="module")
def db() -> sqlite3.Connection:
    connection = sqlite3.connect(":memory:")
    columns = ", ".join(f"{name} {SQLITE_TYPES[kind]}" for name, kind in COLUMNS)
    connection.execute(f"CREATE TABLE {TABLE} (id INTEGER PRIMARY KEY, {columns})")
    return connection


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, wanted=filters)
def test_sql_and_memory_agree(db: sqlite3.Connection, rows: list[dict[str, object]], wanted: Filters) -> None:
    db.execute(f"DELETE FROM {TABLE}")
    db.executemany(f"INSERT INTO {TABLE} (id, {', '.join(NAMES)}) VALUES (?, {', '.join('?' * len(NAMES))})",
                   [(i, *record(row)) for i, row in enumerate(rows)])
    where, params = wanted.where()
    by_sql = {r[0] for r in db.execute(f"SELECT id FROM {TABLE} WHERE {where}", params)}
    in_memory = {i for i, row in enumerate(rows) if wanted.accepts(row)}
    assert by_sql == in_memory


@settings(max_examples=150, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=rows, wanted=filters, teams=st.lists(names, max_size=3, unique=True),
       role=st.sampled_from(["admin", "finance", "viewer", "team_manager"]))
def test_a_team_manager_never_reads_another_teams_row(db: sqlite3.Connection, rows: list[dict[str, object]],
                                                      wanted: Filters, teams: list[str], role: str) -> None:
    """Whatever a team manager asks, the rows they get are what they asked, of their teams only;
    every other role gets exactly what it asked."""
    request = make_mocked_request("GET", "/api/logs")
    request[PRINCIPAL] = Principal("someone", role, "session", tuple(teams))
    narrowed = scoped(request, replace(wanted, teams=None))
    got = {i for i, row in enumerate(rows) if narrowed.accepts(row)}
    asked = {i for i, row in enumerate(rows) if replace(wanted, teams=None).accepts(row)}
    if role == "team_manager":
        assert got == {i for i in asked if rows[i]["team"] in teams}
    else:
        assert got == asked


def test_parse_filters() -> None:
    found = parse_filters({"key": "dev", "team": "backend", "model": "gpt-4o", "status": "5xx", "cache_hit": "false",
                           "final": "true", "since": "24h", "until": "2026-05-28T00:00:00Z"}, now=NOW)
    assert (found.key, found.team, found.model, found.status) == ("dev", "backend", "gpt-4o", "5xx")
    assert found.cache_hit is False and found.final is True
    assert found.since == NOW - 86400
    assert found.until == 1_779_926_400.0
    assert parse_filters({}) == Filters()
    assert parse_filters({"key": "", "cache_hit": ""}) == Filters()


@pytest.mark.parametrize(("query", "problem"), [
    ({"status": "teapot"}, "status"), ({"cache_hit": "maybe"}, "cache_hit"), ({"since": "last tuesday"}, "since"),
])
def test_bad_parameters_name_themselves(query: dict[str, str], problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_filters(query)


def test_times() -> None:
    assert parse_time("since", "1780000000", NOW) == NOW
    assert parse_time("since", "7d", NOW) == NOW - 7 * 86400
    assert parse_time("since", "2026-05-28T00:00:00", NOW) == 1_779_926_400.0        # naive means UTC
    assert parse_time("since", "2026-05-28T05:30:00+05:30", NOW) == 1_779_926_400.0


@given(st.integers(100, 599))
def test_status_classes(status: int) -> None:
    low, high = status_range(f"{status // 100}xx")
    assert low <= status < high
    assert status_range(str(status)) == (status, status + 1)
    ok_low, ok_high = status_range("ok")
    err_low, err_high = status_range("error")
    assert (ok_low <= status < ok_high) != (err_low <= status < err_high)
