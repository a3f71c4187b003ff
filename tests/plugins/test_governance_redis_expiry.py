"""When the Redis counters' keys expire: set only when it changes (most admissions set none), yet
a budget follows its expire-at as it moves and a busy window's keys never expire under it."""

from __future__ import annotations

import asyncio
import os
import time

from bifrost_governance.counters import GRACE, Claim

from tests.plugins.governance_testing import OwnRedisCounters


async def test_a_budget_follows_its_expire_at_and_is_not_set_again_while_it_stays(redis_url: str) -> None:
    store = OwnRedisCounters(redis_url)
    await store.open()
    meter = "exp:" + os.urandom(6).hex()
    key = f"{{bfgov}}:{store.gen}:m:{meter}"
    try:
        first = time.time() + 1000
        for _ in range(3):
            admitted = await store.admit([Claim(meter, 10, 1, True, first)])
            assert admitted.ticket is not None
            await store.settle(admitted.ticket, [1])
        assert await store.redis.expiretime(key) == int(first + GRACE)
        await store.redis.expire(key, 5000)       # not set again while the expire-at stays
        admitted = await store.admit([Claim(meter, 10, 1, True, first)])
        assert admitted.ticket is not None
        assert await store.redis.ttl(key) <= 5000
        later = first + 500                        # a session's expire-at moves with its use
        moved = await store.admit([Claim(meter, 10, 1, True, later)])
        assert moved.ticket is not None
        assert await store.redis.expiretime(key) == int(later + GRACE)
        assert await store.read([meter]) == [(3, 2)]
    finally:
        await store.close()


async def test_a_window_in_use_for_several_windows_keeps_its_keys_and_its_count(redis_url: str) -> None:
    store = OwnRedisCounters(redis_url)
    await store.open()
    meter = "busy:" + os.urandom(6).hex()
    window = 0.4
    try:
        for _ in range(8):                          # some three windows of admissions
            admitted = await store.admit([Claim(meter, 1000, 1, True, window=window)])
            assert admitted.ticket is not None
            await store.settle(admitted.ticket, [1])
            for kind in ("m", "w"):
                ttl = await store.redis.pttl(f"{{bfgov}}:{store.gen}:{kind}:{meter}")
                assert 0 < ttl <= 2 * window * 1000, "alive, and gone within two windows of the last use"
            await asyncio.sleep(window / 3)
        used, held, _ = (await store.read_windows([meter]))[0]
        assert held == 0 and 1 <= used <= 4, "only the last window's admissions count"
    finally:
        await store.close()
