"""The Logs page in a real browser: live rows, filters, the detail of one request, CSV export."""

from __future__ import annotations

import csv
import uuid
from typing import Any

from playwright.sync_api import expect
from ui_harness import YAML_KEY_SECRET, Gateway, screenshot, send


def open_logs(page: Any, query: str = "") -> None:
    page.goto(f"/#/logs{query}")
    live = page.locator("#live-state")
    live.get_by_text("Live").wait_for()


def filtered(page: Any, fragment: str) -> None:
    """Wait until the filters are in the URL and the table shows their rows."""
    page.wait_for_url(lambda url: fragment in url)
    page.locator('#log-table-wrap[aria-busy="false"]').wait_for(state="attached")


def row(page: Any, request_id: str) -> Any:
    return page.locator(f'#log-rows tr[data-request-id="{request_id}"]')


def test_a_request_appears_live_without_a_reload(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    open_logs(page)
    # A marker on window survives only if the page is never reloaded.
    page.evaluate("window.__sameDocument = true")
    tag = uuid.uuid4().hex[:8]
    sent = send(gateway, YAML_KEY_SECRET, f"live row {tag}")
    assert sent.status == 200
    new_row = row(page, sent.request_id)
    new_row.wait_for()
    assert page.evaluate("window.__sameDocument === true")
    assert "yaml-dev" in new_row.inner_text()
    assert "backend" in new_row.inner_text()
    assert new_row.locator(".badge").first.inner_text() == "200"
    screenshot(page, "logs-live")
    assert page.errors == []


def test_filters_narrow_the_table_and_the_live_rows(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    ok = send(gateway, YAML_KEY_SECRET, "a question for gpt", model="gpt-4o-mini")
    failed = send(gateway, YAML_KEY_SECRET, "this one fails [[fail:503]]")
    assert (ok.status, failed.status) == (200, 503)
    open_logs(page)
    row(page, failed.request_id).wait_for()
    row(page, ok.request_id).wait_for()

    page.get_by_label("Status", exact=True).select_option("error")
    filtered(page, "status=error")
    row(page, failed.request_id).wait_for()
    assert row(page, ok.request_id).count() == 0
    statuses = page.locator("#log-rows tr td:nth-child(6) .badge").all_inner_texts()
    assert statuses and all(int(s) >= 400 for s in statuses)

    # A live row that does not match the filter stays out; one that matches comes in.
    later_ok = send(gateway, YAML_KEY_SECRET, "fine again")
    later_failed = send(gateway, YAML_KEY_SECRET, "fails again [[fail:500]]")
    row(page, later_failed.request_id).wait_for()
    assert row(page, later_ok.request_id).count() == 0

    page.get_by_role("button", name="Clear filters").click()
    page.get_by_label("Model", exact=True).fill("gpt-4o-mini")
    filtered(page, "model=gpt-4o-mini")
    row(page, ok.request_id).wait_for()
    assert row(page, failed.request_id).count() == 0
    models = page.locator("#log-rows tr td:nth-child(4)").all_inner_texts()
    assert models and all("gpt-4o-mini" in m for m in models)
    screenshot(page, "logs-filtered")

    # A custom time range that ended before these requests shows none of them.
    page.get_by_label("Time", exact=True).select_option("custom")
    page.get_by_label("From", exact=True).fill("2020-01-01T00:00")
    page.get_by_label("To", exact=True).fill("2020-01-02T00:00")
    filtered(page, "to=2020-01-02")
    expect(page.get_by_text("No requests match these filters yet.")).to_be_visible()
    assert page.locator("#log-rows tr").count() == 0
    assert page.errors == []


def test_detail_shows_every_attempt_of_a_fallback(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    sent = send(gateway, YAML_KEY_SECRET, "falls back to anthropic", model="claude-flaky-1")
    assert sent.status == 200
    open_logs(page)
    row(page, sent.request_id).locator("button").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_role("region", name="Attempt 2").wait_for()
    first = dialog.get_by_role("region", name="Attempt 1")
    assert "flaky" in first.inner_text() and "529" in first.inner_text()
    second = dialog.get_by_role("region", name="Attempt 2")
    assert "anthropic" in second.inner_text() and "200" in second.inner_text()
    assert sent.request_id in dialog.inner_text()
    screenshot(page, "logs-detail")
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert page.errors == []


def test_export_gives_the_filtered_rows_as_csv(signed_in: Any, gateway: Gateway) -> None:
    page = signed_in
    failed = send(gateway, YAML_KEY_SECRET, "exported failure [[fail:502]]")
    assert failed.status == 502
    open_logs(page, "?status=error&rows=attempts")
    row(page, failed.request_id).wait_for()
    with page.expect_download() as info:
        page.get_by_role("button", name="Export CSV").click()
    download = info.value
    assert download.suggested_filename.startswith("bifrost-logs-") and download.suggested_filename.endswith(".csv")
    with open(download.path(), encoding="utf-8", newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows, "the export has rows"
    assert all(int(r["status"]) >= 400 for r in rows), "only the filtered rows"
    assert failed.request_id in {r["request_id"] for r in rows}
    assert {"timestamp", "key_name", "model", "cost", "currency"} <= set(rows[0])
    assert page.errors == []
