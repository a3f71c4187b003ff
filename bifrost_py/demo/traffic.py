"""Sample traffic for `bifrost-py demo`, so the web UI has something to show on first open.

A bounded script: it sends a fixed list of requests through the gateway (several keys and
models, streams, a repeated question for the cache, a provider that is overloaded now and
then (failover), an over-budget key), spaced out over about a minute, and then stops.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

log = logging.getLogger("bifrost_py.demo")

QUESTIONS = [
    ("vk-demo-alice", "claude-sonnet-4-20250514", "How do I add a retry to an aiohttp client call?", False),
    ("vk-demo-alice", "claude-sonnet-4-20250514", "Explain the difference between a mutex and a semaphore in detail, "
     "with examples in Python and Go, and when each one is the right tool. " * 8, True),
    ("vk-demo-bob", "claude-haiku-4-5-20251001", "Write a haiku about budgets.", False),
    ("vk-demo-alice", "claude-sonnet-4-20250514", "How do I add a retry to an aiohttp client call?", False),
    ("vk-demo-bob", "gpt-4o-mini", "Summarise this week's incidents in one line.", True),
    ("vk-demo-alice", "claude-opus-4-8", "Plan the migration of our billing service.", True),
    ("vk-demo-intern", "claude-opus-4-8", "Write a very long essay about everything. [[long:400]]", False),
    ("vk-demo-alice", "claude-sonnet-4-20250514", "how do i add a retry to an aiohttp client call", False),
    ("vk-demo-bob", "claude-sonnet-4-20250514", "Is Sonnet allowed for me?", False),
    ("vk-demo-alice", "gpt-4o", "Draft a polite reminder about the design review.", True),
]
ROUNDS = 3
PAUSE = 2.0


async def run(base_url: str) -> None:
    """Send the sample requests, ROUNDS times over, then stop."""
    await asyncio.sleep(1.0)
    async with aiohttp.ClientSession() as session:
        for _ in range(ROUNDS):
            for key, model, prompt, stream in QUESTIONS:
                try:
                    await _send(session, base_url, key, model, prompt, stream)
                except (TimeoutError, aiohttp.ClientError) as exc:
                    log.info("demo request failed: %s", exc)
                await asyncio.sleep(PAUSE)
    log.info("demo traffic finished")


async def _send(session: aiohttp.ClientSession, base_url: str, key: str, model: str, prompt: str, stream: bool) -> None:
    if model.startswith("gpt-"):
        url = base_url + "/v1/chat/completions"
        body: dict[str, Any] = {"model": model, "stream": stream, "messages": [{"role": "user", "content": prompt}]}
        headers = {"authorization": f"Bearer {key}"}
    else:
        url = base_url + "/anthropic/v1/messages"
        body = {"model": model, "max_tokens": 512, "stream": stream, "messages": [{"role": "user", "content": prompt}]}
        headers = {"x-api-key": key, "anthropic-version": "2023-06-01",
                   "x-claude-code-session-id": f"demo-session-{key[-5:]}"}
    async with session.post(url, json=body, headers=headers) as response:
        await response.read()


def traffic_context(base_url: str) -> Any:
    """An aiohttp cleanup_ctx that runs the sample traffic in the background while serving."""

    async def context(app: Any) -> AsyncIterator[None]:
        task = asyncio.get_running_loop().create_task(run(base_url))
        yield
        task.cancel()

    return context
