"""Keys & teams in a real browser: create a virtual key, use it through the gateway, watch its
usage bar move, disable it and see the next request refused; YAML entries are read-only."""

from __future__ import annotations

import uuid
from typing import Any

from playwright.sync_api import expect
from ui_harness import Gateway, screenshot, send

LONG_PROMPT = "Explain budgets to a new engineer. [[long:150]]"


def budget_bar(page: Any, name: str) -> Any:
    return page.locator(f'tr[data-name="{name}"] [data-usage="budget"] [role="progressbar"]').first


def test_create_use_watch_and_disable_a_key(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    name = f"ui-{uuid.uuid4().hex[:6]}"
    page.goto("/#/access/keys")
    page.get_by_role("button", name="New virtual key").click()
    form = page.get_by_role("dialog", name="New virtual key")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Team").select_option("backend")
    form.get_by_role("button", name="Add a budget").click()
    form.get_by_label("Limit (INR)").fill("50")
    form.get_by_label("Resets").fill("monthly")
    screenshot(page, "keys-new-form")
    form.get_by_role("button", name="Create virtual key").click()

    shown = page.get_by_role("dialog", name=f"Virtual key {name} created")
    secret = shown.locator("pre").first.inner_text().strip()
    assert secret.startswith("vk-") and len(secret) > 20
    lines = shown.locator("pre").nth(1).inner_text()
    assert f"export ANTHROPIC_BASE_URL={gateway.url}/anthropic" in lines
    assert f"export ANTHROPIC_API_KEY={secret}" in lines
    shown.get_by_role("button", name="Copy the secret").click()
    expect(shown.get_by_text("Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == secret
    screenshot(page, "keys-secret-shown-once")
    page.keyboard.press("Escape")

    bar = budget_bar(page, name)
    expect(bar).to_have_attribute("aria-valuenow", "0")
    sent = send(gateway, secret, LONG_PROMPT, max_tokens=400)
    assert sent.status == 200
    # The page polls the usage view: the bar moves without a reload.
    expect(bar).not_to_have_attribute("aria-valuenow", "0")
    assert float(bar.get_attribute("aria-valuenow")) > 0
    assert "of ₹50.00 this month" in bar.get_attribute("aria-valuetext")
    screenshot(page, "keys-usage-moved")

    page.get_by_role("button", name=f"Disable virtual key {name}").click()
    row = page.locator(f'tr[data-name="{name}"]')
    expect(row.get_by_text("disabled", exact=True)).to_be_visible()
    refused = send(gateway, secret, "am I still allowed?")
    assert refused.status == 401
    assert "inactive" in refused.text
    screenshot(page, "keys-disabled")
    assert page.errors == []


def test_yaml_entries_are_marked_and_read_only(signed_in: Any) -> None:
    page = signed_in
    page.goto("/#/access/keys")
    row = page.locator('tr[data-name="yaml-dev"]')
    expect(row.get_by_text("config file", exact=True)).to_be_visible()
    expect(row.get_by_text("Read-only: change it in the config file")).to_be_visible()
    # It can be viewed (in the form, every control disabled), not edited, disabled or deleted.
    assert [b.inner_text() for b in row.get_by_role("button").all()] == ["View"]
    row.get_by_role("button", name="View virtual key yaml-dev").click()
    shown = page.get_by_role("dialog", name="Virtual key yaml-dev (config file)")
    expect(shown.get_by_label("Limit (INR)")).to_have_value("100")
    expect(shown.get_by_label("Limit (INR)")).to_be_disabled()
    assert shown.get_by_role("button", name="Save changes").count() == 0
    page.keyboard.press("Escape")
    page.get_by_role("link", name="Teams", exact=True).click()
    expect(page.locator('tr[data-name="backend"]').get_by_text("config file", exact=True)).to_be_visible()
    screenshot(page, "teams")
    page.get_by_role("link", name="Customers", exact=True).click()
    expect(page.locator('tr[data-name="acme"]').get_by_text("config file", exact=True)).to_be_visible()
    screenshot(page, "customers")
    assert page.errors == []


def test_edit_and_delete_a_team(signed_in: Any) -> None:
    page = signed_in
    name = f"team-{uuid.uuid4().hex[:6]}"
    page.goto("/#/access/teams")
    page.get_by_role("button", name="New team").click()
    form = page.get_by_role("dialog", name="New team")
    form.get_by_label("Name").fill(name)
    form.get_by_label("Customer").select_option("acme")
    form.get_by_role("button", name="Create team").click()
    row = page.locator(f'tr[data-name="{name}"]')
    expect(row).to_contain_text("acme")
    expect(row).to_contain_text("no cap")

    row.get_by_role("button", name=f"Edit team {name}").click()
    form = page.get_by_role("dialog", name=f"Edit team {name}")
    form.get_by_role("button", name="Add a budget").click()
    form.get_by_label("Limit (INR)").fill("250")
    form.get_by_label("Resets").fill("weekly")
    form.get_by_role("button", name="Save changes").click()
    expect(row.locator('[role="progressbar"]')).to_have_attribute("aria-valuemax", "250")
    expect(row).to_contain_text("of ₹250.00 this week")

    row.get_by_role("button", name=f"Delete team {name}").click()
    page.get_by_role("dialog", name=f"Delete team {name}?").get_by_role("button", name="Delete team").click()
    expect(page.get_by_text(f"Deleted team {name}.")).to_be_visible()
    assert page.locator(f'tr[data-name="{name}"]').count() == 0
    assert page.errors == []


def test_a_refused_change_is_explained_in_the_form(signed_in: Any) -> None:
    page = signed_in
    page.goto("/#/access/customers")
    page.get_by_role("button", name="New customer").click()
    form = page.get_by_role("dialog", name="New customer")
    form.get_by_label("Name").fill("acme")  # exists in the config file
    form.get_by_role("button", name="Create customer").click()
    expect(form.get_by_role("alert")).to_contain_text("already exists")
    page.keyboard.press("Escape")
    page.errors.clear()  # the 409 is logged by Chromium as a failed resource load
