"""The web UI with a big request log: page load times and the cost of live updates.

    python -m bench.ui_load                   # 100,000 log rows, SQLite
    python -m bench.ui_load --rows 20000

1. Fills the cost log's SQLite store with N synthetic rows over the last 30 days (the costlog
   plugin's own store and column list, so the rows are exactly what the gateway writes), then
   starts a real `bifrost-py serve` on that database.
2. Page loads in headless Chromium: from navigation to "data on screen" for each page (median
   and worst of several cold loads), and the admin API calls behind each page, timed alone.
3. Live updates: with the Logs page open, a burst of requests through the gateway; the browser's
   own CPU time per live row (Chrome DevTools Performance metrics: script + layout + style), the
   DOM size after more rows than the table keeps, and the gateway's CPU time per request with
   0 and with 5 open live viewers (from /proc).

Numbers depend on the machine; compare within one run.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import yaml
from bifrost_costlog.columns import record
from bifrost_costlog.stores.sqlite import SQLiteStore

from bifrost_py.testing import free_port

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ui"))
from ui_harness import (
    ADMIN_TOKEN,
    CHROMIUM_ARGS,
    YAML_KEY_SECRET,
    Gateway,
    chromium_executable,
    gateway_config,
    wait_healthy,
)

KEYS = [f"dev-{i:02d}" for i in range(40)]
TEAMS = ["backend", "data", "mobile", "platform", "research", "web", "infra", "growth"]
MODELS = [("claude-sonnet-4-20250514", 3.0, 15.0), ("claude-haiku-4-5-20251001", 1.0, 5.0),
          ("claude-opus-4-1-20250805", 15.0, 75.0), ("gpt-4o", 2.5, 10.0), ("gpt-4o-mini", 0.15, 0.6)]
PAGES = {
    "dashboard (spend figures)": ("#/dashboard", "#dashboard .spend .value"),
    "dashboard (every section)": ("#/dashboard", '#dashboard-status[data-state="complete"]'),
    "logs": ("#/logs", '#log-table-wrap[aria-busy="false"] #log-rows tr'),
    "keys": ("#/access/keys", "#table-keys tbody tr"),
    "providers": ("#/providers", ".provider"),
}
# What each page asks the API for on load (the same calls as its JS module).
API_CALLS = {
    "dashboard": ["/usage/summary?since=7d", "/usage?by=day&since=7d", "/usage?by=team&since=7d",
                  "/usage?by=key&since=7d", "/usage?by=model&since=7d", "/governance/usage"],
    "logs": ["/logs?final=true&since=24h&limit=100", "/usage?by=model&since=24h  (on first focus of Model)"],
    "keys": ["/governance/keys", "/governance/teams", "/governance/customers", "/governance/usage"],
    "providers": ["/providers", "/usage?by=provider&since=" + str(int(time.time()) - 3600)],
}


# --------------------------------------------------------------------------- the log rows

def synthetic_rows(n: int, now: float, rng: random.Random) -> list[tuple[Any, ...]]:
    """n rows, oldest first, over the last 30 days; 3% failures, 5% fallbacks, 8% cache hits."""
    rows = []
    start = now - 30 * 86400
    for i in range(n):
        ts = start + (now - start) * i / n
        model, price_in, price_out = rng.choice(MODELS)
        key = rng.choice(KEYS)
        tokens_in, tokens_out = rng.randint(200, 20000), rng.randint(20, 2000)
        failed = rng.random() < 0.03
        cached = not failed and rng.random() < 0.08
        cost = 0.0 if failed or cached else (tokens_in * price_in + tokens_out * price_out) / 1e6
        latency = rng.lognormvariate(7.0, 0.6)
        rows.append(record({
            "request_id": f"req_bench{i:019d}", "attempt": 1, "final": True, "ts": ts,
            "key_id": key, "key_name": key, "team": TEAMS[hash(key) % len(TEAMS)], "customer": "acme",
            "endpoint": "messages", "dialect": "anthropic", "provider": "openai" if model.startswith("gpt") else "anthropic",
            "provider_type": "mock", "requested_model": model, "model": model, "answered_model": model,
            "status": 529 if failed else 200, "error_type": "overloaded_error" if failed else None,
            "error_message": "Overloaded" if failed else None,
            "input_tokens": 0 if failed else tokens_in, "output_tokens": 0 if failed else tokens_out,
            "cache_read_tokens": 0, "cache_write_tokens": 0, "cost_usd": cost, "price_unknown": False,
            "saved_usd": (tokens_in * price_in + tokens_out * price_out) / 1e6 if cached else None,
            "latency_ms": latency, "ttft_ms": latency / 4, "upstream_ms": latency - 0.4, "overhead_ms": 0.4,
            "request_ms": latency, "streamed": rng.random() < 0.7, "completed": not failed,
            "client_disconnected": False, "cache_hit": cached, "fallback": False, "translated": False,
            "stop_reason": None if failed else "end_turn", "session_id": None, "client_app": "claude-cli/2.1.3",
        }))
    return rows


async def fill_store(path: Path, n: int) -> float:
    store = SQLiteStore(str(path))
    await store.open()
    started = time.perf_counter()
    rows = synthetic_rows(n, time.time(), random.Random(7))
    for i in range(0, n, 5000):
        await store.insert(rows[i:i + 5000])
    await store.close()
    return time.perf_counter() - started


# --------------------------------------------------------------------------- the gateway

def start_gateway(workdir: Path, database: Path) -> Gateway:
    port = free_port()
    config = gateway_config(port, database)
    del config["governance"]["virtual_keys"]["yaml-dev"]["rate_limit"]  # the bursts below exceed it
    config_path = workdir / "bifrost.yaml"
    config_path.write_text(yaml.safe_dump(config))
    log = workdir / "gateway.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "bifrost_py", "serve", "-c", str(config_path)],
                                   stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, process, log)
    return Gateway(url, process, log)


def burst_of_requests(gateway: Gateway, n: int, tag: str) -> float:
    """n small requests from 8 threads sharing one SDK client (kept-alive connections); seconds."""
    import anthropic

    client = anthropic.Anthropic(base_url=gateway.url + "/anthropic", api_key=YAML_KEY_SECRET, max_retries=0)

    def one(i: int) -> None:
        client.messages.create(model="claude-sonnet-4-20250514", max_tokens=16,
                               messages=[{"role": "user", "content": f"{tag} {i}"}])

    started = time.perf_counter()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(one, range(n)))
    client.close()
    return time.perf_counter() - started


def newest_log_id(gateway: Gateway) -> int:
    """The id of the last row written, once the writer has flushed the burst."""
    import json

    time.sleep(1.0)  # longer than the writer's flush interval
    request = urllib.request.Request(gateway.url + "/api/logs?limit=1", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return int(json.load(response)["rows"][0]["id"])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed_get(url: str) -> float:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return (time.perf_counter() - started) * 1000


def median_of(fn: Callable[[], float], runs: int) -> tuple[float, float]:
    values = [fn() for _ in range(runs)]
    return statistics.median(values), max(values)


# --------------------------------------------------------------------------- the browser

def page_loads(browser: Any, url: str, runs: int) -> dict[str, tuple[float, float]]:
    results = {}
    for name, (fragment, ready) in PAGES.items():
        def load(fragment: str = fragment, ready: str = ready) -> float:
            context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=url)
            context.add_init_script(f"sessionStorage.setItem('bifrost.adminToken', '{ADMIN_TOKEN}')")
            page = context.new_page()
            started = time.perf_counter()
            page.goto("/" + fragment)
            page.locator(ready).first.wait_for(timeout=60_000)
            elapsed = (time.perf_counter() - started) * 1000
            context.close()
            return elapsed

        load()  # warm the gateway's caches and the OS page cache once
        results[name] = median_of(load, runs)
    return results


def live_cost(browser: Any, gateway: Gateway, burst: int) -> dict[str, float]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=gateway.url)
    context.add_init_script(f"sessionStorage.setItem('bifrost.adminToken', '{ADMIN_TOKEN}')")
    page = context.new_page()
    page.goto("/#/logs?rows=attempts")
    page.locator("#live-state").get_by_text("Live").wait_for()
    cdp = context.new_cdp_session(page)
    cdp.send("Performance.enable")

    def metrics() -> dict[str, float]:
        return {m["name"]: m["value"] for m in cdp.send("Performance.getMetrics")["metrics"]}

    before = metrics()
    sent_seconds = burst_of_requests(gateway, burst, "live")
    newest = newest_log_id(gateway)
    page.locator(f'#log-rows tr[data-id="{newest}"]').wait_for(timeout=60_000)
    page.wait_for_timeout(500)
    after = metrics()
    busy = sum(after[k] - before[k] for k in ("ScriptDuration", "LayoutDuration", "RecalcStyleDuration"))
    result = {
        "rows": burst, "requests_per_second": burst / sent_seconds,
        "browser_ms_per_row": busy * 1000 / burst,
        "browser_script_ms_per_row": (after["ScriptDuration"] - before["ScriptDuration"]) * 1000 / burst,
        "table_rows_kept": page.locator("#log-rows tr").count(),
        "dom_nodes": after["Nodes"], "js_heap_mb": after["JSHeapUsedSize"] / 1e6,
    }
    context.close()
    return result


def gateway_cpu_per_request(gateway: Gateway, viewers: int, n: int) -> float:
    """Gateway CPU per request while `viewers` live log streams are open (raw SSE clients)."""
    streams = [urllib.request.urlopen(f"{gateway.url}/api/logs/stream?token={ADMIN_TOKEN}", timeout=60)
               for _ in range(viewers)]
    try:
        time.sleep(0.3)
        before = cpu_seconds(gateway.process.pid)
        burst_of_requests(gateway, n, "cpu")
        time.sleep(0.5)  # the writer's last batch and its fan-out
        return (cpu_seconds(gateway.process.pid) - before) * 1000 / n
    finally:
        for stream in streams:
            stream.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--burst", type=int, default=1200)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="bifrost-ui-bench-") as tmp:
        workdir = Path(tmp)
        database = workdir / "bifrost.db"
        seconds = asyncio.run(fill_store(database, args.rows))
        print(f"log store: {args.rows:,} rows written in {seconds:.1f} s ({database.stat().st_size / 1e6:.0f} MB)")
        gateway = start_gateway(workdir, database)
        url = gateway.url
        try:
            print("\nadmin API calls behind each page (median / worst of 5, ms):")
            for page_name, calls in API_CALLS.items():
                for call in calls:
                    path = call.split()[0]
                    med, worst = median_of(lambda path=path: timed_get(url + "/api" + path), 5)
                    print(f"  {page_name:10s} {call:55s} {med:8.1f} {worst:8.1f}")
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=chromium_executable(), args=CHROMIUM_ARGS)
                print(f"\npage load, navigation to data on screen (median / worst of {args.runs}, ms):")
                for name, (med, worst) in page_loads(browser, url, args.runs).items():
                    print(f"  {name:27s} {med:8.0f} {worst:8.0f}")
                live = live_cost(browser, gateway, args.burst)
                print(f"\nlive updates: {live['rows']} requests at {live['requests_per_second']:.0f}/s into an open Logs page")
                print(f"  browser CPU per live row (script+layout+style): {live['browser_ms_per_row']:.2f} ms"
                      f" (script {live['browser_script_ms_per_row']:.2f} ms)")
                print(f"  rows kept in the table: {live['table_rows_kept']}, DOM nodes: {live['dom_nodes']:.0f},"
                      f" JS heap: {live['js_heap_mb']:.1f} MB")
                browser.close()
            for viewers in (0, 1, 5):
                ms = gateway_cpu_per_request(gateway, viewers, 400)
                print(f"  gateway CPU per request with {viewers} live viewer(s): {ms:.2f} ms")
        finally:
            gateway.process.send_signal(signal.SIGTERM)
            gateway.process.wait(30)


if __name__ == "__main__":
    main()
