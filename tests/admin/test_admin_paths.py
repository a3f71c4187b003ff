"""Unknown paths and wrong methods, through a real gateway: 404/405 in JSON, in the dialect of
the path (docs/api.md, "Unknown paths"), while every real endpoint and probe still answers."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import aiohttp
import orjson
import pytest
from admin_wire import exchange
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.testing import RunningGateway


@pytest.fixture
async def gw(start_gateway: Any) -> RunningGateway:
    gateway: RunningGateway = await start_gateway({"admin": {"token": "admin-secret"}}, builtins=False)
    return gateway


async def request(gw: RunningGateway, method: str, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.request(method, gw.url + path, **kwargs) as response:
        return response.status, dict(response.headers), await response.read()


def anthropic_error(body: bytes, kind: str) -> str:
    data = orjson.loads(body)
    assert data["type"] == "error" and data["error"]["type"] == kind and set(data["error"]) == {"type", "message"}
    return str(data["error"]["message"])


def openai_error(body: bytes, kind: str) -> str:
    error = orjson.loads(body)["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["type"] == kind, error
    return str(error["message"])


def admin_error(body: bytes, kind: str) -> str:
    data = orjson.loads(body)
    assert set(data) == {"error"} and set(data["error"]) == {"message", "type"} and data["error"]["type"] == kind
    return str(data["error"]["message"])


@pytest.mark.parametrize("path", ["/v1/no-such-endpoint", "/openai/v1/completion", "/v2/chat/completions", "/chat"])
async def test_unknown_openai_and_other_paths_are_404_in_the_openai_shape(gw: RunningGateway, path: str) -> None:
    status, headers, body = await request(gw, "POST", path, json={"model": "gpt-4o"})
    assert status == 404 and headers["Content-Type"] == "application/json"
    assert f"POST {path}" in openai_error(body, "not_found_error")
    assert orjson.loads(body)["error"]["code"] == "unknown_url", "not model_not_found: the URL is wrong"


@pytest.mark.parametrize("path", ["/anthropic/v1/complete", "/anthropic/v2/messages", "/v1/messages/batches"])
async def test_unknown_anthropic_paths_are_404_in_the_anthropic_shape(gw: RunningGateway, path: str) -> None:
    status, _, body = await request(gw, "POST", path, json={})
    assert status == 404
    assert path in anthropic_error(body, "not_found_error")


@pytest.mark.parametrize("path", ["/v1/messages", "/anthropic/v1/messages", "/v1/messages/count_tokens"])
async def test_a_wrong_method_on_a_messages_path_is_405_anthropic_with_allow(gw: RunningGateway, path: str) -> None:
    status, headers, body = await request(gw, "GET", path)
    assert status == 405 and headers["Allow"] == "POST"
    assert "accepts POST" in anthropic_error(body, "invalid_request_error")


async def test_a_wrong_method_on_an_openai_path_is_405_openai_with_allow(gw: RunningGateway) -> None:
    status, headers, body = await request(gw, "GET", "/v1/chat/completions")
    assert status == 405 and headers["Allow"] == "POST"
    openai_error(body, "invalid_request_error")
    status, headers, body = await request(gw, "DELETE", "/openai/v1/models")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    openai_error(body, "invalid_request_error")


async def test_admin_paths_answer_in_the_admin_shape(gw: RunningGateway) -> None:
    status, _, body = await request(gw, "GET", "/api/nope")
    assert status == 404 and "/api/openapi.json" in admin_error(body, "not_found")
    status, headers, body = await request(gw, "DELETE", "/api/providers", headers={"authorization": "Bearer admin-secret"})
    assert status == 405 and headers["Allow"] == "GET, POST"
    admin_error(body, "method_not_allowed")
    status, headers, body = await request(gw, "POST", "/metrics")
    assert status == 405 and headers["Allow"] == "GET, HEAD"
    admin_error(body, "method_not_allowed")


async def test_probes_and_real_endpoints_still_answer(gw: RunningGateway) -> None:
    for path in ("/", "/anthropic", "/anthropic/", "/openai", "/openai/", "/v1", "/health"):
        assert (await request(gw, "HEAD", path))[0] == 200, path
        assert (await request(gw, "GET", path))[0] == 200, path
    assert orjson.loads((await request(gw, "GET", "/health"))[2]) == {"status": "ok"}
    assert orjson.loads((await request(gw, "GET", "/openai/v1/models"))[2])["object"] == "list"
    assert (await request(gw, "GET", "/api/openapi.json"))[0] == 200


async def test_odd_bytes_in_the_path_are_a_json_404(gw: RunningGateway) -> None:
    for target in (b"/v1/%00", b"/v1/%ff%fe", b"/anthropic/%c3%28", b"/api/%00?x=%ff", b"/%2e%2e/%2e%2e/etc/passwd",
                   b"/v1/" + b"a" * 8000):
        answer = await exchange(gw.url, "GET", target)
        assert answer.status == 404, target
        assert answer.headers["content-type"] == "application/json", target
        message = orjson.loads(answer.body)["error"]["message"]
        assert len(message) < 500, "a long path is not echoed whole"


# The documented rule, written out independently of bifrost_py/admin/fallback.py.
def expected_dialect(path: str) -> str:
    if path in ("/anthropic", "/v1/messages") or path.startswith(("/anthropic/", "/v1/messages/")):
        return "anthropic"
    if path in ("/api", "/metrics", "/health") or path.startswith(("/api/", "/ui/")):
        return "admin"
    return "openai"


PREFIXES = ["/", "/v1/", "/v1/messages/", "/anthropic/", "/anthropic/v1/", "/openai/", "/openai/v1/", "/api/",
            "/api/logs/", "/ui/", "/ui/js/", "/gemini/"]
# "." and ".." are excluded: the server normalises them away, so the path it sees is another one.
SEGMENT = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=12).filter(
    lambda s: s not in (".", ".."))
METHODS = st.sampled_from(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"])


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.sampled_from(PREFIXES), segments=st.lists(SEGMENT, max_size=3), method=METHODS)
async def test_any_unknown_path_answers_json_in_its_dialect(gw: RunningGateway, prefix: str, segments: list[str],
                                                            method: str) -> None:
    target = (prefix + "/".join(quote(s, safe="") for s in segments)).encode()
    answer = await exchange(gw.url, method, target)
    assert answer.status < 500, answer.raw[:300]
    if answer.status < 400 or method == "HEAD":
        return  # a real endpoint (an existing UI file, a probe) answered; HEAD has no body
    assert answer.headers["content-type"] == "application/json", answer.raw[:300]
    decoded = "/".join([prefix.rstrip("/") or "", *segments]) if segments else prefix
    body = orjson.loads(answer.body)
    shape = expected_dialect(decoded)
    if shape == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] in ("not_found_error", "invalid_request_error")
    elif shape == "openai":
        assert set(body["error"]) == {"message", "type", "param", "code"}
    else:
        assert set(body["error"]) == {"message", "type"}
    if answer.status == 405:
        assert answer.headers["allow"]
