"""Budget thresholds: each fires exactly once per window, signed, retried, recorded; also
under 50 concurrent charges, across two gateways sharing Redis, and after a restart."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from typing import Any

import bifrost_alerts
import pytest
from bifrost_alerts.testing import running_smtp_server, running_webhook_receiver

from bifrost_py import BudgetUsage
from bifrost_py.testing import running_gateway

SECRET = "s3cret"
TOKEN = "admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NOW = float(int(time.time()))
MONTH = (NOW - 10 * 86400, NOW + 20 * 86400)  # the window we are in


def config(tmp_path: Any, hook_url: str, **alerts: Any) -> dict[str, Any]:
    return {
        "providers": {"mock": {"type": "mock"}},
        "storage": {"logs": f"sqlite:///{tmp_path}/logs.db", **alerts.pop("storage", {})},
        "admin": {"token": TOKEN},
        "currency": {"code": "INR", "per_usd": 84.0},
        "alerts": {"channels": {"hook": {"type": "webhook", "url": hook_url, "secret": SECRET, "backoff": "10ms",
                                         **alerts.pop("hook", {})}},
                   **alerts},
    }


def usage(spent: float, window: tuple[float, float] = MONTH, name: str = "backend") -> BudgetUsage:
    return BudgetUsage("team", name, spent=spent, limit=10_000.0, currency="INR", period="monthly",
                       window_start=window[0], window_end=window[1])


def verify(received: Any) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(received.headers["X-Bifrost-Signature"], expected)


async def charge_concurrently(gateway: Any, amounts: list[float], window: tuple[float, float] = MONTH) -> None:
    await asyncio.gather(*(gateway.plugins.budget_update(gateway, [usage(a, window)]) for a in amounts))


@contextlib.asynccontextmanager
async def alerting(tmp_path: Any, *, fail_first: int = 0, fail_status: int = 503,
                   **alerts: Any) -> AsyncIterator[tuple[Any, Any]]:
    """A webhook receiver and a gateway whose alerts go to it: (receiver, gateway)."""
    async with running_webhook_receiver(fail_first=fail_first, fail_status=fail_status) as hook, \
            running_gateway(config(tmp_path, hook.url, **alerts), plugins=[bifrost_alerts], builtins=False) as gw:
        yield hook, gw


async def drained(gateway: Any) -> None:
    plugin = next(info.plugin for info in gateway.plugins.ordered() if info.name == "alerts")
    while plugin.outbox.tasks:
        await asyncio.gather(*plugin.outbox.tasks)


async def test_each_threshold_fires_once_under_50_concurrent_charges_and_again_next_window(tmp_path: Any) -> None:
    async with alerting(tmp_path) as (hook, gw):
        amounts = [i * 10_000 / 45 for i in range(50)]  # 0 % .. 109 %: crosses 50, 80 and 100
        await charge_concurrently(gw.gateway, amounts)
        await drained(gw.gateway)
        assert sorted(r.json()["threshold"] for r in hook.received) == [50, 80, 100]
        assert all(verify(r) for r in hook.received)
        first = next(r.json() for r in hook.received if r.json()["threshold"] == 100)
        assert first["entity"] == "backend" and first["tier"] == "team" and first["limit"] == 10_000.0
        assert first["window"] == {"start": MONTH[0], "end": MONTH[1]}
        assert "₹" in first["title"] and "of ₹10,000.00" in first["title"]

        await charge_concurrently(gw.gateway, amounts)  # the same window again: nothing new
        next_month = (MONTH[1], MONTH[1] + 31 * 86400)
        await charge_concurrently(gw.gateway, [6_000.0] * 50, next_month)  # a new window: 50 % again
        await drained(gw.gateway)
        assert sorted(r.json()["threshold"] for r in hook.received) == [50, 50, 80, 100]


async def test_a_restart_does_not_fire_a_threshold_twice(tmp_path: Any, logs_url: str) -> None:
    """On SQLite and on PostgreSQL: the marks outlive the process, and so does the history."""
    import orjson

    async with running_webhook_receiver() as hook:
        for _ in range(2):
            settings = config(tmp_path, hook.url, storage={"logs": logs_url})
            async with running_gateway(settings, plugins=[bifrost_alerts], builtins=False) as gw:
                await charge_concurrently(gw.gateway, [8_500.0] * 10)
                await drained(gw.gateway)
                status, _, body = await gw.get("/api/alerts?kind=budget", headers=AUTH)
        assert sorted(r.json()["threshold"] for r in hook.received) == [50, 80]
        assert status == 200 and sorted(a["details"]["threshold"] for a in orjson.loads(body)["alerts"]) == [50, 80]


async def test_two_gateways_sharing_redis_fire_each_threshold_once(tmp_path: Any, redis_url: str) -> None:
    extra = {"storage": {"redis": redis_url}}
    name = f"team-{time.time_ns()}"  # the session's Redis is shared by the suite
    async with running_webhook_receiver() as hook:
        async with running_gateway(config(tmp_path / "a", hook.url, **dict(extra)), plugins=[bifrost_alerts],
                                   builtins=False) as a, \
                running_gateway(config(tmp_path / "b", hook.url, **dict(extra)), plugins=[bifrost_alerts],
                                builtins=False) as b:
            charges = [gw.gateway.plugins.budget_update(gw.gateway, [usage(i * 250.0, name=name)])
                       for i in range(50) for gw in (a, b)]
            await asyncio.gather(*charges)
        assert sorted(r.json()["threshold"] for r in hook.received) == [50, 80, 100]


async def test_per_entity_thresholds_replace_the_global_ones(tmp_path: Any) -> None:
    settings = config(tmp_path, "http://127.0.0.1:9/unused", budget_thresholds=[90],
                      thresholds_for={"team:backend": [25, 75]})
    async with running_webhook_receiver() as hook:
        settings["alerts"]["channels"]["hook"]["url"] = hook.url
        async with running_gateway(settings, plugins=[bifrost_alerts], builtins=False) as gw:
            await gw.gateway.plugins.budget_update(gw.gateway, [usage(9_500.0), usage(9_500.0, name="frontend")])
        got = sorted((r.json()["entity"], r.json()["threshold"]) for r in hook.received)
        assert got == [("backend", 25), ("backend", 75), ("frontend", 90)]


async def test_an_entitys_own_alert_thresholds_come_with_its_budget(tmp_path: Any) -> None:
    """A budget plugin passes the entity's `alert_thresholds`; `thresholds_for` still wins."""
    from dataclasses import replace

    own = replace(usage(9_500.0, name="mobile"), thresholds=(95, 60))
    overridden = replace(usage(9_500.0), thresholds=(10,))
    async with alerting(tmp_path, budget_thresholds=[99], thresholds_for={"team:backend": [90]}) as (hook, gw):
        await gw.gateway.plugins.budget_update(gw.gateway, [own, overridden])
        await drained(gw.gateway)
    got = sorted((r.json()["entity"], r.json()["threshold"]) for r in hook.received)
    assert got == [("backend", 90), ("mobile", 60), ("mobile", 95)]


async def test_a_failing_receiver_is_retried_and_every_delivery_recorded(tmp_path: Any) -> None:
    async with alerting(tmp_path, fail_first=2) as (hook, gw):
        await gw.gateway.plugins.budget_update(gw.gateway, [usage(5_000.0)])
        await drained(gw.gateway)
        assert hook.refused == 2 and len(hook.received) == 1
        status, _, body = await gw.get("/api/alerts", headers=AUTH)
        assert status == 200
        import orjson

        alert = orjson.loads(body)["alerts"][0]
        assert alert["kind"] == "budget" and alert["details"]["threshold"] == 50
        assert alert["deliveries"] == [{**alert["deliveries"][0], "channel": "hook", "ok": True, "attempts": 3,
                                        "status": 200, "error": ""}]


async def test_a_receiver_that_never_answers_well_leaves_a_recorded_failure(tmp_path: Any) -> None:
    import orjson

    async with running_webhook_receiver(fail_first=1_000, fail_status=500) as hook:
        settings = config(tmp_path, hook.url, hook={"retries": 2})
        async with running_gateway(settings, plugins=[bifrost_alerts], builtins=False) as gw:
            await gw.gateway.plugins.budget_update(gw.gateway, [usage(5_000.0)])
            await drained(gw.gateway)
            status, _, body = await gw.get("/api/alerts/deliveries?failed=true", headers=AUTH)
        assert status == 200 and hook.refused == 3
        [failed] = orjson.loads(body)["deliveries"]
        assert failed["ok"] is False and failed["attempts"] == 3 and failed["status"] == 500
        assert "HTTP 500" in failed["error"]


async def test_slack_and_email_channels_get_their_own_shapes(tmp_path: Any) -> None:
    with running_smtp_server() as smtp:
        async with running_webhook_receiver() as slack:
            settings = config(tmp_path, "http://127.0.0.1:9/unused", send_to=["slack", "mail"])
            settings["alerts"]["channels"] |= {
                "slack": {"type": "slack", "url": slack.url},
                "mail": {"type": "email", "smtp": f"smtp://127.0.0.1:{smtp.port}", "from": "gw@example.com",
                         "to": ["finance@example.com"]},
            }
            async with running_gateway(settings, plugins=[bifrost_alerts], builtins=False) as gw:
                await gw.gateway.plugins.budget_update(gw.gateway, [usage(8_000.0)])
            [message] = await slack.wait_for(1)
            body = message.json()
            assert body["blocks"][0]["type"] == "header" and "80%" in body["text"]
            assert "X-Bifrost-Signature" not in message.headers
            mails = await smtp.wait_for(2)
        subjects = sorted(m["Subject"] for m in mails)
        assert subjects[0].startswith("Budget 50% reached") and subjects[1].startswith("Budget 80% reached")
        parts = {part.get_content_type() for part in mails[0].walk()}
        assert {"text/plain", "text/html"} <= parts
        assert mails[0]["To"] == "finance@example.com"


async def test_the_test_action_answers_with_each_delivery(tmp_path: Any) -> None:
    import orjson

    async with alerting(tmp_path) as (hook, gw):
        status, _, body = await gw.post("/api/alerts/test", json={"channel": "hook"}, headers=AUTH)
        assert status == 200
        [delivery] = orjson.loads(body)["deliveries"]
        assert delivery["ok"] and delivery["channel"] == "hook"
        assert hook.received[0].json()["type"] == "test" and verify(hook.received[0])
        status, _, body = await gw.post("/api/alerts/test", json={"channel": "nope"}, headers=AUTH)
        assert status == 404 and "no alert channel named 'nope'" in orjson.loads(body)["error"]["message"]
        status, _, body = await gw.post("/api/alerts/test", data=b"[1,", headers=AUTH)
        assert status == 400
        status, _, body = await gw.get("/api/alerts/config", headers=AUTH)
        shown = orjson.loads(body)
        assert shown["channels"][0] == {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:"
                                        + hook.url.split(":")[2].split("/")[0] + "/hook", "signed": True,
                                        "source": "config", "read_only": True, "enabled": True, "problems": []}
        assert SECRET not in body.decode()


@pytest.mark.parametrize("bad, message", [
    ({"budget_thresholds": [0, 50]}, "alerts.budget_thresholds: percentages must be between 1 and 1000"),
    ({"send_to": ["nowhere"]}, "alerts.send_to: no channel named 'nowhere'"),
    ({"thresholds_for": {"squad:x": [50]}}, "alerts.thresholds_for.squad:x: must be '<tier>:<name>'"),
    ({"loop": {"repeats": 0}}, "alerts.loop.repeats: must be at least 1"),
])
def test_config_mistakes_name_their_path(tmp_path: Any, bad: dict[str, Any], message: str) -> None:
    from bifrost_py.config import config_from_dict
    from bifrost_py.configschema import ConfigError
    from bifrost_py.gateway import Gateway

    with pytest.raises(ConfigError) as caught:
        Gateway(config_from_dict(config(tmp_path, "http://127.0.0.1:9/x", **bad)), plugins=[bifrost_alerts],
                builtins=False)
    assert any(problem.startswith(message) for problem in caught.value.problems), caught.value.problems


async def test_a_team_alert_names_its_top_keys_from_the_cost_log(tmp_path: Any) -> None:
    import sqlite3

    with sqlite3.connect(tmp_path / "logs.db") as db:  # the cost log's table, as bifrost_costlog writes it
        db.execute("CREATE TABLE request_log (ts REAL, key_name TEXT, team TEXT, customer TEXT, model TEXT, "
                   "provider TEXT, session_id TEXT, cost_usd REAL)")
        rows = [(NOW - 60, "dev-asha", "backend", "acme", "claude-opus-4-8", "anthropic", "s1", 30.0),
                (NOW - 50, "dev-pranay", "backend", "acme", "claude-sonnet-4-20250514", "anthropic", "s2", 10.0),
                (NOW - 40, "dev-asha", "backend", "acme", "claude-sonnet-4-20250514", "anthropic", "s1", 5.0),
                (NOW - 30, "dev-ravi", "mobile", "acme", "claude-opus-4-8", "anthropic", "s3", 99.0),
                (MONTH[0] - 86400, "dev-pranay", "backend", "acme", "claude-opus-4-8", "anthropic", "s2", 99.0)]
        db.executemany("INSERT INTO request_log VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
    async with alerting(tmp_path) as (hook, gw):
        await gw.gateway.plugins.budget_update(gw.gateway, [usage(5_000.0)])
        [alert] = await hook.wait_for(1)
    # this window only, the team's keys, most first, in ₹ (per_usd 84)
    assert alert.json()["top_spenders"] == [{"name": "dev-asha", "spent": 2940.0}, {"name": "dev-pranay", "spent": 840.0}]
    assert "Top spenders: dev-asha ₹2,940.00, dev-pranay ₹840.00" in alert.json()["text"]
