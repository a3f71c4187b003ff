"""The Governor without HTTP: what is claimed for an attempt, how it is settled, and what
happens when the counter store fails or the client hangs up while the store is answering."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from typing import Any

import bifrost_governance
import pytest
from bifrost_governance.counters import Admission, Claim, MemoryCounters
from bifrost_governance.enforcement import HOLD, Governor, max_output
from bifrost_governance.plan import MONEY, NANO, REQUESTS, TOKENS
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import (
    ANTHROPIC,
    EMBEDDINGS,
    MESSAGES,
    Attempt,
    Call,
    ProviderWeight,
    Reply,
    Target,
    Usage,
)
from bifrost_py.errors import GatewayError, RateLimited
from bifrost_py.gateway import Gateway

SONNET = "claude-sonnet-4-20250514"
GOVERNANCE = {
    "customers": {"acme": {"budget": {"limit": 100}, "rate_limit": {"requests": 1000, "window": "1h"}}},
    "teams": {"web": {"customer": "acme", "budget": {"limit": 50, "reset": "daily"}}},
    "virtual_keys": {"k": {
        "key": "vk-k-secret", "team": "web", "budget": {"limit": 10},
        "rate_limit": {"requests": 5, "tokens": 100000, "window": "1m"},
        "providers": [{"provider": "anthropic", "budget": {"limit": 5}, "rate_limit": {"requests": 3, "window": "1m"}},
                      {"provider": "openai", "weight": 0}],
        "fallbacks": ["openai/gpt-4o"], "cache": {"enabled": True, "ttl": "5m"},
    }},
}


def governor(store: Any = None) -> tuple[Governor, Gateway]:
    config = config_from_dict({
        "providers": {"anthropic": {"type": "anthropic"}, "openai": {"type": "openai"}},
        "governance": GOVERNANCE,
    })
    gateway = Gateway(config, plugins=[bifrost_governance], builtins=False)
    plugin = next(i.plugin for i in gateway.plugins.ordered() if isinstance(i.plugin, bifrost_governance.GovernancePlugin))
    return Governor(plugin.settings, plugin.registry, store or MemoryCounters(), gateway, plugin.metrics), gateway


def call(body: dict[str, Any] | None = None, endpoint: str = MESSAGES) -> Call:
    body = body or {"model": SONNET, "max_tokens": 100, "messages": [{"role": "user", "content": "hi " * 70}]}
    return Call(request_id="req_1", dialect=ANTHROPIC, endpoint=endpoint, headers=CIMultiDictProxy(CIMultiDict()),
                body=body, model=body["model"], credential="vk-k-secret")


def attempt_for(the_call: Call, provider: str = "anthropic", model: str = SONNET) -> Attempt:
    attempt = Attempt(call=the_call, target=Target(provider, model), number=len(the_call.attempts) + 1)
    attempt.provider_type = provider
    the_call.attempts.append(attempt)
    return attempt


def test_the_caller_carries_the_keys_settings_for_other_plugins() -> None:
    gov, _ = governor()
    c = call()
    gov.authenticate(c)
    assert c.caller is not None
    assert (c.caller.key_id, c.caller.key_name, c.caller.team, c.caller.customer) == ("k", "k", "web", "acme")
    caller = c.caller
    assert (caller.allowed_providers, caller.fallbacks, caller.cache, caller.cache_ttl) == (
        ("anthropic", "openai"), ("openai/gpt-4o",), True, 300.0)
    assert caller.provider_weights == (ProviderWeight("anthropic", 1.0), ProviderWeight("openai", 0.0))


async def test_an_attempt_claims_from_every_tier_and_settles_what_was_used() -> None:
    gov, gateway = governor()
    c = call()
    gov.authenticate(c)
    attempt = attempt_for(c)
    await gov.admit(attempt)
    hold = attempt.stash[HOLD]
    assert [(cap.tier.label, cap.kind) for cap in hold.caps] == [
        ("customer 'acme'", MONEY), ("customer 'acme'", REQUESTS), ("team 'web'", MONEY),
        ("virtual key 'k'", MONEY), ("virtual key 'k'", REQUESTS), ("virtual key 'k'", TOKENS),
        ("provider config 'anthropic' of virtual key 'k'", MONEY),
        ("provider config 'anthropic' of virtual key 'k'", REQUESTS),
    ]
    prompt = 96              # (210 characters / 3.5 + 4 for the message) x input_margin 1.5
    worst = gateway.prices.worst_case(SONNET, "anthropic", prompt, 100)
    assert hold.amounts[0] == pytest.approx(worst * NANO, abs=1)
    assert hold.amounts[5] == prompt + 100, "tokens: the prompt held and all of max_tokens"
    attempt.outcome.status = 200
    attempt.outcome.usage = Usage(input_tokens=70, output_tokens=12)
    await gov.settle(attempt)
    cost = round(gateway.prices.cost(SONNET, "anthropic", Usage(70, 12)) * NANO)
    meters = [cap.meter(time.time()) for cap in hold.caps]
    values = await gov.store.read(meters)
    assert values == [(pytest.approx(cost, abs=1), 0), (1, 0), (pytest.approx(cost, abs=1), 0),
                      (pytest.approx(cost, abs=1), 0), (1, 0), (82, 0), (pytest.approx(cost, abs=1), 0), (1, 0)]


async def test_a_fallback_counts_the_request_once_and_a_cache_hit_costs_nothing() -> None:
    gov, _ = governor()
    c = call()
    gov.authenticate(c)
    first = attempt_for(c)
    await gov.admit(first)
    first.outcome.status = 529                  # failed upstream: no usage
    await gov.settle(first)
    second = attempt_for(c, "openai", "gpt-4o")
    await gov.admit(second)
    kinds = [(cap.tier.kind, cap.kind) for cap in second.stash[HOLD].caps]
    assert ("virtual key", REQUESTS) not in kinds, "the call already counts as one request"
    assert ("customer", REQUESTS) not in kinds
    second.outcome.reply = Reply({"content": []})
    second.outcome.status = 200
    await gov.settle(second)
    store = gov.store
    assert isinstance(store, MemoryCounters)
    assert all(held == 0 for _, held in store.meters.values())
    assert sum(used for meter, (used, _) in store.meters.items() if ":usd:" in meter) == 0


def test_max_output_reads_each_dialects_field() -> None:
    assert max_output({"max_tokens": 7}, MESSAGES, 4096) == 7
    assert max_output({"max_completion_tokens": 9}, MESSAGES, 4096) == 9
    assert max_output({}, MESSAGES, 4096) == 4096
    assert max_output({"max_tokens": 7}, EMBEDDINGS, 4096) == 0


class FailingStore(MemoryCounters):
    async def admit(self, claims: Sequence[Claim], owner: Any = None) -> Admission:
        raise ConnectionError("redis went away")


async def test_a_failing_store_refuses_with_503_rather_than_counting_nothing() -> None:
    gov, _ = governor(FailingStore())
    gov.memory = None                           # take the asynchronous (Redis-like) path
    c = call()
    gov.authenticate(c)
    with pytest.raises(GatewayError) as caught:
        await gov.admit(attempt_for(c))
    assert caught.value.status == 503 and "governance counters are unavailable" in caught.value.message


class SlowStore(MemoryCounters):
    """Answers admissions after a pause, like a Redis round trip."""

    async def admit(self, claims: Sequence[Claim], owner: Any = None) -> Admission:
        await asyncio.sleep(0.05)
        return self.admit_now(claims, owner)


async def test_a_hold_admitted_while_the_client_hung_up_is_released() -> None:
    store = SlowStore()
    gov, gateway = governor(store)
    gov.memory = None
    c = call()
    gov.authenticate(c)
    task = asyncio.ensure_future(gov.admit(attempt_for(c)))
    await asyncio.sleep(0.01)
    task.cancel()                               # the client went away during the round trip
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(50):
        await asyncio.sleep(0.01)
        if store.meters and not store.tickets:
            break
    assert store.meters and not store.tickets, "the admission completed and was then released"
    assert all(counter == [0, 0] for counter in store.meters.values())
    await gateway.stop()


async def test_rate_limits_slide_a_burst_at_a_minute_boundary_gets_an_honest_retry_after() -> None:
    """The provider config allows 3 requests a minute: 3 at 0:59, the 4th at 1:01 is refused
    (not final: another provider may serve) with retry-after 58, when the burst slides out."""
    clock = [60 * 29_000_000 + 59.0]
    gov, _ = governor(MemoryCounters(lambda: clock[0]))
    for _ in range(3):
        c = call()
        gov.authenticate(c)
        attempt = attempt_for(c)
        await gov.admit(attempt)
        attempt.outcome.status = 200
        attempt.outcome.usage = Usage(input_tokens=70, output_tokens=12)
        await gov.settle(attempt)
    clock[0] += 2
    c = call()
    gov.authenticate(c)
    with pytest.raises(RateLimited) as caught:
        await gov.admit(attempt_for(c))
    assert caught.value.final is False and caught.value.headers["retry-after"] == "58"
    assert caught.value.message == ("rate limit reached for provider config 'anthropic' of virtual key 'k': "
                                    "3 of 3 requests per 1m; retry in 58s")
    clock[0] += 58
    await gov.admit(attempt_for(c))
