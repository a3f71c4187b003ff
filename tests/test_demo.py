"""`bifrost-py demo` / `make run`: the built-in config is valid and its sample traffic works."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

from bifrost_py.config import parse_config
from bifrost_py.demo import traffic


def demo_config(tmp_path: Path) -> Any:
    text = (resources.files("bifrost_py") / "demo" / "demo.yaml").read_text()
    config = parse_config(text, environ={"BIFROST_DEMO_DB": str(tmp_path / "demo.db")})
    for provider in config.providers.values():  # keep the test quick: no simulated latency or faults
        provider.mock.update(latency=0.0, tokens_per_second=0.0, fail_rate=0.0)
    return config


async def test_demo_traffic_goes_through_every_plugin(tmp_path: Path, start_gateway: Any, monkeypatch: Any) -> None:
    gw = await start_gateway(demo_config(tmp_path))
    assert set(gw.gateway.dispatcher.names) >= {"costlog", "governance", "cache", "routing", "failover"}
    monkeypatch.setattr(traffic, "ROUNDS", 1)
    monkeypatch.setattr(traffic, "PAUSE", 0.0)
    await traffic.run(gw.url)
    auth = {"Authorization": "Bearer demo-admin-token"}
    for _ in range(50):  # the cost log writes its rows in batches, off the request path
        status, _, body = await gw.get("/api/usage/summary", headers=auth)
        summary = orjson.loads(body)
        if summary["requests"] >= len(traffic.QUESTIONS):
            break
        await asyncio.sleep(0.1)
    assert summary["requests"] == len(traffic.QUESTIONS)
    assert summary["cache_hits"] >= 1, "the repeated question is answered from the cache"
    claude_code_sized = {"model": "claude-opus-4-8", "max_tokens": 64000, "messages": [{"role": "user", "content": "hi"}]}
    status, _, body = await gw.post("/anthropic/v1/messages", json=claude_code_sized, headers={"x-api-key": "vk-demo-intern"})
    assert status == 402, "the intern's tiny budget cannot cover a request that may cost more than is left"
    assert orjson.loads(body)["error"]["type"] == "billing_error"
