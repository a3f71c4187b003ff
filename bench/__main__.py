"""`make bench`: the gateway's own cost, measured against the mock upstream on loopback.

One run measures, for non-streaming and streaming requests at concurrency 1 and 64:
  direct      wrk -> mock upstream
  gateway     wrk -> bifrost-py (no plugins) -> mock upstream
  gateway+all wrk -> bifrost-py (all built-in plugins) -> mock upstream
and prints throughput, p50/p99 latency, the latency the gateway adds (gateway minus direct, at
p50) and the gateway's peak RSS; then the per-request cost of the plugin dispatcher alone.

The load generator is wrk (C, event-driven), so the client is never the bottleneck; the mock
upstream, the gateway and wrk share this machine's cores, so compare ratios within one run.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import orjson

from bifrost_py.testing import free_port
from bifrost_py.testing import wait_for_port as wait_port

HERE = Path(__file__).parent
PROMPT = "Summarise the design of an LLM gateway in one paragraph. [[long:40]]"




@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def wrk(url: str, body: bytes, headers: dict[str, str], concurrency: int, seconds: int) -> Result:
    script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115 - wrk reads it by name
    lines = ['wrk.method = "POST"', f"wrk.body = {_lua_string(body.decode())}"]
    lines += [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    lines.append(
        "done = function(summary, latency, requests)\n"
        "  io.write(string.format('RESULT %f %f %f %d %d\\n', summary.requests / (summary.duration / 1e6),"
        " latency:percentile(50) / 1000, latency:percentile(99) / 1000,"
        " summary.errors.status + summary.errors.connect + summary.errors.read + summary.errors.timeout, summary.requests))\n"
        "end"
    )
    script.write("\n".join(lines))
    script.close()
    threads = min(concurrency, 2)
    out = subprocess.run(
        ["wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{seconds}s", "--timeout", "10s", "-s", script.name, url],
        capture_output=True, text=True, check=True,
    ).stdout
    os.unlink(script.name)
    match = re.search(r"RESULT ([\d.]+) ([\d.]+) ([\d.]+) (\d+) (\d+)", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    rps, p50, p99, errors, _ = match.groups()
    return Result("", float(rps), float(p50), float(p99), int(errors))


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(args: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    process = subprocess.Popen([sys.executable, "-m", "bifrost_py", *args], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env={**os.environ, **(env or {})})
    wait_port(port)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def gateway_config(directory: Path, upstream: int, port: int, plugins: bool) -> Path:
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "admin": {"token": "bench-admin"},
        "storage": {"logs": f"sqlite:///{directory}/bench-{port}.db"},
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": f"http://127.0.0.1:{upstream}", "keys": [{"value": "sk-bench"}]},
            "openai": {"type": "openai", "base_url": f"http://127.0.0.1:{upstream}/v1", "keys": [{"value": "sk-bench"}]},
        },
    }
    if plugins:
        config.update(PLUGIN_CONFIG)
    else:
        config["plugins"] = {"disable": ["costlog", "governance", "cache", "routing", "failover"]}
    path = directory / f"gateway-{port}.yaml"
    path.write_text(orjson.dumps(config).decode())
    return path


# All built-ins on, each doing real work per request: a virtual key with budget and rate limit
# (governance), a priced log row (costlog), a routing rule evaluated, a fallback chain built,
# the cache consulted (enabled, exact mode, but every request asks no-cache so none is a hit).
PLUGIN_CONFIG = {
    "governance": {
        "teams": {"bench": {"budget": {"limit": 1_000_000_000, "reset": "monthly"}}},
        "virtual_keys": {"bench": {"key": "vk-bench", "team": "bench",
                                    "budget": {"limit": 1_000_000_000, "reset": "monthly"},
                                    "rate_limit": {"requests": 100_000_000, "tokens": 100_000_000_000, "window": "1m"}}},
    },
    "routing": {"rules": [{"name": "never-matches", "when": {"model": "claude-haiku-*", "max_input_tokens": 10},
                           "to": "anthropic/claude-haiku-4-5-20251001"}]},
    "failover": {"chains": {"claude-sonnet-4-20250514": ["anthropic", "openai/gpt-4o"]}},
    "cache": {"enabled": True, "mode": "exact"},
}


def bodies(stream: bool) -> tuple[str, bytes, dict[str, str]]:
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 256, "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}]}
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "vk-bench",
               "x-bf-cache": "no-cache"}
    return "/v1/messages", orjson.dumps(body), headers


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 64])
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk")
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    upstream_port = free_port()
    upstream = start(["mock-upstream", "--port", str(upstream_port)], upstream_port)
    gateways = {}
    try:
        for name, plugins in (("gateway", False), ("gateway+all", True)):
            port = free_port()
            config = gateway_config(workdir, upstream_port, port, plugins)
            gateways[name] = (port, start(["serve", "-c", str(config)], port))
        rows = []
        for stream in (False, True):
            path, body, headers = bodies(stream)
            for concurrency in args.concurrency:
                direct = wrk(f"http://127.0.0.1:{upstream_port}{path}", body, headers, concurrency, args.seconds)
                rows.append(("stream" if stream else "json", concurrency, "direct", direct, None))
                for name, (port, _) in gateways.items():
                    result = wrk(f"http://127.0.0.1:{port}{path}", body, headers, concurrency, args.seconds)
                    rows.append(("stream" if stream else "json", concurrency, name, result, direct))
        print(table(rows))
        for name, (_, process) in gateways.items():
            print(f"peak RSS {name}: {peak_rss_mb(process.pid):.0f} MB")
    finally:
        for _, process in gateways.values():
            stop(process)
        stop(upstream)
        shutil.rmtree(workdir, ignore_errors=True)
    from bench.plugin_chain import report as chain_report
    from bench.translation import report as translation_report

    print()
    print(chain_report())
    print(translation_report())


def table(rows: list[tuple[str, int, str, Result, Result | None]]) -> str:
    head = f"{'mode':<7}{'conc':>5}  {'target':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'added p50':>11}{'rps ratio':>10}{'errors':>8}"
    lines = [head, "-" * len(head)]
    for mode, concurrency, name, result, direct in rows:
        added = f"{(result.p50_ms - direct.p50_ms) * 1000:.0f} µs" if direct else ""
        ratio = f"{result.rps / direct.rps:.2f}" if direct else ""
        lines.append(f"{mode:<7}{concurrency:>5}  {name:<12}{result.rps:>9.0f}{result.p50_ms:>9.2f}{result.p99_ms:>9.2f}"
                     f"{added:>11}{ratio:>10}{result.errors:>8}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
