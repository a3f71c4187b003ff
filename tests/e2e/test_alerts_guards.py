"""Runaway guards over real sockets: a replayed Claude Code request looping in one session is
reported (and, when asked, refused with a 429 that says why); a normal multi-turn session is
not; a key spending faster than allowed raises one spend-rate alert."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_alerts
import orjson
from bifrost_alerts.testing import running_webhook_receiver

from bifrost_py import Caller, hookimpl
from bifrost_py.testing import provider_config

DATA = Path(__file__).parent.parent / "data"
BODY = (DATA / "claude_code_request.body.json").read_bytes()
META = json.loads((DATA / "claude_code_request.meta.json").read_text())
REPEATS = 4


class Identify:
    """Stands in for governance: every caller is the key 'dev-asha' of team 'backend'."""

    PLUGIN_NAME = "identify"

    @hookimpl(tryfirst=True)
    async def bifrost_request_start(self, call: Any) -> None:
        call.caller = Caller("k1", "dev-asha", team="backend")


def settings(logs: Path, upstream: str, hook: str, **alerts: Any) -> dict[str, Any]:
    return {"providers": provider_config(upstream), "currency": {"code": "INR", "per_usd": 84.0},
            "storage": {"logs": f"sqlite:///{logs}/logs.db"},
            "alerts": {"channels": {"hook": {"type": "webhook", "url": hook, "backoff": "10ms"}}, **alerts}}


async def send(gw: Any, body: bytes, session_id: str) -> tuple[int, dict[str, str], bytes]:
    headers = {**META["headers"], "x-api-key": "vk-developer", "x-claude-code-session-id": session_id}
    async with aiohttp.ClientSession() as client:
        url = f"{gw.url}/anthropic{META['path']}?{META['query']}"
        async with client.post(url, data=body, headers=headers) as response:
            return response.status, dict(response.headers), await response.read()


def turn(n: int) -> bytes:
    """Turn n of an ordinary conversation: each adds a new question to what came before."""
    messages: list[dict[str, Any]] = []
    for i in range(1, n + 1):
        messages.append({"role": "user", "content": f"question {i}: explain step {i} of the build"})
        if i < n:
            messages.append({"role": "assistant", "content": f"answer {i}"})
    return orjson.dumps({"model": "claude-sonnet-4-20250514", "max_tokens": 100, "messages": messages})


async def test_a_replayed_request_looping_in_one_session_is_reported_and_refused(start_gateway: Any,
                                                                                 mock_upstream: Any, tmp_path: Path) -> None:
    async with running_webhook_receiver() as hook:
        gw = await start_gateway(settings(tmp_path, mock_upstream.url, hook.url,
                                          loop={"repeats": REPEATS, "within": "10m", "refuse": True}),
                                 plugins=[bifrost_alerts, Identify()], builtins=False)
        statuses = [(await send(gw, BODY, "looping"))[0] for _ in range(REPEATS)]
        assert statuses == [200] * REPEATS
        status, headers, body = await send(gw, BODY, "looping")
        assert status == 429, (headers, body)
        assert int({k.lower(): v for k, v in headers.items()}["retry-after"]) > 0, list(headers)
        error = orjson.loads(body)
        assert error["type"] == "error" and error["error"]["type"] == "rate_limit_error"
        assert "loop detected: session looping sent the same request 5 times" in error["error"]["message"]
        assert (await send(gw, BODY, "another-session"))[0] == 200  # other sessions go on

        [alert] = await hook.wait_for(1)
        payload = alert.json()
        assert payload["type"] == "loop" and payload["session"] == "looping" and payload["key"] == "dev-asha"
        assert (await send(gw, BODY, "looping"))[0] == 429
        assert len(hook.received) == 1  # one alert per loop, not one per repeat


async def test_a_normal_multi_turn_session_is_not_a_loop(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    async with running_webhook_receiver() as hook:
        gw = await start_gateway(settings(tmp_path, mock_upstream.url, hook.url,
                                          loop={"repeats": REPEATS, "within": "10m", "refuse": True}),
                                 plugins=[bifrost_alerts, Identify()], builtins=False)
        statuses = [(await send(gw, turn(n), "working"))[0] for n in range(1, 3 * REPEATS)]
        assert statuses == [200] * (3 * REPEATS - 1)
    assert hook.received == []


async def test_a_key_spending_faster_than_allowed_raises_one_spend_rate_alert(start_gateway: Any,
                                                                             mock_upstream: Any, tmp_path: Path) -> None:
    async with running_webhook_receiver() as hook:
        gw = await start_gateway(settings(tmp_path, mock_upstream.url, hook.url, spend_rate={"max_per_hour": 0.01}),
                                 plugins=[bifrost_alerts, Identify()], builtins=False)
        for n in range(1, 4):
            assert (await send(gw, turn(n), f"s{n}"))[0] == 200
        [alert] = await hook.wait_for(1)
        payload = alert.json()
        assert payload["type"] == "spend_rate" and payload["key"] == "dev-asha" and payload["last_hour"] > 0.01
        assert "virtual key 'dev-asha' spent ₹" in payload["title"]
    assert len(hook.received) == 1


async def test_an_openai_client_looping_gets_the_refusal_in_its_own_shape(start_gateway: Any, mock_upstream: Any,
                                                                         tmp_path: Path) -> None:
    async with running_webhook_receiver() as hook:
        gw = await start_gateway(settings(tmp_path, mock_upstream.url, hook.url,
                                          loop={"repeats": 2, "within": "1m", "refuse": True}),
                                 plugins=[bifrost_alerts, Identify()], builtins=False)
        body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "run the tests again"}]}
        headers = {"x-bf-session-id": "agent-7", "authorization": "Bearer vk-developer"}
        statuses = []
        for _ in range(3):
            status, _, answer = await gw.post("/v1/chat/completions", json=body, headers=headers)
            statuses.append(status)
        assert statuses == [200, 200, 429]
        error = orjson.loads(answer)["error"]
        assert error["type"] == "rate_limit_error" and error["code"] == "rate_limit_exceeded"
        assert error["message"].startswith("loop detected: session agent-7 sent the same request 3 times in 1 min")
        [alert] = await hook.wait_for(1)
        assert alert.json()["session"] == "agent-7"
