"""`bifrost-py serve` with no config file, as a user runs it: what it prints, what it creates in
the data folder, that a restart keeps providers and tokens, and `bifrost-py rotate-secret-key`
between two runs (CONTRACT.md, "Command line")."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Self

import aiohttp
import pytest

from bifrost_py.testing import RunningServer, free_port

RAW_KEY = "sk-ant-e2e-first-start-1a2b3c4d"


class Serve:
    """`bifrost-py serve --port P` with no -c, its data in `data`."""

    def __init__(self, data: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        env = {k: v for k, v in os.environ.items() if not k.startswith(("BIFROST_SECRET", "BIFROST_ADMIN", "BIFROST_SETUP"))}
        with open(log, "wb") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "bifrost_py", "serve", "--port", str(self.port)],
                                            stdout=out, stderr=subprocess.STDOUT, env={**env, "BIFROST_DATA_DIR": str(data)})

    async def __aenter__(self) -> Self:
        async with aiohttp.ClientSession() as session:
            for _ in range(600):  # bounded: 30 s
                assert self.process.poll() is None, self.log.read_text()
                try:
                    async with session.get(self.url + "/health") as response:
                        if response.status == 200:
                            return self
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise AssertionError(f"never healthy:\n{self.log.read_text()}")

    async def __aexit__(self, *exc: object) -> None:
        self.process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(self.process.wait, 30)


async def admin(serve: Serve, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.request(
            method, serve.url + "/api" + path, json=body, headers={"authorization": f"Bearer {token}"}) as response:
        return response.status, await response.json()


async def test_serve_with_no_file_prints_the_links_and_keeps_its_state_across_restarts(
        tmp_path: Path, mock_upstream: RunningServer) -> None:
    data = tmp_path / "data"
    async with Serve(data, tmp_path / "first.log") as serve:
        printed = serve.log.read_text()
        assert f"listening on {serve.url}" in printed and str(data) in printed
        assert re.search(rf"{re.escape(serve.url)}/ui/setup\?token=\S+", printed)
        for name in ("secret.key", "admin-token"):
            assert (data / name).stat().st_mode & 0o777 == 0o600
        token = (data / "admin-token").read_text().strip()
        status, _ = await admin(serve, token, "POST", "/providers", {
            "name": "anthropic", "type": "anthropic", "base_url": mock_upstream.url, "keys": [{"value": RAW_KEY}]})
        assert status == 201
    key_before = (data / "secret.key").read_text()

    rotated = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "bifrost_py", "rotate-secret-key"], capture_output=True, text=True,
                             env={**os.environ, "BIFROST_DATA_DIR": str(data)}, check=False)
    assert rotated.returncode == 0, rotated.stderr
    assert "re-encrypted the secrets of 1 providers" in rotated.stdout
    assert (data / "secret.key").read_text() != key_before

    async with Serve(data, tmp_path / "second.log") as serve:
        assert (data / "admin-token").read_text().strip() == token  # the same token after a restart
        status, result = await admin(serve, token, "POST", "/providers/anthropic/test", {})
        assert status == 200 and result["ok"], result
        _, listed = await admin(serve, token, "GET", "/providers")
        assert [p["name"] for p in listed["providers"]] == ["anthropic"]
    _, _, seen = await mock_upstream.get("/_mock/requests")
    assert RAW_KEY.encode() in seen  # the key was sent upstream after the rotation and restart
    assert RAW_KEY.encode() not in b"".join(p.read_bytes() for p in data.glob("bifrost.db*"))
    assert RAW_KEY not in (tmp_path / "first.log").read_text() + (tmp_path / "second.log").read_text()


def test_serve_without_a_file_in_an_unwritable_place_says_so(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    run = subprocess.run([sys.executable, "-m", "bifrost_py", "serve", "--port", str(free_port())], capture_output=True,
                         text=True, env={**os.environ, "BIFROST_DATA_DIR": str(blocked / "data")}, timeout=60, check=False)
    assert run.returncode != 0
    assert "data folder" in run.stderr and str(blocked / "data") in run.stderr
    assert "Traceback" not in run.stderr


@pytest.fixture(autouse=True)
def _no_leak(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("BIFROST_SECRET_KEY", raising=False)
