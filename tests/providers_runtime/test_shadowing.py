"""Warnings for a `models:` list that takes a family from another provider (shadowing.py), and
`bifrost-py check` printing them."""

from __future__ import annotations

from pathlib import Path

import pytest

from bifrost_py.cli import main
from bifrost_py.config import parse_config
from bifrost_py.shadowing import shadow_warnings


def warnings(yaml: str) -> list[tuple[str, str]]:
    return list(shadow_warnings(parse_config(yaml).providers))


def test_a_bedrock_claude_glob_takes_claude_from_the_anthropic_provider() -> None:
    found = warnings("""
providers:
  anthropic: {type: anthropic, keys: [{value: k}]}
  bedrock: {type: bedrock, models: ["claude-*"]}
""")
    assert [name for name, _ in found] == ["bedrock"]
    assert "takes claude-* requests" in found[0][1] and "'anthropic'" in found[0][1]


@pytest.mark.parametrize("models", ['["claude-sonnet-*"]', '["*"]', '{claude-sonnet-4-20250514: us.anthropic.x}'])
def test_narrower_patterns_and_mappings_that_take_today_s_models_warn_too(models: str) -> None:
    assert warnings(f"""
providers:
  anthropic: {{type: anthropic}}
  bedrock: {{type: bedrock, models: {models}}}
""")


@pytest.mark.parametrize("yaml", [
    # nobody else serves the family
    "providers: {bedrock: {type: bedrock, models: ['claude-*']}}",
    # the Anthropic provider lists its own models: nothing is taken by default
    "providers: {anthropic: {type: anthropic, models: ['claude-opus-*']}, bedrock: {type: bedrock, models: ['claude-sonnet-*']}}",
    # another family
    "providers: {anthropic: {type: anthropic}, groq: {type: openai, models: ['llama-*']}}",
])
def test_no_warning_when_nothing_is_taken(yaml: str) -> None:
    assert warnings(yaml) == []


def test_check_prints_the_warning_and_still_passes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text("providers:\n  anthropic: {type: anthropic}\n  bedrock: {type: bedrock, models: ['claude-*']}\n"
                      "plugins: {disable: [governance, costlog, cache, routing, failover]}\n")
    assert main(["check", "-c", str(config)]) == 0
    out = capsys.readouterr().out
    assert "ok (2 providers" in out and "warning: providers.bedrock.models: 'claude-*' takes claude-* requests" in out
