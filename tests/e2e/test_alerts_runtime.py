"""Alert channels and thresholds set through the admin API, over real sockets: a webhook channel
and a 10% threshold added to a running gateway that had none, a request crosses it, the receiver
gets exactly one signed alert; the signing secret is in no answer, no log line, no audit entry
and not in the database file. A second gateway on the same database follows the change."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import bifrost_costlog
import bifrost_governance
import pytest
from bifrost_alerts.channels.webhook import SIGNATURE_HEADER, signature
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py.testing import provider_config, running_gateway

KEY = "vk-dev-asha-2f9c71e0"
HOOK_SECRET = "whsec-runtime-7d1c9e20b4"
ADMIN = {"authorization": "Bearer admin-t"}
BODY = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "messages": [{"role": "user", "content": "hello"}]}
PLUGINS = [bifrost_governance, bifrost_costlog, bifrost_alerts]


def settings(db: Path, upstream: str) -> dict[str, Any]:
    return {
        "providers": provider_config(upstream),
        "storage": {"logs": f"sqlite:///{db}"},
        "currency": {"code": "INR", "per_usd": 84.0},
        "admin": {"token": "admin-t"},
        "costlog": {"flush_interval": "10ms"},
        "governance": {"mode": "soft",
                       "teams": {"backend": {"budget": {"limit": 0.25, "reset": "monthly"}}},
                       "virtual_keys": {"dev-asha": {"key": KEY, "team": "backend"}}},
    }


async def call(client: aiohttp.ClientSession, gw: Any, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with client.request(method, gw.url + "/api" + path, json=body, headers=ADMIN) as answer:
        return answer.status, await answer.json()


async def requests(client: aiohttp.ClientSession, gw: Any, count: int) -> None:
    for _ in range(count):  # about ₹0.0073 each: the 4th passes 10 % of ₹0.25
        async with client.post(gw.url + "/anthropic/v1/messages", json=BODY, headers={"x-api-key": KEY}) as answer:
            assert answer.status == 200


async def settled(gw: Any) -> None:
    """Every alert this gateway posted has been delivered (its outbox has nothing in flight)."""
    plugin = next(i.plugin for i in gw.gateway.plugins.infos if isinstance(i.plugin, bifrost_alerts.AlertsBase))
    async with asyncio.timeout(30):
        while plugin.outbox.tasks:
            await asyncio.gather(*plugin.outbox.tasks, return_exceptions=True)


async def test_a_channel_and_a_threshold_added_through_the_api_fire_once_signed(
        tmp_path: Path, mock_upstream: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    db = tmp_path / "logs.db"
    async with running_webhook_receiver() as hook, running_gateway(settings(db, mock_upstream.url), plugins=PLUGINS,
                                                                   builtins=False) as gw, \
            aiohttp.ClientSession() as client:
        status, made = await call(client, gw, "POST", "/alerts/channels",
                                  {"name": "ops-hook", "type": "webhook", "url": hook.url, "secret": HOOK_SECRET})
        assert status == 201, made
        assert made["source"] == "ui" and made["signed"] is True and made["enabled"] is True
        status, shown = await call(client, gw, "PATCH", "/alerts/settings", {"budget_thresholds": [10]})
        assert status == 200 and shown["budget_thresholds"] == [10] and shown["sources"]["budget_thresholds"] == "ui"

        await requests(client, gw, 6)
        [alert] = await hook.wait_for(1)
        await settled(gw)
        assert len(hook.received) == 1
        payload = alert.json()
        assert (payload["tier"], payload["entity"], payload["threshold"]) == ("team", "backend", 10)
        assert alert.headers[SIGNATURE_HEADER] == signature(HOOK_SECRET, alert.body)

        answers = [await call(client, gw, "GET", path) for path in
                   ("/alerts/config", "/alerts/channels/ops-hook", "/alerts/settings", "/alerts?limit=10", "/audit")]
        audit = answers[-1][1]["entries"]
        assert [e["action"] for e in audit][-2:] == ["PATCH /alerts/settings", "POST /alerts/channels"]
        assert audit[-2]["before"]["budget_thresholds"] == [50, 80, 100]
        assert audit[-2]["after"]["budget_thresholds"] == [10]
        assert audit[-1]["request"]["secret"].startswith("••••") and audit[-1]["after"]["signed"] is True
        status, disabled = await call(client, gw, "PATCH", "/alerts/channels/ops-hook", {"enabled": False})
        assert status == 200 and disabled["enabled"] is False
        status, audit = await call(client, gw, "GET", "/audit?limit=1")
        assert audit["entries"][0]["before"]["enabled"] is True and audit["entries"][0]["after"]["enabled"] is False
        answers.append((status, audit))
    for _, answer in answers:
        assert HOOK_SECRET not in str(answer)
    assert HOOK_SECRET not in caplog.text
    assert list(tmp_path.glob("logs.db*"))
    for file in tmp_path.glob("logs.db*"):
        assert HOOK_SECRET.encode() not in file.read_bytes(), file.name


async def test_another_gateway_on_the_same_database_follows_a_new_channel(tmp_path: Path, mock_upstream: Any) -> None:
    db = tmp_path / "logs.db"
    async with running_webhook_receiver() as hook, \
            running_gateway(settings(db, mock_upstream.url), plugins=PLUGINS, builtins=False) as one, \
            running_gateway(settings(db, mock_upstream.url), plugins=PLUGINS, builtins=False) as two, \
            aiohttp.ClientSession() as client:
        assert (await call(client, one, "PATCH", "/alerts/settings", {"budget_thresholds": [10]}))[0] == 200
        status, _ = await call(client, one, "POST", "/alerts/channels",
                               {"name": "ops-hook", "type": "webhook", "url": hook.url, "secret": HOOK_SECRET})
        assert status == 201
        created = time.monotonic()
        async with asyncio.timeout(20):  # followed within RELOAD_SECONDS
            while not (await call(client, two, "GET", "/alerts/config"))[1]["channels"]:
                await asyncio.sleep(0.05)
        print(f"\nthe other gateway followed the new channel in {time.monotonic() - created:.2f} s")  # -s shows it
        await requests(client, two, 6)
        [alert] = await hook.wait_for(1)
        await settled(two)
    assert alert.json()["threshold"] == 10 and len(hook.received) == 1
    assert alert.headers[SIGNATURE_HEADER] == signature(HOOK_SECRET, alert.body)


async def test_a_slack_url_is_nowhere_in_the_database(tmp_path: Path, mock_upstream: Any) -> None:
    slack = "https://hooks.slack.com/services/T01/B02/slack-secret-part-9f3e"
    other = "https://hooks.slack.com/services/T01/B03/second-secret-7a1b"
    refused = "https://hooks.slack.com/services/T01/B04/refused-secret-0c2d"
    async with running_gateway(settings(tmp_path / "logs.db", mock_upstream.url), plugins=PLUGINS,
                               builtins=False) as gw, aiohttp.ClientSession() as client:
        status, made = await call(client, gw, "POST", "/alerts/channels", {"name": "team", "type": "slack", "url": slack})
        assert status == 201 and made["url"] == "https://hooks.slack.com/services/…"
        status, changed = await call(client, gw, "PATCH", "/alerts/channels/team", {"url": other})
        assert status == 200 and changed["url"] == "https://hooks.slack.com/services/…"
        status, _ = await call(client, gw, "POST", "/alerts/channels", {"name": "bad name!", "type": "slack",
                                                                         "url": refused})
        assert status == 400
        status, audit = await call(client, gw, "GET", "/audit")
        assert status == 200
        refusal, change, creation = audit["entries"][:3]
        # the audit shows each body as the channel's GET shows the channel: the URL cut after its first part
        assert creation["request"]["url"] == change["request"]["url"] == "https://hooks.slack.com/services/…"
        assert (refusal["status"], refusal["request"]["url"]) == (400, "https://hooks.slack.com/services/…")
        exported = await client.get(gw.url + "/api/audit/export?format=csv", headers=ADMIN)
        shown = str(audit) + await exported.text()
        for url in (slack, other, refused):
            assert url not in shown
    for file in tmp_path.glob("logs.db*"):
        for url in (slack, other, refused):
            assert url.encode() not in file.read_bytes(), file.name


async def test_a_report_scheduled_through_the_api_is_delivered_then_stops_when_deleted(
        tmp_path: Path, mock_upstream: Any) -> None:
    every_2s = "* * * * * */2"  # croniter: a sixth field is seconds
    async with running_webhook_receiver() as hook, running_gateway(settings(tmp_path / "logs.db", mock_upstream.url),
                                                                   plugins=PLUGINS, builtins=False) as gw, \
            aiohttp.ClientSession() as client:
        await call(client, gw, "POST", "/alerts/channels", {"name": "ops-hook", "type": "webhook", "url": hook.url})
        status, answer = await call(client, gw, "POST", "/alerts/reports",
                                    {"name": "weekly", "schedule": "61 * * * *", "send_to": ["nowhere"]})
        assert status == 400 and answer["error"]["problems"] == [
            "reports.weekly.schedule: is not a cron schedule (minute hour day month weekday); got '61 * * * *'",
            "reports.weekly.send_to: no channel named 'nowhere' under alerts.channels (there are: ops-hook)"]
        status, made = await call(client, gw, "POST", "/alerts/reports",
                                  {"name": "weekly", "schedule": every_2s, "timezone": "Asia/Kolkata", "by": "team",
                                   "format": "json", "send_to": ["ops-hook"]})
        assert status == 201 and made["source"] == "ui" and made["format"] == "json"
        await requests(client, gw, 2)
        async with asyncio.timeout(30):
            while not any(r.json()["type"] == "report" for r in hook.received):
                await hook.wait_for(len(hook.received) + 1)
        report = next(r.json() for r in hook.received if r.json()["type"] == "report")
        assert report["report"]["filename"].startswith("weekly-") and report["report"]["mime"] == "application/json"

        status, answer = await call(client, gw, "DELETE", "/alerts/channels/ops-hook")
        assert status == 409 and "in use" in answer["error"]["message"]
        status, changed = await call(client, gw, "PATCH", "/alerts/reports/weekly", {"schedule": "0 9 * * MON"})
        assert status == 200 and changed["schedule"] == "0 9 * * MON"
        shown = (await call(client, gw, "GET", "/alerts/config"))[1]
        assert shown["next_reports"]["weekly"] > time.time() + 60  # rescheduled: next Monday, not in 2 s
        assert (await call(client, gw, "DELETE", "/alerts/reports/weekly"))[0] == 200
        shown = (await call(client, gw, "GET", "/alerts/config"))[1]
        assert shown["reports"] == [] and shown["next_reports"] == {}
        assert (await call(client, gw, "DELETE", "/alerts/channels/ops-hook"))[0] == 200
