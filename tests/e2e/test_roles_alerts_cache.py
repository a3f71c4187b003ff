"""What a team manager reads of the alerts and the cache, through the real HTTP path: signed in
with a password, they see only the alerts about their own team (its budget, its keys' budgets
and spend rate, and the customer's budget with the top spenders cut to their team), the
deliveries of those alerts only, and a 403 that says why for the cache's entry list. An admin
sees everything. On SQLite and on PostgreSQL (the key's team is read from the cost log there).

The gateway's config folder is the test's own: on PostgreSQL the cache keeps its entries in a
file `bifrost-cache.db` beside the config, and a shared folder (the working directory) let an
earlier run's entries answer these requests: cache hits cost nothing, so no alert came."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import bifrost_cache
import bifrost_costlog
import bifrost_governance
from bifrost_alerts.testing import running_webhook_receiver

sys.path.insert(0, str(Path(__file__).parents[1] / "accounts"))
from accounts_wire import ADMIN_TOKEN, Person, admin_call

from bifrost_py.config import Config, config_from_dict
from bifrost_py.testing import provider_config, running_gateway

BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
PLUGINS = [bifrost_governance, bifrost_costlog, bifrost_alerts, bifrost_cache]
MONTHLY = {"reset": "monthly"}


def settings(folder: Path, logs_url: str, upstream: str, hook: str) -> Config:
    """Each request costs about ₹0.0073: the first of a key passes 10 % of its own, its team's
    and (at the third request) the customer's budget, and the spend-rate alarm. `folder` is the
    config's folder (where the cache's own file goes when the logs are in PostgreSQL)."""
    return config_from_dict({
        "providers": provider_config(upstream),
        "admin": {"token": ADMIN_TOKEN},
        "storage": {"logs": logs_url},
        "currency": {"code": "INR", "per_usd": 84.0},
        "costlog": {"flush_interval": "10ms"},
        "cache": {"enabled": True},
        "governance": {
            "mode": "soft",
            "customers": {"acme": {"budget": {"limit": 0.2, **MONTHLY}}},
            "teams": {"backend": {"customer": "acme", "budget": {"limit": 0.05, **MONTHLY}},
                      "platform": {"customer": "acme", "budget": {"limit": 0.05, **MONTHLY}}},
            "virtual_keys": {"dev": {"key": "vk-dev-0001", "team": "backend", "budget": {"limit": 0.05, **MONTHLY}},
                             "ops": {"key": "vk-ops-0001", "team": "platform",
                                     "budget": {"limit": 0.05, **MONTHLY}}}},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": hook}}, "budget_thresholds": [10],
                   "spend_rate": {"max_per_hour": 0.001}},
    }, base_dir=folder)


async def requests_logged(client: aiohttp.ClientSession, gw: Any, keys: list[str]) -> None:
    """One request per key in turn, each in the cost log before the next (the alerts' top
    spenders read it). Each one reaches the upstream: a cache hit would cost nothing."""
    for sent, key in enumerate(keys, 1):
        body = {**BODY, "messages": [{"role": "user", "content": f"hello {sent}"}]}
        async with client.post(gw.url + "/anthropic/v1/messages", json=body, headers={"x-api-key": key}) as answer:
            assert answer.status == 200, await answer.text()
            assert answer.headers.get("x-bf-cache") == "miss", "answered from a cache left by an earlier gateway"
        for _ in range(500):  # the cost log writes off the request path
            if len((await admin_call(gw.url, "GET", "/logs?limit=50"))[1]["rows"]) == sent:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("the request never reached the cost log")


def described(alert: dict[str, Any]) -> tuple[str, str]:
    details = alert["details"]
    return alert["kind"], details.get("entity") or details.get("key") or ""


async def test_a_team_manager_reads_only_their_teams_alerts_and_no_cache_entries(
        tmp_path: Path, logs_url: str, mock_upstream: Any) -> None:
    async with running_webhook_receiver() as hook, \
            running_gateway(settings(tmp_path, logs_url, mock_upstream.url, hook.url), plugins=PLUGINS,
                            builtins=False) as gw, \
            aiohttp.ClientSession() as client:
        await requests_logged(client, gw, ["vk-dev-0001", "vk-ops-0001", "vk-dev-0001"])
        assert (await admin_call(gw.url, "POST", "/alerts/test", {}))[0] == 200
        await hook.wait_for(8)  # dev, backend, ops, platform, acme, two spend rates, the test
        async with asyncio.timeout(30):  # each delivery is recorded once the receiver answered
            while len((await admin_call(gw.url, "GET", "/alerts/deliveries"))[1]["deliveries"]) < 8:
                await asyncio.sleep(0.02)
        status, made = await admin_call(gw.url, "POST", "/users", {
            "username": "lead", "password": "a long enough password", "role": "team_manager", "teams": ["backend"]})
        assert status == 201, made
        lead = Person(gw.url)
        try:
            assert (await lead.sign_in("lead", "a long enough password"))[0] == 200
            everything = (await admin_call(gw.url, "GET", "/alerts"))[1]["alerts"]
            status, theirs = await lead.call("GET", "/alerts")
            assert status == 200
            status, deliveries = await lead.call("GET", "/alerts/deliveries")
            assert status == 200
            all_deliveries = (await admin_call(gw.url, "GET", "/alerts/deliveries"))[1]["deliveries"]
            status, refused = await lead.call("GET", "/cache/entries")
            admin_status, entries = await admin_call(gw.url, "GET", "/cache/entries")
            status_one, one = await lead.call("GET", "/alerts?limit=1")
        finally:
            await lead.close()

    assert sorted(map(described, everything)) == [
        ("budget", "acme"), ("budget", "backend"), ("budget", "dev"), ("budget", "ops"), ("budget", "platform"),
        ("spend_rate", "dev"), ("spend_rate", "ops"), ("test", "")]
    assert sorted(map(described, theirs["alerts"])) == [
        ("budget", "acme"), ("budget", "backend"), ("budget", "dev"), ("spend_rate", "dev")]
    assert "platform" not in str(theirs) and "ops" not in str(theirs)
    customer = next(a for a in theirs["alerts"] if a["details"].get("tier") == "customer")
    assert [t["name"] for t in customer["details"]["top_spenders"]] == ["backend"]
    assert "Top spenders: backend" in customer["text"]
    full = next(a for a in everything if a["details"].get("tier") == "customer")
    assert {t["name"] for t in full["details"]["top_spenders"]} == {"backend", "platform"}

    shown_ids = {a["id"] for a in theirs["alerts"]}
    assert len(all_deliveries) == 8 and len(deliveries["deliveries"]) == 4
    assert {d["message_id"] for d in deliveries["deliveries"]} == shown_ids
    assert status_one == 200 and len(one["alerts"]) == 1 and one["alerts"][0]["id"] in shown_ids

    assert status == 403 and "cannot be narrowed to your teams" in refused["error"]["message"]
    assert admin_status == 200 and "entries" in entries
