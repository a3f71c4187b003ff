"""What the otel plugin costs per request, off and on.

    python -m bench.otel                      # the hooks alone, in this process (µs per request)
    python -m bench.otel --instructions 300   # and the whole gateway under callgrind (instructions)

The hooks: the otel plugin of a real Gateway, its SDK exporting to a collector stand-in on
loopback (a thread that answers 200 to every OTLP/HTTP post), is driven through the four hooks of
one request with one attempt (request_start, pre_attempt, post_attempt, request_end) with the
attributes of a real answer. Reported: wall time of the hooks per request (what a request waits
for), and process CPU per request, which adds the exporter thread's encoding and posting of the
spans in batches (what the machine pays).

The gateway: `bifrost-py serve` with no other plugin, under callgrind as in bench.instructions
(every thread counted, the exporter's too), in four configurations: the otel plugin not loaded,
loaded and off (the default), on, and on with one trace in ten sampled. Off must equal not
loaded: it registers no hook.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import bifrost_otel
import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from bench.__main__ import bodies, gateway_config, stop
from bench.instructions import WARM_UP, _control, _send
from bifrost_py.config import config_from_dict
from bifrost_py.context import Attempt, Call, Outcome, Target, Usage
from bifrost_py.gateway import Gateway
from bifrost_py.testing import free_port, wait_for_port

ROUNDS = 20_000
BATCH = 500
MODEL = "claude-sonnet-4-20250514"


class Sink(BaseHTTPRequestHandler):
    """A collector reduced to answering: 200 and an empty ExportTraceServiceResponse."""

    posts = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).posts += 1
        self.send_response(200)
        self.send_header("content-type", "application/x-protobuf")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextmanager
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


# --------------------------------------------------------------------------- the hooks alone


def one_request(headers: CIMultiDictProxy[str]) -> tuple[Call, Attempt]:
    call = Call(request_id="req-bench", dialect="anthropic", endpoint="messages", headers=headers,
                body={"model": MODEL, "max_tokens": 256}, model=MODEL)
    attempt = Attempt(call=call, target=Target("anthropic", MODEL), number=1, provider_type="anthropic",
                      key_name="default")
    call.attempts.append(attempt)
    return call, attempt


def settle(attempt: Attempt) -> None:
    attempt.outcome = Outcome(status=200, usage=Usage(input_tokens=1200, output_tokens=300), model=MODEL,
                              stop_reason="end_turn")
    attempt.ended = time.perf_counter()


async def time_hooks(plugin: Any, rounds: int, traceparent: bool) -> tuple[float, float]:
    """µs per request: wall time inside the hooks (the fastest batch of BATCH requests: on a
    shared machine the others are slowed by whoever else runs), and process CPU of all threads, the exporter's included. Each batch
    is flushed before the next, as a gateway's pace would let the exporter keep up (a loop
    faster than that fills the SDK's queue, which then drops spans and their export's cost)."""
    raw = {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"} if traceparent else {}
    headers = CIMultiDictProxy(CIMultiDict(raw))
    batches: list[float] = []
    cpu_started = time.process_time()
    for _ in range(max(1, rounds // BATCH)):
        inside = 0.0
        for _ in range(BATCH):
            call, attempt = one_request(headers)
            started = time.perf_counter()
            await plugin.bifrost_request_start(call)
            await plugin.bifrost_pre_attempt(attempt)
            inside += time.perf_counter() - started
            settle(attempt)
            started = time.perf_counter()
            await plugin.bifrost_post_attempt(attempt)
            await plugin.bifrost_request_end(call)
            inside += time.perf_counter() - started
        batches.append(inside / BATCH * 1e6)
        plugin.export.provider.force_flush()
    cpu = (time.process_time() - cpu_started) / (len(batches) * BATCH) * 1e6
    await plugin.bifrost_shutdown(None)
    return min(batches), cpu


async def hooks(rounds: int) -> None:
    with collector() as url:
        for traceparent in (False, True):
            config = {"providers": {"anthropic": {"type": "anthropic", "keys": [{"value": "sk"}]}},
                      "otel": {"enabled": True, "endpoint": url}}
            gateway = Gateway(config_from_dict(config), plugins=[bifrost_otel], builtins=False)
            plugin = next(info.plugin for info in gateway.plugins.infos if info.name == "otel")
            await plugin.bifrost_startup(gateway)
            await time_hooks(plugin, rounds // 10, traceparent)  # warm-up (and a first shutdown)
            await plugin.bifrost_startup(gateway)
            posts = Sink.posts
            wall, cpu = await time_hooks(plugin, rounds, traceparent)
            label = "with a client traceparent" if traceparent else "new trace"
            print(f"hooks, {label:<26} {wall:6.1f} µs in the hooks, {cpu:6.1f} µs CPU per request "
                  f"(export included: {Sink.posts - posts} posts)", flush=True)


# --------------------------------------------------------------------------- the whole gateway


def count(config: Path, stream: bool, requests: int, workdir: Path, environ: dict[str, str]) -> float:
    """Millions of instructions per request of one gateway configuration (bench.instructions' way)."""
    port = orjson.loads(config.read_bytes())["server"]["port"]
    out = workdir / f"callgrind-{port}.out"
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no",
         sys.executable, "-m", "bifrost_py", "serve", "-c", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, **environ, "PYTHONMALLOC": "malloc"},
        cwd=workdir,
    )
    try:
        wait_for_port(port, seconds=600)
        path, body, headers = bodies(stream)
        url = f"http://127.0.0.1:{port}{path}"
        asyncio.run(_send(url, body, headers, WARM_UP))
        _control("-i", "on", process.pid)
        asyncio.run(_send(url, body, headers, requests))
        time.sleep(6)  # past the batch processor's 5 s delay: the export of these spans is counted
        _control("-i", "off", process.pid)
        _control("-d", None, process.pid)
        time.sleep(1)
    finally:
        stop(process)
    totals = [int(line.split()[1]) for name in glob.glob(f"{out}*")
              for line in Path(name).read_text().splitlines() if line.startswith("totals:")]
    return max(totals, default=0) / requests / 1e6


# absent, off, on, and on with one trace in ten kept (the SDK's sampler, set by its variables)
MODES: tuple[tuple[str, dict[str, str]], ...] = (
    ("absent", {}), ("off", {}), ("on", {}),
    ("on", {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}),
)


def otel_config(workdir: Path, upstream: int, mode: str, collector_url: str) -> Path:
    """A bare gateway (no other plugin) with the otel plugin absent, off or on."""
    path = gateway_config(workdir, upstream, free_port(), plugins=False)
    config = orjson.loads(path.read_bytes())
    if mode == "absent":
        config["plugins"]["disable"].append("otel")
    else:
        config["otel"] = {"enabled": mode == "on", "endpoint": collector_url}
    path.write_bytes(orjson.dumps(config))
    return path


def instructions(requests: int) -> None:
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-otel-"))
    upstream_port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "bifrost_py", "mock-upstream", "--port", str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(upstream_port)
        with collector() as url:
            print(f"{'otel':<9}{'mode':<8}{'M instructions/request':>24}   (on0.1: one trace in ten sampled)")
            for stream in (False, True):
                for mode, environ in MODES:
                    config = otel_config(workdir, upstream_port, mode, url)
                    value = count(config, stream, requests, workdir, environ)
                    print(f"{mode + environ.get('OTEL_TRACES_SAMPLER_ARG', ''):<9}{'stream' if stream else 'json':<8}"
                          f"{value:>24.3f}", flush=True)
    finally:
        stop(upstream)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.otel")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="requests through the hooks")
    parser.add_argument("--instructions", type=int, metavar="REQUESTS", default=0,
                        help="also count the whole gateway's instructions per request under callgrind")
    args = parser.parse_args()
    asyncio.run(hooks(args.rounds))
    if args.instructions:
        instructions(args.instructions)


if __name__ == "__main__":
    main()
