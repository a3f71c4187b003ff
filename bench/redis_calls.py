"""Redis commands, round trips and gateway CPU per request with every plugin on and
`storage.redis` set, beside the same gateway in memory (issue 16: what scale-out costs).

    python -m bench.redis_calls                 # 300 sequential JSON requests
    python -m bench.redis_calls --stream --requests 500

Commands per request come from `INFO commandstats` deltas over the requests (a script's inner
commands counted too); round trips are the commands the gateway sent (MONITOR lines that are not
inside a script; a MULTI..EXEC transaction counts once) per request. CPU is the gateway process's own user+system time over the
requests (steadier than latency on a shared machine, still noisier than callgrind), and
redis-server's own (INFO cpu) over the same requests, counted before MONITOR watches a second
round of them.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import aiohttp
from bifrost_cache import store_redis
from bifrost_governance import redis_scripts

from bench.__main__ import bodies, gateway_config, start_module, stop
from bifrost_py.testing import RedisServer, free_port, wait_for_port


def _redis(port: int, *command: str) -> str:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        parts = [f"${len(p)}\r\n{p}\r\n" for p in command]
        sock.sendall(f"*{len(command)}\r\n{''.join(parts)}".encode())
        data = b""
        while True:
            data += sock.recv(65536)
            if data.startswith(b"$"):
                size = int(data[1:data.index(b"\r\n")])
                if len(data) >= data.index(b"\r\n") + 2 + size + 2:
                    return data[data.index(b"\r\n") + 2:][:size].decode()
            elif data.endswith(b"\r\n"):
                return data.decode()


def redis_cpu(port: int) -> float:
    """Seconds of CPU the redis-server has used (user + system, its main thread and others)."""
    fields = dict(line.split(":", 1) for line in _redis(port, "INFO", "cpu").splitlines() if ":" in line)
    return float(fields["used_cpu_user"]) + float(fields["used_cpu_sys"])


def commandstats(port: int) -> dict[str, int]:
    stats: dict[str, int] = {}
    for line in _redis(port, "INFO", "commandstats").splitlines():
        if line.startswith("cmdstat_"):
            name, rest = line[len("cmdstat_"):].split(":", 1)
            stats[name] = int(rest.split(",")[0].split("=")[1])
            if name in ("evalsha", "eval", "xread"):
                stats["usec " + name] = int(rest.split(",")[1].split("=")[1])
    return stats


class Monitor(threading.Thread):
    """Counts the commands clients send (not those a script runs) while it listens."""

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.sendall(b"*1\r\n$7\r\nMONITOR\r\n")
        self.sent: collections.Counter[str] = collections.Counter()
        self.inner: collections.Counter[str] = collections.Counter()
        self.stopped = False
        self.queued = False    # inside MULTI..EXEC: one round trip (redis-py pipelines it)

    def run(self) -> None:
        buffer = b""
        while not self.stopped:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buffer += chunk
            *lines, buffer = buffer.split(b"\r\n")
            for line in lines:
                if not line.startswith(b"+") or b"]" not in line:
                    continue
                where, command = line.split(b"]", 1)
                words = command.split(b'"')
                name = words[1].decode().lower() if len(words) > 1 else "?"
                if name == "evalsha" and len(words) > 3:
                    name = SCRIPTS.get(words[3].decode(), "evalsha " + words[3].decode()[:8])
                if b"lua" in where:
                    self.inner[name] += 1
                elif name == "multi":
                    self.queued = True
                    self.sent["multi..exec"] += 1
                elif name == "exec":
                    self.queued = False
                elif not self.queued:
                    self.sent[name] += 1

    def close(self) -> None:
        self.stopped = True
        self.sock.close()


def _script_names() -> dict[str, str]:
    """SHA1 -> a name, for the scripts MONITOR shows as EVALSHA."""
    names = {name: getattr(redis_scripts, name) for name in ("ADMIT", "SETTLE", "READ")}
    names.update({name: value for name, value in vars(store_redis).items()
                  if name.startswith("_") and isinstance(value, str) and "redis.call" in value})
    return {hashlib.sha1(text.encode()).hexdigest(): "evalsha " + name.strip("_").lower() for name, text in names.items()}


SCRIPTS = _script_names()


def cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def send(url: str, body: bytes, headers: dict[str, str], n: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(n):
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status


def measure(redis: RedisServer | None, stream: bool, requests: int, upstream: int, workdir: Path) -> dict[str, object]:
    port = free_port()
    config = gateway_config(workdir, upstream, port, True, redis=redis.url if redis else None)
    gateway = start_module("bifrost_py", ["serve", "-c", str(config)], port)
    try:
        path, body, headers = bodies(stream)
        url = f"http://127.0.0.1:{port}{path}"
        asyncio.run(send(url, body, headers, 50))
        result: dict[str, object] = {}
        if redis is not None:
            _redis(redis.port, "CONFIG", "RESETSTAT")
        before = cpu(gateway.pid)
        redis_before = redis_cpu(redis.port) if redis is not None else 0.0
        asyncio.run(send(url, body, headers, requests))
        result["cpu_us"] = (cpu(gateway.pid) - before) / requests * 1e6
        if redis is not None:   # CPU without MONITOR; then the same requests again, watched
            result["redis_us"] = (redis_cpu(redis.port) - redis_before) / requests * 1e6
            unwatched = commandstats(redis.port)
            result["in_commands_us"] = sum(v for k, v in unwatched.items() if k.startswith("usec ")) / requests
            _redis(redis.port, "CONFIG", "RESETSTAT")
            monitor = Monitor(redis.port)
            monitor.start()
            asyncio.run(send(url, body, headers, requests))
            stats = commandstats(redis.port)
            monitor.close()
            stats.pop("config|resetstat", None)
            stats.pop("monitor", None)
            for name in [k for k in stats if k.startswith("usec ")]:
                del stats[name]
            result["commands"] = sum(stats.values()) / requests
            result["by_command"] = {k: round(v / requests, 2) for k, v in sorted(stats.items(), key=lambda kv: -kv[1])}
            result["sent"] = {k: round(v / requests, 2) for k, v in monitor.sent.most_common()}
            result["round_trips"] = sum(monitor.sent.values()) / requests
        return result
    finally:
        stop(gateway)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_calls")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--stream", action="store_true")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bifrost-redis-calls-"))
    upstream_port = free_port()
    upstream = subprocess.Popen([sys.executable, "-m", "bifrost_py", "mock-upstream", "--port", str(upstream_port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    redis = RedisServer()
    redis.start()
    try:
        wait_for_port(upstream_port)
        memory = measure(None, args.stream, args.requests, upstream_port, workdir)
        shared = measure(redis, args.stream, args.requests, upstream_port, workdir)
        print(f"mode: {'stream' if args.stream else 'json'}, {args.requests} sequential requests, every plugin on")
        print(f"CPU per request: in memory {memory['cpu_us']:.0f} us, on Redis {shared['cpu_us']:.0f} us "
              f"(and redis-server's own {shared['redis_us']:.0f} us, "
              f"{shared['in_commands_us']:.0f} us of it running the gateway's commands)")
        print(f"Redis commands per request (scripts' inner commands included): {shared['commands']:.2f}")
        print(f"  {shared['by_command']}")
        print(f"round trips per request (commands the gateway sent): {shared['round_trips']:.2f}")
        print(f"  {shared['sent']}")
    finally:
        redis.close()
        stop(upstream)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
