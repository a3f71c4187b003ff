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


def test_a_plugins_mistake_is_one_line_for_check_serve_and_plugins(tmp_path: Path) -> None:
    (tmp_path / "guard.py").write_text(
        "from bifrost_py import hookimpl\n\nclass Guard:\n    @hookimpl\n"
        "    async def bifrost_pre_attempt(self, attemp):\n        pass\n\n"
        "def bifrost_plugin(gateway):\n    return Guard()\n")
    config = tmp_path / "gateway.yaml"
    config.write_text("providers:\n  mock: {type: mock}\nplugins: [./guard.py]\n")
    line = "plugin 'guard': bifrost_pre_attempt: argument 'attemp' is not one of the hook's (attempt)"
    for command in (["check", "-c"], ["plugins", "-c"], ["serve", "--port", "0", "-c"]):
        result = run(*command, str(config))
        assert result.returncode == 2, (command, result.stderr)
        assert result.stderr.strip().splitlines()[-1] == line, command
        assert "Traceback" not in result.stderr


def test_check_says_which_sections_a_disabled_plugin_leaves_ignored(tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("providers:\n  mock: {type: mock}\nplugins: {disable: [costlog]}\nlogging: {bodies: true}\n")
    result = run("check", "-c", str(config))
    assert result.returncode == 0, result.stderr
    assert "logging: ignored (plugin 'costlog' is disabled)" in result.stdout


def test_new_plugin_scaffolds_a_package_whose_own_test_passes(tmp_path: Path) -> None:
    result = run("new-plugin", "team_tag", "--dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    package = tmp_path / "team_tag"
    pyproject = (package / "pyproject.toml").read_text()
    assert '[project.entry-points.bifrost_py]\nteam_tag = "bifrost_team_tag"' in pyproject
    assert "@hookimpl" in (package / "src" / "bifrost_team_tag" / "__init__.py").read_text()
    own = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(package)],
                         cwd=package, capture_output=True, text=True, timeout=120, check=False)
    assert own.returncode == 0, own.stdout + own.stderr
    assert "1 passed" in own.stdout
    again = run("new-plugin", "team_tag", "--dir", str(tmp_path))
    assert again.returncode == 2 and "already exists" in again.stderr
    assert run("new-plugin", "Team-Tag", "--dir", str(tmp_path)).returncode == 2
