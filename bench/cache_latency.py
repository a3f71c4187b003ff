"""Hit-path latency vs. a miss, through the gateway over real sockets (issue 7).

    python bench/cache_latency.py [--requests 300] [--upstream-latency 0.0] [--stream]

A gateway with only the cache plugin (SQLite backend, local embedder, semantic mode) in front of
the mock upstream over HTTP. Timed from the client, one request at a time on a keep-alive
connection:
    no cache        the cache plugin off (cache.enabled: false): the proxy alone
    miss            a new question each time: lookup, provider call, stream/answer, store
    exact hit       one question repeated
    semantic hit    rewordings of a stored question (case, punctuation, "can you tell me")
With --upstream-latency the mock waits that long before answering, as a real model would
(a real model's first token takes 0.3-2 s); with 0 the miss is the gateway's own floor.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from typing import Any

import aiohttp
import bifrost_cache

from bifrost_py.mockupstream import MockOptions
from bifrost_py.testing import provider_config, running_gateway, running_mock_upstream

MODEL = "claude-sonnet-4-20250514"
REWORDINGS = ("how do I undo the last git commit", "Can you tell me how to undo the last git commit?",
              "Hey, how do I undo the last Git commit?", "Please: how can I undo the last git commit?")


def body(text: str, stream: bool) -> dict[str, Any]:
    return {"model": MODEL, "max_tokens": 300, "stream": stream, "messages": [{"role": "user", "content": text}]}


async def run(session: aiohttp.ClientSession, url: str, texts: list[str], stream: bool, plugin: Any,
              expect: str | None) -> list[float]:
    out = []
    for text in texts:
        start = time.perf_counter()
        async with session.post(url + "/anthropic/v1/messages", json=body(text, stream)) as response:
            await response.read()
            result = response.headers.get("x-bf-cache-match") or response.headers.get("x-bf-cache")
        out.append((time.perf_counter() - start) * 1e3)
        if expect is not None and result != expect:
            raise SystemExit(f"expected {expect}, got {result} for {text!r}")
        if plugin is not None:
            await plugin.settled()
    return out


def show(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:<14} median {statistics.median(ms):7.2f} ms   p90 {ms[int(len(ms) * 0.9) - 1]:7.2f} ms   "
          f"mean {statistics.fmean(ms):7.2f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--upstream-latency", type=float, default=0.0, help="seconds")
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    n = args.requests
    folder = tempfile.mkdtemp(prefix="bifrost-cache-bench-")
    async with running_mock_upstream(MockOptions(latency=args.upstream_latency)) as upstream:
        for enabled in (False, True):
            cfg = {"storage": {"logs": f"sqlite:///{folder}/bench-{enabled}.db"},
                   "providers": provider_config(upstream.url), "cache": {"enabled": enabled}}
            async with running_gateway(cfg, plugins=[bifrost_cache], builtins=False) as gw:
                plugin = gw.gateway.plugins.pm.get_plugin("bifrost_cache")
                async with aiohttp.ClientSession() as session:
                    await run(session, gw.url, [f"warm up {i}" for i in range(20)], args.stream, plugin, None)
                    if not enabled:
                        show("no cache", await run(session, gw.url, [f"Question {i} about caches" for i in range(n)],
                                                   args.stream, plugin, "bypass"))
                        continue
                    show("miss", await run(session, gw.url, [f"Question {i} about caches" for i in range(n)],
                                           args.stream, plugin, "miss"))
                    await run(session, gw.url, ["How do I undo the last git commit?"], args.stream, plugin, "miss")
                    show("exact hit", await run(session, gw.url, ["How do I undo the last git commit?"] * n,
                                                args.stream, plugin, "exact"))
                    show("semantic hit", await run(session, gw.url, [REWORDINGS[i % 4] for i in range(n)],
                                                   args.stream, plugin, "semantic"))
    print(f"({n} requests each, {'streamed' if args.stream else 'non-stream'}, upstream latency "
          f"{args.upstream_latency * 1000:.0f} ms, client and gateway and mock on one machine)")


if __name__ == "__main__":
    asyncio.run(main())
