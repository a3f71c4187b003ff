"""Config: interpolation from the environment, and strict validation that names the path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.config import config_from_dict, interpolate, parse_config
from bifrost_py.configschema import ConfigError, parse_duration

NAME = st.from_regex(r"[A-Z_][A-Z0-9_]{0,10}", fullmatch=True)
PLAIN = st.text(st.characters(blacklist_characters="${}", blacklist_categories=("Cs",)), max_size=20)


@given(NAME, PLAIN, PLAIN, PLAIN)
def test_interpolation_replaces_set_variables(name: str, value: str, before: str, after: str) -> None:
    assert interpolate(f"{before}${{{name}}}{after}", {name: value}) == before + value + after


@given(NAME, PLAIN, PLAIN)
def test_interpolation_default_when_unset_or_empty(name: str, default: str, before: str) -> None:
    text = f"{before}${{{name}:-{default}}}"
    assert interpolate(text, {}) == before + default
    assert interpolate(text, {name: ""}) == before + default
    assert interpolate(f"${{{name}}}", {}) == ""


def test_interpolated_values_cannot_inject_yaml() -> None:
    config = parse_config("admin: {token: '${T}'}", environ={"T": "x\nserver: {port: 1}"})
    assert config.admin_token == "x\nserver: {port: 1}"
    assert config.port == 8080


def test_full_contract_sketch_parses() -> None:
    config = parse_config(
        """
server: {host: 127.0.0.1, port: 8080, workers: 1, max_body_mb: 32}
admin: {token: "${BIFROST_ADMIN_TOKEN:-}"}
storage: {logs: "sqlite:///bifrost.db", redis: null}
currency: {code: INR, per_usd: 84.0}
providers:
  anthropic: {type: anthropic, models: ["claude-*"], keys: [{value: "${ANTHROPIC_API_KEY}", weight: 1}]}
  bedrock:
    type: bedrock
    region: us-east-1
    access_key_id: "${AWS_ACCESS_KEY_ID}"
    secret_access_key: "${AWS_SECRET_ACCESS_KEY}"
    models: {claude-sonnet-4-20250514: "us.anthropic.claude-sonnet-4-20250514-v1:0"}
  openai: {type: openai, keys: [{value: "${OPENAI_API_KEY}"}]}
logging: {bodies: false, retention: 90d}
pricing:
  my-finetune: {input: 1.0, output: 4.0, cache_read: 0.1, cache_write: 1.25}
""",
        environ={"ANTHROPIC_API_KEY": "sk-a"},
    )
    assert config.currency_code == "INR" and config.currency_per_usd == 84.0
    assert config.providers["anthropic"].keys[0].value == "sk-a"
    assert config.providers["bedrock"].model_map["claude-sonnet-4-20250514"].endswith("v1:0")
    assert config.providers["openai"].base_url == "https://api.openai.com/v1"
    assert config.sections["logging"] == {"bodies": False, "retention": "90d"}  # the cost log reads it
    assert config.pricing["my-finetune"]["output"] == 4.0


def test_every_problem_is_reported_with_its_path() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(
            """
server: {port: "eighty", colour: blue}
providers:
  a: {type: anthropc, keys: [{value: k, wieght: 2}]}
storage: {logs: "mysql://x"}
"""
        )
    problems = "\n".join(caught.value.problems)
    assert "server.port: expected a whole number" in problems
    assert "server.colour: unknown key" in problems
    assert "providers.a.type: must be one of" in problems
    assert "providers.a.keys[0].wieght: unknown key" in problems
    assert "storage.logs: must be a sqlite" in problems


def test_invalid_yaml_is_one_clear_problem() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("server: [unclosed")
    assert "not valid YAML" in caught.value.problems[0]


@pytest.mark.parametrize("text,seconds", [("30s", 30), ("5m", 300), ("12h", 43200), ("7d", 604800), ("250ms", 0.25), (15, 15)])
def test_durations(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError):
        parse_duration("soon")


def test_relative_paths_are_relative_to_the_config_files_folder(tmp_path: Path, monkeypatch: Any) -> None:
    from bifrost_py.config import load_config

    (tmp_path / "conf").mkdir()
    file = tmp_path / "conf" / "gateway.yaml"
    file.write_text("storage: {logs: 'sqlite:///data/logs.db'}\n")
    monkeypatch.chdir(tmp_path)
    config = load_config(Path("conf/gateway.yaml"))
    assert config.base_dir == tmp_path / "conf"
    assert config.logs_url == f"sqlite:///{tmp_path}/conf/data/logs.db"
    assert config.resolve("cache.db") == tmp_path / "conf" / "cache.db"
    assert config.resolve("/var/x.db") == Path("/var/x.db")
    assert load_config(file).logs_url == config.logs_url  # the same from anywhere


def test_sqlite_urls_that_need_no_folder_are_kept() -> None:
    from bifrost_py.config import resolve_sqlite_url

    assert resolve_sqlite_url("sqlite:////var/lib/b.db", Path("/etc")) == "sqlite:////var/lib/b.db"
    assert resolve_sqlite_url("sqlite:///:memory:", Path("/etc")) == "sqlite:///:memory:"
    assert resolve_sqlite_url("postgresql://u@h/db", Path("/etc")) == "postgresql://u@h/db"
    assert config_from_dict({}, base_dir=Path("/srv/gw")).logs_url == "sqlite:////srv/gw/bifrost.db"
