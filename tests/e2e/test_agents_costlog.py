"""The cost log keeps the text of passed-through Responses (Codex) and Gemini streams, as the
client received it, when `logging.bodies` is on: the official SDKs stream through the gateway
to an `openai` and a `gemini` provider, and the logged response body is the streamed text."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import bifrost_costlog
import openai
from google import genai
from google.genai import types

from bifrost_py.testing import provider_config

ADMIN = {"authorization": "Bearer admin-secret"}


async def api(gw: Any, path: str, **params: Any) -> Any:
    status, _, body = await gw.get("/api" + path, headers=ADMIN, params=params)
    assert status == 200, body
    return json.loads(body)


async def logged_bodies(gw: Any, count: int) -> dict[str, str]:
    """{session id: logged response body} once `count` rows are written."""
    for _ in range(300):
        rows = (await api(gw, "/logs", limit=100))["rows"]
        if len(rows) >= count:
            return {row["session_id"]: (await api(gw, f"/logs/{row['request_id']}"))["final"]["response_body"]
                    for row in rows}
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} rows")


async def test_passed_through_streams_are_logged_as_text(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> None:
    providers = {**provider_config(mock_upstream.url),
                 "gemini": {"type": "gemini", "base_url": mock_upstream.url, "keys": [{"value": "g-key"}]}}
    providers["openai"]["models"] = ["gpt-*"]
    gw = await start_gateway({"providers": providers, "admin": {"token": "admin-secret"},
                              "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"}, "logging": {"bodies": True},
                              "costlog": {"flush_interval": "10ms"}}, plugins=[bifrost_costlog], builtins=False)
    codex = openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-any", max_retries=0,
                               default_headers={"x-bf-session-id": "codex"})
    async with codex.responses.stream(model="gpt-4o", input="Tell me about logs [[long:20]]") as stream:
        codex_text = (await stream.get_final_response()).output_text
    google = genai.Client(api_key="any", http_options=types.HttpOptions(
        base_url=gw.url + "/gemini", headers={"x-bf-session-id": "gemini"}))
    chunks = [c async for c in await google.aio.models.generate_content_stream(
        model="gemini-2.5-flash", contents="Tell me about logs [[long:20]]")]
    gemini_text = "".join(c.text or "" for c in chunks)

    bodies = await logged_bodies(gw, 2)
    assert codex_text and bodies["codex"] == codex_text
    assert gemini_text and bodies["gemini"] == gemini_text
