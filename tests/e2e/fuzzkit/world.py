"""The gateway the fuzz test and the fault matrix run against, and what they check afterwards.

One configuration for both: an anthropic-type and an openai-type provider on the mock upstream
(plus a second of each, `*-backup`, for failover), governance with a virtual key that has a money
budget, a rate limit and a concurrency cap, its team and its customer (caps far above what a
run uses, so nothing is refused for money), the cost log on SQLite, failover without retries
(a fault is the attempt's answer; it falls over only when a request asks with `x-bf-fallbacks`).

Afterwards: `Audit` reads every entity's usage through the admin API and waits for each request
id's log rows; both are written after the client has its answer, so they are polled with a
deadline rather than read once.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import orjson

ADMIN_TOKEN = "admin-fuzz-token-0123456789"
ADMIN = {"authorization": "Bearer " + ADMIN_TOKEN}
KEY = "vk-fuzz-alice-0123456789"  # key `alice`, team `platform`, customer `acme`
OTHER_KEY = "vk-fuzz-bob-0123456789"  # key `bob`, customer `globex` directly, no team
SONNET = "claude-sonnet-4-20250514"
GPT = "gpt-4o"
EMBEDDING = "text-embedding-3-small"
ENTITY_KINDS = ("keys", "teams", "customers")


def gateway_config(upstream_url: str, logs_url: str) -> dict[str, Any]:
    big = {"limit": 1_000_000_000, "reset": "monthly"}
    anthropic = {"type": "anthropic", "base_url": upstream_url, "keys": [{"value": "sk-ant-fuzz"}]}
    openai = {"type": "openai", "base_url": upstream_url + "/v1", "keys": [{"value": "sk-oai-fuzz"}]}
    return {
        "admin": {"token": ADMIN_TOKEN},
        "storage": {"logs": logs_url},
        "currency": {"code": "INR", "per_usd": 84.0},
        "providers": {
            "anthropic": {**anthropic, "models": ["claude-*"]},
            "openai": {**openai, "models": ["gpt-*", "o*", "text-embedding-*"]},
            "anthropic-backup": {**anthropic, "models": ["backup-only-a"]},
            "openai-backup": {**openai, "models": ["backup-only-o"]},
        },
        "governance": {
            "customers": {"acme": {"budget": big}, "globex": {"budget": big}},
            "teams": {"platform": {"customer": "acme", "budget": big}},
            "virtual_keys": {
                "alice": {
                    "key": KEY,
                    "team": "platform",
                    "budget": big,
                    "rate_limit": {"requests": 10_000_000, "tokens": 10**15, "window": "1m"},
                    "max_concurrent": 1000,
                },
                "bob": {"key": OTHER_KEY, "customer": "globex", "budget": big},
            },
        },
        "costlog": {"flush_interval": "10ms"},
        "failover": {"retries": 0, "backoff": {"base": 0, "max": 0}, "circuit": {"failures": 1_000_000}},
        # Every built-in does real work on every request: a rule to read, a cache to key and fill.
        "routing": {"rules": [{"name": "small-sonnet-to-haiku",
                               "when": {"model": "claude-sonnet-*", "max_input_tokens": 50},
                               "to": "anthropic/claude-haiku-4-5-20251001"}]},
        "cache": {"enabled": True, "mode": "semantic", "ttl": "1h"},
    }


def nonzero_holds(usage: Any, path: str = "") -> list[str]:
    """Every `in_flight` figure of a usage view that is not zero, with where it is."""
    found: list[str] = []
    if isinstance(usage, dict):
        for name, value in usage.items():
            here = f"{path}.{name}" if path else name
            if name == "in_flight" and isinstance(value, (int, float)) and value != 0:
                found.append(f"{here}={value}")
            else:
                found.extend(nonzero_holds(value, here))
    elif isinstance(usage, list):
        for i, item in enumerate(usage):
            found.extend(nonzero_holds(item, f"{path}[{i}]"))
    return found


@dataclass
class Audit:
    """Reads the gateway's own account of what happened, through its admin API."""

    url: str
    session: aiohttp.ClientSession
    deadline: float = 10.0  # seconds to wait for what is written after the answer

    async def _get(self, path: str) -> tuple[int, Any]:
        async with self.session.get(self.url + path, headers=ADMIN) as response:
            raw = await response.read()
            try:
                return response.status, orjson.loads(raw)
            except orjson.JSONDecodeError:
                return response.status, raw

    async def entities(self) -> list[tuple[str, str]]:
        """(kind, name) of every customer, team and key the gateway knows."""
        found: list[tuple[str, str]] = []
        for kind in ENTITY_KINDS:
            status, listed = await self._get(f"/api/governance/{kind}")
            assert status == 200, f"GET /api/governance/{kind}: {status} {listed!r}"
            found += [(kind, entity["name"]) for entity in listed[kind]]
        return found

    async def holds(self) -> dict[str, list[str]]:
        """Non-zero in-flight figures per entity, once none are left or the deadline passed."""
        end = time.monotonic() + self.deadline
        while True:
            left: dict[str, list[str]] = {}
            for kind, name in await self.entities():
                status, usage = await self._get(f"/api/governance/{kind}/{quote(name, safe='')}/usage")
                problems = nonzero_holds(usage) if status == 200 else [f"usage answered {status}"]
                if problems:
                    left[f"{kind}/{name}"] = problems
            if not left or time.monotonic() > end:
                return left
            await asyncio.sleep(0.05)

    async def all_rows(self) -> dict[str, list[dict[str, Any]]]:
        """Every log row, by request id (pages of 1000, newest first)."""
        by_id: dict[str, list[dict[str, Any]]] = {}
        cursor = ""
        while True:
            status, page = await self._get(f"/api/logs?limit=1000{cursor}")
            assert status == 200, f"GET /api/logs: {status} {page!r}"
            for row in page["rows"]:
                by_id.setdefault(row["request_id"], []).append(row)
            if not page.get("next_cursor"):
                return by_id
            cursor = f"&cursor={page['next_cursor']}"

    async def rows_of(self, request_ids: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        """Log rows of each request id, once each has one or the deadline passed."""
        wanted = set(request_ids)
        end = time.monotonic() + self.deadline
        while True:
            by_id = await self.all_rows()
            if wanted <= set(by_id) or time.monotonic() > end:
                return {request_id: by_id.get(request_id, []) for request_id in wanted}
            await asyncio.sleep(0.05)


@dataclass
class Ledger:
    """The request ids of model-endpoint requests a run sent, to be matched with log rows."""

    request_ids: list[str] = field(default_factory=list)
    described: dict[str, str] = field(default_factory=dict)

    def note(self, request_id: str | None, description: str) -> None:
        if request_id:
            self.request_ids.append(request_id)
            self.described[request_id] = description
