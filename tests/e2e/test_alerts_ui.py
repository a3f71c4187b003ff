"""The Alerts page in a real Chromium: the YAML configuration as the gateway read it (secrets
masked), a test alert sent from the page and received by a webhook, and the history showing it
with its delivery. The gateway is a real `bifrost-py serve` process (tests/ui/ui_harness.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest
import yaml

sys.path.insert(0, str(Path(__file__).parents[1] / "ui"))
from ui_harness import (
    CHROMIUM_ARGS,
    CONTROLS_WITHOUT_NAMES,
    chromium_executable,
    gateway_config,
    screenshot,
    sign_in,
    stop_process,
    wait_healthy,
)

from bifrost_py.testing import free_port

SECRET = "ui-hook-secret-value"


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, Any]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        Receiver.received.append(orjson.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def hook() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/secret-path"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, hook: str) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("alerts-ui")
    port = free_port()
    settings = gateway_config(port, workdir / "bifrost.db")
    settings["alerts"] = {
        "channels": {"finance-hook": {"type": "webhook", "url": hook, "secret": SECRET},
                     "archive": {"type": "folder", "path": str(workdir / "reports")}},
        "send_to": ["finance-hook"],
        "thresholds_for": {"team:backend": [80, 100]},
        "loop": {"repeats": 8, "within": "5m"},
    }
    settings["reports"] = {"weekly-by-team": {"schedule": "0 9 * * MON", "timezone": "Asia/Kolkata", "by": "team",
                                              "send_to": ["archive"]}}
    config = workdir / "bifrost.yaml"
    config.write_text(yaml.safe_dump(settings))
    log = workdir / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bifrost_py", "serve", "-c", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield url
    finally:
        stop_process(process)


@pytest.fixture
def page(gateway: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=gateway)
        context.set_default_timeout(10_000)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(f"page error: {error}"))
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.errors = errors
        try:
            yield page
        finally:
            browser.close()


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

    page.get_by_label("Test alert to").select_option("finance-hook")
    page.get_by_role("button", name="Send a test alert").click()
    expect(page.get_by_role("status")).to_contain_text("finance-hook delivered")
    row = page.locator("#table-alerts tbody tr").first
    expect(row).to_contain_text("Test alert from bifrost-py")
    expect(row.locator(".badge.ok")).to_have_text("finance-hook ✓")
    assert Receiver.received[-1]["type"] == "test"
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    screenshot(page, "alerts")
    assert page.errors == []
