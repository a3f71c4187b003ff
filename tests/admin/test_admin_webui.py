"""The web UI's responses over real sockets: they cannot be framed or sniffed, and no name a URL
can encode reaches the file system as anything but a 404 in JSON."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from admin_wire import exchange

from bifrost_py.testing import RunningGateway


@pytest.fixture
async def gw(start_gateway: Any) -> RunningGateway:
    gateway: RunningGateway = await start_gateway({"admin": {"token": "t"}}, builtins=False)
    return gateway


def assert_not_frameable(headers: dict[str, str]) -> None:
    assert headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("path", [b"/", b"/ui/app.css", b"/ui/js/main.js", b"/ui/js/views/logs.js"])
async def test_ui_files_cannot_be_framed(gw: RunningGateway, path: bytes) -> None:
    answer = await exchange(gw.url, "GET", path)
    assert answer.status == 200
    assert_not_frameable(answer.headers)
    again = await exchange(gw.url, "GET", path, {"If-Modified-Since": answer.headers["last-modified"].encode()})
    assert again.status == 304


async def test_model_endpoints_do_not_carry_the_ui_headers(gw: RunningGateway) -> None:
    for method, path in (("GET", b"/openai/v1/models"), ("POST", b"/v1/chat/completions"), ("GET", b"/health")):
        answer = await exchange(gw.url, method, path, {"Content-Type": b"application/json"}, b"{}")
        assert "x-frame-options" not in answer.headers and "content-security-policy" not in answer.headers, path


@pytest.mark.parametrize("target", [
    b"/ui/%00", b"/ui/a%00b.js", b"/ui/..%2f..%2fpyproject.toml", b"/ui/..%2f__init__.py", b"/ui/%2e%2e/__init__.py",
    b"/ui/%ff", b"/ui/%c3%28.js", b"/ui/%0a", b"/ui/%01", b"/ui/js", b"/ui/js/", b"/ui/" + b"a" * 5000,
    b"/ui/" + b"a/" * 3000 + b"x.js", b"/ui/nope.js",
])
async def test_odd_ui_names_are_a_404_in_json(gw: RunningGateway, target: bytes) -> None:
    answer = await exchange(gw.url, "GET", target)
    assert answer.status == 404, answer.raw[:300]
    assert answer.headers["content-type"] == "application/json"
    error = orjson.loads(answer.body)["error"]
    assert error["type"] == "not_found" and error["message"]
