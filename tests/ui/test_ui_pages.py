"""Dashboard and Providers with traffic, and what every page must be: offline (nothing fetched
from elsewhere), labelled, readable (text contrast measured in the browser, light and dark),
usable with the keyboard and on a phone-sized screen."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect
from ui_harness import (
    CONTROLS_WITHOUT_NAMES,
    LOW_CONTRAST,
    YAML_KEY_SECRET,
    Gateway,
    screenshot,
    send,
)

PAGES = ("dashboard", "logs", "access/keys", "providers")


@pytest.fixture(scope="module")
def traffic(gateway: Gateway) -> None:
    """A few requests of each kind: plain, another model, a failure, a fallback."""
    for prompt, model in (("what does a gateway do? [[long:120]]", "claude-sonnet-4-20250514"),
                          ("and a cheaper model", "claude-haiku-4-5-20251001"),
                          ("this one fails [[fail:500]]", "claude-sonnet-4-20250514"),
                          ("falls back", "claude-flaky-1")):
        send(gateway, YAML_KEY_SECRET, prompt, model=model, max_tokens=300)


def test_dashboard_shows_spend_budgets_and_health(signed_in: Any, traffic: None) -> None:
    page = signed_in
    page.goto("/#/dashboard")
    spend = page.locator(".spend").filter(has_text="Spent today").locator(".value")
    expect(spend).to_contain_text("₹")
    assert spend.inner_text() not in ("₹0.00", "—")
    budgets = page.get_by_role("region", name="Budgets closest to their caps")
    expect(budgets.get_by_role("progressbar", name="Budget of key yaml-dev this month")).to_be_visible()
    chart = page.locator("figure.chart svg")
    expect(chart).to_be_visible()
    assert page.locator("figure.chart rect.bar-rect[tabindex='0']").count() >= 1
    traffic_section = page.get_by_role("region", name="Traffic, last 7 days")
    for label in ("Requests", "Error rate", "Latency p50", "Latency p95", "Cache hit rate", "Saved by the cache",
                  "Saved by routing", "Fallbacks"):
        expect(traffic_section.get_by_text(label, exact=True)).to_be_visible()
    expect(page.get_by_role("region", name="By team").get_by_role("link", name="backend")).to_be_visible()
    expect(page.get_by_role("region", name="By model").get_by_role("link", name="claude-haiku-4-5-20251001")).to_be_visible()
    page.get_by_label("Window", exact=True).select_option("24h")
    expect(page.get_by_role("heading", name="Spend per hour, last 24 hours")).to_be_visible()
    screenshot(page, "dashboard")
    # A ranking links to the matching logs.
    page.get_by_role("region", name="By team").get_by_role("link", name="backend").click()
    expect(page.get_by_role("heading", name="Logs")).to_be_visible()
    expect(page.get_by_label("Team", exact=True)).to_have_value("backend")
    assert page.errors == []


def test_dashboard_follows_new_traffic_without_a_reload(signed_in: Any, gateway: Gateway, traffic: None) -> None:
    page = signed_in
    page.goto("/#/dashboard?window=24h")
    requests = page.locator(".stat").filter(has_text="Requests").locator(".value")
    expect(requests).not_to_have_text("—")
    before = int(requests.inner_text().replace(",", ""))
    page.evaluate("window.__sameDocument = true")
    assert send(gateway, YAML_KEY_SECRET, "one more").status == 200
    # The live stream marks the figures stale; they are fetched again within 15 s.
    expect(requests).to_have_text(str(before + 1), timeout=30_000)
    assert page.evaluate("window.__sameDocument === true")
    assert page.errors == []


def test_providers_show_masked_keys_health_and_error_rate(signed_in: Any, traffic: None) -> None:
    page = signed_in
    page.goto("/#/providers")
    anthropic = page.get_by_role("region", name="anthropic mock")
    expect(anthropic.get_by_text("sk-a…0001")).to_be_visible()
    assert "sk-ant-ui-test-key-0001" not in page.content()
    expect(anthropic.get_by_text("usable", exact=True)).to_be_visible()
    expect(anthropic.locator("dd").filter(has_text="%")).to_be_visible()
    flaky = page.get_by_role("region", name="flaky mock")
    expect(flaky.get_by_role("cell", name="claude-flaky-1", exact=True)).to_be_visible()
    expect(flaky).to_contain_text("Last error:")
    screenshot(page, "providers")
    assert page.errors == []


def test_nothing_is_fetched_from_anywhere_else(signed_in: Any, gateway: Gateway, traffic: None) -> None:
    page = signed_in
    urls: list[str] = []
    page.on("request", lambda request: urls.append(request.url))
    for name in PAGES:
        page.goto(f"/#/{name}")
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_timeout(500)  # the page's own data calls (event streams never go idle)
    assert urls
    assert all(url.startswith((gateway.url, "data:")) for url in urls), urls


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_is_labelled_and_readable(signed_in: Any, traffic: None, scheme: str) -> None:
    page = signed_in
    page.emulate_media(color_scheme=scheme)
    for name in PAGES:
        page.goto(f"/#/{name}")
        expect(page.locator("h1")).to_be_visible()
        page.wait_for_timeout(300)  # let the data arrive
        assert page.evaluate(CONTROLS_WITHOUT_NAMES) == [], name
        assert page.evaluate(LOW_CONTRAST) == [], name
        if scheme == "dark":
            screenshot(page, f"dark-{name.replace('/', '-')}")
    # The checks themselves catch what they should.
    page.evaluate("""() => document.querySelector('h1').after(
        Object.assign(document.createElement('p'), {textContent: 'faint', style: 'color:#999;background:#fff'}),
        document.createElement('input'))""")
    assert any("faint" in line for line in page.evaluate(LOW_CONTRAST))
    assert len(page.evaluate(CONTROLS_WITHOUT_NAMES)) == 1
    assert page.errors == []


def test_keyboard_only_use(signed_in: Any, traffic: None) -> None:
    page = signed_in
    page.goto("/#/dashboard")
    expect(page.locator("h1")).to_be_focused()  # a new page is announced by its heading
    # The first stop in the tab order is the skip link.
    assert page.evaluate("document.querySelector('a[href], button, input, select').className") == "skip-link"
    # Back from the heading, through the top bar, to the Logs link.
    for _ in range(10):
        page.keyboard.press("Shift+Tab")
        if page.evaluate("document.activeElement.textContent") == "Logs":
            break
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Logs")).to_be_focused()
    first = page.locator("#log-rows tr button").first
    first.focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    expect(dialog).to_be_visible()
    page.keyboard.press("Escape")
    expect(dialog).to_have_count(0)
    expect(first).to_be_focused()
    assert page.errors == []


def test_phone_sized_screen(browser: Any, gateway: Gateway, traffic: None) -> None:
    from ui_harness import sign_in

    context = browser.new_context(viewport={"width": 390, "height": 844}, base_url=gateway.url, is_mobile=True)
    page = context.new_page()
    try:
        sign_in(page)
        for name in ("dashboard", "logs"):
            page.goto(f"/#/{name}")
            expect(page.locator("h1")).to_be_visible()
            page.wait_for_timeout(300)
            # Nothing but wide tables (which scroll inside their own box) may overflow the screen.
            width = page.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"{name} is {width}px wide on a 390px screen"
            screenshot(page, f"phone-{name}")
    finally:
        context.close()
