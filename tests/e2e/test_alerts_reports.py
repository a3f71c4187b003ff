"""Scheduled reports: a schedule every two seconds delivers the CSV that `bifrost-py report`
prints, to a folder, a webhook and a mailbox, each fire once, and HTML is that table."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import bifrost_costlog
import orjson
from bifrost_alerts.testing import running_smtp_server, running_webhook_receiver

from bifrost_py import Caller, hookimpl
from bifrost_py.testing import provider_config

EVERY_2S = "* * * * * */2"  # croniter: a sixth field is seconds


class Identify:
    PLUGIN_NAME = "identify"

    @hookimpl(tryfirst=True)
    async def bifrost_request_start(self, call: Any) -> None:
        team = call.headers.get("x-team", "backend")
        call.caller = Caller(f"k-{team}", f"dev-{team}", team=team)


def settings(tmp_path: Path, upstream: str, hook: str, smtp_port: int, fmt: str = "csv") -> dict[str, Any]:
    return {
        "providers": provider_config(upstream),
        "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
        "currency": {"code": "INR", "per_usd": 84.0},
        "admin": {"token": "t"},
        "alerts": {"channels": {
            "archive": {"type": "folder", "path": str(tmp_path / "reports")},
            "hook": {"type": "webhook", "url": hook, "secret": "x"},
            "finance": {"type": "email", "smtp": f"smtp://127.0.0.1:{smtp_port}", "from": "gw@example.com",
                        "to": ["finance@example.com"]},
        }},
        "reports": {"finance-weekly": {"schedule": EVERY_2S, "timezone": "Asia/Kolkata", "since": "7d", "by": "team",
                                       "format": fmt, "send_to": ["archive", "hook", "finance"]}},
    }


async def traffic(gw: Any) -> None:
    async with aiohttp.ClientSession() as client:
        for team in ("backend", "backend", "mobile"):
            body = {"model": "claude-sonnet-4-20250514", "max_tokens": 50,
                    "messages": [{"role": "user", "content": f"hello from {team}"}]}
            async with client.post(gw.url + "/anthropic/v1/messages", json=body, headers={"x-team": team}) as answer:
                assert answer.status == 200


async def logged_report(gw: Any, requests: int) -> str:
    """`bifrost-py report --since 7d --by team --format csv` once the cost log holds `requests`."""
    async with asyncio.timeout(30):
        while True:
            text = await gw.gateway.plugins.report(gw.gateway, 7 * 86400.0, "team", "csv")
            if text and text.splitlines()[-1].startswith(f"TOTAL,{requests},"):
                return str(text)
            await asyncio.sleep(0.05)


async def test_a_schedule_every_two_seconds_delivers_the_report_csv(start_gateway: Any, mock_upstream: Any,
                                                                    tmp_path: Path) -> None:
    with running_smtp_server() as smtp:
        async with running_webhook_receiver() as hook:
            gw = await start_gateway(settings(tmp_path, mock_upstream.url, hook.url, smtp.port),
                                     plugins=[bifrost_costlog, bifrost_alerts, Identify()], builtins=False)
            await traffic(gw)
            expected = await logged_report(gw, 3)
            assert "\nbackend,2," in expected and "\nmobile,1," in expected

            async with asyncio.timeout(30):  # the first fire after the rows were written carries them
                while not any(r.json()["report"]["content"] == expected for r in hook.received):
                    await hook.wait_for(len(hook.received) + 1)
            delivered = next(r.json() for r in hook.received if r.json()["report"]["content"] == expected)
            assert delivered["type"] == "report" and delivered["report"]["mime"] == "text/csv"
            assert delivered["report"]["filename"].startswith("finance-weekly-")

            files = {p.read_text() for p in (tmp_path / "reports").glob("*finance-weekly-*.csv")}
            assert expected in files
            mails = await smtp.wait_for(1)
            attachments = [part for part in mails[0].iter_attachments()]
            assert attachments[0].get_filename().endswith(".csv")
            assert mails[0]["Subject"].strip().startswith("bifrost-py report 'finance-weekly': spend by team, last 7d")

            async with asyncio.timeout(30):  # the history lists each fire with its three deliveries
                while True:
                    status, _, body = await gw.get("/api/alerts?kind=report", headers={"Authorization": "Bearer t"})
                    assert status == 200
                    fires = orjson.loads(body)["alerts"]
                    if any(len(fire["deliveries"]) == 3 for fire in fires):
                        break
                    await asyncio.sleep(0.05)
            done = next(fire for fire in fires if len(fire["deliveries"]) == 3)
            assert {d["channel"] for d in done["deliveries"]} == {"archive", "hook", "finance"}
            assert all(d["ok"] for d in done["deliveries"])
    assert not list((tmp_path / "reports").glob("*.partial"))


async def test_an_html_report_is_the_csv_as_a_table(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    with running_smtp_server() as smtp:
        async with running_webhook_receiver() as hook:
            gw = await start_gateway(settings(tmp_path, mock_upstream.url, hook.url, smtp.port, fmt="html"),
                                     plugins=[bifrost_costlog, bifrost_alerts, Identify()], builtins=False)
            await traffic(gw)
            await logged_report(gw, 3)
            async with asyncio.timeout(30):
                while not any("<td>mobile</td>" in r.json()["report"]["content"] for r in hook.received):
                    await hook.wait_for(len(hook.received) + 1)
            html = next(r.json() for r in hook.received if "<td>mobile</td>" in r.json()["report"]["content"])
            assert html["report"]["mime"] == "text/html" and "<th>team</th>" in html["report"]["content"]
            mail = (await smtp.wait_for(1))[0]
            assert "<table" in mail.get_body(("html",)).get_content()
