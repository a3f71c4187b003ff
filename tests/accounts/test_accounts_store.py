"""The accounts store and the audit log on SQLite and a real PostgreSQL alike; masking and the
lock-out counter checked with hypothesis."""

from __future__ import annotations

import asyncio
import json
import tempfile
import time
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bifrost_py.accounts.audit import AuditEntry, AuditLog, AuditQuery, as_csv, mask
from bifrost_py.accounts.lockout import Lockout, RedisLockout, SqlLockout
from bifrost_py.accounts.store import AccountStore
from bifrost_py.storage import Storage
from tests.conftest import fresh_postgres


async def test_users_sessions_tokens_and_audit_on_both_databases(logs_url: str) -> None:
    storage = Storage()
    try:
        db = await storage.sql(logs_url)
        store, audit = AccountStore(db), AuditLog(db)
        for _ in range(2):  # creating the tables twice is harmless (every instance does it)
            await store.create_schema()
            await audit.create_schema()
        assert await store.add_user("ana", "team_manager", ("backend",), "hash", only_if_none=True)
        assert not await store.add_user("bo", "admin", (), "hash", only_if_none=True)  # set-up: the first only
        assert not await store.add_user("ana", "viewer", (), "hash")
        session_id, csrf = await store.new_session("ana", "session", 60)
        found = await store.session(session_id)
        assert found is not None and found[0].csrf == csrf and found[1].teams == ("backend",)
        assert await store.session(session_id + "x") is None
        made = await store.new_token("ana", "ci")
        assert made is not None and await store.new_token("ana", "ci") is None
        user = await store.token_user(made[0])
        assert user is not None and user.username == "ana"
        assert (await store.tokens("ana"))[0]["last_used"] is not None
        await store.update_user("ana", role="viewer", teams=())
        assert (await store.user("ana")).role == "viewer"  # type: ignore[union-attr]
        assert await store.delete_user("ana")
        assert await store.session(session_id) is None and await store.token_user(made[0]) is None

        for n in range(3):
            await audit.record(AuditEntry("ana", "admin", "session", "PATCH", f"/api/governance/keys/k{n}",
                                          "PATCH /governance/keys/{name}", f"k{n}", 200, "127.0.0.1",
                                          request={"budget": {"limit": n}, "key": "vk-secret-value-123456"},
                                          before={"limit": 0}, after={"limit": n}))
        entries = await audit.query(AuditQuery(actor="ana", action="governance/keys", limit=2))
        assert [e["resource"] for e in entries] == ["k2", "k1"]
        older = await audit.query(AuditQuery(before_id=entries[-1]["id"]))
        assert [e["resource"] for e in older] == ["k0"]
        assert await audit.query(AuditQuery(since=time.time() + 60)) == []
        assert entries[0]["request"]["key"] == "••••3456" and entries[0]["after"] == {"limit": 2}
        assert "vk-secret-value" not in as_csv(entries)
    finally:
        await storage.close()


secrets_ = st.text(min_size=1, max_size=40).filter(lambda s: s.strip() != "")
names = st.sampled_from(["password", "client_secret", "api_key", "token", "value", "key", "Authorization",
                         "secret_access_key", "access_key_id", "session_token", "key_sha256", "x-api-key",
                         "current", "headers"])
json_values = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
                           max_leaves=10)


@given(secret=secrets_.filter(lambda s: len(s) >= 8), name=names, around=json_values, depth=st.integers(0, 3))
def test_a_secret_never_survives_masking(secret: str, name: str, around: Any, depth: int) -> None:
    secret = "§" + secret  # no key name of ours holds it
    assume(json.dumps(secret, ensure_ascii=False)[1:-1] not in json.dumps(around, ensure_ascii=False))
    tree: Any = {name: secret, "other": around}
    for _ in range(depth):
        tree = {"nested": [tree]}
    shown = json.dumps(mask(tree), ensure_ascii=False)
    assert json.dumps(secret, ensure_ascii=False)[1:-1] not in shown


def test_what_is_not_a_secret_stays_readable() -> None:
    body = {"name": "ci", "budget": {"limit": 5, "reset": "monthly"}, "session_budget": {"reset": "daily"},
            "rate_limit": {"tokens": 100, "window": "1m"}, "max_tokens": "10", "models": ["claude-*"],
            "keys": [{"name": "k1", "value": "sk-ant-0123456789abcdef", "weight": 2}]}
    shown = mask(body)
    assert shown["budget"] == body["budget"] and shown["session_budget"] == {"reset": "daily"}
    assert shown["rate_limit"] == body["rate_limit"] and shown["max_tokens"] == "10" and shown["models"] == ["claude-*"]
    assert shown["keys"] == [{"name": "k1", "value": "••••cdef", "weight": 2}]


@settings(max_examples=40, deadline=None)  # each example opens a database file of its own
@given(failures=st.lists(st.tuples(st.sampled_from(["a", "b"]), st.floats(0, 5)), max_size=30),
       attempts=st.integers(1, 6))
def test_the_lockout_counts_only_recent_failures(failures: list[tuple[str, float]], attempts: int) -> None:
    async def run(folder: str) -> None:
        storage = Storage(folder)
        try:
            now = [1_000.0]
            lockout = SqlLockout(await storage.sql("sqlite:///lockout.db"), attempts, window=10.0, clock=lambda: now[0])
            await lockout.create_schema()
            history: dict[str, list[float]] = {"a": [], "b": []}
            for key, step in failures:
                now[0] += step
                await lockout.failed(key)
                history[key].append(now[0])
                for who, times in history.items():
                    recent = [t for t in times if t > now[0] - 10.0]
                    assert (await lockout.retry_after(who) > 0) == (len(recent) >= attempts)
            now[0] += 10.5  # a window later (and then some: 10.0 may round to a hair short)
            assert await lockout.retry_after("a", "b") == 0
            await lockout.sweep()  # nothing of the last window is left to grow the table
            assert await lockout.db.fetchval("SELECT COUNT(*) FROM accounts_failures") == 0
        finally:
            await storage.close()

    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(folder))


@pytest.fixture(params=["sqlite", "postgres", "redis"])
async def shared_lockouts(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    """Two lock-out counters of two gateways on one store (two Storage objects: two processes'
    connections), on each store a deployment can share."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/logs.db"
    elif request.param == "postgres":
        url = await fresh_postgres(request.getfixturevalue("postgres_url"))
    storages = [Storage(), Storage()]
    made: list[Lockout] = []
    for storage in storages:
        if request.param == "redis":
            made.append(RedisLockout(await storage.redis(request.getfixturevalue("redis_url")), 3, 60.0))
        else:
            lockout = SqlLockout(await storage.sql(url), 3, 60.0)
            await lockout.create_schema()
            made.append(lockout)
    yield made
    for storage in storages:
        await storage.close()


async def test_two_instances_count_failures_together_and_a_success_clears_them(shared_lockouts: list[Lockout]) -> None:
    one, two = shared_lockouts
    who = f"user:ana-{time.time_ns()}"  # Redis is shared by the whole run
    await one.failed(who, "address:10.0.0.1")
    await two.failed(who)
    assert await one.retry_after(who) == 0 and await two.retry_after(who) == 0
    await two.failed(who)
    assert 0 < await one.retry_after(who) <= 60 and 0 < await two.retry_after(who, "address:10.0.0.9") <= 60
    assert await one.retry_after("address:10.0.0.1") == 0
    await one.succeeded(who)
    assert await two.retry_after(who) == 0
