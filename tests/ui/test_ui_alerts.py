"""The Alerts page in a real Chromium: the YAML configuration as the gateway read it (secrets
masked), a test alert sent from the page and received by a webhook, and the history showing it
with its delivery; a webhook channel added through the page's form, tested, disabled and
deleted; thresholds, a guard and a scheduled report set from the page. The gateway is the suite's `bifrost-py serve` process
(conftest.py), given this module's alert settings through `configure`."""

from __future__ import annotations

import atexit
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import orjson
from ui_harness import CONTROLS_WITHOUT_NAMES, screenshot, sign_in

SECRET = "ui-hook-secret-value"
PAGE_SECRET = "page-typed-secret-5e2a"


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []
    bodies: ClassVar[list[bytes]] = []
    signatures: ClassVar[list[str | None]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append(orjson.loads(body))
        Receiver.bodies.append(body)
        Receiver.signatures.append(self.headers.get("X-Bifrost-Signature"))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def receiver_url() -> str:
    """A webhook receiver on loopback, started once for this module (the gateway fixture reads
    `configure` before any fixture of ours could run), stopped when the tests end."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    atexit.register(server.shutdown)
    return f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/secret-path"


def configure(settings: dict[str, Any]) -> None:
    reports = settings["storage"]["logs"].removeprefix("sqlite:///").rsplit("/", 1)[0] + "/reports"
    settings["alerts"] = {
        "channels": {"finance-hook": {"type": "webhook", "url": receiver_url(), "secret": SECRET},
                     "archive": {"type": "folder", "path": reports}},
        "send_to": ["finance-hook"],
        "thresholds_for": {"team:backend": [80, 100]},
        "loop": {"repeats": 8, "within": "5m"},
    }
    settings["reports"] = {"weekly-by-team": {"schedule": "0 9 * * MON", "timezone": "Asia/Kolkata", "by": "team",
                                              "send_to": ["archive"]}}


def test_the_alerts_page_shows_the_config_and_sends_a_test_alert(page: Any) -> None:
    from playwright.sync_api import expect

    sign_in(page)
    page.get_by_role("link", name="Alerts").click()
    expect(page.get_by_role("heading", name="Alerts", exact=True)).to_be_visible()
    channels = page.locator("#table-alert-channels")
    expect(channels.get_by_role("row", name="finance-hook")).to_contain_text("webhook")
    expect(channels).not_to_contain_text("secret-path")  # an incoming-webhook URL's secret part is masked
    expect(page.locator("#alerts-config")).to_contain_text("Budget thresholds: 50%, 80%, 100% of every cap")
    expect(page.locator("#alerts-config")).to_contain_text("team:backend 80/100%")
    expect(page.locator("#alerts-config")).to_contain_text("loops: more than 8 near-identical requests in 5 min")
    expect(page.locator("#table-alert-reports")).to_contain_text("0 9 * * MON (Asia/Kolkata)")
    assert SECRET not in page.content()
    expect(page.locator("#alerts-history")).to_contain_text("No alerts sent yet.")

    expect(channels.get_by_role("row", name="finance-hook")).to_contain_text("config file")
    expect(channels.get_by_role("button", name="Edit finance-hook")).to_have_count(0)  # the file's: read-only
    page.get_by_role("button", name="Send a test alert to finance-hook").click()
    expect(page.get_by_role("status")).to_contain_text("finance-hook delivered")
    row = page.locator("#table-alerts tbody tr").first
    expect(row).to_contain_text("Test alert from bifrost-py")
    expect(row.locator(".badge.ok")).to_have_text("finance-hook ✓")
    assert Receiver.received[-1]["type"] == "test"
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    screenshot(page, "alerts")
    assert page.errors == []


def test_a_webhook_channel_added_on_the_page_gets_a_signed_test_alert(page: Any) -> None:
    from bifrost_alerts.channels.webhook import signature
    from playwright.sync_api import expect

    sign_in(page)
    page.get_by_role("link", name="Alerts").click()
    page.get_by_role("button", name="Add a channel").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill("ops-hook")
    dialog.get_by_label("Type").select_option("webhook")
    dialog.get_by_label("URL").fill("ftp://nowhere")
    dialog.get_by_role("button", name="Add channel").click()
    expect(dialog.get_by_role("alert")).to_contain_text("alerts.channels.ops-hook.url: must be an http:// or https:// URL")
    dialog.get_by_label("URL").fill(receiver_url())
    dialog.get_by_label("Signing secret").fill(PAGE_SECRET)
    dialog.get_by_role("button", name="Add channel").click()
    expect(page.get_by_role("status")).to_contain_text("Channel ops-hook saved")
    row = page.locator("#table-alert-channels").get_by_role("row", name="ops-hook")
    expect(row).to_contain_text("added here")
    expect(row).to_contain_text("yes")

    before = len(Receiver.received)
    page.get_by_role("button", name="Send a test alert to ops-hook").click()
    expect(page.get_by_role("status")).to_contain_text("ops-hook delivered")
    received = Receiver.received[before]
    assert received["type"] == "test" and received["channels"] == ["ops-hook"]
    assert Receiver.signatures[before] == signature(PAGE_SECRET, Receiver.bodies[before])
    expect(page.locator("#table-alerts tbody tr").first.locator(".badge.ok")).to_have_text("ops-hook ✓")

    # an edit that leaves the secret field empty keeps the stored secret
    page.get_by_role("button", name="Edit ops-hook").click()
    dialog = page.get_by_role("dialog")
    expect(dialog.get_by_label("Signing secret")).to_have_value("")
    dialog.get_by_role("button", name="Save channel").click()
    expect(page.get_by_role("status")).to_contain_text("Channel ops-hook saved")
    page.get_by_role("button", name="Send a test alert to ops-hook").click()
    expect(page.get_by_role("status")).to_contain_text("ops-hook delivered")
    assert Receiver.signatures[-1] == signature(PAGE_SECRET, Receiver.bodies[-1])

    page.get_by_label("Spend rate: alarm above (per hour)").fill("500")
    page.get_by_role("button", name="Save spend-rate alarm").click()
    expect(page.locator("#alerts-guards")).to_contain_text("spend rate above 500 per hour")

    page.get_by_label("Tier").select_option("key")
    page.get_by_label("Name", exact=True).fill("ci")
    page.get_by_label("Thresholds (percent)").fill("25, 90")
    page.get_by_role("button", name="Set own thresholds").click()
    expect(page.locator("#table-alert-thresholds").get_by_role("row", name="key:ci")).to_contain_text("25%, 90%")

    page.get_by_role("button", name="Add a report").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Name", exact=True).fill("daily-by-key")
    dialog.get_by_label("Schedule").fill("0 8 * * *")
    dialog.get_by_label("Time zone").fill("Asia/Kolkata")
    dialog.get_by_label("Grouped by").select_option("key")
    dialog.get_by_label("ops-hook (webhook)").check()
    dialog.get_by_role("button", name="Add report").click()
    report = page.locator("#table-alert-reports").get_by_role("row", name="daily-by-key")
    expect(report).to_contain_text("0 8 * * * (Asia/Kolkata)")
    expect(report).to_contain_text("added here")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete report daily-by-key").click()
    expect(report).to_have_count(0)

    page.get_by_role("button", name="Disable ops-hook").click()
    expect(row).to_contain_text("disabled")
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="Delete ops-hook").click()
    expect(page.locator("#table-alert-channels").get_by_role("row", name="ops-hook")).to_have_count(0)
    assert PAGE_SECRET not in page.content()
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    # the one refused save (ftp://) is the browser's only complaint
    assert page.errors == ["console error: Failed to load resource: the server responded with a status of 400 (Bad Request)"]
