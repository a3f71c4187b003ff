"""The third-party plugin in examples/ is installed like any package and drives the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from bifrost_py.testing import provider_config

EXAMPLE = Path(__file__).parents[2] / "examples" / "redact_secrets"
BUILTINS_OFF = {"disable": ["governance", "costlog", "cache", "routing", "failover"]}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: Any) -> Path:
    """pip-installs the example into a private directory (not into the venv, so no other test
    loads it)."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(EXAMPLE)], check=True)
    return target


async def test_installed_plugin_is_found_by_its_entry_point(installed: Path, start_gateway: Any,
                                                            mock_upstream: Any, monkeypatch: Any) -> None:
    monkeypatch.syspath_prepend(str(installed))
    gw = await start_gateway({"providers": provider_config(mock_upstream.url), "plugins": BUILTINS_OFF})
    assert "redact_secrets" in gw.gateway.dispatcher.names
    secret = "AKIAABCDEFGHIJKLMNOP"
    status, headers, _ = await gw.post("/v1/messages", json={
        "model": "claude-sonnet-4-20250514", "max_tokens": 20,
        "messages": [{"role": "user", "content": [{"type": "text", "text": f"deploy with {secret} please"}]}]})
    assert status == 200
    assert headers["x-redacted-secrets"] == "1"
    sent = orjson.loads((await mock_upstream.get("/_mock/requests"))[2])[-1]["body"]
    assert secret not in sent and "[REDACTED:aws-access-key]" in sent


def test_bifrost_plugins_lists_it(installed: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("providers: {mock: {type: mock}}\nplugins: {disable: [governance, costlog, cache, routing, failover]}\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(installed), os.environ.get("PYTHONPATH", "")])}
    listed = subprocess.run([sys.executable, "-m", "bifrost_py", "plugins", "-c", str(config)],
                            capture_output=True, text=True, env=env, check=True).stdout
    assert "redact_secrets  (entry point bifrost_redact (bifrost-redact-secrets 0.1.0))" in listed
    assert "bifrost_request_start" in listed
