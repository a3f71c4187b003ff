"""Session budgets on the governor itself: strict admission never lets a session overshoot its
cap (holds count, in memory and in Redis shared by two instances), the smallest applicable cap
wins, a session's counter outlives its last request by `forget_after`, and bad settings are
problems with their paths."""

from __future__ import annotations

import asyncio
import os
import time
from typing import Any

import bifrost_governance
import pytest
from bifrost_governance.counters import MemoryCounters
from bifrost_governance.enforcement import HOLD, Governor
from bifrost_governance.plan import NANO, SESSION
from governance_testing import OwnRedisCounters
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.configschema import ConfigError
from bifrost_py.context import ANTHROPIC, MESSAGES, Attempt, Call, Target, Usage
from bifrost_py.errors import BudgetExceeded
from bifrost_py.gateway import Gateway

SONNET = "claude-sonnet-4-20250514"
BODY = {"model": SONNET, "max_tokens": 1000, "messages": [{"role": "user", "content": "hi " * 70}]}


def governor(governance: dict[str, Any], store: Any = None) -> tuple[Governor, Gateway]:
    config = config_from_dict({"providers": {"anthropic": {"type": "anthropic"}}, "governance": governance,
                               "currency": {"code": "INR", "per_usd": 84.0}})
    gateway = Gateway(config, plugins=[bifrost_governance], builtins=False)
    plugin = next(i.plugin for i in gateway.plugins.ordered() if isinstance(i.plugin, bifrost_governance.GovernancePlugin))
    gov = Governor(plugin.settings, plugin.registry, store or MemoryCounters(), gateway, plugin.metrics)
    if store is not None:
        gov.memory = None
    return gov, gateway


def call(session: str | None, secret: str = "vk-k-secret") -> Call:
    return Call(request_id="r", dialect=ANTHROPIC, endpoint=MESSAGES, headers=CIMultiDictProxy(CIMultiDict()),
                body=BODY, model=SONNET, credential=secret, session_id=session)


async def admitted(gov: Governor, session: str | None) -> Attempt:
    c = call(session)
    gov.authenticate(c)
    attempt = Attempt(call=c, target=Target("anthropic", SONNET), number=1)
    attempt.provider_type = "anthropic"
    c.attempts.append(attempt)
    await gov.admit(attempt)
    return attempt


def worst_inr(gateway: Gateway) -> float:
    prompt = 96                 # (210 characters / 3.5 + 4) x input_margin 1.5
    return gateway.prices.worst_case(SONNET, "anthropic", prompt, 1000) * 84.0


async def test_holds_count_so_a_session_never_overshoots_and_other_sessions_go_on() -> None:
    _, gateway = governor({"virtual_keys": {"k": {"key": "vk-k-secret"}}})
    cap = 2.5 * worst_inr(gateway)           # room for two requests in flight, not three
    gov, _ = governor({"virtual_keys": {"k": {"key": "vk-k-secret", "session_budget": {"limit": cap}}}})
    first, second = await admitted(gov, "s1"), await admitted(gov, "s1")
    with pytest.raises(BudgetExceeded) as caught:
        await admitted(gov, "s1")
    assert "session budget exhausted for session 's1' of virtual key 'k'" in caught.value.message
    assert "held by requests in flight" in caught.value.message and caught.value.final
    assert await admitted(gov, "s2"), "another session of the key has its own cap"
    assert await admitted(gov, None), "a request outside any session is not session-capped"
    for attempt in (first, second):
        attempt.outcome.status = 200
        attempt.outcome.usage = Usage(input_tokens=10, output_tokens=5)
        await gov.settle(attempt)
    assert await admitted(gov, "s1"), "settled at far less than held: room again"


async def test_the_smallest_of_key_team_and_global_caps_applies_and_names_where_it_was_set() -> None:
    gov, _ = governor({
        "session_budget": {"limit": 1000},
        "teams": {"web": {"session_budget": {"limit": 0.0001}}},
        "virtual_keys": {"k": {"key": "vk-k-secret", "team": "web", "session_budget": {"limit": 500}}},
    })
    with pytest.raises(BudgetExceeded) as caught:
        await admitted(gov, "s1")
    assert "(session_budget of team 'web')" in caught.value.message, caught.value.message
    assert "₹0.00" in caught.value.message


async def test_a_session_counter_is_kept_forget_after_past_its_last_request() -> None:
    gov, _ = governor({"virtual_keys": {"k": {"key": "vk-k-secret", "session_budget": {"limit": 100,
                                                                                        "forget_after": "2h"}}}})
    before = time.time()
    attempt = await admitted(gov, "s1")
    hold = attempt.stash[HOLD]
    cap = next(c for c in hold.caps if c.tier.kind == SESSION)
    store = gov.store
    assert isinstance(store, MemoryCounters)
    assert cap.meter_base == "key:k:session:s1"
    assert before + 7200 <= store.expires[cap.meter_base] <= time.time() + 7200


async def test_an_unusual_session_id_is_hashed_in_the_meter_but_named_in_the_message() -> None:
    gov, _ = governor({"virtual_keys": {"k": {"key": "vk-k-secret", "session_budget": {"limit": 0}}}})
    weird = "süß session/" + "x" * 300
    with pytest.raises(BudgetExceeded) as caught:
        await admitted(gov, weird)
    assert "session 'süß session/xxx" in caught.value.message
    c = call(weird)
    gov.authenticate(c)
    state = c.stash[bifrost_governance.enforcement.CALL_STATE]
    assert state.session is not None and state.session.meter_base.startswith("key:k:session:#")
    assert len(state.session.meter_base) < 64


async def test_two_instances_sharing_redis_never_let_a_session_overshoot(redis_url: str) -> None:
    key = "k" + os.urandom(4).hex()
    _, gateway = governor({"virtual_keys": {"k": {"key": "vk-k-secret"}}})
    governance = {"virtual_keys": {key: {"key": "vk-k-secret", "session_budget": {"limit": 3.5 * worst_inr(gateway)}}}}
    stores = [OwnRedisCounters(redis_url), OwnRedisCounters(redis_url)]
    for store in stores:
        await store.open()
    try:
        govs = [governor(governance, store)[0] for store in stores]

        async def one(i: int) -> bool:
            try:
                await admitted(govs[i % 2], "shared")
            except BudgetExceeded:
                return False
            return True

        results = await asyncio.gather(*(one(i) for i in range(20)))
        assert sum(results) == 3, "three worst cases fit in the cap, whichever instance admitted them"
        used, held = (await stores[0].read([f"key:{key}:session:shared"]))[0]
        assert used == 0 and held <= 3.5 * worst_inr(gateway) / 84.0 * NANO
    finally:
        for store in stores:
            await store.close()


@pytest.mark.parametrize(("budget", "problem"), [
    ({"limit": -1}, "governance.session_budget.limit"),
    ({"limit": 10, "forget_after": "soon"}, "governance.session_budget.forget_after"),
    ({"limit": 10, "forget_after": "5s"}, "governance.session_budget.forget_after"),
    ({"limit": 10, "reset": "daily"}, "governance.session_budget.reset"),
])
def test_bad_session_budgets_are_problems_with_their_paths(budget: dict[str, Any], problem: str) -> None:
    config = config_from_dict({"providers": {"anthropic": {"type": "anthropic"}},
                               "governance": {"session_budget": budget}})
    with pytest.raises(ConfigError) as caught:
        Gateway(config, plugins=[bifrost_governance], builtins=False)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems
