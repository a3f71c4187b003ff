"""Issue 13: Claude Code, Codex CLI and Gemini CLI on one virtual key hit one budget's 402.

The real CLIs (`claude -p`, `codex exec`, `gemini -p`) talk to one gateway (mock upstream behind
it) with the same virtual key, whose monthly budget (USD, the default currency; governance
`mode: soft`: a request is admitted while spent < limit) has room for about three requests. They spend it in turn, Claude
Code, then Codex, then Gemini CLI, each answered, until the key's spend passes the limit; then
each of the three is refused with the gateway's 402 (non-zero exit, the budget message in its
output), and the key's usage and the cost log show that all three clients spent from it.
Skipped when any of the CLIs is not installed (CI installs them: .ci/run)."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import bifrost_costlog
import bifrost_governance
import pytest

from bifrost_py.testing import provider_config

CLIS = {name: shutil.which(name) for name in ("claude", "codex", "gemini")}
pytestmark = pytest.mark.skipif(None in CLIS.values(), reason=f"a CLI is not installed: {CLIS}")
ADMIN = {"authorization": "Bearer admin-secret"}
SECRET = "vk-shared-secret"
LIMIT = 0.04  # USD (the default currency): one request each costs about 0.0105 (Claude Code), 0.0246 (Codex), 0.0098 (Gemini CLI)
REFUSED = "budget exhausted for virtual key 'shared'"


def settings(upstream_url: str, tmp_path: Path) -> dict[str, Any]:
    providers = {**provider_config(upstream_url),
                 "gemini": {"type": "gemini", "base_url": upstream_url, "keys": [{"value": "g-key"}],
                            "models": ["gemini-*"]}}
    providers["anthropic"]["models"] = ["claude-*"]
    providers["openai"]["models"] = ["gpt-*"]
    return {"providers": providers, "admin": {"token": "admin-secret"},
            "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"}, "costlog": {"flush_interval": "10ms"},
            "governance": {"mode": "soft", "virtual_keys": {
                "shared": {"key": SECRET, "budgets": [{"limit": LIMIT, "reset": "monthly"}]}}}}


async def run(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(*argv, cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE,
                                                   stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 180)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, output.decode(errors="replace")


async def claude(gw: Any, root: Path, prompt: str) -> tuple[int, str]:
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root / "home"), "ANTHROPIC_BASE_URL": gw.url + "/anthropic",
           "ANTHROPIC_API_KEY": SECRET, "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_MAX_RETRIES": "0"}
    return await run([str(CLIS["claude"]), "-p", prompt, "--tools", ""], root / "work", env)


async def codex(gw: Any, root: Path, prompt: str) -> tuple[int, str]:
    home = root / "codex"
    (home / "config.toml").write_text(
        f'model = "gpt-4o"\nmodel_provider = "bf"\n\n[model_providers.bf]\nname = "bifrost-py"\n'
        f'base_url = "{gw.url}/v1"\nenv_key = "BF_KEY"\nwire_api = "responses"\n')
    env = {**os.environ, "CODEX_HOME": str(home), "BF_KEY": SECRET, "HOME": str(home)}
    return await run([str(CLIS["codex"]), "exec", "--skip-git-repo-check", prompt], home, env)


async def gemini(gw: Any, root: Path, prompt: str) -> tuple[int, str]:
    (root / "home" / ".gemini" / "settings.json").write_text(
        '{"security": {"auth": {"selectedType": "gemini-api-key"}}}')
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(root / "home"), "GOOGLE_GEMINI_BASE_URL": gw.url + "/gemini",
           "GEMINI_API_KEY": SECRET, "GEMINI_CLI_TRUST_WORKSPACE": "true", "NO_COLOR": "1"}
    return await run([str(CLIS["gemini"]), "-m", "gemini-2.5-pro", "-p", prompt], root / "work", env)


AGENTS = {"claude-code": claude, "codex": codex, "gemini-cli": gemini}


async def api(gw: Any, path: str, **params: Any) -> Any:
    status, _, body = await gw.get("/api" + path, headers=ADMIN, params=params)
    assert status == 200, body
    return json.loads(body)


async def spent(gw: Any) -> float:
    return float((await api(gw, "/governance/keys/shared/usage"))["budgets"][0]["spent"])


async def test_three_clis_on_one_key_hit_one_budget(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    for folder in ("home/.gemini", "work", "codex"):
        (tmp_path / folder).mkdir(parents=True)
    gw = await start_gateway(settings(mock_upstream.url, tmp_path), plugins=[bifrost_governance, bifrost_costlog],
                             builtins=False)
    answered: dict[str, int] = dict.fromkeys(AGENTS, 0)
    for turn in range(9):
        name = list(AGENTS)[turn % 3]
        if await spent(gw) >= LIMIT:
            break
        code, output = await AGENTS[name](gw, tmp_path, f"Spend some budget, turn {turn}")
        assert code == 0 and "Mock answer to:" in output, f"{name}: {output[-3000:]}"
        answered[name] += 1
    assert all(answered.values()), answered   # each CLI's first request was answered
    assert await spent(gw) >= LIMIT

    for name, agent in AGENTS.items():
        code, output = await agent(gw, tmp_path, "One more, please")
        assert code != 0 and REFUSED in output, f"{name}: {output[-3000:]}"
        assert "402" in output, f"{name}: {output[-3000:]}"

    # the key's spend is what the three clients spent, as the cost log tells them apart
    usage = await api(gw, "/governance/keys/shared/usage")
    assert usage["currency"] == "USD" and usage["budgets"][0]["limit"] == LIMIT
    total = usage["budgets"][0]["spent"]
    by_client: dict[str, Any] = {}
    for _ in range(300):
        by_client = {g["group"]: g for g in (await api(gw, "/usage", by="client"))["groups"]}
        if set(by_client) >= set(AGENTS) and sum(g["cost_usd"] for g in by_client.values()) >= total - 1e-6:
            break
        await asyncio.sleep(0.02)
    assert set(by_client) == set(AGENTS), by_client
    assert all(by_client[name]["cost_usd"] > 0 for name in AGENTS), by_client
    assert sum(g["cost_usd"] for g in by_client.values()) == pytest.approx(total, abs=1e-6), (total, by_client)
