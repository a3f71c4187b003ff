"""The one-time set-up link in a real browser: a gateway with no admin token and no account
opens /ui/setup?token=..., the visitor creates the admin account, lands signed in on Providers,
and the link is dead afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_harness import Gateway, screenshot

SETUP_TOKEN = "ui-setup-token-0123456789"


@pytest.fixture(scope="module", autouse=True)
def setup_token() -> Iterator[None]:
    """The token `bifrost-py serve` would print in the link, in the environment the module's
    gateway starts with (autouse: set before the `gateway` fixture, removed after the module)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIFROST_SETUP_TOKEN", SETUP_TOKEN)
        yield


def configure(config: dict[str, Any]) -> None:
    del config["admin"]  # no admin token: the link is the only way in


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
