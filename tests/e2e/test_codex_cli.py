"""The real Codex CLI (`codex exec`) through the gateway, configured as docs/agents.md says:
answering a prompt and completing a tool round trip, through an `openai` provider (the
Responses API passed through) and through an `anthropic` provider (translated both ways), both
the mock upstream. Skipped when the CLI is not installed (CI installs it: .ci/run)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest

from bifrost_py.testing import provider_config

CODEX = shutil.which("codex")
pytestmark = pytest.mark.skipif(CODEX is None, reason="Codex CLI is not installed")
TARGETS = [("gpt-4o", "/v1/responses"), ("claude-sonnet-4-6", "/v1/messages")]


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any) -> Any:
    gateway = await start_gateway({"providers": provider_config(mock_upstream.url)}, builtins=False)
    gateway.upstream = mock_upstream
    return gateway


async def codex(gw: Any, home: Path, model: str, prompt: str, key: str = "vk-test") -> tuple[int, str]:
    """`codex exec` against the gateway with a throw-away CODEX_HOME; (exit code, output)."""
    home.mkdir(exist_ok=True)
    (home / "config.toml").write_text(
        f'model = "{model}"\nmodel_provider = "bf"\n\n[model_providers.bf]\nname = "bifrost-py"\n'
        f'base_url = "{gw.url}/v1"\nenv_key = "BF_KEY"\nwire_api = "responses"\n'
    )
    env = {**os.environ, "CODEX_HOME": str(home), "BF_KEY": key, "HOME": str(home)}
    assert CODEX is not None
    process = await asyncio.create_subprocess_exec(
        CODEX, "exec", "--skip-git-repo-check", prompt, cwd=home, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 120)
    return process.returncode or 0, output.decode(errors="replace")


async def model_requests(gw: Any, path: str) -> list[dict[str, Any]]:
    records = orjson.loads((await gw.upstream.get("/_mock/requests"))[2])
    return [orjson.loads(r["body"]) for r in records if r["path"] == path]


@pytest.mark.parametrize(("model", "path"), TARGETS)
async def test_codex_answers_a_prompt(gw: Any, tmp_path: Path, model: str, path: str) -> None:
    code, output = await codex(gw, tmp_path / "home", model, "Say hello to the gateway")
    assert code == 0, output
    assert "Mock answer to: Say hello to the gateway" in output
    assert len(await model_requests(gw, path)) == 1


@pytest.mark.parametrize(("model", "path"), TARGETS)
async def test_codex_completes_a_tool_round_trip(gw: Any, tmp_path: Path, model: str, path: str) -> None:
    code, output = await codex(gw, tmp_path / "home", model, "Use a tool please [[tool]]")
    assert code == 0, output
    requests = await model_requests(gw, path)
    assert len(requests) == 2, output  # the call, then its output going back
    last = orjson.dumps(requests[-1]).decode()
    if path == "/v1/responses":
        assert '"type":"function_call_output"' in last
    else:
        assert '"type":"tool_result"' in last
    assert "Mock answer to:" in output.rsplit("codex", 1)[-1]


async def test_codex_and_an_sdk_on_one_virtual_key_share_its_budget(start_gateway: Any, mock_upstream: Any,
                                                                    tmp_path: Path) -> None:
    import anthropic
    import bifrost_governance

    key = {"key": "vk-dev-secret", "budget": {"limit": 0.1, "reset": "monthly"}}
    gw = await start_gateway({
        "providers": provider_config(mock_upstream.url), "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
        "governance": {"virtual_keys": {"dev": key}},
    }, plugins=[bifrost_governance], builtins=False)
    code, output = await codex(gw, tmp_path / "home", "gpt-4o", "Spend some budget", "vk-dev-secret")
    assert code == 0 and "Mock answer to: Spend some budget" in output, output
    code, output = await codex(gw, tmp_path / "home", "claude-sonnet-4-6", "Spend some more", "vk-dev-secret")
    assert code != 0 and "budget exhausted for virtual key 'dev'" in output, output
    # what Codex spent is the key's: a Claude request whose worst case no longer fits is refused too
    claude = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-dev-secret", max_retries=0)
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude.messages.create(model="claude-sonnet-4-6", max_tokens=8000,
                                     messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 402
