"""How long `bifrost-py report` takes, end to end, on a log of a given size.

    python -m bench.costlog_report                      # 1,000 and 1,000,000 rows
    python -m bench.costlog_report --rows 1000 --rows 50000
    python -m bench.costlog_report --postgres postgresql://postgres@127.0.0.1:5432/bench   # its tables are dropped first

For each size: rows of a realistic mix (keys of four teams, three models, routed, cached and
failed-over requests, a few unpriced) spread over the last 30 days are written into a temporary
SQLite log through the cost log's own store (so the usage rollup is kept as in production),
then `bifrost-py report -c CONFIG` runs as a subprocess, as a person would run it: wall time of
the whole process (Python start-up, imports, config, the query, printing), best and median of
a few runs, for `--by team`, `--by model --top 3` and `--by day`; and, in this process, the
report itself (the hook on a configured gateway: open the log, read, render), without the
imports and configuration that every `bifrost-py` command pays.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

MODELS = ("claude-sonnet-4-20250514", "claude-haiku-4-5-20251001", "claude-opus-4-1-20250805")
TEAMS = ("backend", "data", "mobile", "platform")
CLIENTS = ("claude-cli/2.1.3", "claude-cli/2.1.3", "claude-cli/2.1.3", "codex_exec/0.171.0", "GeminiCLI/0.61.0")
BATCH = 5000
QUESTIONS = (("--by", "team"), ("--by", "key"), ("--by", "model", "--top", "3"), ("--by", "day"),
             ("--by", "session", "--top", "20"), ("--by", "client"))


def rows(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """Requests in coding-agent sessions: each session is one developer's key and client app,
    20 to 400 requests about half a minute apart (ten minutes to three hours), started at a
    random time in the last 30 days; ~1 in 20 requests carries no session id (SDK scripts)."""
    rng = random.Random(seed)
    now = time.time()
    out: list[dict[str, Any]] = []
    request = session = 0
    while len(out) < count:
        session += 1
        team = rng.choice(TEAMS)
        key = f"{team}-dev{rng.randint(1, 12)}"
        client = rng.choice(CLIENTS)
        start = now - rng.uniform(0, 30 * 86400)
        for _ in range(rng.randint(20, 400)):
            request += 1
            start += rng.uniform(5, 55)
            sid = None if rng.random() < 0.05 else f"sess-{session:06d}"
            requested = rng.choice(MODELS)
            attempts = 2 if rng.random() < 0.05 else 1
            for number in range(1, attempts + 1):
                final = number == attempts
                cached = final and rng.random() < 0.1
                model = MODELS[1] if final and rng.random() < 0.2 else requested
                used = (rng.randint(100, 20000), rng.randint(10, 2000)) if final else (0, 0)
                tokens = (0, 0) if cached else used
                cost = (used[0] * 3 + used[1] * 15) / 1e6
                out.append({
                    "request_id": f"req_{request}", "attempt": number, "final": final, "ts": start + number,
                    "key_id": key, "key_name": key, "team": team, "customer": "acme", "endpoint": "messages",
                    "dialect": "anthropic", "provider": "anthropic", "provider_type": "anthropic",
                    "requested_model": requested, "model": model, "answered_model": model, "served_model": model,
                    "status": 200 if final else 529, "input_tokens": tokens[0], "output_tokens": tokens[1],
                    "cache_read_tokens": 0, "cache_write_tokens": 0, "cost_usd": 0.0 if cached else cost,
                    "price_unknown": False, "saved_usd": cost if cached else None,
                    "requested_cost_usd": cost * 3 if model != requested and not cached else None,
                    "savings_unpriced": False, "latency_ms": 900.0, "upstream_ms": 880.0, "overhead_ms": 20.0,
                    "request_ms": rng.uniform(200, 20000), "streamed": True, "completed": final,
                    "cache_hit": cached, "fallback": number > 1, "client_app": client, "session_id": sid,
                })
    return out[:count]


async def drop(url: str) -> None:
    """An empty PostgreSQL database for the log: the cost log's tables dropped."""
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        names = await connection.fetch("SELECT tablename FROM pg_tables WHERE tablename LIKE 'request_log%'")
        for row in names:
            await connection.execute(f'DROP TABLE IF EXISTS "{row["tablename"]}"')
    finally:
        await connection.close()


async def fill(url: str, count: int) -> None:
    from bifrost_costlog.columns import record
    from bifrost_costlog.stores import open_store

    if url.startswith("postgresql://"):
        await drop(url)

    store = open_store(url)
    await store.open()
    try:
        made = rows(count)
        for i in range(0, count, BATCH):
            await store.insert([record(r) for r in made[i:i + BATCH]])
    finally:
        await store.close()


def timed(config: str, question: tuple[str, ...]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bifrost_py", "report", "-c", config, "--since", "30d", *question],
                          capture_output=True, text=True, check=True)
    return time.perf_counter() - started, done.stdout + done.stderr


async def in_process(config: str, question: tuple[str, ...]) -> tuple[float, float]:
    """CPU seconds of this process (every thread: the SQLite reader's too; wall time lies on a
    busy machine) and wall seconds of the report hook."""
    from bifrost_py.config import load_config
    from bifrost_py.gateway import Gateway

    gateway = Gateway(load_config(config))
    by = question[1]
    top = int(question[3]) if len(question) > 3 else None
    started, wall = time.process_time(), time.perf_counter()
    try:
        await gateway.plugins.report(gateway, 30 * 86400, by, "table", top)
    finally:
        await gateway.storage.close()
    return time.process_time() - started, time.perf_counter() - wall


def sizes(path: str) -> str:
    """Rows of the log and of each rollup table."""
    import sqlite3

    with sqlite3.connect(path) as db:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'request_log%'")]
        return ", ".join(f"{t}: {db.execute(f'SELECT COUNT(*) FROM {t}').fetchone()[0]:,}" for t in sorted(tables))


async def pg_sizes(url: str) -> str:
    import asyncpg

    connection = await asyncpg.connect(url)
    try:
        names = sorted(r["tablename"] for r in await connection.fetch(
            "SELECT tablename FROM pg_tables WHERE tablename LIKE 'request_log%'"))
        counted = [f"{n}: {await connection.fetchval(f'SELECT COUNT(*) FROM {n}'):,}" for n in names]
        return ", ".join(counted)
    finally:
        await connection.close()


def main(args: argparse.Namespace) -> None:
    for count in args.rows or [1000, 1_000_000]:
        directory = tempfile.mkdtemp(prefix="bench-report-")
        try:
            config = os.path.join(directory, "gateway.yaml")
            url = args.postgres or f"sqlite:///{directory}/logs.db"
            with open(config, "w") as f:
                f.write(f"storage:\n  logs: {url}\n")
            started = time.perf_counter()
            asyncio.run(fill(url, count))
            size = asyncio.run(pg_sizes(url)) if args.postgres else sizes(f"{directory}/logs.db")
            print(f"{count:,} rows written in {time.perf_counter() - started:.1f} s; {size}")
            for question in QUESTIONS:
                if args.only and question[1] not in args.only:
                    continue
                times = []
                for _ in range(args.runs):
                    seconds, output = timed(config, question)
                    times.append(seconds)
                inside = [asyncio.run(in_process(config, question)) for _ in range(args.runs)]
                cpu, wall = [c for c, _ in inside], [w for _, w in inside]
                print(f"  report {' '.join(question)}: best {min(times):.2f} s, median {statistics.median(times):.2f} s"
                      f" ({len(output.splitlines())} lines); the report alone, CPU: best {min(cpu) * 1000:.0f} ms, "
                      f"median {statistics.median(cpu) * 1000:.0f} ms; wall: best {min(wall) * 1000:.0f} ms", flush=True)
        finally:
            shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="log size (repeatable; default 1,000 and 1,000,000)")
    parser.add_argument("--runs", type=int, default=5, help="runs of each report (default 5)")
    parser.add_argument("--only", action="append", help="only these --by groups (repeatable)")
    parser.add_argument("--postgres", help="a PostgreSQL database URL to write the log to instead of SQLite "
                        "(the CPU figure is then the client's only: the server's is not counted)")
    main(parser.parse_args())
