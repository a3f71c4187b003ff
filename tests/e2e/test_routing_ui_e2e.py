"""Hot apply of rules edited at run time, through real sockets: while 20 streams run on the
provider the old rules chose, a rule added through the admin API sends the next request
elsewhere; every stream in flight ends whole on the provider it started with."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_failover
import bifrost_routing

from bifrost_py.testing import RunningServer, provider_config

AUTH = {"authorization": "Bearer admin-secret"}
HAIKU = "claude-haiku-4-5"
STREAMS = 20


async def test_streams_in_flight_keep_their_provider_and_the_next_request_follows_the_new_rule(
        start_gateway: Any, mock_upstream: RunningServer, tmp_path: Path) -> None:
    gw = await start_gateway({"admin": {"token": "admin-secret"}, "storage": {"logs": f"sqlite:///{tmp_path / 'gw.db'}"},
                              "providers": provider_config(mock_upstream.url)},
                             plugins=[bifrost_routing, bifrost_failover], builtins=False)
    # Each stream pauses after its first delta: they are all in flight when the rule changes.
    await mock_upstream.post("/_mock/script", json={"responses": [{"stall": "0.5s"}] * STREAMS})
    body = {"model": HAIKU, "max_tokens": 32, "stream": True, "messages": [{"role": "user", "content": "hi"}]}
    headers = {"anthropic-version": "2023-06-01"}
    async with aiohttp.ClientSession() as session:
        responses = [await session.post(gw.url + "/v1/messages", json=body, headers=headers) for _ in range(STREAMS)]
        try:
            firsts = [await r.content.readline() for r in responses]
            assert all(line.startswith(b"event: message_start") for line in firsts)
            async with session.post(gw.url + "/api/routing/rules", headers=AUTH, json={
                    "name": "haiku-to-openai", "when": {"model": "claude-haiku-*"}, "to": "openai/gpt-4o-mini"}) as made:
                assert made.status == 201
            async with session.post(gw.url + "/v1/messages", json={**body, "stream": False}, headers=headers) as after:
                assert after.status == 200 and after.headers["x-bf-provider"] == "openai"
                assert after.headers["x-bf-route-target"] == "openai/gpt-4o-mini"
            rests = await asyncio.gather(*(r.read() for r in responses))
        finally:
            for response in responses:
                response.release()
    assert {r.headers["x-bf-provider"] for r in responses} == {"anthropic"}
    assert all(b"event: message_stop" in rest for rest in rests)
