"""What Claude Code really sends survives the gateway: a recorded Claude Code 2.1.197 request
(mid-conversation system message, 24 tools, adaptive thinking, context_management,
output_config, cache_control, eight betas, ?beta=true) reaches the provider byte for byte,
apart from the model name and the credentials."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bifrost_py.dialects.rawjson import replace_top_level_string
from bifrost_py.testing import provider_config

DATA = Path(__file__).parent.parent / "data"
BODY = (DATA / "claude_code_request.body.json").read_bytes()
META = json.loads((DATA / "claude_code_request.meta.json").read_text())


async def _send(gw: Any, body: bytes) -> tuple[int, bytes]:
    headers = {**META["headers"], "x-api-key": "vk-developer"}
    async with aiohttp.ClientSession() as session:
        await session.head(gw.url + "/anthropic")
        url = f"{gw.url}/anthropic{META['path']}?{META['query']}"
        async with session.post(url, data=body, headers=headers) as response:
            return response.status, await response.read()


async def _forwarded(upstream: Any) -> dict[str, Any]:
    records = orjson.loads((await upstream.get("/_mock/requests"))[2])
    return [r for r in records if r["path"] == "/v1/messages"][-1]


async def test_recorded_request_passes_through_untouched(start_gateway: Any, mock_upstream: Any) -> None:
    gw = await start_gateway({"providers": provider_config(mock_upstream.url)}, builtins=False)
    status, answer = await _send(gw, BODY)
    assert status == 200, answer
    assert b"event: message_stop" in answer
    sent = await _forwarded(mock_upstream)
    assert sent["body"].encode() == BODY
    assert sent["query"] == "beta=true"
    for name in ("anthropic-beta", "anthropic-version", "x-claude-code-session-id", "x-app"):
        assert sent["headers"][name] == META["headers"][name], name
    assert len(sent["headers"]["anthropic-beta"].split(",")) == 8
    assert sent["headers"]["x-api-key"] == "sk-ant-test"
    assert "vk-developer" not in json.dumps(sent["headers"])


async def test_only_the_model_name_changes_when_routed(start_gateway: Any, mock_upstream: Any) -> None:
    gw = await start_gateway({"providers": provider_config(mock_upstream.url)}, builtins=False)
    body = replace_top_level_string(BODY, "model", "anthropic/claude-opus-4-8")
    assert body is not None
    status, _ = await _send(gw, body)
    assert status == 200
    assert (await _forwarded(mock_upstream))["body"].encode() == BODY
