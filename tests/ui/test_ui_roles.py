"""The browser shows each role what it may do: a finance lead and a viewer find no button that
changes keys or providers (each key opens read-only), finance keeps the log's CSV export and the
audit log, a viewer neither; a team manager sees only their team's keys and may create one."""

from __future__ import annotations

import re
from typing import Any

from playwright.sync_api import expect
from ui_harness import Gateway, admin_api, ensure_user, screenshot, sign_in_as

# What a button that changes something is called on the keys and providers pages.
WRITES = re.compile(r"^(New|Add|Edit|Delete|Disable|Enable|Test|Save|Create)\b")


def configure(config: dict[str, Any]) -> None:
    governance = config["governance"]
    governance["teams"]["platform"] = {"customer": "acme", "budget": {"limit": 1000, "reset": "monthly"}}
    governance["virtual_keys"]["yaml-ops"] = {"key": "vk-ui-yaml-ops", "team": "platform"}


def ensure_keys(gateway: Gateway) -> None:
    """Two keys made in the UI's API (changeable, unlike the YAML ones), one per team."""
    names = [k["name"] for k in admin_api(gateway, "GET", "/governance/keys")["keys"]]
    for name, team in (("backend-ci", "backend"), ("ops-ci", "platform")):
        if name not in names:
            admin_api(gateway, "POST", "/governance/keys", {"name": name, "team": team})


def write_buttons(page: Any) -> list[str]:
    """The visible buttons of the page that would change something (their accessible names)."""
    names = page.locator("#main button:visible").evaluate_all(
        "buttons => buttons.map(b => b.getAttribute('aria-label') || b.textContent.trim())")
    return [name for name in names if WRITES.match(name)]


def open_keys(page: Any) -> None:
    page.goto("/#/access/keys")
    expect(page.locator("#table-keys")).to_be_visible()


def open_providers(page: Any) -> None:
    page.goto("/#/providers")
    expect(page.get_by_role("heading", name="anthropic mock")).to_be_visible()


def nav_links(page: Any) -> list[str]:
    return [name.strip() for name in page.locator("#nav a:visible").all_inner_texts()]


def test_finance_reads_keys_and_providers_without_a_single_write_button(page: Any, gateway: Gateway) -> None:
    ensure_keys(gateway)
    ensure_user(gateway, "fiona", "finance")
    sign_in_as(page, "fiona")
    open_keys(page)
    assert write_buttons(page) == [], write_buttons(page)
    page.get_by_role("button", name="View virtual key backend-ci").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Your role may view this")
    expect(dialog.get_by_role("button", name=WRITES)).to_have_count(0)
    page.keyboard.press("Escape")
    open_providers(page)
    assert write_buttons(page) == [], write_buttons(page)
    expect(page.locator("#providers")).not_to_contain_text("sk-a")  # not even a masked key's ends
    screenshot(page, "roles-finance-providers")
    page.goto("/#/logs")
    expect(page.get_by_role("button", name="Export CSV")).to_be_visible()
    assert "Audit log" in nav_links(page) and "People" not in nav_links(page)
    assert page.errors == [], page.errors


def test_a_viewer_finds_no_write_button_no_export_and_no_audit_log(page: Any, gateway: Gateway) -> None:
    ensure_user(gateway, "victor", "viewer")
    sign_in_as(page, "victor")
    for name in ("keys", "teams", "customers"):
        page.goto(f"/#/access/{name}")
        expect(page.locator(f"#table-{name}")).to_be_visible()
        assert write_buttons(page) == [], (name, write_buttons(page))
    open_providers(page)
    assert write_buttons(page) == [], write_buttons(page)
    page.goto("/#/logs")
    expect(page.get_by_role("heading", name="Logs")).to_be_visible()
    expect(page.get_by_role("button", name="Export CSV")).to_be_hidden()
    assert "Audit log" not in nav_links(page) and "People" not in nav_links(page)
    assert page.errors == [], page.errors


def test_a_team_manager_sees_their_teams_keys_only_and_may_change_those(page: Any, gateway: Gateway) -> None:
    ensure_keys(gateway)
    ensure_user(gateway, "tara", "team_manager", teams=["backend"])
    sign_in_as(page, "tara")
    open_keys(page)
    rows = page.locator("#table-keys tbody tr")
    expect(rows).to_have_count(2)
    assert sorted(rows.evaluate_all("rows => rows.map(r => r.dataset.name)")) == ["backend-ci", "yaml-dev"]
    expect(page.get_by_role("button", name="New virtual key")).to_be_visible()
    expect(page.get_by_role("button", name="Edit virtual key backend-ci")).to_be_visible()
    page.goto("/#/access/teams")
    expect(page.locator("#table-teams tbody tr")).to_have_count(1)
    assert write_buttons(page) == [], write_buttons(page)  # teams stay with admins
    open_providers(page)
    assert write_buttons(page) == [], write_buttons(page)
    screenshot(page, "roles-team-manager-keys")
    assert page.errors == [], page.errors
