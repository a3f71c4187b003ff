"""Routing rules on the client app (`when: {client: codex}`), and the client names that rules
and reports use: one stable name per app, whatever its release or mode."""

from __future__ import annotations

import sqlite3

import pytest
from test_routing_rules import HAIKU, body, gateway, make_call, route

from bifrost_py.clients import client_name, client_sql
from bifrost_py.configschema import ConfigError
from bifrost_py.context import Target
from bifrost_py.inbound import client_app

AGENTS = {
    "codex_exec/0.171.0 (Debian 12; x86_64) xterm": "codex",
    "codex_cli_rs/0.171.0 (Mac OS 15.1; arm64)": "codex",
    "GeminiCLI-tui/0.61.0/gemini-2.5-pro (linux; x64)": "gemini-cli",
    "GeminiCLI/0.61.0/gemini-2.5-flash-lite (linux; x64)": "gemini-cli",
    "claude-cli/2.1.3 (external, cli)": "claude-code",
    "OpenAI/Python 1.99.0": "openai-sdk",
    "AsyncOpenAI/Python 1.99.0": "openai-sdk",
    "Anthropic/Python 0.60.0": "anthropic-sdk",
    "google-genai-sdk/1.30.0 gl-python/3.11.7": "google-genai-sdk",
    "MyTool/3.1": "mytool/3.1",
}


@pytest.mark.parametrize(("agent", "name"), AGENTS.items())
def test_client_names_from_user_agents_agree_in_python_and_sql(agent: str, name: str) -> None:
    app = client_app(agent)
    assert client_name(app) == name
    database = sqlite3.connect(":memory:")
    assert database.execute(f"SELECT {client_sql('?1')}", (app,)).fetchone()[0] == name


def test_no_user_agent_is_no_client() -> None:
    assert client_name(None) == ""
    assert sqlite3.connect(":memory:").execute(f"SELECT {client_sql('NULL')}").fetchone()[0] == ""


async def test_a_rule_on_the_client_routes_only_that_client() -> None:
    gw = gateway({"rules": [{"name": "codex-to-haiku", "when": {"client": "codex"}, "to": HAIKU}]})
    codex = make_call(body(), headers={"user-agent": "codex_exec/0.171.0 (Linux)"})
    codex.client_app = client_app("codex_exec/0.171.0 (Linux)")
    other = make_call(body(), headers={"user-agent": "claude-cli/2.1.3"})
    other.client_app = client_app("claude-cli/2.1.3")
    assert (await route(gw, codex))[0] == Target("anthropic", "claude-haiku-4-5", rule="codex-to-haiku")
    assert (await route(gw, other))[0].model == "claude-sonnet-4-5"
    assert (await route(gw, make_call(body())))[0].model == "claude-sonnet-4-5"     # no user agent


async def test_a_client_glob_may_name_the_user_agent_word() -> None:
    gw = gateway({"rules": [{"when": {"client": ["gemini-*", "codex_exec/*"]}, "to": HAIKU}]})
    call = make_call(body())
    call.client_app = "codex_exec/0.171.0"
    assert (await route(gw, call))[0].model == "claude-haiku-4-5"


def test_a_client_that_is_not_text_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        gateway({"rules": [{"when": {"client": 7}, "to": HAIKU}]})
    assert "routing.rules[0].when.client" in str(caught.value)
