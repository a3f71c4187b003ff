"""The client app through real sockets and the official SDKs: a routing rule on the client
(`when: {client: codex}`) sends only Codex's requests elsewhere, and `bifrost-py report --by
client` adds up Codex, Gemini CLI, Claude Code and the SDKs each under one name."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import bifrost_costlog
import bifrost_routing
import openai
from google import genai
from google.genai import types

from bifrost_py.testing import provider_config

ADMIN = {"authorization": "Bearer admin-secret"}
CODEX = "codex_exec/0.171.0 (Debian 12; x86_64) xterm-256color"
GEMINI_CLI = "GeminiCLI/0.61.0/gemini-2.5-flash (linux; x64)"
CLAUDE_CODE = "claude-cli/2.1.3 (external, cli)"


def settings(upstream_url: str, tmp_path: Path) -> dict[str, Any]:
    providers = {**provider_config(upstream_url),
                 "gemini": {"type": "gemini", "base_url": upstream_url, "keys": [{"value": "g-key"}]}}
    providers["anthropic"]["models"] = ["claude-*"]
    providers["openai"]["models"] = ["gpt-*"]
    return {"providers": providers, "admin": {"token": "admin-secret"},
            "storage": {"logs": f"sqlite:///{tmp_path}/logs.db"},
            "costlog": {"flush_interval": "10ms"},
            "routing": {"rules": [{"name": "codex-to-haiku", "when": {"client": "codex"},
                                   "to": "anthropic/claude-haiku-4-5"}]}}


def gpt(gw: Any, agent: str | None = None) -> openai.AsyncOpenAI:
    headers = {"user-agent": agent} if agent else None
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="sk-any", max_retries=0, default_headers=headers)


async def logged(gw: Any, count: int) -> list[dict[str, Any]]:
    for _ in range(300):
        status, _, body = await gw.get("/api/logs", headers=ADMIN, params={"limit": 100})
        rows = json.loads(body)["rows"] if status == 200 else []
        if len(rows) >= count:
            return rows  # type: ignore[no-any-return]
        await asyncio.sleep(0.02)
    raise AssertionError(f"expected {count} rows")


async def test_a_rule_on_the_client_and_a_report_by_client(start_gateway: Any, mock_upstream: Any,
                                                           tmp_path: Path) -> None:
    config = settings(mock_upstream.url, tmp_path)
    gw = await start_gateway(config, plugins=[bifrost_costlog, bifrost_routing], builtins=False)

    codex = await gpt(gw, CODEX).responses.with_raw_response.create(model="gpt-4o", input="hi", store=False)
    assert codex.headers["x-bf-provider"] == "anthropic" and codex.headers["x-bf-model"] == "claude-haiku-4-5"
    async with gpt(gw, CODEX).responses.stream(model="gpt-4o", input="hi again") as stream:
        assert (await stream.get_final_response()).output_text
    sdk = await gpt(gw).responses.with_raw_response.create(model="gpt-4o", input="hi")
    assert sdk.headers["x-bf-provider"] == "openai" and sdk.headers["x-bf-model"] == "gpt-4o"   # not Codex

    genai_sdk = genai.Client(api_key="any", http_options=types.HttpOptions(base_url=gw.url + "/gemini"))
    assert (await genai_sdk.aio.models.generate_content(model="gemini-2.5-flash", contents="hi")).text
    status, _, _ = await gw.post("/gemini/v1beta/models/gemini-2.5-flash:generateContent",   # as Gemini CLI sends it
                                 json={"contents": [{"role": "user", "parts": [{"text": "hi"}]}]},
                                 headers={"user-agent": GEMINI_CLI, "x-goog-api-key": "any"})
    assert status == 200
    claude = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="sk-any", max_retries=0,
                                      default_headers={"user-agent": CLAUDE_CODE})
    await claude.messages.create(model="claude-sonnet-4-5", max_tokens=50, messages=[{"role": "user", "content": "hi"}])
    rows = await logged(gw, 6)
    assert {row["client_app"] for row in rows} >= {"codex_exec/0.171.0", "claude-cli/2.1.3"}

    status, _, body = await gw.get("/api/logs", headers=ADMIN, params={"client": "codex"})
    assert status == 200 and {row["client_app"] for row in json.loads(body)["rows"]} == {"codex_exec/0.171.0"}
    status, _, body = await gw.get("/api/usage", headers=ADMIN, params={"by": "client"})
    assert status == 200 and {g["group"] for g in json.loads(body)["groups"]} >= {"codex", "gemini-cli", "claude-code"}

    path = tmp_path / "bifrost.yaml"
    path.write_text(json.dumps(config))  # JSON is YAML
    report = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "bifrost_py", "report", "-c", str(path), "--since", "1d", "--by", "client", "--format", "json"],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert report.returncode == 0, report.stderr
    requests = {group["group"]: group["requests"] for group in json.loads(report.stdout)["groups"]}
    assert requests == {"codex": 2, "openai-sdk": 1, "google-genai-sdk": 1, "gemini-cli": 1,
                        "claude-code": 1}
