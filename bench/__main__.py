"""`make bench`: the gateway's own cost, measured against the floor on loopback, in one run.

The floor is a bare aiohttp + uvloop relay with no logic (bench/floor.py), run next to the
gateway with the same client-session settings; every figure is given for it, for the gateway
with no plugins and with every built-in plugin doing its per-request work, and as a ratio to
the floor:

  throughput  JSON and streamed requests at c=1 and c=64 (wrk): req/s, p50/p99, and the
              process's own CPU time per request (also against `direct`: wrk -> mock)
  streams     N concurrent long streams (N=100 and 500, events paced by the mock): CPU per
              relayed event, p50/p99 time to first byte, p99 worst gap between two events,
              RSS per open stream

then the per-request cost of the plugin dispatcher alone and of relaying one streamed event.
`--smoke` is the seconds-long version CI runs (a bounded asyncio client instead of wrk, a few
short streams); `--json PATH` also writes every figure as JSON. docs/benchmark.md explains
each figure. The LiteLLM comparison is `make bench-rivals`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bench import floorbench
from bifrost_py.testing import RedisServer, free_port
from bifrost_py.testing import wait_for_port as wait_port

HERE = Path(__file__).parent
PROMPT = "Summarise the design of an LLM gateway in one paragraph. [[long:{words}]]"




@dataclass
class Result:
    name: str
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int = 0


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
    rps, p50, p99, errors, requests = match.groups()
    return Result("", float(rps), float(p50), float(p99), int(errors), int(requests))


def _lua_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start(args: list[str], port: int, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return start_module("bifrost_py", args, port, env)


def start_module(module: str, args: list[str], port: int, env: dict[str, str] | None = None,
                 log: Path | None = None) -> subprocess.Popen[bytes]:
    """`python -m module args` from the checkout's root, once it listens on `port`; its output
    goes to the file `log` if given."""
    output = log.open("ab") if log is not None else subprocess.DEVNULL
    try:
        process = subprocess.Popen([sys.executable, "-m", module, *args], stdout=output, stderr=subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, cwd=HERE.parent)
    finally:
        if log is not None:
            output.close()  # type: ignore[union-attr]
    wait_port(port)
    return process


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()


def gateway_config(directory: Path, upstream: int, port: int, plugins: bool, redis: str | None = None,
                   without: tuple[str, ...] = ()) -> Path:
    """The gateway's config: every built-in doing its work (`plugins`), except those named in
    `without`, or none of them."""
    config = {
        "server": {"host": "127.0.0.1", "port": port},
        "admin": {"token": "bench-admin"},
        "storage": {"logs": f"sqlite:///{directory}/bench-{port}.db", **({"redis": redis} if redis else {})},
        "providers": {
            "anthropic": {"type": "anthropic", "base_url": f"http://127.0.0.1:{upstream}", "keys": [{"value": "sk-bench"}]},
            "openai": {"type": "openai", "base_url": f"http://127.0.0.1:{upstream}/v1", "keys": [{"value": "sk-bench"}]},
        },
    }
    if plugins:
        config.update({name: section for name, section in PLUGIN_CONFIG.items() if name not in without})
        if without:
            config["plugins"] = {"disable": list(without)}
    else:
        config["plugins"] = {"disable": list(BUILT_INS)}
    path = directory / f"gateway-{port}.yaml"
    path.write_text(orjson.dumps(config).decode())
    return path


BUILT_INS = ("costlog", "governance", "cache", "routing", "failover")  # what "no plugins" turns off

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


def bodies(stream: bool, words: int = 40) -> tuple[str, bytes, dict[str, str]]:
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 256, "stream": stream,
            "messages": [{"role": "user", "content": PROMPT.format(words=words)}]}
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01", "x-api-key": "vk-bench",
               "x-bf-cache": "no-cache"}
    return "/v1/messages", orjson.dumps(body), headers


def main() -> None:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("--seconds", type=int, default=5, help="per throughput cell (wrk)")
    parser.add_argument("--concurrency", type=int, nargs="*", default=[1, 64])
    parser.add_argument("--streams", type=int, nargs="*", default=[100, 500], help="concurrent streams per scenario")
    parser.add_argument("--events", type=int, default=40, help="deltas per stream")
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between two deltas (the mock's pacing)")
    parser.add_argument("--ramp", type=float, default=0.0,
                        help="open the streams evenly over this many seconds (default 0: all at once)")
    parser.add_argument("--workers", type=int, nargs="*", default=[1, 2],
                        help="worker processes of the floor and of the gateway with every plugin (on Redis)")
    parser.add_argument("--smoke", action="store_true", help="a run of seconds (CI): no wrk, few short streams")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args()
    if args.smoke:
        args.concurrency, args.streams, args.events, args.pace = [1, 4], [5], 5, 0.01
    elif shutil.which("wrk") is None:
        sys.exit("wrk is not installed: apt-get install wrk (or run with --smoke)")
    report = run(args)
    print(throughput_table(report["throughput"]))
    print()
    if args.ramp:
        print(f"(streams opened evenly over {args.ramp:g} s)")
    print(streams_table(report["streams"]))
    if report["workers"]:
        print()
        print(workers_table(report["workers"]))
    if args.json:
        args.json.write_text(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode())
    if args.smoke:
        return
    from bench.plugin_chain import report as chain_report
    from bench.translation import report as translation_report

    print()
    print(chain_report())
    print(translation_report())


TARGETS = ("floor", "gateway", "gateway+all")


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both phases; the figures as plain data (see throughput_table and streams_table)."""
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-bench-"))
    mock_port, paced_port = free_port(), free_port()
    mock = start(["mock-upstream", "--port", str(mock_port)], mock_port)
    paced = start(["mock-upstream", "--port", str(paced_port), "--tokens-per-second", f"{1 / args.pace:g}"], paced_port)
    try:
        return {"throughput": _throughput(args, workdir, mock_port), "streams": _streams(args, workdir, paced_port),
                "workers": _workers(args, workdir, mock_port)}
    finally:
        stop(mock)
        stop(paced)
        shutil.rmtree(workdir, ignore_errors=True)


STALL_MS = 10  # the stream phase counts the gateways' event-loop stalls longer than this


def start_targets(workdir: Path, upstream: int, *, stalls: bool = False) -> dict[str, tuple[int, subprocess.Popen[bytes]]]:
    """The floor and the two gateways, all relaying to the mock on port `upstream`. `stalls`:
    each logs every event-loop stall over STALL_MS (BIFROST_LOOP_STALL_MS) to workdir/<port>.log,
    which stalls_logged() counts (the floor too: the same sampler's cost for all three, and its
    count is what the machine's own load causes)."""
    targets = {}
    env = {"BIFROST_LOOP_STALL_MS": str(STALL_MS)} if stalls else None
    port = free_port()
    targets["floor"] = (port, start_module("bench.floor", ["--port", str(port), "--upstream",
                                                           f"http://127.0.0.1:{upstream}"], port, env,
                                           workdir / f"{port}.log" if stalls else None))
    for name, plugins in (("gateway", False), ("gateway+all", True)):
        port = free_port()
        config = gateway_config(workdir, upstream, port, plugins)
        targets[name] = (port, start_module("bifrost_py", ["serve", "-c", str(config)], port, env,
                                            workdir / f"{port}.log" if stalls else None))
    return targets


def stalls_logged(workdir: Path, port: int) -> int:
    """How many event-loop stalls the gateway on `port` has logged so far."""
    log = workdir / f"{port}.log"
    return log.read_bytes().count(b"event loop stalled") if log.exists() else 0


def _throughput(args: argparse.Namespace, workdir: Path, mock_port: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    targets = start_targets(workdir, mock_port)
    try:
        for stream in (False, True):
            path, body, headers = bodies(stream)
            for concurrency in args.concurrency:
                cells = [("direct", mock_port, None)] + [(name, port, p.pid) for name, (port, p) in targets.items()]
                for name, port, pid in cells:
                    url = f"http://127.0.0.1:{port}{path}"
                    load = floorbench.measured(pid, functools.partial(_load, args, url, body, headers, concurrency))
                    rows.append({"mode": "stream" if stream else "json", "concurrency": concurrency, "target": name,
                                 **asdict(load)})
        for name, (_, process) in targets.items():
            rows.append({"mode": "rss", "target": name, "peak_rss_mb": peak_rss_mb(process.pid)})
    finally:
        for _, process in targets.values():
            stop(process)
    return rows


SMOKE_REQUESTS = 30  # per throughput cell of the smoke run


def _load(args: argparse.Namespace, url: str, body: bytes, headers: dict[str, str], concurrency: int) -> floorbench.Load:
    if args.smoke:
        return asyncio.run(floorbench.pyload(url, body, headers, concurrency, SMOKE_REQUESTS))
    result = wrk(url, body, headers, concurrency, args.seconds)
    return floorbench.Load(result.rps, result.p50_ms, result.p99_ms, result.errors, result.requests)


def _streams(args: argparse.Namespace, workdir: Path, paced_port: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    path, body, headers = bodies(True, words=args.events)
    for count in args.streams:
        # fresh processes: a clean RSS baseline each
        targets = start_targets(workdir, paced_port, stalls=True)
        try:
            cells = [("direct", paced_port, None)] + [(name, port, p.pid) for name, (port, p) in targets.items()]
            for name, port, pid in cells:
                url = f"http://127.0.0.1:{port}{path}"
                asyncio.run(floorbench.streams(url, body, headers, min(count, 5), None))  # warm the pools
                before = stalls_logged(workdir, port)
                found = asyncio.run(floorbench.streams(url, body, headers, count, pid, args.ramp))
                stalls = stalls_logged(workdir, port) - before if name != "direct" else None
                rows.append({"streams": count, "target": name, "events": found.events, "errors": found.errors,
                             "cpu_us_per_event": found.cpu_us_per_event, "ttfb_p50_ms": found.ttfb_p50,
                             "ttfb_p99_ms": found.ttfb_p99, "worst_gap_p99_ms": found.gap_p99,
                             "rss_kb_per_stream": found.rss_kb_per_stream, "loop_stalls": stalls})
        finally:
            for _, process in targets.values():
                stop(process)
    return rows


def _workers(args: argparse.Namespace, workdir: Path, mock_port: int) -> list[dict[str, Any]]:
    """Throughput and CPU per request of the floor and of the gateway with every plugin, each run
    as 1, 2, ... processes sharing its port (the gateway's counters then in Redis, which it
    needs with workers > 1; at 1 worker too, so the rows compare), at the highest concurrency."""
    rows: list[dict[str, Any]] = []
    if not args.workers:
        return rows
    concurrency = max(args.concurrency or [64])
    redis = RedisServer()
    redis.start()
    try:
        for workers in args.workers:
            port = free_port()
            targets = {"floor": (port, start_module("bench.floor", [
                "--port", str(port), "--upstream", f"http://127.0.0.1:{mock_port}", "--workers", str(workers)], port))}
            port = free_port()
            config = gateway_config(workdir, mock_port, port, True, redis=redis.url)
            targets["gateway+all"] = (port, start_module("bifrost_py", ["serve", "-c", str(config), "--workers",
                                                                       str(workers)], port))
            try:
                for port, _process in targets.values():
                    wait_for_workers(f"http://127.0.0.1:{port}", workers)
                for stream in (False, True):
                    path, body, headers = bodies(stream)
                    for name, (port, process) in targets.items():
                        url = f"http://127.0.0.1:{port}{path}"
                        load = floorbench.measured(process.pid, functools.partial(
                            _load, args, url, body, headers, concurrency))
                        rows.append({"workers": workers, "mode": "stream" if stream else "json",
                                     "concurrency": concurrency, "target": name, **asdict(load)})
            finally:
                for _, process in targets.values():
                    stop(process)
    finally:
        redis.close()
    return rows


def wait_for_workers(url: str, workers: int) -> None:
    """Until each of the target's `workers` processes has answered (`x-bf-worker`): a worker that
    is not listening yet gets no connections, and the first cell would measure fewer."""
    if workers <= 1:
        return

    async def seen() -> None:
        found: set[str] = set()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as session:
            for _ in range(600):
                async with session.get(url + "/health") as response:
                    found.add(response.headers.get("x-bf-worker", ""))
                if len(found - {""}) >= workers:
                    return
                await asyncio.sleep(0.05)
        raise RuntimeError(f"{url}: only workers {sorted(found)} of {workers} answered")

    asyncio.run(seen())


def workers_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'workers':>7}  {'mode':<7}{'conc':>5}  {'target':<12}{'req/s':>8}{'x floor':>8}{'x 1 wkr':>8}"
            f"{'p50 ms':>8}{'p99 ms':>8}{'CPU us/req':>11}{'x floor':>8}{'errors':>7}")
    lines = [head, "-" * len(head)]
    cells = {(r["workers"], r["mode"], r["target"]): r for r in rows}
    first = min(r["workers"] for r in rows)
    for row in rows:
        floor = cells[(row["workers"], row["mode"], "floor")]
        single = cells[(first, row["mode"], row["target"])]
        lines.append(f"{row['workers']:>7}  {row['mode']:<7}{row['concurrency']:>5}  {row['target']:<12}"
                     f"{row['rps']:>8.0f}{floorbench.ratio(row['rps'], floor['rps']):>8}"
                     f"{floorbench.ratio(row['rps'], single['rps']):>8}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
                     f"{row['cpu_us']:>11.0f}{floorbench.ratio(row['cpu_us'], floor['cpu_us']):>8}{row['errors']:>7}")
    return "\n".join(lines)


def throughput_table(rows: list[dict[str, Any]]) -> str:
    head = (f"{'mode':<7}{'conc':>5}  {'target':<12}{'req/s':>8}{'x floor':>8}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'CPU us/req':>11}{'x floor':>8}{'x direct':>9}{'errors':>7}")
    lines = [head, "-" * len(head)]
    cells = {(r["mode"], r.get("concurrency"), r["target"]): r for r in rows}
    for row in rows:
        if row["mode"] == "rss":
            continue
        floor = cells[(row["mode"], row["concurrency"], "floor")]
        direct = cells[(row["mode"], row["concurrency"], "direct")]
        cpu = f"{row['cpu_us']:.0f}" if row["target"] != "direct" else ""
        cpu_ratio = floorbench.ratio(row["cpu_us"], floor["cpu_us"]) if row["target"] != "direct" else ""
        lines.append(f"{row['mode']:<7}{row['concurrency']:>5}  {row['target']:<12}{row['rps']:>8.0f}"
                     f"{floorbench.ratio(row['rps'], floor['rps']):>8}{row['p50_ms']:>8.2f}{row['p99_ms']:>8.2f}"
                     f"{cpu:>11}{cpu_ratio:>8}{floorbench.ratio(row['rps'], direct['rps']):>9}{row['errors']:>7}")
    lines += [f"peak RSS {r['target']}: {r['peak_rss_mb']:.0f} MB" for r in rows if r["mode"] == "rss"]
    return "\n".join(lines)


PROCESS_FIGURES = ("cpu_us_per_event", "rss_kb_per_stream")


def streams_table(rows: list[dict[str, Any]]) -> str:
    figures = (("CPU us/event", "cpu_us_per_event", ".1f"), ("TTFB p50 ms", "ttfb_p50_ms", ".1f"),
               ("TTFB p99 ms", "ttfb_p99_ms", ".1f"), ("gap p99 ms", "worst_gap_p99_ms", ".1f"),
               ("RSS KB/stream", "rss_kb_per_stream", ".1f"))
    head = f"{'streams':>7}  {'target':<12}" + "".join(f"{title:>14}{'x floor':>8}" for title, _, _ in figures)
    head += f"{'events':>8}{'errors':>7}{f'stalls>{STALL_MS}ms':>13}"
    lines = [head, "-" * len(head)]
    floors = {r["streams"]: r for r in rows if r["target"] == "floor"}
    for row in rows:
        floor = floors[row["streams"]]
        line = f"{row['streams']:>7}  {row['target']:<12}"
        for _, key, spec in figures:
            if row["target"] == "direct" and key in PROCESS_FIGURES:  # the client -> the mock: no relay process
                line += f"{'-':>14}{'':>8}"
                continue
            line += f"{row[key]:>14{spec}}{floorbench.ratio(row[key], floor[key]):>8}"
        stalls = "-" if row["loop_stalls"] is None else str(row["loop_stalls"])
        lines.append(line + f"{row['events']:>8}{row['errors']:>7}{stalls:>13}")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
