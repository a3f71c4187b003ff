"""`run`: the CLI entry point serves and says where."""

from __future__ import annotations

import subprocess
import sys
import urllib.request

SCRIPT = (
    "from bifrost_py.mockupstream import run, MockOptions\n"
    "run('127.0.0.1', 0, MockOptions(latency=0.0))\n"
)


def test_run_prints_where_it_listens_and_serves() -> None:
    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert line.startswith("bifrost-py mock-upstream listening on http://127.0.0.1:")
        base = line.split()[-1]
        with urllib.request.urlopen(base + "/health", timeout=5) as response:
            assert response.read() == b'{"status":"ok"}'
        request = urllib.request.Request(
            base + "/v1/messages",
            method="POST",
            data=b'{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"[[reset]]"}]}',
            headers={"x-api-key": "k", "anthropic-version": "2023-06-01"},
        )
        try:
            urllib.request.urlopen(request, timeout=5)
        except (ConnectionError, OSError) as error:  # reset works under uvloop too
            assert "reset" in str(error).lower() or isinstance(error, ConnectionError)
        else:
            raise AssertionError("expected a connection reset")
    finally:
        process.terminate()
        process.wait(timeout=5)
