"""The cost log's own numbers: what it adds to each request, and how many rows per second its
writer sustains into SQLite and PostgreSQL.

    python -m bench.costlog_writer                      # SQLite, plus PostgreSQL if installed
    python -m bench.costlog_writer --postgres URL       # an existing PostgreSQL database

1. Per request: the plugin's post_attempt + request_end (row, price, metrics, queue) on a
   realistic attempt, timed over many rounds, with the writer idle (it runs in between).
2. Writer: rows offered in bursts as fast as the loop allows until all are written; rows/second
   from the first offer to the last row committed, per store and batch size.
"""

from __future__ import annotations

import argparse
import asyncio
import glob
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import bifrost_costlog
from bifrost_costlog.plugin import CostLog
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import Attempt, Call, Caller, Outcome, Target, Usage
from bifrost_py.gateway import Gateway

HEADERS = CIMultiDictProxy(CIMultiDict({"user-agent": "claude-cli/2.1.3"}))


def gateway(logs_url: str, **costlog: Any) -> tuple[Gateway, CostLog]:
    config = config_from_dict({
        "storage": {"logs": logs_url},
        "providers": {"anthropic": {"type": "anthropic", "base_url": "http://127.0.0.1:9", "keys": [{"value": "x"}]}},
        "costlog": costlog,
    })
    gw = Gateway(config, plugins=[bifrost_costlog], builtins=False)
    plugin = next(i.plugin for i in gw.plugins.ordered() if isinstance(i.plugin, CostLog))
    return gw, plugin


def attempt(n: int, stream: bool) -> tuple[Call, Attempt]:
    call = Call(request_id=f"req_{n:024x}", dialect="anthropic", endpoint="messages", headers=HEADERS,
                model="claude-sonnet-4-20250514", stream=stream, caller=Caller("id-1", "dev-pranay", "backend", "acme"),
                session_id="0b3f0c2e-5d1e-4c1e-9e54-1f0a6c1d8b7e", client_app="claude-cli/2.1.3")
    a = Attempt(call=call, target=Target("anthropic", "claude-sonnet-4-20250514"), number=1, provider_type="anthropic")
    a.outcome = Outcome(status=200, usage=Usage(1834, 412, 20_480, 0), model="claude-sonnet-4-20250514",
                        stop_reason="end_turn", streamed=stream, completed=True, first_byte_sent=True)
    a.first_byte = a.started + 0.2
    a.ended = a.started + 1.4
    a.upstream_seconds = 1.399
    call.attempts.append(a)
    return call, a


async def per_request(logs_url: str, rounds: int) -> list[float]:
    """Microseconds per request of the cost log's hooks, best of 5 runs of `rounds`."""
    gw, plugin = gateway(logs_url, queue_size=rounds * 6)
    await gw.start()
    results = []
    try:
        for run in range(5):
            work = [attempt(run * rounds + i, stream=bool(i % 2)) for i in range(rounds)]
            started = time.perf_counter()
            for call, a in work:
                await plugin.bifrost_post_attempt(a)
                await plugin.bifrost_request_end(call)
            results.append((time.perf_counter() - started) / rounds * 1e6)
            await asyncio.sleep(0.3)  # let the writer catch up between runs
    finally:
        await gw.stop()
    return results


async def writer_throughput(logs_url: str, rows: int, batch_size: int) -> float:
    """Rows per second from the first offer until every row is committed."""
    gw, plugin = gateway(logs_url, queue_size=rows + 1, batch_size=batch_size, flush_interval="50ms")
    await gw.start()
    try:
        template = [plugin.builder.finish(c, [plugin.builder.attempt_row(a)])[0]  # type: ignore[union-attr]
                    for c, a in (attempt(i, bool(i % 2)) for i in range(1000))]
        writer = plugin.writer
        assert writer is not None
        started = time.perf_counter()
        offered = 0
        while offered < rows:
            burst = [dict(r, request_id=f"req_{offered + i}") for i, r in enumerate(template[: min(1000, rows - offered)])]
            writer.offer(burst)
            offered += len(burst)
            await asyncio.sleep(0)
        for _ in range(100_000):
            if writer.written >= rows:
                break
            await asyncio.sleep(0.005)
        elapsed = time.perf_counter() - started
        assert writer.written == rows and writer.dropped == 0, (writer.written, writer.dropped)
        return rows / elapsed
    finally:
        await gw.stop()


@contextmanager
def temporary_postgres() -> Iterator[str | None]:
    """A throw-away PostgreSQL cluster on a free loopback port (fsync on: a fair write number)."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        yield None
        return
    import getpass
    import socket

    bindir = os.path.dirname(found[-1])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    workdir = tempfile.mkdtemp(prefix="bench-pg-")
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    if as_user:
        shutil.chown(workdir, "postgres")
    user = "postgres" if as_user else getpass.getuser()
    data = os.path.join(workdir, "data")
    subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-A", "trust", "-U", user], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-o", f"-p {port} -k {workdir} -c listen_addresses=127.0.0.1",
                              "-w", "-l", f"{workdir}/log", "start"], check=True, stdout=subprocess.DEVNULL)
    try:
        subprocess.run(as_user + [f"{bindir}/createdb", "-h", "127.0.0.1", "-p", str(port), "-U", user, "bench"], check=True)
        yield f"postgresql://{user}@127.0.0.1:{port}/bench"
    finally:
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "stop"], stdout=subprocess.DEVNULL, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


async def main(args: argparse.Namespace) -> None:
    directory = tempfile.mkdtemp(prefix="bench-costlog-")
    try:
        sqlite = f"sqlite:///{directory}/bench.db"
        runs = await per_request(sqlite, args.rounds)
        print(f"per request (post_attempt + request_end): best {min(runs):.1f} µs, median {statistics.median(runs):.1f} µs "
              f"over 5 x {args.rounds} requests")
        for batch in (100, 500, 2000):
            rate = await writer_throughput(f"sqlite:///{directory}/w{batch}.db", args.rows, batch)
            print(f"writer, SQLite (WAL, synchronous=NORMAL), batch {batch}: {rate:,.0f} rows/s")
        with temporary_postgres() if args.postgres is None else _given(args.postgres) as postgres:
            if postgres is None:
                print("writer, PostgreSQL: skipped (not installed; pass --postgres URL)")
                return
            for batch in (100, 500, 2000):
                rate = await writer_throughput(postgres, args.rows, batch)
                print(f"writer, PostgreSQL (COPY), batch {batch}: {rate:,.0f} rows/s")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextmanager
def _given(url: str) -> Iterator[str]:
    yield url


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20_000)
    parser.add_argument("--postgres", help="postgresql:// URL of an existing database (default: a temporary cluster)")
    asyncio.run(main(parser.parse_args()))
