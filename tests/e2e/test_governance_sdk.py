"""Governance end to end: real sockets, the official SDKs as clients, the mock upstream behind.

The routing and failover plugins are tested on their own; here a small stand-in turns a key's
`fallbacks` into targets and falls back after an upstream error, as they do.
"""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import aiohttp
import anthropic
import bifrost_governance
import openai
import orjson
import pytest

from bifrost_py import Advice, Target, hookimpl
from bifrost_py.testing import provider_config, running_gateway

SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"
ADMIN = {"authorization": "Bearer admin-secret"}
PROMPT = [{"role": "user", "content": "Tell me about budgets"}]
SONNET_USD = (3.0, 15.0)      # per million input / output tokens (the price book's catalogue)


class FallbackStandIn:
    """Targets from the caller's `fallbacks`; the next target after an upstream 429/5xx."""

    name = "fallback-stand-in"

    @hookimpl
    async def bifrost_route(self, call: Any, targets: list[Target]) -> list[Target] | None:
        fallbacks = call.caller.fallbacks if call.caller else ()
        return targets + [Target(*f.split("/", 1), rule="fallback") for f in fallbacks]

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Any) -> Advice | None:
        return Advice(Advice.NEXT) if attempt.outcome.status in (429, 500, 502, 503, 529) else None


def config(upstream: Any, tmp_path: Any, governance: dict[str, Any], **extra: Any) -> dict[str, Any]:
    providers = provider_config(upstream.url)
    providers["anthropic"]["models"] = [SONNET, HAIKU, "claude-opus-4-1-20250805"]
    providers["openai"]["models"] = ["gpt-4o", "gpt-4o-mini"]
    return {
        "providers": providers,
        "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
        "currency": {"code": "INR", "per_usd": 84.0},
        "admin": {"token": "admin-secret"},
        "governance": governance,
        **extra,
    }


async def start(start_gateway: Any, upstream: Any, tmp_path: Any, governance: dict[str, Any], **extra: Any) -> Any:
    gw = await start_gateway(config(upstream, tmp_path, governance, **extra),
                             plugins=[bifrost_governance, FallbackStandIn()], builtins=False)
    gw.upstream = upstream
    return gw


def claude(gw: Any, key: str = "vk-alice-secret", **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0, **kwargs)


def gpt(gw: Any, key: str = "vk-alice-secret") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key=key, max_retries=0)


async def usage(gw: Any, kind: str, name: str) -> dict[str, Any]:
    status, _, body = await gw.get(f"/api/governance/{kind}/{name}/usage", headers=ADMIN)
    assert status == 200, body
    return orjson.loads(body)


async def upstream_requests(gw: Any) -> list[dict[str, Any]]:
    return orjson.loads((await gw.upstream.get("/_mock/requests"))[2])


def text(error: Any) -> str:
    """The gateway's error message, as the client received it (the OpenAI SDK unwraps "error")."""
    body = error.body
    return str((body.get("error") or body)["message"])


def key(**fields: Any) -> dict[str, Any]:
    return {"key": "vk-alice-secret", **fields}


# ----------------------------------------------------------------------------- virtual keys


async def test_the_key_works_from_every_header_and_never_reaches_the_provider(start_gateway: Any, mock_upstream: Any,
                                                                              tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key()}})
    await claude(gw).messages.create(model=SONNET, max_tokens=20, messages=PROMPT)                 # x-api-key
    await anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", auth_token="vk-alice-secret",
                                   max_retries=0).messages.create(model=SONNET, max_tokens=20, messages=PROMPT)
    await gpt(gw).chat.completions.create(model="gpt-4o", messages=PROMPT)                         # Bearer
    await claude(gw, "not-a-key", default_headers={"x-bf-vk": "vk-alice-secret"}).messages.create(
        model=SONNET, max_tokens=20, messages=PROMPT)                                            # x-bf-vk wins
    sent = await upstream_requests(gw)
    assert len(sent) == 4
    for request in sent:
        assert "vk-alice-secret" not in orjson.dumps(request["headers"]).decode()
        assert "x-bf-vk" not in {k.lower() for k in request["headers"]}


async def test_unknown_or_missing_key_is_401_in_each_dialect(start_gateway: Any, mock_upstream: Any,
                                                             tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key()}})
    with pytest.raises(anthropic.AuthenticationError) as caught:
        await claude(gw, "vk-wrong").messages.create(model=SONNET, max_tokens=20, messages=PROMPT)
    assert caught.value.body["error"] == {"type": "authentication_error", "message": "invalid virtual key"}
    with pytest.raises(openai.AuthenticationError) as failed:
        await gpt(gw, "vk-wrong").chat.completions.create(model="gpt-4o", messages=PROMPT)
    assert failed.value.code == "invalid_api_key"
    status, _, body = await gw.post("/v1/messages", json={"model": SONNET, "max_tokens": 5, "messages": PROMPT})
    assert status == 401 and b"a virtual key is required" in body
    assert (await upstream_requests(gw)) == []


async def test_inactive_and_expired_keys_are_401(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {
        "off": {"key": "vk-off-secret", "active": False},
        "old": {"key": "vk-old-secret", "expires_at": "2020-01-01T00:00:00Z"},
        "later": {"key": "vk-later-secret", "expires_at": "2999-01-01"},
    }})
    for secret, text in (("vk-off-secret", "virtual key 'off' is inactive"),
                         ("vk-old-secret", "virtual key 'old' expired at 2020-01-01T00:00:00Z")):
        with pytest.raises(anthropic.AuthenticationError) as caught:
            await claude(gw, secret).messages.create(model=SONNET, max_tokens=20, messages=PROMPT)
        assert caught.value.body["error"]["message"] == text
    await claude(gw, "vk-later-secret").messages.create(model=SONNET, max_tokens=20, messages=PROMPT)


async def test_keys_can_be_optional(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path,
                     {"require_key": False, "virtual_keys": {"alice": key(models=[HAIKU])}})
    await claude(gw, "sk-anything").messages.create(model=SONNET, max_tokens=20, messages=PROMPT)
    with pytest.raises(anthropic.PermissionDeniedError):   # a known key still gets its own rules
        await claude(gw).messages.create(model=SONNET, max_tokens=20, messages=PROMPT)


# ----------------------------------------------------------------------------- access control


async def test_models_and_providers_outside_the_key_are_403(start_gateway: Any, mock_upstream: Any,
                                                           tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {
        "alice": key(models=["claude-sonnet-*", "gpt-4o"], providers=[{"provider": "anthropic"}]),
    }})
    await claude(gw).messages.create(model=SONNET, max_tokens=20, messages=PROMPT)   # glob
    with pytest.raises(anthropic.PermissionDeniedError) as caught:
        await claude(gw).messages.create(model=HAIKU, max_tokens=20, messages=PROMPT)
    assert caught.value.body["error"] == {"type": "permission_error",
                                          "message": f"model '{HAIKU}' is not allowed for virtual key 'alice'"}
    with pytest.raises(openai.PermissionDeniedError) as denied:   # the model is allowed, its provider is not
        await gpt(gw).chat.completions.create(model="gpt-4o", messages=PROMPT)
    assert "provider 'openai' is not allowed for virtual key 'alice'" in text(denied.value)
    with pytest.raises(anthropic.PermissionDeniedError) as caught:      # the client named the provider
        await claude(gw).messages.with_raw_response.create(model="openai/" + SONNET, max_tokens=20, messages=PROMPT)
    assert caught.value.response.headers["x-bf-attempts"] == "1"
    assert len(await upstream_requests(gw)) == 1


async def test_model_lists_show_a_key_only_what_it_may_use(start_gateway: Any, mock_upstream: Any,
                                                          tmp_path: Any) -> None:
    settings = config(mock_upstream, tmp_path, {"virtual_keys": {
        "alice": key(models=["claude-sonnet-*", "gpt-4o"]),
        "bob": {"key": "vk-bob-secret", "providers": [{"provider": "openai"}]},
        "carol": {"key": "vk-carol-secret", "models": ["claude-3-5-haiku-latest"]},
    }})
    settings["providers"]["legacy"] = {"type": "anthropic", "base_url": mock_upstream.url, "models": ["claude-3-*"]}
    gw = await start_gateway(settings, plugins=[bifrost_governance], builtins=False)
    assert sorted(m.id for m in (await gpt(gw).models.list()).data) == [SONNET, "gpt-4o"]
    listed = await claude(gw).models.list()
    assert sorted(m.id for m in listed.data) == [SONNET, "gpt-4o"]
    assert sorted(m.id for m in (await gpt(gw, "vk-bob-secret").models.list()).data) == ["gpt-4o", "gpt-4o-mini"]
    # Providers serving globs cannot list them; a key's exact names that resolve are shown.
    assert [m.id for m in (await gpt(gw, "vk-carol-secret").models.list()).data] == ["claude-3-5-haiku-latest"]
    with pytest.raises(openai.AuthenticationError):
        await gpt(gw, "vk-nobody").models.list()


# ----------------------------------------------------------------------------- budgets


def slow_stream_prompt(words: int = 40, delay: str = "400ms") -> list[dict[str, Any]]:
    return [{"role": "user", "content": f"[[slow:{delay}]] [[long:{words}]] Tell me a story"}]


async def stream_once(client: anthropic.AsyncAnthropic, words: int = 40, delay: str = "400ms") -> Any:
    """One streamed request; its final usage, or the APIStatusError that refused it."""
    try:
        async with client.messages.stream(model=SONNET, max_tokens=words,
                                          messages=slow_stream_prompt(words, delay)) as stream:
            return (await stream.get_final_message()).usage
    except anthropic.APIStatusError as error:
        return error


def usd(usage: Any) -> float:
    return (usage.input_tokens * SONNET_USD[0] + usage.output_tokens * SONNET_USD[1]) / 1e6


async def test_fifty_concurrent_streams_never_overshoot_the_budget(start_gateway: Any, mock_upstream: Any,
                                                                   tmp_path: Any) -> None:
    """₹1.00 (= $0.0119) against 50 concurrent streams that cost ~₹0.055 each: about 17 fit."""
    gw = await start(start_gateway, mock_upstream, tmp_path,
                     {"virtual_keys": {"alice": key(budget={"limit": 1.0, "reset": "monthly"})}})
    client = claude(gw)
    results = await asyncio.gather(*(stream_once(client) for _ in range(50)))
    served = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(r.status_code == 402 and r.body["error"]["type"] == "billing_error" for r in refused)
    assert len(served) + len(refused) == 50 and served and refused
    spent_usd = sum(usd(u) for u in served)
    assert spent_usd * 84 <= 1.0, "what the provider billed stays under the cap"
    view = (await usage(gw, "keys", "alice"))["budgets"][0]
    assert view["spent"] == pytest.approx(spent_usd * 84, abs=1e-6)
    assert view["spent"] <= view["limit"] == 1.0 and view["in_flight"] == 0
    message = refused[0].body["error"]["message"]
    assert re.fullmatch(
        r"budget exhausted for virtual key 'alice': spent ₹\d\.\d\d of ₹1\.00 this month; "
        r"resets \d{4}-\d\d-01 00:00 UTC \((₹\d\.\d\d held by requests in flight; )?"
        r"this request may cost up to ₹0\.0\d\)", message), message
    print(f"\n50 concurrent streams, cap ₹1.00: {len(served)} served, {len(refused)} refused with 402, "
          f"spent ₹{view['spent']:.4f}")


async def test_soft_mode_checks_spend_only_and_overshoots(start_gateway: Any, mock_upstream: Any,
                                                         tmp_path: Any) -> None:
    """Why strict is the default: checking spend alone lets every concurrent request in."""
    gw = await start(start_gateway, mock_upstream, tmp_path, {"mode": "soft", "virtual_keys": {
        "alice": key(budget={"limit": 1.0, "reset": "monthly"})}})
    client = claude(gw)
    results = await asyncio.gather(*(stream_once(client, delay="1s") for _ in range(50)))
    assert not [r for r in results if isinstance(r, Exception)]
    spent = (await usage(gw, "keys", "alice"))["budgets"][0]["spent"]
    assert spent > 1.0
    print(f"\nsoft mode, 50 concurrent streams, cap ₹1.00: all served, spent ₹{spent:.4f}")
    with pytest.raises(anthropic.APIStatusError) as caught:   # once spent, the next one is refused
        await client.messages.create(model=SONNET, max_tokens=5, messages=PROMPT)
    assert caught.value.status_code == 402


async def test_several_budgets_are_each_enforced(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key(budgets=[
        {"limit": 100.0, "reset": "monthly"}, {"limit": 0.05, "reset": "daily"}])}})
    client = claude(gw)
    await client.messages.create(model=SONNET, max_tokens=30, messages=PROMPT)
    with pytest.raises(anthropic.APIStatusError) as caught:
        for _ in range(20):
            await client.messages.create(model=SONNET, max_tokens=30, messages=PROMPT)
    assert "spent" in text(caught.value) and "today; resets" in text(caught.value)
    budgets = (await usage(gw, "keys", "alice"))["budgets"]
    assert [b["reset"] for b in budgets] == ["monthly", "daily"]
    assert budgets[0]["spent"] == budgets[1]["spent"] <= 0.05


async def test_team_cap_binds_while_the_key_has_room_and_is_final(start_gateway: Any, mock_upstream: Any,
                                                                 tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {
        "customers": {"acme": {"budget": {"limit": 1000.0}}},
        "teams": {"backend": {"customer": "acme", "budget": {"limit": 0.02, "reset": "monthly"}}},
        "virtual_keys": {"alice": key(team="backend", budget={"limit": 1000.0}, fallbacks=["openai/gpt-4o"])},
    })
    client = claude(gw)
    await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    before = len(await upstream_requests(gw))
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client.messages.with_raw_response.create(model=SONNET, max_tokens=100, messages=PROMPT)
    assert caught.value.status_code == 402
    assert text(caught.value).startswith("budget exhausted for team 'backend': spent ₹0.0")
    assert caught.value.response.headers["x-bf-attempts"] == "1", "a team refusal never starts a fallback"
    assert len(await upstream_requests(gw)) == before
    assert (await usage(gw, "keys", "alice"))["budgets"][0]["remaining"] > 999


async def test_customer_cap_binds_while_team_and_key_have_room(start_gateway: Any, mock_upstream: Any,
                                                              tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {
        "customers": {"acme": {"budget": {"limit": 0.01, "reset": "weekly"}}},
        "teams": {"backend": {"customer": "acme", "budget": {"limit": 1000.0}}},
        "virtual_keys": {"alice": key(team="backend")},
    })
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(gw).messages.create(model=SONNET, max_tokens=100, messages=PROMPT)
    assert caught.value.status_code == 402
    assert text(caught.value).startswith("budget exhausted for customer 'acme': spent ₹0.00 of ₹0.01 this week")


async def test_a_provider_over_its_cap_is_skipped_for_the_next_target(start_gateway: Any, mock_upstream: Any,
                                                                     tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key(
        providers=[{"provider": "anthropic", "budget": {"limit": 0.2, "reset": "daily"}}, {"provider": "openai"}],
        fallbacks=["openai/gpt-4o"],
    )}})
    client = claude(gw)
    long = [{"role": "user", "content": "[[long:50]] Tell me about budgets"}]   # ≈ ₹0.065 each
    first = await client.messages.with_raw_response.create(model=SONNET, max_tokens=50, messages=long)
    assert first.headers["x-bf-provider"] == "anthropic" and first.headers["x-bf-attempts"] == "1"
    for _ in range(10):     # until anthropic's provider-config budget cannot hold another request
        raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=50, messages=long)
        if raw.headers["x-bf-provider"] == "openai":
            break
    assert raw.headers["x-bf-provider"] == "openai" and raw.headers["x-bf-attempts"] == "2"
    assert (await raw.parse()).content[0].text
    view = await usage(gw, "keys", "alice")
    assert 0.1 < view["providers"]["anthropic"]["budgets"][0]["spent"] <= 0.2


async def test_the_provider_config_cap_binds_on_a_fallback_attempt(start_gateway: Any, mock_upstream: Any,
                                                                  tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key(
        providers=[{"provider": "anthropic"}, {"provider": "openai", "budget": {"limit": 0.05, "reset": "daily"}}],
        fallbacks=["openai/gpt-4o"],
    )}})
    client = claude(gw)
    # Anthropic overloaded: the fallback goes to OpenAI and is charged to OpenAI's provider config.
    await mock_upstream.post("/_mock/script", json={"responses": [{"status": 529}]})
    raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=10, messages=PROMPT)
    assert raw.headers["x-bf-provider"] == "openai" and raw.headers["x-bf-attempts"] == "2"
    view = await usage(gw, "keys", "alice")
    assert view["providers"]["openai"]["budgets"][0]["spent"] > 0
    assert view["budgets"] == [] and view["providers"]["openai"]["budgets"][0]["in_flight"] == 0
    # Once OpenAI's provider config cannot hold the fallback, the client gets 402 naming it.
    await mock_upstream.post("/_mock/script", json={"responses": [{"status": 529}]})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await client.messages.create(model=SONNET, max_tokens=1000, messages=PROMPT)
    assert caught.value.status_code == 402
    assert "#2 openai/gpt-4o: 402 billing_error (budget exhausted for provider config 'openai' of virtual key " \
           "'alice'" in text(caught.value)


async def test_a_failed_attempt_releases_its_hold(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key(
        budget={"limit": 10.0}, rate_limit={"tokens": 100000, "window": "1h"})}})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(gw).messages.create(model=SONNET, max_tokens=1000, messages=[
            {"role": "user", "content": "[[fail:529]] hello"}])
    assert caught.value.status_code == 529
    view = await usage(gw, "keys", "alice")
    assert view["budgets"][0]["spent"] == 0 and view["budgets"][0]["in_flight"] == 0
    assert view["rate_limits"][0]["used"] == 0 and view["rate_limits"][0]["in_flight"] == 0


async def test_a_client_that_hangs_up_mid_stream_pays_for_what_was_streamed(start_gateway: Any, mock_upstream: Any,
                                                                          tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key(budget={"limit": 10.0})}})
    await mock_upstream.post("/_mock/script", json={"responses": [{"long": 400, "stall": "5s"}]})
    body = {"model": SONNET, "max_tokens": 400, "stream": True, "messages": PROMPT}
    async with aiohttp.ClientSession() as session, \
            session.post(gw.url + "/v1/messages", json=body, headers={"x-api-key": "vk-alice-secret"}) as resp:
        assert resp.status == 200
        await resp.content.readuntil(b"content_block_delta")   # the first word, then the stall
    for _ in range(100):
        budget = (await usage(gw, "keys", "alice"))["budgets"][0]
        if budget["in_flight"] == 0:
            break
        await asyncio.sleep(0.05)
    assert budget["in_flight"] == 0, "the hold was settled after the disconnect"
    assert 0 < budget["spent"] < 400 * 15 / 1e6 * 84, "billed for the part that was streamed, not the worst case"


# ----------------------------------------------------------------------------- rate limits


def slides_out_within(retry_after: int, admitted: tuple[float, float], refused: tuple[float, float],
                      window: float = 60) -> bool:
    """retry-after (whole seconds, rounded up) matches "the oldest request leaves the window", given
    only the bounds we saw from the client: when that request and the refused one were in flight."""
    earliest = admitted[0] + window - refused[1]
    latest = admitted[1] + window - refused[0]
    return earliest <= retry_after <= latest + 1


async def test_the_sixth_request_in_a_minute_gets_429_with_retry_after(start_gateway: Any, mock_upstream: Any,
                                                                     tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path,
                     {"virtual_keys": {"alice": key(rate_limit={"requests": 5, "window": "1m"})}})
    client = claude(gw)
    first = time.time()
    await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    admitted = (first, time.time())            # the first request was admitted in here
    for _ in range(4):
        await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    refused = time.time()
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    retry_after = int(caught.value.response.headers["retry-after"])
    # The window slides: the first of the five leaves it one minute after it was admitted.
    assert 1 <= retry_after <= 60
    assert slides_out_within(retry_after, admitted, (refused, time.time())), "when the first request slides out"
    assert caught.value.body["error"]["message"].startswith("rate limit reached for virtual key 'alice': 5 of 5 "
                                                            "requests per 1m; retry in")
    with pytest.raises(openai.RateLimitError):
        await gpt(gw).chat.completions.create(model="gpt-4o", messages=PROMPT)
    assert len(await upstream_requests(gw)) == 5


async def test_two_gateways_on_one_redis_share_one_sliding_request_limit(start_gateway: Any, mock_upstream: Any,
                                                                         redis_url: str, tmp_path: Any) -> None:
    """Limit 5 a minute through two gateways sharing Redis: 5 in all, then 429 from either, with
    retry-after until the first of them slides out; the usage view shows the sliding window."""
    name = "slide-" + str(time.time_ns())          # the session's Redis is shared with other tests
    governance = {"virtual_keys": {name: {"key": "vk-" + name, "rate_limit": {"requests": 5, "window": "1m"}}}}
    gateways = [await start(start_gateway, mock_upstream, tmp_path, governance,
                            storage={"logs": f"sqlite:///{tmp_path}/gov{i}.db", "redis": redis_url}) for i in range(2)]
    clients = [claude(gw, "vk-" + name) for gw in gateways]
    first = time.time()
    await clients[0].messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    admitted = (first, time.time())            # the first request was admitted in here
    for i in range(1, 5):
        await clients[i % 2].messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    for client in clients:
        refused = time.time()
        with pytest.raises(anthropic.RateLimitError) as caught:
            await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
        assert slides_out_within(int(caught.value.response.headers["retry-after"]), admitted, (refused, time.time()))
    row = (await usage(gateways[1], "keys", name))["rate_limits"][0]
    assert row == {**row, "kind": "requests", "sliding": True, "used": 5, "in_flight": 0, "remaining": 0}
    assert row["resets_at"] is not None and row["window_start"] is not None


async def test_token_rate_limit_counts_input_and_output(start_gateway: Any, mock_upstream: Any,
                                                       tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path,
                     {"virtual_keys": {"alice": key(rate_limit={"tokens": 300, "window": "1h"})}})
    client = claude(gw)
    served = 0
    with pytest.raises(anthropic.RateLimitError) as caught:
        for _ in range(50):
            await client.messages.create(model=SONNET, max_tokens=20, messages=PROMPT)
            served += 1
    assert "token rate limit reached for virtual key 'alice'" in text(caught.value)
    limit = (await usage(gw, "keys", "alice"))["rate_limits"][0]
    assert limit["kind"] == "tokens" and limit["used"] <= 300 and served > 3


async def test_provider_rate_limit_skips_to_the_fallback(start_gateway: Any, mock_upstream: Any,
                                                        tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"virtual_keys": {"alice": key(
        providers=[{"provider": "anthropic", "rate_limit": {"requests": 2, "window": "1h"}},
                   {"provider": "openai", "rate_limit": {"requests": 1, "window": "1h"}}],
        fallbacks=["openai/gpt-4o"])}})
    client = claude(gw)
    providers = []
    started = []
    for _ in range(3):
        started.append(time.time())
        raw = await client.messages.with_raw_response.create(model=SONNET, max_tokens=10, messages=PROMPT)
        providers.append(raw.headers["x-bf-provider"])
    openai_admitted = (started[2], time.time())
    assert providers == ["anthropic", "anthropic", "openai"]
    refused = time.time()
    with pytest.raises(anthropic.RateLimitError) as caught:
        await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)
    # sliding: when OpenAI's one request leaves the hour
    assert slides_out_within(int(caught.value.response.headers["retry-after"]), openai_admitted,
                             (refused, time.time()), window=3600)
    assert "provider config 'openai'" in text(caught.value)


class InFlight:
    """Counts attempts that reached the provider call at the same time (after governance)."""

    name = "in-flight-probe"

    def __init__(self) -> None:
        self.now = self.most = 0

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Any) -> None:
        self.now -= 1


async def test_max_concurrent_holds_under_a_burst(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    probe = InFlight()
    gw = await start_gateway(config(mock_upstream, tmp_path, {"virtual_keys": {"alice": key(max_concurrent=3)}}),
                             plugins=[bifrost_governance, probe], builtins=False)
    client = claude(gw)
    results = await asyncio.gather(*(stream_once(client, words=5, delay="1s") for _ in range(20)))
    refused = [r for r in results if isinstance(r, Exception)]
    assert probe.most <= 3, "never more than max_concurrent requests in flight"
    assert len(refused) >= 1 and all(r.status_code == 429 for r in refused)
    assert refused[0].response.headers["retry-after"] == "1"
    assert "too many requests in flight for virtual key 'alice': 3 of max_concurrent 3" in text(refused[0])
    assert (await usage(gw, "keys", "alice"))["in_flight"] == {"max_concurrent": 3, "in_flight": 0}
    await client.messages.create(model=SONNET, max_tokens=10, messages=PROMPT)   # slots came back
    print(f"\nmax_concurrent 3, burst of 20: {20 - len(refused)} served, {len(refused)} refused with 429, "
          f"at most {probe.most} in flight")


# ----------------------------------------------------------------------------- persistence


async def test_a_restart_keeps_the_spend(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    governance = {"virtual_keys": {"alice": key(budget={"limit": 1.0, "reset": "monthly"})}}
    spent = []
    for _ in range(2):
        async with running_gateway(config(mock_upstream, tmp_path, governance), plugins=[bifrost_governance],
                                   builtins=False) as gw:
            await claude(gw).messages.create(model=SONNET, max_tokens=30, messages=PROMPT)
            spent.append((await usage(gw, "keys", "alice"))["budgets"][0]["spent"])
    assert spent[1] == pytest.approx(2 * spent[0], abs=2e-6), "the second run started from the first run's spend"


# ----------------------------------------------------------------------------- prices


async def test_a_model_without_a_price_is_never_free(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    for unpriced in ("refuse", "allow"):
        settings = config(mock_upstream, tmp_path / unpriced, {"unpriced": unpriced, "virtual_keys": {
            "alice": key(budget={"limit": 1.0}), "bob": {"key": "vk-bob-secret"}}})
        settings["providers"]["local"] = {"type": "mock", "models": ["mock-*"]}
        gw = await start_gateway(settings, plugins=[bifrost_governance], builtins=False)
        await claude(gw, "vk-bob-secret").messages.create(model="mock-1", max_tokens=10, messages=PROMPT)
        if unpriced == "refuse":
            with pytest.raises(anthropic.APIStatusError) as caught:
                await claude(gw).messages.create(model="mock-1", max_tokens=10, messages=PROMPT)
            assert caught.value.status_code == 402
            assert text(caught.value).startswith("model 'mock-1' on provider 'local' has no known price, so its cost "
                                                 "cannot be held against the budget of virtual key 'alice'")
        else:
            await claude(gw).messages.create(model="mock-1", max_tokens=10, messages=PROMPT)
            metrics = (await gw.get("/metrics"))[2].decode()
            assert "bifrost_governance_unpriced_total 1.0" in metrics


async def test_an_answer_longer_than_what_was_held_is_charged_and_counted(start_gateway: Any, mock_upstream: Any,
                                                                        tmp_path: Any) -> None:
    gw = await start(start_gateway, mock_upstream, tmp_path, {"default_max_tokens": 5, "virtual_keys": {
        "alice": key(budget={"limit": 1.0})}})
    await gpt(gw).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "[[long:50]] go"}])
    assert (await usage(gw, "keys", "alice"))["budgets"][0]["spent"] > 50 * 10 / 1e6 * 84 * 0.99
    assert "bifrost_governance_overruns_total 1.0" in (await gw.get("/metrics"))[2].decode()
    refusals = (await gw.get("/metrics"))[2].decode()
    assert "bifrost_governance_refusals_total" in refusals
