"""/_mock/*: scripts, recorded requests, live options, stats."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import pytest

from .conftest import ANTHROPIC_HEADERS, OPENAI_HEADERS, user

MODEL = "claude-sonnet-4-20250514"


async def _script(http: Any, url: str, *responses: dict[str, Any]) -> None:
    async with http.post(url + "/_mock/script", json={"responses": list(responses)}) as r:
        assert r.status == 200, await r.text()


async def test_script_is_consumed_in_order_before_markers(http: Any, url: str, claude: Any) -> None:
    await _script(http, url, {"status": 429, "retry_after": 1}, {"status": 529}, {"status": 200})
    with pytest.raises(anthropic.RateLimitError) as first:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user("[[fail:500]] hi"))
    assert first.value.response.headers["retry-after"] == "1"
    with pytest.raises(anthropic.InternalServerError) as second:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user("hi"))
    assert second.value.status_code == 529
    ok = await claude.messages.create(model=MODEL, max_tokens=5, messages=user("[[fail:500]] hi"))
    assert ok.content[0].text == "Mock answer to: hi"  # status 200 in the script beats the marker
    with pytest.raises(anthropic.InternalServerError):  # script empty: the marker applies again
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user("[[fail:500]] hi"))


async def test_sdk_retries_through_a_scripted_429(http: Any, url: str) -> None:
    await _script(http, url, {"status": 429, "retry_after": 0}, {"status": 200})
    async with anthropic.AsyncAnthropic(base_url=url, api_key="k", max_retries=2) as client:
        message = await client.messages.create(model=MODEL, max_tokens=5, messages=user("hi"))
    assert message.stop_reason == "end_turn"
    async with http.get(url + "/_mock/stats") as r:
        assert (await r.json())["requests"] == 2


async def test_script_entries_can_carry_text_and_faults(http: Any, url: str, claude: Any) -> None:
    await _script(
        http, url, {"text": "Exactly this answer."}, {"status": 503, "message": "try later"}
    )
    message = await claude.messages.create(model=MODEL, max_tokens=50, messages=user("anything"))
    assert message.content[0].text == "Exactly this answer."
    with pytest.raises(anthropic.InternalServerError) as caught:
        await claude.messages.create(model=MODEL, max_tokens=50, messages=user("anything"))
    assert caught.value.body["error"] == {"type": "api_error", "message": "try later"}


async def test_script_applies_to_openai_and_embeddings(http: Any, url: str) -> None:
    await _script(http, url, {"status": 429}, {"status": 500})
    body = {"model": "gpt-4o", "messages": user("hi")}
    async with http.post(url + "/v1/chat/completions", json=body, headers=OPENAI_HEADERS) as r:
        assert r.status == 429
    async with http.post(
        url + "/v1/embeddings", json={"model": "e", "input": "x"}, headers=OPENAI_HEADERS
    ) as r:
        assert r.status == 500
        assert (await r.json())["error"]["type"] == "server_error"


@pytest.mark.parametrize(
    "payload", [{"responses": [{"stauts": 429}]}, {"responses": [{"status": 9}]}, {"x": 1}]
)
async def test_bad_scripts_are_refused_whole(http: Any, url: str, payload: dict[str, Any]) -> None:
    async with http.post(url + "/_mock/script", json=payload) as r:
        assert r.status == 400
        assert "error" in await r.json()


async def test_recorded_request_keeps_the_raw_body_byte_for_byte(http: Any, url: str) -> None:
    raw = (
        '{ "model" : "claude-x",\n  "max_tokens": 7, "zeta": 1.50, "alpha": "\\u00e9\u00e9",'
        ' "messages": [{"role": "user", "content": "hi"}] }'
    ).encode()
    headers = {**ANTHROPIC_HEADERS, "content-type": "application/json", "anthropic-beta": "b1"}
    async with http.post(url + "/v1/messages?beta=true", data=raw, headers=headers) as r:
        assert r.status == 200
    async with http.get(url + "/_mock/requests") as r:
        records = await r.json()
    record = records[-1]
    assert record["method"] == "POST" and record["path"] == "/v1/messages"
    assert record["query"] == "beta=true"
    assert record["body"].encode() == raw
    assert (
        record["headers"]["anthropic-beta"] == "b1" and record["headers"]["x-api-key"] == "test-key"
    )
    import base64

    assert base64.b64decode(record["body_base64"]) == raw


async def test_requests_are_newest_last_and_reset_clears_everything(
    http: Any, url: str, claude: Any
) -> None:
    for text in ("one", "two"):
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user(text))
    async with http.get(url + "/_mock/requests") as r:
        bodies = [rec["body"] for rec in await r.json()]
    assert '"one"' in bodies[0] and '"two"' in bodies[1]
    await _script(http, url, {"status": 500})
    async with http.post(url + "/_mock/reset") as r:
        assert r.status == 200
    async with http.get(url + "/_mock/requests") as r:
        assert await r.json() == []
    async with http.get(url + "/_mock/stats") as r:
        assert (await r.json())["requests"] == 0
    await claude.messages.create(
        model=MODEL, max_tokens=5, messages=user("no scripted failure left")
    )


async def test_health_probes_are_not_recorded(http: Any, url: str) -> None:
    async with http.get(url + "/health") as r:
        assert await r.json() == {"status": "ok"}
    async with http.head(url + "/") as r:
        assert r.status == 200
    async with http.get(url + "/_mock/requests") as r:
        assert await r.json() == []


async def test_options_change_live(http: Any, url: str, claude: Any) -> None:
    async with http.post(url + "/_mock/options", json={"latency": "150ms", "retry_after": 3}) as r:
        assert (await r.json())["latency"] == pytest.approx(0.15)
    started = time.monotonic()
    await claude.messages.create(model=MODEL, max_tokens=5, messages=user("hi"))
    assert time.monotonic() - started >= 0.14
    async with http.post(
        url + "/_mock/options", json={"latency": 0, "fail_rate": 1.0, "fail_status": 429}
    ) as r:
        assert r.status == 200
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude.messages.create(model=MODEL, max_tokens=5, messages=user("hi"))
    assert caught.value.response.headers["retry-after"] == "3"
    async with http.post(url + "/_mock/options", json={"no_such_option": 1}) as r:
        assert r.status == 400
    async with http.post(url + "/_mock/reset") as r:
        pass
    async with http.get(url + "/_mock/options") as r:
        assert (await r.json())["fail_rate"] == 0.0


async def test_oversized_body_is_a_413_in_the_apis_format(http: Any, url: str) -> None:
    from bifrost_py.mockupstream.server import MAX_BODY

    big = b'{"x":"' + b"a" * MAX_BODY + b'"}'
    async with http.post(url + "/v1/messages", data=big, headers=ANTHROPIC_HEADERS) as r:
        assert r.status == 413
        assert (await r.json())["error"]["type"] == "request_too_large"
