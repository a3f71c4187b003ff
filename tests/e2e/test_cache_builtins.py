"""The cache among the other built-in plugins: governance names the caller and turns the cache
on per virtual key; the cost log books a hit at zero cost, flagged, with the saved cost."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import anthropic
import orjson

from bifrost_py.testing import provider_config

MODEL = "claude-sonnet-4-20250514"


async def test_per_key_cache_and_the_cost_log_row_of_a_hit(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    cfg = {
        "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"},
        "admin": {"token": "admin-secret"},
        "providers": provider_config(mock_upstream.url),
        "governance": {"virtual_keys": {
            "cached": {"key": "vk-cached-12345", "cache": {"enabled": True, "ttl": "10m"}},
            "plain": {"key": "vk-plain-12345"},
        }},
        "cache": {"enabled": False},
    }
    gw = await start_gateway(cfg, builtins=True)
    plugin = gw.gateway.plugins.pm.get_plugin("cache")

    async def ask(key: str) -> Any:
        client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key=key, max_retries=0)
        raw = await client.messages.with_raw_response.create(
            model=MODEL, max_tokens=200, messages=[{"role": "user", "content": "What is a ledger?"}])
        await plugin.settled()
        return raw.headers

    assert [(await ask("vk-cached-12345"))["x-bf-cache"] for _ in range(2)] == ["miss", "hit"]
    assert [(await ask("vk-plain-12345"))["x-bf-cache"] for _ in range(2)] == ["bypass", "bypass"]

    rows: list[dict[str, Any]] = []
    for _ in range(500):  # bounded: the cost log writes its rows in batches, off the request path
        _, _, body = await gw.get("/api/logs?limit=10", headers={"authorization": "Bearer admin-secret"})
        rows = orjson.loads(body)["rows"]
        if len(rows) >= 4:
            break
        await asyncio.sleep(0.01)
    hits = [row for row in rows if row["cache_hit"]]
    assert len(hits) == 1 and hits[0]["key_name"] == "cached"
    assert hits[0]["cost_usd"] == 0 and hits[0]["saved_usd"] > 0
    paid = [row for row in rows if not row["cache_hit"] and row["key_name"] == "cached"]
    assert len(paid) == 1 and paid[0]["cost_usd"] > 0
    assert abs(hits[0]["saved_usd"] - paid[0]["cost_usd"]) < 1e-9, "the hit saved what the original cost"
