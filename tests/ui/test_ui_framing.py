"""A real Chromium refuses to show the UI inside another page's frame (clickjacking a signed-in
admin into deleting keys needs exactly that), and the UI's own pages still load."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from ui_harness import Gateway

from bifrost_py.testing import free_port


@pytest.fixture
def other_site(gateway: Gateway) -> Iterator[str]:
    """Another origin (its own port) serving a page that frames the gateway's UI."""
    page = f'<!doctype html><title>elsewhere</title><iframe id="ui" src="{gateway.url}/"></iframe>'.encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/html")
            self.send_header("content-length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_another_site_cannot_frame_the_ui(browser: Any, other_site: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        with page.expect_console_message(lambda m: "frame-ancestors" in m.text or "X-Frame-Options" in m.text,
                                         timeout=10_000) as refused:
            page.goto(other_site)
        assert "blocked" in refused.value.text
        assert page.frame_locator("#ui").locator("#main").count() == 0, "the UI was not rendered in the frame"
    finally:
        context.close()


def test_the_ui_itself_still_loads(page: Any) -> None:
    page.goto("/")
    page.get_by_label("Admin token").wait_for()
    assert page.errors == []
