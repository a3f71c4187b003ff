"""The Routing page in a real Chromium: the config file's rule shown first and read-only, a rule
the gateway refuses shown with the config reader's message, a rule added in the page routing the
next real request through the gateway, "Try it" naming that rule, and a failover chain added."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import expect
from ui_harness import CONTROLS_WITHOUT_NAMES, LOW_CONTRAST, YAML_KEY_SECRET, Gateway, screenshot

HAIKU = "claude-haiku-4-5"


def configure(config: dict[str, Any]) -> None:
    config["plugins"]["disable"] = ["cache"]  # routing on
    config["routing"] = {"rules": [{"name": "opus-stays", "when": {"model": "claude-opus-*"}, "to": "anthropic"}]}


def provider_of(gateway: Gateway, model: str) -> tuple[str, str]:
    """A real request through the gateway: (provider that answered, rule that sent it there)."""
    request = urllib.request.Request(gateway.url + "/v1/messages", method="POST", headers={
        "x-api-key": YAML_KEY_SECRET, "anthropic-version": "2023-06-01", "content-type": "application/json"},
        data=json.dumps({"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}).encode())
    with urllib.request.urlopen(request, timeout=30) as answer:  # raises on an error status
        return answer.headers.get("x-bf-provider", ""), answer.headers.get("x-bf-route", "")

def test_a_rule_added_in_the_page_routes_the_next_request(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    assert provider_of(gateway, HAIKU)[0] == "anthropic"
    page.get_by_role("link", name="Routing").click()
    rules = page.locator("#rules-table")
    file_rule = rules.locator("tr[data-rule='opus-stays']")
    expect(file_rule.get_by_text("config file", exact=True)).to_be_visible()
    expect(file_rule.get_by_role("button")).to_have_count(0)

    page.get_by_role("button", name="Add rule").click()
    form = page.get_by_role("dialog", name="Add a routing rule")
    form.get_by_label("Name", exact=True).fill("haiku-to-gpt")
    form.get_by_label("Model", exact=True).fill("claude-haiku-*")
    form.get_by_label("Send to").fill("nosuch-model")
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == []
    form.get_by_role("button", name="Add rule").click()
    expect(form.get_by_role("alert")).to_contain_text("routing.rules[1].to: no provider serves model 'nosuch-model'")
    page.errors.clear()  # the 400 is logged by Chromium as a failed resource load
    form.get_by_label("Send to").fill("openai/gpt-4o-mini")
    form.get_by_role("button", name="Add rule").click()
    expect(form).to_have_count(0)
    added = rules.locator("tr[data-rule='haiku-to-gpt']")
    expect(added.get_by_text("added here", exact=True)).to_be_visible()
    expect(added.locator("td").first).to_have_text("2")  # after the file's rule
    assert provider_of(gateway, HAIKU) == ("openai", "haiku-to-gpt")

    page.get_by_label("Model", exact=True).fill(HAIKU)
    page.get_by_role("button", name="Where does it go?").click()
    expect(page.locator("#try-result")).to_contain_text("Rule haiku-to-gpt matches: openai/gpt-4o-mini answers")
    screenshot(page, "routing")
    assert page.evaluate(CONTROLS_WITHOUT_NAMES) == [] and page.evaluate(LOW_CONTRAST) == []

    page.once("dialog", lambda dialog: dialog.accept())
    added.get_by_role("button", name="Delete haiku-to-gpt").click()
    expect(added).to_have_count(0)
    assert provider_of(gateway, HAIKU)[0] == "anthropic"
    assert page.errors == []


def test_a_failover_chain_is_added_and_its_mistakes_shown(signed_in: Any) -> None:
    page = signed_in
    page.goto("/#/routing")
    chains = page.locator("#chains-table")
    expect(chains.locator("tr[data-chain='claude-flaky-1']").get_by_text("config file", exact=True)).to_be_visible()
    page.get_by_role("button", name="Add chain").click()
    form = page.get_by_role("dialog", name="Add a failover chain")
    form.get_by_label("Model", exact=True).fill("gpt-*")
    form.get_by_label("Then try").fill("nowhere/x")
    form.get_by_role("button", name="Add chain").click()
    expect(form.get_by_role("alert")).to_contain_text("no provider named 'nowhere' is configured")
    page.errors.clear()  # the 400 is logged by Chromium as a failed resource load
    form.get_by_label("Then try").fill("anthropic/claude-sonnet-4-20250514")
    form.get_by_role("button", name="Add chain").click()
    expect(chains.locator("tr[data-chain='gpt-*']")).to_contain_text("anthropic/claude-sonnet-4-20250514")
    assert page.errors == []
