"""Instructions per request of the gateway, counted by callgrind: a figure that does not move with
the machine's load, unlike latency and even process CPU on a shared 2-core VM.

    python -m bench.instructions                     # the floor, this checkout bare and all plugins, JSON and stream
    python -m bench.instructions --ref /tmp/before   # and another checkout of bifrost-py beside it
    python -m bench.instructions --redis             # the gateways with storage.redis (scale-out's cost)
    python -m bench.instructions --cpu               # process CPU per request at full speed instead
    python -m bench.instructions --plugins all --each  # and every plugin but one: each plugin's share

The gateway runs `bifrost-py serve` under `valgrind --tool=callgrind` with instrumentation off;
a warm-up of requests goes through, then instrumentation is switched on for exactly `--requests`
sequential requests (from a client in this process, not counted) and the total is divided by
them. Every thread of the gateway counts (the SQLite writers' threads too). The mock upstream runs
outside valgrind. `--ref` runs another checkout (e.g. `git worktree add /tmp/before <commit>`) with
this virtualenv, through PYTHONPATH.

The floor (bench/floor.py, the bare aiohttp + uvloop relay `make bench` divides by) is counted the
same way first, and every figure is also given as `x floor`, its ratio to the floor's in the same
mode.

`--cpu` measures instead the gateway's process CPU time (user + system, every thread, from
/proc) over `--requests` sequential requests at full speed (default 20,000, after a warm-up of
300), without valgrind: what only shows at full speed (a rate-limit window holding a minute of
requests, rows batched by a 20 ms timer) shows there. It swings less than callgrind's "all"
figure, since no timer gets 50 times its rounds.
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
from bench.floorbench import cpu_seconds
from bifrost_py.testing import RedisServer, free_port, wait_for_port

WARM_UP = 50
CPU_WARM_UP = 300
IDLE = 5.0  # seconds of idle gateway counted after the requests


def count(checkout: Path | None, plugins: bool | None, stream: bool, requests: int, upstream: int, workdir: Path,
          keep: Path | None = None, redis: str | None = None, without: tuple[str, ...] = ()) -> tuple[float, float]:
    """Millions of instructions per request of one gateway configuration (`plugins` None: the
    floor): all of them, and without the background work a gateway does while idle (its timers:
    under valgrind a request takes some 50 times longer, so a timer's rounds would weigh 50
    times more per request than they do at full speed). The idle rate is counted for IDLE
    seconds after the requests and subtracted for the time they took.

    `keep`: also copy callgrind's output of the requests there, for `callgrind_annotate`."""
    port = free_port()
    env = dict(os.environ, PYTHONMALLOC="malloc")  # callgrind counts malloc's work, not pymalloc's
    command = _command(checkout, plugins, port, upstream, workdir, redis, env, without)
    out = workdir / f"callgrind-{port}.out"
    process = subprocess.Popen(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--instr-atstart=no", sys.executable, *command],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, cwd=workdir,
    )
    try:
        wait_for_port(port, seconds=600)
        path, body, headers = bodies(stream)
        url = f"http://127.0.0.1:{port}{path}"
        asyncio.run(_send(url, body, headers, WARM_UP))
        _control("-i", "on", process.pid)
        started = time.monotonic()
        asyncio.run(_send(url, body, headers, requests))
        took = time.monotonic() - started
        _control("-i", "off", process.pid)
        _control("-d", None, process.pid)
        _control("-i", "on", process.pid)
        time.sleep(IDLE)
        _control("-i", "off", process.pid)
        _control("-d", None, process.pid)
        time.sleep(1)
    finally:
        stop(process)
    dumps = sorted(glob.glob(f"{out}.*"), key=lambda name: int(name.rsplit(".", 1)[1].split("-")[0]))
    if len(dumps) < 2:
        return 0.0, 0.0
    busy, idle = (_totals(Path(name)) for name in dumps[:2])
    if keep is not None:
        shutil.copy(dumps[0], keep)
    return busy / requests / 1e6, max(0.0, busy - idle / IDLE * took) / requests / 1e6


def cpu_per_request(checkout: Path | None, plugins: bool | None, stream: bool, requests: int, upstream: int,
                    workdir: Path, redis: str | None = None, without: tuple[str, ...] = ()) -> float:
    """Microseconds of process CPU per request of one gateway configuration at full speed
    (`plugins` None: the floor)."""
    port = free_port()
    env = dict(os.environ)
    command = _command(checkout, plugins, port, upstream, workdir, redis, env, without)
    process = subprocess.Popen([sys.executable, *command], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env=env, cwd=workdir)
    try:
        wait_for_port(port, seconds=60)
        path, body, headers = bodies(stream)
        url = f"http://127.0.0.1:{port}{path}"
        asyncio.run(_send(url, body, headers, CPU_WARM_UP))
        before = cpu_seconds(process.pid)
        asyncio.run(_send(url, body, headers, requests))
        return (cpu_seconds(process.pid) - before) / requests * 1e6
    finally:
        stop(process)


def _command(checkout: Path | None, plugins: bool | None, port: int, upstream: int, workdir: Path,
             redis: str | None, env: dict[str, str], without: tuple[str, ...] = ()) -> list[str]:
    """The python arguments that serve the floor (`plugins` None) or a gateway on `port` (with
    every plugin but those in `without`); sets PYTHONPATH in `env` for the floor and for another
    checkout."""
    if plugins is None:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parent.parent)
        return ["-m", "bench.floor", "--port", str(port), "--upstream", f"http://127.0.0.1:{upstream}"]
    if checkout is not None:
        env["PYTHONPATH"] = f"{checkout}:{checkout / 'plugins'}"
    return ["-m", "bifrost_py", "serve", "-c", str(gateway_config(workdir, upstream, port, plugins, redis=redis,
                                                                     without=without))]


def _each(checkout: Path | None, stream: bool, requests: int, upstream: int, workdir: Path, redis: str | None,
          everything: tuple[float, float]) -> None:
    """Each built-in's share of the all-plugins figure `everything`: the gateway counted again
    with every plugin but that one, and the difference printed as the plugin's cost (steadier
    than a profiler's split, and it includes what the plugin makes the core do for it)."""
    from bench.__main__ import BUILT_INS

    for plugin in BUILT_INS:
        value = count(checkout, True, stream, requests, upstream, workdir, redis=redis, without=(plugin,))
        cost = [e - v for e, v in zip(everything, value)]
        print(f"{'':<10}{'-' + plugin:<17}{value[0]:>16.3f}{'':>9}{value[1]:>21.3f}"
              f"   {plugin}: {cost[0]:+.3f} / {cost[1]:+.3f} M", flush=True)


def _each_cpu(checkout: Path | None, stream: bool, requests: int, upstream: int, workdir: Path,
              redis: str | None, everything: float) -> None:
    """`_each` by process CPU at full speed: what only shows there (rows batched by the cost log's
    20 ms timer, a journal flush per 0.1 s of traffic) is weighed as in production."""
    from bench.__main__ import BUILT_INS

    for plugin in BUILT_INS:
        us = cpu_per_request(checkout, True, stream, requests, upstream, workdir, redis, without=(plugin,))
        print(f"{'':<10}{'-' + plugin:<17}{us:>16.0f}   {plugin}: {everything - us:+.0f} us", flush=True)


def _totals(path: Path) -> int:
    return max((int(line.split()[1]) for line in path.read_text().splitlines() if line.startswith("totals:")), default=0)


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
    parser.add_argument("--requests", type=int, help="sequential requests counted (400; with --cpu 20,000)")
    parser.add_argument("--cpu", action="store_true", help="process CPU per request at full speed, not valgrind")
    parser.add_argument("--ref", type=Path, help="another checkout of bifrost-py to count beside this one")
    parser.add_argument("--only", choices=("json", "stream"), help="one mode only")
    parser.add_argument("--plugins", choices=("none", "all"), help="the gateway with no plugins or all only")
    parser.add_argument("--keep", type=Path, help="a directory to keep each run's callgrind output in")
    parser.add_argument("--each", action="store_true",
                        help="then every plugin but one, for each built-in: what that plugin costs (all minus it)")
    parser.add_argument("--redis", action="store_true",
                        help="the gateways with storage.redis (a redis-server of its own, flushed before each run)")
    args = parser.parse_args()
    if args.requests is None:
        args.requests = 20_000 if args.cpu else 400
    if not args.cpu and shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-instructions-"))
    if args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
    upstream_port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "bifrost_py", "mock-upstream", "--port", str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = RedisServer() if args.redis else None
    try:
        if redis is not None:
            redis.start()
        wait_for_port(upstream_port)
        checkouts: list[tuple[str, Path | None]] = [("this", None)]
        if args.ref is not None:
            checkouts.insert(0, ("ref", args.ref.resolve()))
        modes = [stream for stream in (False, True) if args.only in (None, "stream" if stream else "json")]
        if args.cpu:
            print(f"{'checkout':<10}{'plugins':<9}{'mode':<8}{'us CPU/request':>16}{'x floor':>9}")
        else:
            print(f"{'checkout':<10}{'plugins':<9}{'mode':<8}{'M instr/request':>16}{'x floor':>9}"
                  f"{'without idle timers':>21}{'x floor':>9}")
        floor: dict[bool, tuple[float, float]] = {}
        for plugins in (None, *[p for p in (False, True) if args.plugins in (None, "all" if p else "none")]):
            for stream in modes:
                for name, checkout in ([("floor", None)] if plugins is None else checkouts):
                    mode = "stream" if stream else "json"
                    label = {None: "-", False: "none", True: "all"}[plugins]
                    keep = args.keep / f"{name}-{label}-{mode}.out" if args.keep else None
                    if redis is not None:   # each gateway starts on an empty Redis
                        redis.stop()
                        redis.start()
                    url = redis.url if redis is not None else None
                    if args.cpu:
                        us = cpu_per_request(checkout, plugins, stream, args.requests, upstream_port, workdir, url)
                        base_us = floor.setdefault(stream, (us, us))[0]
                        print(f"{name:<10}{label:<9}{mode:<8}{us:>16.0f}{us / base_us:>8.2f}x", flush=True)
                        if plugins and args.each:
                            _each_cpu(checkout, stream, args.requests, upstream_port, workdir, url, us)
                        continue
                    value = count(checkout, plugins, stream, args.requests, upstream_port, workdir, keep, redis=url)
                    base = floor.setdefault(stream, value)
                    ratios = [v / b if b else 0.0 for v, b in zip(value, base)]
                    print(f"{name:<10}{label:<9}{mode:<8}{value[0]:>16.3f}{ratios[0]:>8.2f}x"
                          f"{value[1]:>21.3f}{ratios[1]:>8.2f}x", flush=True)
                    if plugins and args.each:
                        _each(checkout, stream, args.requests, upstream_port, workdir, url, value)
    finally:
        if redis is not None:
            redis.close()
        stop(upstream)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
