"""The seed's four steps in a real Chromium, from a gateway started with no config file:

1. `bifrost-py serve` (no -c): it prints the URL and a one-time set-up link;
2. the set-up link creates the admin account; add an Anthropic-type provider (pointing at the mock upstream) with its API key, and
   "Test" it;
3. create a virtual key;
4. a request with that key, as Claude Code sends it, succeeds — without a restart.

Then the provider key is rotated in the UI and the next request carries the new key (the mock
upstream records what it receives), and the raw keys are nowhere in the database file, the
admin API's answers or the gateway's log. The time the four steps take is printed (run with -s).
Screenshots for docs/web-ui.md go to test-output/screenshots/first-start-*.png.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_harness import Gateway, screenshot, send, stop_process, wait_healthy

from bifrost_py.testing import free_port

FIRST_KEY = "sk-ant-first-start-key-9d8c7b6a"
ROTATED_KEY = "sk-ant-rotated-in-the-ui-5e4f3a2b"


def _process(args: list[str], log: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "bifrost_py", *args], stdout=out, stderr=subprocess.STDOUT,
                                env=env, cwd=cwd)


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("mock")
    port = free_port()
    process = _process(["mock-upstream", "--port", str(port)], folder / "mock.log", dict(os.environ), folder)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, folder / "mock.log")
        yield url
    finally:
        stop_process(process)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory, upstream: str) -> Iterator[Gateway]:
    """`bifrost-py serve` with no config file, its data in a fresh folder."""
    folder = tmp_path_factory.mktemp("first-start")
    port = free_port()
    env = {**os.environ, "BIFROST_DATA_DIR": str(folder / "data")}
    for name in ("BIFROST_SECRET_KEY", "BIFROST_ADMIN_TOKEN", "BIFROST_SETUP_TOKEN"):
        env.pop(name, None)
    process = _process(["serve", "--port", str(port)], folder / "gateway.log", env, folder)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, folder / "gateway.log")
        yield Gateway(url, process, folder / "gateway.log")
    finally:
        stop_process(process)


def data_folder(gateway: Gateway) -> Path:
    return gateway.log.parent / "data"


def admin_get(gateway: Gateway, path: str) -> bytes:
    token = (data_folder(gateway) / "admin-token").read_text().strip()
    request = urllib.request.Request(gateway.url + "/api" + path, headers={"authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return bytes(response.read())


def keys_received(upstream: str) -> list[str]:
    with urllib.request.urlopen(upstream + "/_mock/requests", timeout=10) as response:
        return [r["headers"].get("x-api-key", "") for r in json.loads(response.read()) if r["path"] == "/v1/messages"]


def test_first_start_to_a_served_request_then_a_key_rotation(page: Any, gateway: Gateway, upstream: str) -> None:
    started = time.monotonic()
    printed = gateway.log.read_text()
    assert f"listening on {gateway.url}" in printed
    link = re.search(r"(http://\S+/ui/setup\?token=\S+)", printed)
    assert link, printed
    assert (data_folder(gateway) / "secret.key").stat().st_mode & 0o777 == 0o600

    # Step 1: the set-up link creates the admin account and leads to the Providers page.
    page.goto(link.group(1))
    page.get_by_label("Password", exact=True).fill("first-start-password")
    page.get_by_label("Password again").fill("first-start-password")
    screenshot(page, "first-start-setup")
    page.get_by_role("button", name="Create the admin account").click()
    page.locator("#nav").wait_for(state="visible")

    # Step 2: add the provider and its key, then test it.
    expect(page.get_by_text("No providers are configured.")).to_be_visible()
    screenshot(page, "first-start-empty-providers")
    page.get_by_role("button", name="Add provider").click()
    form = page.get_by_role("dialog", name="Add a provider")
    form.get_by_label("Name", exact=True).fill("anthropic")
    form.get_by_label("Type", exact=True).select_option("anthropic")
    form.get_by_label("Base URL", exact=True).fill(upstream)
    form.get_by_label("API key", exact=True).fill(FIRST_KEY)
    screenshot(page, "first-start-add-provider")
    form.get_by_role("button", name="Add provider").click()
    card = page.get_by_role("region", name="anthropic anthropic")
    expect(card).to_contain_text("added here")
    expect(card).to_contain_text("sk-a…7b6a")
    card.get_by_role("button", name="Test anthropic").click()
    expect(card.get_by_text("Test passed: 200")).to_be_visible()
    screenshot(page, "first-start-provider-tested")

    # Step 3: a virtual key.
    page.goto("/#/access/keys")
    page.get_by_role("button", name="New virtual key").click()
    key_form = page.get_by_role("dialog", name="New virtual key")
    key_form.get_by_label("Name", exact=True).fill("pranay-laptop")
    key_form.get_by_role("button", name="Create virtual key").click()
    shown = page.get_by_role("dialog", name="Virtual key pranay-laptop created")
    secret = shown.locator("pre").first.inner_text().strip()
    assert f"export ANTHROPIC_BASE_URL={gateway.url}/anthropic" in shown.locator("pre").nth(1).inner_text()
    screenshot(page, "first-start-virtual-key")
    page.keyboard.press("Escape")

    # Step 4: Claude Code's request, no restart.
    sent = send(gateway, secret, "hello from the first start")
    assert sent.status == 200, sent
    four_steps = time.monotonic() - started
    assert keys_received(upstream)[-1] == FIRST_KEY

    # Rotate the provider key in the UI: the next request carries the new one.
    page.goto("/#/providers")
    card = page.get_by_role("region", name="anthropic anthropic")
    card.get_by_role("button", name="Edit anthropic").click()
    edit = page.get_by_role("dialog", name="Edit provider anthropic")
    edit.get_by_label("New value for key-1 (rotate)").fill(ROTATED_KEY)
    screenshot(page, "first-start-rotate-key")
    edit.get_by_role("button", name="Save changes").click()
    expect(card).to_contain_text(f"{ROTATED_KEY[:4]}…{ROTATED_KEY[-4:]}")
    assert send(gateway, secret, "after the rotation").status == 200
    assert keys_received(upstream)[-1] == ROTATED_KEY
    screenshot(page, "first-start-providers")

    # The raw keys are nowhere: database file, admin API answers, page, gateway log.
    answers = admin_get(gateway, "/providers") + admin_get(gateway, "/providers/anthropic")
    stored = b"".join(p.read_bytes() for p in data_folder(gateway).glob("bifrost.db*"))
    for raw in (FIRST_KEY, ROTATED_KEY):
        assert raw.encode() not in stored
        assert raw.encode() not in answers
        assert raw not in page.content()
        assert raw not in gateway.log.read_text()
    print(f"\nfirst start: the four steps took {four_steps:.1f} s in the browser test")
    assert page.errors == []
