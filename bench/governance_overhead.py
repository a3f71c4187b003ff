"""What the governance plugin costs per request.

1. Hooks alone: request_start, pre_attempt, post_attempt and request_end of a key with all four
   tiers configured (customer, team, key and provider budgets, request and token rate limits,
   max_concurrent), on a small request and on a recorded 76 KB Claude Code request (the prompt
   estimate walks the whole body). Counters in memory, and in Redis when redis-server is
   installed (two round trips per request, plus two for max_concurrent).
2. End to end: N sequential requests through the HTTP server to the in-process mock provider,
   with and without the plugin (loopback, one client; compare the two numbers of one run).

    python bench/governance_overhead.py [--requests 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import bifrost_governance
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.context import ANTHROPIC, MESSAGES, Attempt, Call, Target, Usage
from bifrost_py.pluginmanager import Progress
from bifrost_py.testing import running_gateway

SONNET = "claude-sonnet-4-20250514"
SECRET = "vk-bench-secret"
RECORDED = Path(__file__).resolve().parent.parent / "tests" / "data" / "claude_code_request.body.json"
SMALL = {"model": SONNET, "max_tokens": 200, "messages": [{"role": "user", "content": "Summarise the design."}]}
GOVERNANCE = {
    "customers": {"acme": {"budget": {"limit": 10**9, "reset": "monthly"}}},
    "teams": {"backend": {"customer": "acme", "budget": {"limit": 10**9, "reset": "monthly"}}},
    "virtual_keys": {"bench": {
        "key": SECRET, "team": "backend",
        "budgets": [{"limit": 10**9, "reset": "daily"}, {"limit": 10**9, "reset": "monthly"}],
        "rate_limit": {"requests": 10**9, "tokens": 10**15, "window": "1m"},
        "max_concurrent": 1000,
        "providers": [{"provider": "mock", "budget": {"limit": 10**9, "reset": "monthly"},
                       "rate_limit": {"requests": 10**9, "window": "1m"}}],
    }},
}


def config(directory: str, redis: str | None = None, governance: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "providers": {"mock": {"type": "mock", "models": ["claude-*"]}},
        "storage": {"logs": f"sqlite:///{directory}/bench.db", "redis": redis},
    }
    if governance:
        data["governance"] = GOVERNANCE
    return data


async def hooks_us(gateway: Any, body: dict[str, Any], rounds: int) -> float:
    """Mean µs of the four governance hooks for one request (no provider call)."""
    dispatcher = gateway.dispatcher
    headers = CIMultiDictProxy(CIMultiDict({"x-api-key": SECRET}))
    target = Target("mock", SONNET)
    started = time.perf_counter()
    for _ in range(rounds):
        call = Call(request_id="r", dialect=ANTHROPIC, endpoint=MESSAGES, headers=headers, body=body,
                    model=SONNET, credential=SECRET)
        await dispatcher.request_start(call)
        attempt = Attempt(call=call, target=target, number=1, provider_type="mock")
        call.attempts.append(attempt)
        progress = Progress()
        await dispatcher.pre_attempt(attempt, progress)  # a refusal raises
        attempt.outcome.status = 200
        attempt.outcome.usage = Usage(input_tokens=1000, output_tokens=100)
        await dispatcher.post_attempt(attempt, progress.reached)
        await dispatcher.request_end(call)
    return (time.perf_counter() - started) / rounds * 1e6


async def http_ms(url: str, count: int, with_key: bool) -> list[float]:
    """Latencies (ms) of `count` sequential non-streaming requests."""
    headers = {"x-api-key": SECRET} if with_key else {"x-api-key": "sk-anything"}
    body = orjson.dumps(SMALL)
    latencies = []
    async with aiohttp.ClientSession(headers={**headers, "content-type": "application/json"}) as session:
        for i in range(count + 50):
            started = time.perf_counter()
            async with session.post(url + "/v1/messages", data=body) as response:
                await response.read()
                assert response.status == 200, response.status
            if i >= 50:                      # the first requests warm caches and the price book
                latencies.append((time.perf_counter() - started) * 1000)
    return latencies


@contextlib.contextmanager
def redis_server() -> Any:
    binary = shutil.which("redis-server")
    if binary is None:
        yield None
        return
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    process = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(200):
            with socket.socket() as sock:
                if sock.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.02)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(10)


@contextlib.asynccontextmanager
async def gateway(directory: str, *, redis: str | None = None, governance: bool = True) -> AsyncIterator[Any]:
    plugins = [bifrost_governance] if governance else []
    async with running_gateway(config(directory, redis, governance), plugins=plugins, builtins=False) as gw:
        yield gw


async def main(requests: int) -> None:
    recorded = orjson.loads(RECORDED.read_bytes())
    with tempfile.TemporaryDirectory() as directory, redis_server() as redis:
        async with gateway(directory, governance=False) as gw:
            await hooks_us(gw.gateway, SMALL, 200)
            baseline = await hooks_us(gw.gateway, SMALL, 20_000)
            print(f"the same loop without the plugin (objects, dispatch): {baseline:.1f} µs; subtract it below")
        async with gateway(directory) as gw:
            await hooks_us(gw.gateway, SMALL, 200)      # warm up (price book, plans)
            small = await hooks_us(gw.gateway, SMALL, 20_000)
            big = await hooks_us(gw.gateway, recorded, 2_000)
            print(f"governance hooks per request, counters in memory: {small:.1f} µs (small request), "
                  f"{big:.1f} µs (recorded 76 KB Claude Code request)")
        if redis:
            async with gateway(directory, redis=redis) as gw:
                await hooks_us(gw.gateway, SMALL, 200)
                shared = await hooks_us(gw.gateway, SMALL, 3_000)
                print(f"governance hooks per request, counters in Redis (loopback): {shared:.1f} µs")
        async with gateway(directory, governance=False) as gw:
            without = await http_ms(gw.url, requests, with_key=False)
        async with gateway(directory) as gw:
            with_plugin = await http_ms(gw.url, requests, with_key=True)
    for name, values in (("without governance", without), ("with governance", with_plugin)):
        print(f"HTTP, {requests} sequential requests {name}: mean {statistics.fmean(values):.3f} ms, "
              f"p50 {statistics.median(values):.3f} ms")
    print(f"governance adds {(statistics.median(with_plugin) - statistics.median(without)) * 1000:.0f} µs at p50 "
          f"({(statistics.fmean(with_plugin) - statistics.fmean(without)) * 1000:.0f} µs mean)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=2000)
    asyncio.run(main(parser.parse_args().requests))
