"""A virtual key's per-provider entries (the provider-config tier), fallbacks and cache, in a real
browser: create a key whose entry for one provider allows one request, use it through the
gateway, watch that tier's bars move and the next request be refused in the caller's dialect;
edit the entry, then remove it; the API's messages appear next to the form; a YAML key's
entries are shown, read-only."""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_harness import ADMIN_TOKEN, CONTROLS_WITHOUT_NAMES, LOW_CONTRAST, Gateway, screenshot, send


def configure(config: dict[str, Any]) -> None:
    config["governance"]["virtual_keys"]["yaml-ops"] = {
        "key": "vk-ui-yaml-ops", "team": "backend",
        "providers": [{"provider": "anthropic", "weight": 2, "budget": {"limit": 40, "reset": "daily"},
                       "rate_limit": {"requests": 30, "window": "1m"}},
                      {"provider": "openai", "weight": 0}],
        "fallbacks": ["openai/gpt-4o"],
        "cache": {"enabled": False},
    }


def admin_get(gateway: Gateway, path: str) -> Any:
    request = urllib.request.Request(gateway.url + path, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def send_openai(gateway: Gateway, key: str, prompt: str) -> tuple[int, dict[str, Any]]:
    """One request in the OpenAI dialect (the OpenAI SDK): (status, the error object or {})."""
    import openai

    client = openai.OpenAI(base_url=gateway.url + "/v1", api_key=key, max_retries=0)
    try:
        client.chat.completions.create(model="claude-sonnet-4-20250514", max_tokens=64,
                                       messages=[{"role": "user", "content": prompt}])
        return 200, {}
    except openai.APIStatusError as error:
        body = error.body if isinstance(error.body, dict) else {}
        return error.status_code, body.get("error", body)
    finally:
        client.close()


def test_a_provider_entry_limits_the_key_there_and_can_be_edited_and_removed(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    name = f"ui-prov-{uuid.uuid4().hex[:6]}"
    page.goto("/#/access/keys")
    page.get_by_role("button", name="New virtual key").click()
    form = page.get_by_role("dialog", name="New virtual key")
    form.get_by_label("Name").fill(name)
    form.get_by_role("button", name="Add a provider entry").click()
    entry = form.get_by_role("group", name="New provider entry")
    expect(entry.get_by_label("Provider", exact=True)).to_be_focused()  # the new row takes focus
    entry.get_by_label("Provider", exact=True).select_option("anthropic")
    entry = form.get_by_role("group", name="Provider anthropic")  # the legend follows the choice
    entry.get_by_role("button", name="Add a provider budget").click()
    expect(entry.get_by_label("Limit (INR)")).to_be_focused()
    entry.get_by_label("Limit (INR)").fill("50")
    entry.get_by_role("button", name="Add a provider rate limit").click()
    entry.get_by_label("Requests").fill("1")
    entry.get_by_label("Per window").fill("1d")
    form.get_by_label("Cache", exact=True).select_option("off")
    expect(form.get_by_label("Cache TTL")).to_be_disabled()  # a TTL only means something when on
    page.set_viewport_size({"width": 1280, "height": 1800})  # the whole form in one picture
    screenshot(page, "keys-provider-form")
    page.set_viewport_size({"width": 1280, "height": 900})
    form.get_by_role("button", name="Create virtual key").click()

    shown = page.get_by_role("dialog", name=f"Virtual key {name} created")
    secret = shown.locator("pre").first.inner_text().strip()
    page.keyboard.press("Escape")
    row = page.locator(f'tr[data-name="{name}"]')
    expect(row.get_by_role("cell", name="anthropic", exact=True)).to_be_visible()  # the Providers column
    rate = row.get_by_role("progressbar", name=f"Rate limit of {name} on anthropic: requests per 1d")
    budget = row.get_by_role("progressbar", name=f"Budget of {name} on anthropic this month")
    expect(rate).to_have_attribute("aria-valuenow", "0")
    expect(budget).to_have_attribute("aria-valuemax", "50")
    defined = admin_get(gateway, f"/api/governance/keys/{name}")
    assert defined["providers"] == [{"provider": "anthropic", "weight": 1,
                                     "budgets": [{"limit": 50, "reset": "monthly"}],
                                     "rate_limits": [{"window": "1d", "requests": 1}]}]
    assert defined["cache"] == {"enabled": False}

    assert send(gateway, secret, "the one request anthropic allows this key").status == 200
    expect(rate).to_have_attribute("aria-valuenow", "1")  # the page polls the usage view
    # A sliding window: the bar counts the last day and says when the request leaves it.
    expect(rate).to_have_attribute("aria-valuetext", re.compile(r"^1 of 1 requests in the last 1d, oldest leaves in 23 h"))
    expect(budget).not_to_have_attribute("aria-valuenow", "0")
    screenshot(page, "keys-provider-usage")
    # The key may use no other provider, so the provider tier's refusal is the caller's answer,
    # in the dialect it spoke.
    refused = send(gateway, secret, "and one more")
    assert (refused.status, refused.error_type) == (429, "rate_limit_error"), refused
    assert "provider config 'anthropic'" in refused.text
    status, error = send_openai(gateway, secret, "and one more, the OpenAI way")
    assert status == 429 and error.get("type") == "rate_limit_error", error
    assert "provider config 'anthropic'" in error["message"]

    # Edit the entry: five requests a day, and fallbacks and a cache TTL while at it.
    row.get_by_role("button", name=f"Edit virtual key {name}").click()
    form = page.get_by_role("dialog", name=f"Edit virtual key {name}")
    entry = form.get_by_role("group", name="Provider anthropic")
    expect(entry.get_by_label("Requests")).to_have_value("1")
    expect(entry.get_by_label("Limit (INR)")).to_have_value("50")
    expect(form.get_by_label("Cache", exact=True)).to_have_value("off")
    entry.get_by_label("Requests").fill("5")
    form.get_by_label("Fallbacks").fill("anthropic/claude-haiku-4-5-20251001")
    form.get_by_label("Cache", exact=True).select_option("on")
    form.get_by_label("Cache TTL").fill("10m")
    form.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text(f"Saved virtual key {name}.")).to_be_visible()
    expect(rate).to_have_attribute("aria-valuemax", "5")
    assert send(gateway, secret, "allowed again").status == 200
    expect(rate).to_have_attribute("aria-valuenow", "2")  # the refusals held nothing
    defined = admin_get(gateway, f"/api/governance/keys/{name}")
    assert defined["providers"][0]["rate_limits"] == [{"window": "1d", "requests": 5}]
    assert defined["fallbacks"] == ["anthropic/claude-haiku-4-5-20251001"]
    assert defined["cache"] == {"enabled": True, "ttl": 600.0}

    # Remove it: the key may use every provider again, with no provider tier.
    row.get_by_role("button", name=f"Edit virtual key {name}").click()
    form = page.get_by_role("dialog", name=f"Edit virtual key {name}")
    expect(form.get_by_label("Cache TTL")).to_have_value("10m")
    form.get_by_role("button", name="Remove this provider entry").click()
    expect(form.get_by_role("group", name="Provider anthropic")).to_have_count(0)
    expect(form.get_by_role("button", name="Add a provider entry")).to_be_focused()
    form.get_by_role("button", name="Save changes").click()
    expect(rate).to_have_count(0)
    expect(row.locator("td").nth(2)).to_have_text("all")  # Providers, after Team and Models
    defined = admin_get(gateway, f"/api/governance/keys/{name}")
    assert "providers" not in defined
    assert defined["fallbacks"] == ["anthropic/claude-haiku-4-5-20251001"]  # the rest is kept
    assert send(gateway, secret, "on another provider", model="gpt-4o").status == 200
    assert page.errors == []


def test_the_apis_messages_are_shown_next_to_the_form(signed_in: Any) -> None:
    page = signed_in
    name = f"ui-bad-{uuid.uuid4().hex[:6]}"
    page.goto("/#/access/keys")
    page.get_by_role("button", name="New virtual key").click()
    form = page.get_by_role("dialog", name="New virtual key")
    form.get_by_label("Name").fill(name)
    add = form.get_by_role("button", name="Add a provider entry")
    for _ in range(2):  # with the keyboard: Enter on the button, then the arrow keys in the select
        add.focus()
        page.keyboard.press("Enter")
        new_entry = form.get_by_role("group", name="New provider entry")
        expect(new_entry.get_by_label("Provider", exact=True)).to_be_focused()
        page.keyboard.press("ArrowDown")
        expect(form.get_by_role("group", name="New provider entry")).to_have_count(0)
    form.get_by_label("Fallbacks").fill("gpt-4o")
    form.get_by_role("button", name="Create virtual key").click()

    alert = form.get_by_role("alert")
    expect(alert).to_contain_text("Not saved:")
    expect(alert.get_by_role("listitem")).to_have_text([
        "key.providers[1].provider: 'anthropic' is listed twice",
        "key.fallbacks: [0] must be provider/model, got 'gpt-4o'",
    ])
    entries = form.get_by_role("group", name="Provider anthropic")
    expect(entries.nth(1)).to_contain_text("'anthropic' is listed twice")  # next to the entry it is about
    expect(entries.nth(1).get_by_label("Provider", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(entries.nth(1).get_by_label("Provider", exact=True)).to_have_accessible_description(
        "key.providers[1].provider: 'anthropic' is listed twice")
    expect(entries.nth(0).locator(".field-error")).to_be_hidden()
    screenshot(page, "keys-provider-problems")

    form.get_by_role("button", name="Remove this provider entry").nth(1).focus()
    page.keyboard.press("Enter")
    expect(add).to_be_focused()
    form.get_by_label("Fallbacks").fill("openai/gpt-4o")
    form.get_by_role("button", name="Create virtual key").click()
    expect(page.get_by_role("dialog", name=f"Virtual key {name} created")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator(f'tr[data-name="{name}"]').get_by_role("cell", name="anthropic", exact=True)).to_be_visible()
    page.errors.clear()  # the 400 is logged by Chromium as a failed resource load


def test_a_yaml_keys_provider_entries_are_shown_read_only(signed_in: Any) -> None:
    page = signed_in
    page.goto("/#/access/keys")
    row = page.locator('tr[data-name="yaml-ops"]')
    expect(row.get_by_role("cell", name="anthropic, openai", exact=True)).to_be_visible()
    budget = row.get_by_role("progressbar", name="Budget of yaml-ops on anthropic today")
    expect(budget).to_have_attribute("aria-valuemax", "40")
    expect(row.get_by_role("progressbar", name="Rate limit of yaml-ops on anthropic: requests per 1m")).to_be_visible()
    view = row.get_by_role("button", name="View virtual key yaml-ops")
    assert row.get_by_role("button").count() == 1  # nothing to edit, disable or delete
    view.click()

    dialog = page.get_by_role("dialog", name="Virtual key yaml-ops (config file)")
    expect(dialog.get_by_text("Defined in the config file: read-only here.")).to_be_visible()
    anthropic = dialog.get_by_role("group", name="Provider anthropic")
    expect(anthropic.get_by_label("Provider", exact=True)).to_have_value("anthropic")
    expect(anthropic.get_by_label("Weight")).to_have_value("2")
    expect(anthropic.get_by_label("Limit (INR)")).to_have_value("40")
    expect(anthropic.get_by_label("Resets")).to_have_value("daily")
    expect(anthropic.get_by_label("Requests")).to_have_value("30")
    openai = dialog.get_by_role("group", name="Provider openai")
    expect(openai.get_by_label("Weight")).to_have_value("0")
    expect(openai.get_by_text("None.", exact=True)).to_have_count(2)  # no budget, no rate limit
    expect(dialog.get_by_label("Fallbacks")).to_have_value("openai/gpt-4o")
    expect(dialog.get_by_label("Cache", exact=True)).to_have_value("off")
    expect(dialog.get_by_label("Team")).to_have_value("backend")
    # Shown, not editable: every control disabled, no way to add, remove or save.
    assert dialog.locator("input:enabled, select:enabled").count() == 0
    assert [b.inner_text() for b in dialog.get_by_role("button").all()] == ["×", "Done"]
    expect(dialog.get_by_role("button", name="Done")).to_be_focused()
    screenshot(page, "keys-yaml-view")
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(view).to_be_focused()
    assert page.errors == []


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_provider_form_is_labelled_and_readable(signed_in: Any, scheme: str) -> None:
    page = signed_in
    page.emulate_media(color_scheme=scheme)
    page.goto("/#/access/keys")
    page.get_by_role("button", name="New virtual key").click()
    form = page.get_by_role("dialog", name="New virtual key")
    form.get_by_label("Name").fill(f"ui-look-{scheme}")
    form.get_by_role("button", name="Add a provider entry").click()
    entry = form.get_by_role("group", name="New provider entry")
    entry.get_by_label("Provider", exact=True).select_option("openai")
    entry = form.get_by_role("group", name="Provider openai")
    entry.get_by_role("button", name="Add a provider budget").click()
    entry.get_by_role("button", name="Add a provider rate limit").click()
    entry.get_by_label("Limit (INR)").fill("5")
    entry.get_by_label("Resets").fill("yearly")  # refused by the API, in one message (with a "; " inside)
    entry.get_by_label("Tokens").fill("1000")
    form.get_by_role("button", name="Create virtual key").click()
    problem = ("key.providers[0].budgets[0].reset: must be daily, weekly, monthly, never or a duration like "
               "30m, 12h, 7d; got 'yearly'")
    expect(form.get_by_role("alert")).to_have_text(f"Not saved: {problem}")
    expect(entry.locator(".field-error")).to_have_text(problem)
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    assert page.evaluate(LOW_CONTRAST) == []
    page.keyboard.press("Escape")
    page.locator('tr[data-name="yaml-ops"]').get_by_role("button", name="View virtual key yaml-ops").click()
    expect(page.get_by_role("dialog", name="Virtual key yaml-ops (config file)")).to_be_visible()
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    assert page.evaluate(LOW_CONTRAST) == []
    if scheme == "dark":
        screenshot(page, "dark-keys-yaml-view")
    page.errors.clear()  # the 400 is logged by Chromium as a failed resource load
