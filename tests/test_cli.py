"""The command line (CONTRACT.md): check, plugins, and the exit codes users script against."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bifrost_py", *args], capture_output=True, text=True, timeout=60,
                          check=False)


def test_check_accepts_a_good_config(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("providers:\n  mock: {type: mock}\n")
    result = run("check", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout


def test_check_lists_every_problem_with_its_path(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("server: {port: high}\nproviders:\n  x: {type: nope, colour: red}\nwidgets: 1\n")
    result = run("check", "-c", str(config))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "server.port: expected a whole number, got a string 'high'" in lines[0]
    assert any(line.startswith("providers.x.type: must be one of") for line in lines)
    assert any(line == "providers.x.colour: unknown key" for line in lines)


def test_check_reports_a_missing_file(tmp_path: Path) -> None:
    result = run("check", "-c", str(tmp_path / "absent.yaml"))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_plugins_lists_the_builtins_and_their_hooks() -> None:
    result = run("plugins")
    assert result.returncode == 0, result.stderr
    for name in ("costlog", "governance", "cache", "routing", "failover"):
        assert f"{name}  (entry point" in result.stdout
