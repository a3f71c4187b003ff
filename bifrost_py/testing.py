"""Helpers for testing gateways and plugins through real sockets (ours, and plugin authors').

    async with running_mock_upstream() as upstream:            # the wire-faithful fake provider
        async with running_gateway(config_dict, plugins=[MyPlugin()]) as gw:
            client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-...")

Both listen on OS-chosen loopback ports. The pytest fixtures `mock_upstream` and
`start_gateway` in tests/conftest.py wrap these. `GatewayProcess` runs `bifrost-py serve` as a
process of its own, for what only a real process shows: SIGTERM, SIGKILL, a restart.
`RedisServer` is a redis-server of a test's own, without persistence, so a restart forgets.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from .config import Config, config_from_dict
from .gateway import Gateway
from .server import build_app


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nothing listens on right now (for servers started as processes)."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, seconds: float = 20.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts connections on `port`, or fail after `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {host}:{port} after {seconds}s")


@dataclass
class RunningServer:
    url: str
    runner: web.AppRunner
    app: web.Application

    async def post(self, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        """One request with a throw-away session: (status, headers, body)."""
        async with aiohttp.ClientSession() as session, session.post(self.url + path, **kwargs) as response:
            return response.status, dict(response.headers), await response.read()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
        async with aiohttp.ClientSession() as session, session.get(self.url + path, **kwargs) as response:
            return response.status, dict(response.headers), await response.read()


@dataclass
class RunningGateway(RunningServer):
    gateway: Gateway


async def _serve(app: web.Application, host: str = "127.0.0.1") -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def running_mock_upstream(options: Any = None) -> AsyncIterator[RunningServer]:
    from .mockupstream import MockOptions
    from .mockupstream import build_app as mock_app

    app = mock_app(options or MockOptions())
    runner, url = await _serve(app)
    try:
        yield RunningServer(url, runner, app)
    finally:
        await runner.cleanup()


@contextlib.asynccontextmanager
async def running_gateway(
    config: Config | dict[str, Any], *, plugins: list[object] | None = None, builtins: bool = True
) -> AsyncIterator[RunningGateway]:
    """A gateway serving `config` on a free loopback port; stopped (and flushed) on exit. A dict
    config gets a temporary folder of its own as its base: the files it names by relative path or
    by default (the log database, the cache's) start empty and go with it, instead of piling up in
    the working directory from one test run to the next."""
    with contextlib.ExitStack() as folder:
        if isinstance(config, dict):
            base = Path(folder.enter_context(tempfile.TemporaryDirectory(prefix="bifrost-test-")))
            config = config_from_dict(config, base_dir=base)
        gateway = Gateway(config, plugins=plugins, builtins=builtins)
        app = build_app(gateway)
        runner, url = await _serve(app)
        try:
            yield RunningGateway(url, runner, app, gateway)
        finally:
            await runner.cleanup()


def provider_config(upstream_url: str) -> dict[str, Any]:
    """`providers:` pointing an anthropic- and an openai-type provider at one mock upstream."""
    return {
        "anthropic": {"type": "anthropic", "base_url": upstream_url, "keys": [{"value": "sk-ant-test"}]},
        "openai": {"type": "openai", "base_url": upstream_url + "/v1", "keys": [{"value": "sk-openai-test"}]},
    }


class GatewayProcess:
    """`bifrost-py serve -c CONFIG` on a free loopback port; its output is appended to `log`."""

    def __init__(self, config: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bifrost_py", "serve", "-c", str(config), "--port", str(self.port)],
            stdout=self.log, stderr=subprocess.STDOUT,
        )

    async def ready(self, session: aiohttp.ClientSession) -> None:
        """Wait (at most 60 s: test machines can be busy) until /health answers 200."""
        for _ in range(1200):
            if self.process.poll() is not None:
                raise AssertionError(f"the gateway exited with {self.process.returncode}")
            try:
                async with session.get(self.url + "/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.05)
        raise AssertionError("the gateway never became healthy")

    async def stop(self) -> int:
        """SIGTERM, then the exit code (a graceful stop flushes what the gateway holds)."""
        self.process.send_signal(signal.SIGTERM)
        for _ in range(1200):   # bounded: 60 s
            if self.process.poll() is not None:
                self.log.close()
                return self.process.returncode
            await asyncio.sleep(0.05)
        self.process.kill()
        raise AssertionError("the gateway did not stop within 60 s of SIGTERM")

    def crash(self) -> None:
        """SIGKILL: no flush, no goodbye — what a power cut or the OOM killer does."""
        self.process.kill()
        self.process.wait(30)
        self.log.close()


class RedisServer:
    """A redis-server on a loopback port, without persistence: stop() then start() is a Redis
    that comes back empty. `close()` stops it and removes its folder."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed (.ci/run installs Debian's redis-server)")
        self.binary = binary
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.dir = tempfile.mkdtemp(prefix="bifrost-redis-")
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.dir], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_for_port(self.port)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
