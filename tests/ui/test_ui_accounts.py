"""People in the browser: sign in with a user name and password (an HTTP-only session cookie,
no token in the page), sign out, the People page (an admin adds a finance lead), the audit log
(the change is there with its author, filtered, exported) and one's own API tokens."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import expect
from ui_harness import PASSWORD, Gateway, ensure_user, screenshot, sign_in, sign_in_as


def test_a_person_signs_in_with_a_password_and_out_again(page: Any, gateway: Gateway) -> None:
    ensure_user(gateway, "mira", "admin")
    page.goto("/")
    page.get_by_label("User name").fill("mira")
    page.get_by_label("Password").fill("not it at all")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator("#account")).to_have_text("mira")
    cookies = page.context.cookies()
    assert [(c["name"], c["httpOnly"], c["sameSite"]) for c in cookies] == [("bifrost_session", True, "Strict")]
    assert page.evaluate("document.cookie") == "" and page.evaluate("sessionStorage.length") == 0
    screenshot(page, "accounts-signed-in")
    # A reload keeps the session: the cookie, not the page, holds it.
    page.reload()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    # The live log's EventSource goes with the cookie alone: no token in its URL.
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/api/logs/stream" in request.url else None)
    page.get_by_role("link", name="Logs").click()
    page.locator("#live-state").get_by_text("Live").wait_for()
    assert streams and all("token=" not in url for url in streams)
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("signed out")
    page.reload()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    # The refused password is the only failed load.
    assert all("401" in error for error in page.errors), page.errors


def test_an_admin_adds_a_finance_lead_and_the_audit_log_names_the_author(page: Any, gateway: Gateway) -> None:
    ensure_user(gateway, "mira", "admin")
    sign_in_as(page, "mira")
    page.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    page.get_by_role("button", name="New person").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("User name").fill("farah")
    dialog.get_by_label("Role").select_option("finance")
    dialog.get_by_label("Password").fill(PASSWORD)
    screenshot(page, "accounts-new-person")
    dialog.get_by_role("button", name="Add person").click()
    expect(page.locator("#table-people tr[data-name='farah']")).to_contain_text("Finance")
    screenshot(page, "accounts-people")

    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    row = page.locator("#table-audit tbody tr").filter(has_text="POST /users").first
    expect(row).to_contain_text("mira")
    row.get_by_role("button", name="Details").click()
    detail = page.locator("#audit-detail")
    expect(detail).to_contain_text("farah")
    assert PASSWORD not in detail.inner_text()      # the password was masked before it was stored
    screenshot(page, "accounts-audit-detail")
    page.keyboard.press("Escape")
    page.get_by_label("Who").fill("nobody-like-this")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_text("No changes recorded here yet.")).to_be_visible()
    page.get_by_label("Who").fill("mira")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("#table-audit")).to_contain_text("POST /users")
    with page.expect_download() as download:
        page.get_by_role("button", name="Export CSV").click()
    text = Path(download.value.path()).read_text()
    assert text.startswith("time,id,ts,actor") and "mira" in text and PASSWORD not in text
    screenshot(page, "accounts-audit")
    assert page.errors == []


def test_a_finance_lead_sees_no_people_page_and_keeps_api_tokens(page: Any, gateway: Gateway) -> None:
    ensure_user(gateway, "fin", "finance")
    sign_in_as(page, "fin")
    expect(page.get_by_role("link", name="Audit log")).to_be_visible()
    expect(page.get_by_role("link", name="People")).to_be_hidden()
    page.locator("#account").click()
    expect(page.get_by_role("heading", name="Your account")).to_be_visible()
    page.get_by_label("New token's name").fill("monthly-report")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token code").inner_text()
    assert secret.startswith("bfp_")
    screenshot(page, "accounts-api-token")
    page.keyboard.press("Escape")
    expect(page.locator("#table-tokens")).to_contain_text("monthly-report")
    # The token works for scripts, with the finance role.
    request = urllib.request.Request(gateway.url + "/api/me", headers={"authorization": f"Bearer {secret}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["role"] == "finance"
    page.get_by_role("button", name="Revoke token monthly-report").click()
    expect(page.get_by_text("No API tokens yet.")).to_be_visible()
    assert page.errors == []


def test_the_admin_token_still_signs_in(signed_in: Any) -> None:
    page = signed_in
    expect(page.get_by_role("link", name="People")).to_be_visible()
    page.get_by_role("link", name="People").click()
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    assert page.errors == []


def test_sign_in_page_has_no_unnamed_controls(page: Any) -> None:
    page.goto("/")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    from ui_harness import CONTROLS_WITHOUT_NAMES
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    sign_in(page)
