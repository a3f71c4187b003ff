"""Failover under a flaky primary: what clients see when the primary answers 429 half the time.

    python bench/failover_scenario.py [--requests 400] [--concurrency 8] [--latency 20ms]

Two mock upstreams run as their own processes (`bifrost-py mock-upstream`): the primary with
`--fail-rate 0.5 --fail-status 429`, the fallback healthy; both with the same latency. The
gateway (`bifrost-py serve`, only the failover plugin loaded) is run once per scenario:

  no failover       the failover plugin disabled: the client sees the primary as it is
  defaults          chain [primary, fallback], retries: 1, circuit breaker as shipped
  retries 0         straight to the fallback on the first 429
  no circuit        retries: 0 and a circuit that never opens, so every request tries the
                    primary first: the pure cost of a fallback
  retry, no circ    retries: 1 (the default: one backoff, then the primary again) and a
                    circuit that never opens

For each scenario, a bounded number of non-streaming Anthropic requests is sent at a fixed
concurrency. Reported: the client's success rate, the split by how the request was answered,
and the added latency of a fallback = median latency of requests that needed one (x-bf-attempts
>= 2) minus median latency of requests answered at the first attempt.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench.__main__ import start, stop
from bifrost_py.testing import free_port

MODEL = "claude-sonnet-4-20250514"
BODY = orjson.dumps({"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "Hello there"}]})
OTHER_PLUGINS = ["costlog", "governance", "cache", "routing"]
SCENARIOS: dict[str, dict[str, Any] | None] = {
    "no failover": None,
    "defaults": {},
    "retries 0": {"retries": 0},
    "no circuit": {"retries": 0, "circuit": {"failures": 1_000_000}},
    "retry, no circ": {"circuit": {"failures": 1_000_000}},
}





def gateway_config(directory: Path, port: int, primary: int, fallback: int, failover: dict[str, Any] | None) -> Path:
    config: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": port},
        "providers": {
            "primary": {"type": "anthropic", "base_url": f"http://127.0.0.1:{primary}", "models": ["claude-*"],
                        "keys": [{"value": "sk-primary"}]},
            "fallback": {"type": "anthropic", "base_url": f"http://127.0.0.1:{fallback}", "keys": [{"value": "sk-fb"}]},
        },
        "plugins": {"disable": OTHER_PLUGINS + ([] if failover is not None else ["failover"])},
    }
    if failover is not None:
        config["failover"] = {"chains": {MODEL: ["primary", "fallback"]}, **failover}
    path = directory / f"gateway-{port}.yaml"
    path.write_bytes(orjson.dumps(config))
    return path


@dataclass
class Sample:
    ok: bool
    seconds: float
    attempts: int
    provider: str


@dataclass
class Report:
    name: str
    samples: list[Sample] = field(default_factory=list)

    def line(self) -> str:
        n = len(self.samples)
        ok = [s for s in self.samples if s.ok]
        first = [s.seconds for s in ok if s.attempts == 1]
        first_primary = sum(1 for s in ok if s.attempts == 1 and s.provider == "primary")
        first_fallback = sum(1 for s in ok if s.attempts == 1 and s.provider == "fallback")
        fell = [s.seconds for s in ok if s.attempts >= 2]
        added = (statistics.median(fell) - statistics.median(first)) * 1000 if fell and first else float("nan")
        return (f"{self.name:<14} {100 * len(ok) / n:6.1f}%  {first_primary:5d} {first_fallback:5d} {len(fell):5d}"
                f"  {_ms(first):>9} {_ms(fell):>9}  {added:8.1f}")


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f}" if values else "-"


async def drive(url: str, requests: int, concurrency: int) -> list[Sample]:
    samples: list[Sample] = []
    queue = iter(range(requests))
    headers = {"content-type": "application/json", "x-api-key": "vk-bench", "anthropic-version": "2023-06-01"}

    async def worker(session: aiohttp.ClientSession) -> None:
        for _ in queue:
            started = time.perf_counter()
            async with session.post(url + "/v1/messages", data=BODY, headers=headers) as response:
                await response.read()
                samples.append(Sample(response.status == 200, time.perf_counter() - started,
                                      int(response.headers.get("x-bf-attempts", "0")),
                                      response.headers.get("x-bf-provider", "")))

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return samples


def run(requests: int, concurrency: int, latency: str) -> list[Report]:
    reports = []
    with tempfile.TemporaryDirectory(prefix="bifrost-failover-bench-") as tmp:
        primary_port, fallback_port = free_port(), free_port()
        primary = start(["mock-upstream", "--port", str(primary_port), "--latency", latency,
                         "--fail-rate", "0.5", "--fail-status", "429"], primary_port)
        fallback = start(["mock-upstream", "--port", str(fallback_port), "--latency", latency], fallback_port)
        try:
            for name, failover in SCENARIOS.items():
                port = free_port()
                config = gateway_config(Path(tmp), port, primary_port, fallback_port, failover)
                gateway = start(["serve", "-c", str(config)], port)
                try:
                    samples = asyncio.run(drive(f"http://127.0.0.1:{port}", requests, concurrency))
                finally:
                    stop(gateway)
                reports.append(Report(name, samples))
        finally:
            stop(primary)
            stop(fallback)
    return reports


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--latency", default="20ms", help="latency of both mock upstreams")
    args = parser.parse_args()
    print(f"primary: 429 half the time; fallback healthy; {args.requests} requests per scenario, "
          f"concurrency {args.concurrency}, upstream latency {args.latency}, {os.cpu_count()} CPUs")
    print(f"{'scenario':<14} {'success':>7}  {'1st/p':>5} {'1st/f':>5} {'fell':>5}  {'p50 1st ms':>9}"
          f" {'p50 fell':>9}  {'added ms':>8}")
    for report in run(args.requests, args.concurrency, args.latency):
        print(report.line())
    print("1st/p: answered by the primary at the first attempt; 1st/f: by the fallback at the first "
          "attempt (primary skipped, circuit open); fell: needed a fallback or retry (x-bf-attempts >= 2)")


if __name__ == "__main__":
    main()
