"""Per-session budgets (issue 15, runaway guards): `session_budget` caps one coding-agent
session's spend. Real sockets, the official anthropic SDK sending the recorded Claude Code
request (its session id in `x-claude-code-session-id`), the mock upstream behind.

`mode: soft` makes the numbers plain: a request is admitted while the session's spend is below
its cap, so one request spends a tiny cap and the next one of that session is refused; strict
admission (the default, nothing may overshoot) is tested on the governor itself
(tests/plugins/test_governance_sessions.py)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import anthropic
import bifrost_governance
import orjson
import pytest

from bifrost_py.testing import provider_config

DATA = Path(__file__).resolve().parents[1] / "data"
BODY: dict[str, Any] = json.loads((DATA / "claude_code_request.body.json").read_text())
META: dict[str, Any] = json.loads((DATA / "claude_code_request.meta.json").read_text())
ADMIN = {"authorization": "Bearer admin-secret"}
SECRET = "vk-dev-secret"
CAP = 0.01          # ₹: less than one request of this size costs


def config(upstream: Any, tmp_path: Path, key: str, governance: dict[str, Any], **storage: Any) -> dict[str, Any]:
    providers = provider_config(upstream.url)
    providers["anthropic"]["models"] = ["claude-*"]
    return {
        "providers": providers,
        "storage": {"logs": f"sqlite:///{tmp_path}/gov.db", **storage},
        "currency": {"code": "INR", "per_usd": 84.0},
        "admin": {"token": "admin-secret"},
        "governance": {"mode": "soft", "virtual_keys": {key: {"key": SECRET, **governance}}},
    }


async def claude_code_turn(gw: Any, session: str | None) -> str:
    """One turn of Claude Code (its recorded request and headers) through the anthropic SDK;
    the streamed text."""
    headers = {name: value for name, value in META["headers"].items()
               if name.startswith(("x-app", "anthropic-beta", "user-agent", "anthropic-dangerous"))}
    if session is not None:
        headers["x-claude-code-session-id"] = session
    body = dict(BODY)
    known = {name: body.pop(name) for name in ("model", "messages", "system", "tools", "metadata", "max_tokens",
                                               "thinking")}
    body.pop("stream")
    client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=SECRET, max_retries=0)
    async with client:
        stream = await client.messages.create(**known, stream=True, extra_body=body, extra_headers=headers,
                                              extra_query={"beta": "true"})
        text = []
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                text.append(event.delta.text)
    return "".join(text)


async def refused(gw: Any, session: str) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude_code_turn(gw, session)
    return caught.value


async def test_a_session_cap_stops_one_session_while_another_of_the_same_key_goes_on(
        start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    gw = await start_gateway(config(mock_upstream, tmp_path, "dev-asha", {"session_budget": {"limit": CAP}}),
                             plugins=[bifrost_governance], builtins=False)
    assert await claude_code_turn(gw, "runaway-1")            # spends more than the session's cap
    error = await refused(gw, "runaway-1")
    assert error.status_code == 402
    assert error.body["type"] == "error"                       # Anthropic's error shape
    message = error.body["error"]["message"]
    assert "session 'runaway-1' of virtual key 'dev-asha'" in message, message
    assert "₹0.01" in message and "session_budget" in message, message
    assert await claude_code_turn(gw, "fresh-2")               # another session of the same key
    assert await claude_code_turn(gw, None)                    # a request outside any session
    status, _, body = await gw.get("/api/governance/keys/dev-asha", headers=ADMIN)
    assert status == 200 and orjson.loads(body)["session_budget"] == {"limit": CAP, "forget_after": "7d"}


async def test_team_and_global_session_caps_apply_the_smallest(start_gateway: Any, mock_upstream: Any,
                                                               tmp_path: Path) -> None:
    settings = config(mock_upstream, tmp_path, "dev-ravi", {"team": "backend"})
    settings["governance"]["teams"] = {"backend": {"session_budget": {"limit": CAP}}}
    settings["governance"]["session_budget"] = {"limit": 1000}
    gw = await start_gateway(settings, plugins=[bifrost_governance], builtins=False)
    assert await claude_code_turn(gw, "s-1")
    message = (await refused(gw, "s-1")).body["error"]["message"]
    assert "session 's-1' of virtual key 'dev-ravi'" in message and "team 'backend'" in message, message
    assert await claude_code_turn(gw, "s-2")


async def test_a_session_cap_holds_across_two_instances_sharing_redis(start_gateway: Any, mock_upstream: Any,
                                                                      tmp_path: Path, redis_url: str) -> None:
    key = "dev-" + os.urandom(4).hex()           # the Redis is shared with other tests
    settings = config(mock_upstream, tmp_path, key, {"session_budget": {"limit": CAP}}, redis=redis_url)
    first = await start_gateway(settings, plugins=[bifrost_governance], builtins=False)
    second = await start_gateway(settings, plugins=[bifrost_governance], builtins=False)
    assert await claude_code_turn(first, "shared-session")
    assert (await refused(second, "shared-session")).status_code == 402
    assert await claude_code_turn(second, "other-session")
