"""Instructions per request of the gateway, counted by callgrind: a figure that does not move with
the machine's load, unlike latency and even process CPU on a shared 2-core VM.

    python -m bench.instructions                     # this checkout: bare and all plugins, JSON and stream
    python -m bench.instructions --ref /tmp/before   # and another checkout of bifrost-py beside it

The gateway runs `bifrost-py serve` under `valgrind --tool=callgrind` with instrumentation off;
a warm-up of requests goes through, then instrumentation is switched on for exactly `--requests`
sequential requests (from a client in this process, not counted) and the total is divided by
them. Every thread of the gateway counts (the SQLite writers' threads too). The mock upstream runs
outside valgrind. `--ref` runs another checkout (e.g. `git worktree add /tmp/before <commit>`) with
this virtualenv, through PYTHONPATH.
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
import time
from pathlib import Path

import aiohttp

from bench.__main__ import bodies, gateway_config, stop
from bifrost_py.testing import free_port, wait_for_port

WARM_UP = 50


def count(checkout: Path | None, plugins: bool, stream: bool, requests: int, upstream: int, workdir: Path) -> float:
    """Millions of instructions per request of one gateway configuration."""
    port = free_port()
    config = gateway_config(workdir, upstream, port, plugins)
    env = dict(os.environ, PYTHONMALLOC="malloc")  # callgrind counts malloc's work, not pymalloc's
    if checkout is not None:
        env["PYTHONPATH"] = f"{checkout}:{checkout / 'plugins'}"
    out = workdir / f"callgrind-{port}.out"
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no",
         sys.executable, "-m", "bifrost_py", "serve", "-c", str(config)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=workdir,
    )
    try:
        wait_for_port(port, seconds=600)
        path, body, headers = bodies(stream)
        url = f"http://127.0.0.1:{port}{path}"
        asyncio.run(_send(url, body, headers, WARM_UP))
        _control("-i", "on", process.pid)
        asyncio.run(_send(url, body, headers, requests))
        _control("-i", "off", process.pid)
        _control("-d", None, process.pid)
        time.sleep(1)
    finally:
        stop(process)
    totals = [int(line.split()[1]) for name in glob.glob(f"{out}*")
              for line in Path(name).read_text().splitlines() if line.startswith("totals:")]
    return max(totals, default=0) / requests / 1e6


async def _send(url: str, body: bytes, headers: dict[str, str], n: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status


def _control(flag: str, value: str | None, pid: int) -> None:
    args = ["callgrind_control", flag, *([value] if value else []), str(pid)]
    subprocess.run(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.instructions")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--ref", type=Path, help="another checkout of bifrost-py to count beside this one")
    args = parser.parse_args()
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-instructions-"))
    upstream_port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "bifrost_py", "mock-upstream", "--port", str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(upstream_port)
        checkouts: list[tuple[str, Path | None]] = [("this", None)]
        if args.ref is not None:
            checkouts.insert(0, ("ref", args.ref.resolve()))
        print(f"{'checkout':<10}{'plugins':<9}{'mode':<8}{'M instructions/request':>24}")
        for plugins in (False, True):
            for stream in (False, True):
                for name, checkout in checkouts:
                    value = count(checkout, plugins, stream, args.requests, upstream_port, workdir)
                    print(f"{name:<10}{'all' if plugins else 'none':<9}{'stream' if stream else 'json':<8}{value:>24.3f}",
                          flush=True)
    finally:
        stop(upstream)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
