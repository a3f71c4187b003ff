"""A gateway that has seen no request and has no keys yet: every page says what to do next."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from ui_harness import Gateway, screenshot


def configure(config: dict[str, Any]) -> None:
    config["governance"] = {}


def test_empty_pages_tell_a_new_user_what_to_do(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    page.goto("/#/dashboard")
    expect(page.get_by_text("No requests in the last 7 days.")).to_be_visible()
    expect(page.locator(".empty code").first).to_contain_text(f"ANTHROPIC_BASE_URL={gateway.url}/anthropic")
    expect(page.get_by_text("No customer, team or key has a budget yet.")).to_be_visible()
    screenshot(page, "empty-dashboard")

    page.goto("/#/logs")
    expect(page.get_by_text("No requests in this time range yet.")).to_be_visible()
    expect(page.get_by_role("button", name="Export CSV")).to_be_disabled()
    screenshot(page, "empty-logs")

    page.goto("/#/access/keys")
    expect(page.get_by_text("No virtual keys yet.")).to_be_visible()
    expect(page.get_by_text("its secret is shown once")).to_be_visible()
    screenshot(page, "empty-keys")
    page.goto("/#/access/teams")
    expect(page.get_by_text("No teams yet.")).to_be_visible()

    page.goto("/#/providers")
    expect(page.get_by_role("region", name="anthropic mock")).to_contain_text("no requests")
    assert page.errors == []
