"""`RedisClient.call` and `.script`: the commands of many callers on one pipelined connection.

Each caller gets its own reply whatever the interleaving; a caller that leaves never cuts its
command; a Redis that restarts, forgets its scripts or freezes is met as with redis-py (one retry
of a dropped connection, StorageUnavailable, NOSCRIPT answered by loading the script again)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.exceptions import ResponseError

from bifrost_py.storage import Storage, StorageClosed, StorageUnavailable
from bifrost_py.testing import RedisServer

COUNT = "return redis.call('INCRBY', KEYS[1], ARGV[1])"


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 5), st.booleans()), min_size=1, max_size=60))
def test_concurrent_callers_each_get_their_own_reply(redis_url: str, tmp_path: Path,
                                                     ops: list[tuple[int, int, bool]]) -> None:
    """Counters bumped by many callers at once, some through a script: every caller sees the
    value its own command produced, as if the commands had run one by one in the order sent."""

    async def run() -> None:
        store = Storage(tmp_path)
        kv = await store.redis(redis_url)
        prefix = f"pipe:{uuid.uuid4().hex}:"
        try:
            calls = [kv.script(COUNT, [f"{prefix}{key}"], [by]) if scripted else kv.call("INCRBY", f"{prefix}{key}", by)
                     for key, by, scripted in ops]
            replies = await asyncio.gather(*calls)
        finally:
            await store.close()
        model: dict[int, int] = {}
        expected = []
        for key, by, _ in ops:
            model[key] = model.get(key, 0) + by
            expected.append(model[key])
        assert replies == expected

    asyncio.run(run())


async def test_an_error_reply_raises_and_the_connection_goes_on(redis_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_url)
    try:
        await kv.call("SET", "pipe:text", "x")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            await kv.call("HGET", "pipe:text", "f")
        assert await kv.call("GET", "pipe:text") == b"x"
        assert kv.available, "a refused command says nothing about Redis being there"
    finally:
        await store.close()


async def test_a_cancelled_caller_leaves_at_once_and_its_command_still_runs(redis_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_url)
    key = f"pipe:{uuid.uuid4().hex}"
    await kv.script(COUNT, [key], [0])                 # connected, script known
    await kv.call("SCRIPT", "FLUSH")                   # ...then forgotten: NOSCRIPT, then EVAL
    callers = [asyncio.create_task(kv.script(COUNT, [key], [1])) for _ in range(5)]
    callers += [asyncio.create_task(kv.call("INCRBY", key, 10)) for _ in range(5)]
    await asyncio.sleep(0)
    for caller in callers:
        caller.cancel()
    await asyncio.gather(*callers, return_exceptions=True)
    assert all(caller.cancelled() for caller in callers)
    await store.close()                                # waits for the replies
    check = Storage(tmp_path)
    try:
        assert await (await check.redis(redis_url)).call("GET", key) == b"55"
    finally:
        await check.close()


async def test_a_restarted_redis_is_unavailable_while_down_and_used_again_at_once(
        redis_server: RedisServer, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_server.url)
    try:
        await kv.script(COUNT, ["pipe:n"], [1])
        redis_server.stop()
        with pytest.raises(StorageUnavailable):
            await kv.call("GET", "pipe:n")
        assert not kv.available
        redis_server.start()                            # empty, and without the script
        assert await kv.script(COUNT, ["pipe:n"], [2]) == 2
        assert kv.available
    finally:
        await store.close()


async def test_a_frozen_redis_times_out_and_the_next_command_connects_again(
        redis_server: RedisServer, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_server.url + "?socket_timeout=0.5")
    try:
        assert await kv.call("INCR", "pipe:frozen") == 1
        assert redis_server.process is not None
        os.kill(redis_server.process.pid, signal.SIGSTOP)
        try:
            with pytest.raises(StorageUnavailable, match="Timeout"):
                await asyncio.wait_for(kv.call("INCR", "pipe:frozen"), 30)
        finally:
            os.kill(redis_server.process.pid, signal.SIGCONT)
        # the next command goes on a new connection (whether Redis still ran the one that timed
        # out, sent before the old connection was dropped, is up to its kernel: 2 or 3)
        assert await asyncio.wait_for(kv.call("INCR", "pipe:frozen"), 30) in (2, 3)
        assert kv.available
    finally:
        await store.close()


async def test_the_database_of_the_url_is_the_one_used(redis_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    other = redis_url.rsplit("/", 1)[0] + "/5"
    try:
        kv, kv5 = await store.redis(redis_url), await store.redis(other)
        await kv5.call("SET", "pipe:db", "five")
        assert await kv5.run(lambda r: r.get("pipe:db")) == b"five"
        assert await kv.call("GET", "pipe:db") is None
    finally:
        await store.close()


async def test_a_closed_client_refuses_commands(redis_url: str, tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_url)
    await kv.call("PING")
    await store.close()
    with pytest.raises(StorageClosed):
        await kv.call("PING")


async def test_many_scripts_at_once_answer_in_order_with_an_error_in_its_place(redis_server: RedisServer,
                                                                             tmp_path: Path) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_server.url)
    failing = "return redis.call('HGET', KEYS[1], 'f')"
    try:
        await kv.call("SET", "pipe:text", "x")
        replies = await kv.scripts([(COUNT, ["pipe:a"], [1]), (failing, ["pipe:text"], []), (COUNT, ["pipe:a"], [2])])
        assert replies[0] == 1 and replies[2] == 3
        assert isinstance(replies[1], ResponseError) and "WRONGTYPE" in str(replies[1])
        redis_server.stop()
        redis_server.start()       # empty, without the scripts, and our connection is gone
        assert await kv.scripts([(COUNT, ["pipe:a"], [5])] * 3) == [5, 10, 15]
    finally:
        await store.close()


async def test_a_command_nobody_waits_for_runs_and_a_failure_is_only_logged(redis_server: RedisServer,
                                                                          tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    store = Storage(tmp_path)
    kv = await store.redis(redis_server.url)
    try:
        for _ in range(3):
            kv.send("INCR", "pipe:sent", what="counting")
        await kv.idle()
        assert await kv.call("GET", "pipe:sent") == b"3"
        redis_server.stop()
        kv.send("INCR", "pipe:sent", what="counting")   # no exception here, nor later
        await kv.idle()
        await asyncio.sleep(0)
        assert not kv.available
        assert any("counting failed" in r.getMessage() for r in caplog.records)
    finally:
        redis_server.start()
        await store.close()
