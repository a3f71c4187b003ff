"""The one-time set-up link in a real browser: a gateway with no admin token and no account
opens /ui/setup?token=..., the visitor creates the admin account, lands signed in on Providers,
and the link is dead afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from playwright.sync_api import expect
from ui_harness import Gateway, gateway_config, screenshot, stop_process, wait_healthy

from bifrost_py.testing import free_port

SETUP_TOKEN = "ui-setup-token-0123456789"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    """This module's own gateway: no admin token, the set-up token in the environment."""
    workdir = tmp_path_factory.mktemp("ui-setup")
    port = free_port()
    settings = gateway_config(port, workdir / "bifrost.db")
    del settings["admin"]
    config = workdir / "bifrost.yaml"
    config.write_text(yaml.safe_dump(settings))
    log = workdir / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bifrost_py", "serve", "-c", str(config)],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=workdir,
                                   env={**os.environ, "BIFROST_SETUP_TOKEN": SETUP_TOKEN})
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, process, log)
        yield Gateway(url, process, log)
    finally:
        stop_process(process)


def test_the_set_up_link_creates_the_admin_once(page: Any, gateway: Gateway) -> None:
    page.goto(f"/ui/setup?token={SETUP_TOKEN}")
    expect(page.get_by_role("heading", name="Set up bifrost-py")).to_be_visible()
    page.get_by_label("User name").fill("owner")
    page.get_by_label("Password", exact=True).fill("a long enough password")
    page.get_by_label("Password again").fill("not the same password")
    page.get_by_role("button", name="Create the admin account").click()
    expect(page.get_by_role("alert")).to_contain_text("differ")
    page.get_by_label("Password again").fill("a long enough password")
    screenshot(page, "accounts-setup")
    page.get_by_role("button", name="Create the admin account").click()
    expect(page.get_by_role("heading", name="Providers")).to_be_visible()
    assert page.url.endswith("/#/providers")            # the spent link is gone from the address bar
    expect(page.locator("#account")).to_have_text("owner")
    expect(page.get_by_role("link", name="People")).to_be_visible()
    assert page.errors == []

    # The link is spent: another browser is told to sign in instead.
    other = page.context.browser.new_context(base_url=gateway.url).new_page()
    other.goto(f"/ui/setup?token={SETUP_TOKEN}")
    expect(other.get_by_role("status")).to_contain_text("Set-up is done")
    expect(other.get_by_role("button", name="Create the admin account")).to_be_disabled()
    other.context.close()


def test_without_the_link_the_sign_in_page_shows(page: Any) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    assert page.errors == []
