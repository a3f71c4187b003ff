"""Top sessions on the dashboard, in a real browser: the Claude Code sessions that cost most in
the window, with their key, team and client app, each a link to that session's log rows; and
the usage API behind it (by session, sorted, the first N)."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect
from ui_harness import YAML_KEY_SECRET, Gateway, admin_api, screenshot


def send_in_session(gateway: Gateway, session: str, prompt: str) -> str:
    """One request as Claude Code sends it (its user agent and session header); its request id."""
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 300, "messages": [{"role": "user", "content": prompt}]}
    request = urllib.request.Request(
        gateway.url + "/anthropic/v1/messages", method="POST", data=json.dumps(body).encode(),
        headers={"x-api-key": YAML_KEY_SECRET, "anthropic-version": "2023-06-01", "content-type": "application/json",
                 "user-agent": "claude-cli/2.1.3 (external, cli)", "x-claude-code-session-id": session})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200
        return response.headers["x-bf-request-id"]


@pytest.fixture(scope="module")
def sessions(gateway: Gateway) -> dict[str, list[str]]:
    """A long expensive session and a short cheap one, logged (the writer batches: wait for it)."""
    big, small = f"big-{uuid.uuid4()}", f"small-{uuid.uuid4().hex[:6]}"
    sent = {
        big: [send_in_session(gateway, big, f"refactor step {i} [[long:200]]") for i in range(3)],
        small: [send_in_session(gateway, small, "hi")],
    }
    for _ in range(100):  # bounded: 10 s
        found = {g["group"]: g["requests"] for g in admin_api(gateway, "GET", "/usage?by=session&since=1h")["groups"]}
        if found.get(big) == 3 and found.get(small) == 1:
            return sent
        time.sleep(0.1)
    raise AssertionError(f"the sessions were not logged: {found}")


def test_usage_by_session_names_each_sessions_key_team_client_and_times(
    gateway: Gateway, sessions: dict[str, list[str]]
) -> None:
    big, small = sessions
    document = admin_api(gateway, "GET", "/usage?by=session&since=1h&top=1")
    [first] = document["groups"]
    assert first["group"] == big and document["others"]["requests"] >= 1
    assert (first["key"], first["team"], first["client"]) == ("yaml-dev", "backend", "claude-code")
    assert first["first_seen"] <= first["last_seen"] and first["cost"] > 0
    latest = admin_api(gateway, "GET", "/usage?by=session&since=1h&sort=last_seen&top=1")["groups"][0]
    assert latest["group"] == small
    with pytest.raises(urllib.error.HTTPError) as refused:
        admin_api(gateway, "GET", "/usage?by=team&sort=last_seen")
    assert refused.value.code == 400 and "last_seen" in json.loads(refused.value.read())["error"]["message"]


def test_top_sessions_link_to_their_log_rows(signed_in: Any, sessions: dict[str, list[str]]) -> None:
    page = signed_in
    big, small = sessions
    page.goto("/#/dashboard?window=24h")
    region = page.get_by_role("region", name="Top sessions, last 24 hours")
    rows = region.locator("#table-top-sessions tbody tr")
    expect(rows.first).to_have_attribute("data-session", big)  # the one that cost most first
    expect(region.locator(f'tr[data-session="{small}"]')).to_be_visible()
    first = rows.first.locator("td").all_inner_texts()
    assert first[:3] == ["yaml-dev", "backend", "claude-code"]
    assert first[5] == "3" and first[6] not in ("", "—")
    screenshot(page, "dashboard-top-sessions")

    rows.first.get_by_role("link").click()
    page.wait_for_url(lambda url: f"session={big}" in url and "range=24h" in url)
    expect(page.get_by_label("Session", exact=True)).to_have_value(big)
    table = page.locator('#log-table-wrap[aria-busy="false"]')
    table.wait_for(state="attached")
    for request_id in sessions[big]:
        page.locator(f'#log-rows tr[data-request-id="{request_id}"]').wait_for()
    assert page.locator("#log-rows tr[data-request-id]").count() == 3
    assert page.locator(f'#log-rows tr[data-request-id="{sessions[small][0]}"]').count() == 0
    assert page.errors == []
