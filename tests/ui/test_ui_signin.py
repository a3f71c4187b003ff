"""Sign-in with the admin token: a wrong token is explained, the right one is kept in the tab's
sessionStorage only, every admin call carries it, and a token that stops working sends the user
back to the sign-in with a message."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect
from ui_harness import ADMIN_TOKEN, Gateway, screenshot, sign_in


def test_wrong_token_gets_a_clear_message(page: Any) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#nav")).to_be_hidden()
    page.get_by_label("Admin token").fill("not-the-token")
    page.get_by_role("button", name="Sign in").click()
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("That admin token is not right")
    expect(page.get_by_label("Admin token")).to_have_attribute("aria-invalid", "true")
    assert page.evaluate("sessionStorage.length") == 0
    screenshot(page, "signin-wrong-token")
    # Chromium logs the refused /api/settings call (401) as a failed resource load.
    assert all("401" in error for error in page.errors)


def test_sign_in_keeps_the_token_in_this_tab_only(page: Any, gateway: Gateway) -> None:
    page.goto("/")
    screenshot(page, "signin")
    calls: list[str] = []
    page.on("request", lambda request: calls.append(request.headers.get("authorization", "")) if "/api/" in request.url and not any(public in request.url for public in ("openapi", "stream", "/api/auth")) else None)
    sign_in(page)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    assert page.evaluate("sessionStorage.getItem('bifrost.adminToken')") == ADMIN_TOKEN
    assert page.evaluate("localStorage.length") == 0
    assert page.context.cookies() == []
    page.get_by_role("link", name="Providers").click()
    expect(page.get_by_role("heading", name="Providers")).to_be_visible()
    assert calls and all(value == f"Bearer {ADMIN_TOKEN}" for value in calls)

    # Another tab of the same browser does not inherit the token.
    other = page.context.new_page()
    other.goto(gateway.url + "/")
    expect(other.get_by_role("heading", name="Sign in")).to_be_visible()
    other.close()

    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("signed out")
    assert page.evaluate("sessionStorage.getItem('bifrost.adminToken')") is None
    assert page.errors == []


def test_a_token_that_stops_working_returns_to_the_sign_in(signed_in: Any) -> None:
    page = signed_in
    # The gateway's token changed while the page was open: the next admin call is refused.
    # (Set and navigate in one step: the dashboard may still be loading, and its next call
    # already meets the sign-in, which hides the navigation.)
    page.evaluate("sessionStorage.setItem('bifrost.adminToken', 'rotated-away'); location.hash = '#/providers'")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("alert")).to_contain_text("refused")
    # Signing in again lands on the page that was asked for.
    page.get_by_label("Admin token").fill(ADMIN_TOKEN)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Providers")).to_be_visible()
    assert all("401" in error for error in page.errors), page.errors
