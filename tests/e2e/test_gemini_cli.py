"""The real Gemini CLI (`gemini -p`) through the gateway, configured as docs/agents.md says:
answering a prompt and completing a tool round trip, through a `gemini` provider (passed
through) and through an `anthropic` provider (translated both ways), both the mock upstream.
Skipped when the CLI is not installed (CI installs it: .ci/run)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import bifrost_governance
import orjson
import pytest

GEMINI_CLI = shutil.which("gemini")
pytestmark = pytest.mark.skipif(GEMINI_CLI is None, reason="Gemini CLI is not installed")
# Gemini CLI asks for gemini-* models; the anthropic provider serves them as Claude. Through
# the gemini provider the CLI routes itself (a JSON-mode call to a flash-lite model first, which
# the mock answers in JSON as Gemini does); the mock's Anthropic answers ignore the JSON
# instruction the translation puts in the system prompt (Claude follows it), so that CLI is
# given its model and skips routing.
PROVIDERS = {
    "gemini": ("gemini", ["gemini-*"], ":streamGenerateContent", None),
    "anthropic": ("anthropic", {"gemini-*": "claude-sonnet-4-6"}, "/v1/messages", "gemini-2.5-pro"),
}


@pytest.fixture(params=list(PROVIDERS))
async def gw(request: pytest.FixtureRequest, start_gateway: Any, mock_upstream: Any) -> Any:
    kind, models, path, model = PROVIDERS[request.param]
    provider = {"type": kind, "base_url": mock_upstream.url, "keys": [{"value": "upstream-key"}], "models": models}
    gateway = await start_gateway({"providers": {kind: provider}}, builtins=False)
    gateway.upstream = mock_upstream
    gateway.model_path = path
    gateway.cli_model = model
    return gateway


async def gemini_cli(gw: Any, tmp_path: Path, prompt: str) -> tuple[int, str]:
    """`gemini -p` against the gateway with a throw-away HOME; (exit code, output)."""
    home, work = tmp_path / "home", tmp_path / "work"
    (home / ".gemini").mkdir(parents=True)
    work.mkdir()
    (home / ".gemini" / "settings.json").write_text('{"security": {"auth": {"selectedType": "gemini-api-key"}}}')
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "GOOGLE_GEMINI_BASE_URL": gw.url + "/gemini",
           "GEMINI_API_KEY": "vk-gemini-cli", "GEMINI_CLI_TRUST_WORKSPACE": "true", "NO_COLOR": "1"}
    assert GEMINI_CLI is not None
    chosen = ["-m", gw.cli_model] if gw.cli_model else []
    process = await asyncio.create_subprocess_exec(
        GEMINI_CLI, *chosen, "-p", prompt, cwd=work, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        output, _ = await asyncio.wait_for(process.communicate(), 180)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    return process.returncode or 0, output.decode(errors="replace")


async def model_calls(gw: Any) -> list[dict[str, Any]]:
    """The streamed model calls the provider got (not the CLI's small routing call)."""
    records = orjson.loads((await gw.upstream.get("/_mock/requests"))[2])
    return [orjson.loads(r["body"]) for r in records if gw.model_path in r["path"] and "stream" in r["path"] + r["body"]]


async def test_gemini_cli_answers_a_prompt(gw: Any, tmp_path: Path) -> None:
    code, output = await gemini_cli(gw, tmp_path, "Say hello to the gateway")
    assert code == 0, output
    assert "Mock answer to:" in output and "Say hello to the gateway" in output
    assert len(await model_calls(gw)) == 1


async def test_gemini_cli_completes_a_tool_round_trip(gw: Any, tmp_path: Path) -> None:
    code, output = await gemini_cli(gw, tmp_path, "Use a tool please [[tool]]")
    assert code == 0, output
    calls = await model_calls(gw)
    assert len(calls) >= 2, output  # the call, then its result going back
    sent = orjson.dumps(calls[1]).decode()
    assert ('"functionResponse"' if gw.model_path != "/v1/messages" else '"type":"tool_result"') in sent
    if gw.model_path == "/v1/messages":
        # Thinking was on (the CLI asks for thoughts): the turn that called the tool comes back
        # starting with its signed thinking block, which Anthropic requires.
        assert calls[0]["thinking"]["type"] == "enabled"
        turn = next(m for m in calls[1]["messages"] if m["role"] == "assistant")
        assert turn["content"][0]["type"] == "thinking" and turn["content"][0]["signature"]


async def test_gemini_cli_stops_at_once_on_a_spent_budget(start_gateway: Any, mock_upstream: Any, tmp_path: Path) -> None:
    """With the key's budget gone, the CLI shows the gateway's 402 and exits, without retrying."""
    provider = {"type": "gemini", "base_url": mock_upstream.url, "keys": [{"value": "upstream-key"}], "models": ["gemini-*"]}
    gw = await start_gateway({"providers": {"gemini": provider}, "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
                              "governance": {"virtual_keys": {"cli": {"key": "vk-gemini-cli",
                                                                      "budget": {"limit": 0.0001, "reset": "monthly"}}}}},
                             plugins=[bifrost_governance], builtins=False)
    gw.cli_model = "gemini-2.5-pro"
    code, output = await gemini_cli(gw, tmp_path, "Say hello")
    assert code != 0
    assert '"code":402' in output and "budget exhausted for virtual key 'cli'" in output and "RESOURCE_EXHAUSTED" in output
    assert orjson.loads((await mock_upstream.get("/_mock/requests"))[2]) == []
