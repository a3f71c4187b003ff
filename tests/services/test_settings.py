"""`load_settings`: a plugin's typed settings from its own section, unknown keys reported with
their path, relative paths relative to the config file's folder."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.config import config_from_dict, load_config
from bifrost_py.configschema import ConfigError, Section
from bifrost_py.gateway import Gateway
from bifrost_py.hookspecs import hookimpl
from bifrost_py.settings import config_path, load_settings, resolve_path


@dataclass(frozen=True)
class DemoSettings:
    ttl: float
    journal: Path | None
    spool: Path | None


def read_settings(section: Section, gateway: Gateway) -> DemoSettings:
    return DemoSettings(ttl=section.duration("ttl", 60.0), journal=config_path(section, "journal", gateway),
                        spool=config_path(section, "spool", gateway, default="spool"))


class Demo:
    settings: DemoSettings | None = None

    @hookimpl
    def bifrost_configure(self, gateway: Gateway) -> None:
        self.settings = load_settings(gateway, "demo", read_settings)


def gateway(data: dict[str, Any], base_dir: Path | None = None) -> tuple[Gateway, Demo]:
    config = config_from_dict({"providers": {"mock": {"type": "mock"}}, **data})
    if base_dir is not None:
        config.base_dir = base_dir
    demo = Demo()
    return Gateway(config, plugins=[demo], builtins=False), demo


def test_typed_settings_with_paths_relative_to_the_config_folder(tmp_path: Path) -> None:
    _, demo = gateway({"demo": {"ttl": "5m", "journal": "data/journal.db"}}, base_dir=tmp_path)
    assert demo.settings == DemoSettings(ttl=300.0, journal=tmp_path / "data" / "journal.db",
                                         spool=tmp_path / "spool")


def test_an_absent_section_gives_the_defaults(tmp_path: Path) -> None:
    _, demo = gateway({}, base_dir=tmp_path)
    assert demo.settings == DemoSettings(ttl=60.0, journal=None, spool=tmp_path / "spool")


def test_unknown_keys_and_wrong_types_are_reported_with_their_path() -> None:
    with pytest.raises(ConfigError) as caught:
        gateway({"demo": {"ttl": "soon", "jornal": "x.db"}})
    assert caught.value.problems == [
        "demo.ttl: expected a duration like 30s, 5m, 12h or 7d, got 'soon'",
        "demo.jornal: unknown key",
    ]


def test_paths_are_relative_to_the_config_file_wherever_the_gateway_starts(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "conf"
    folder.mkdir()
    (folder / "bifrost.yaml").write_text("providers:\n  mock: {type: mock}\ndemo:\n  journal: j.db\n")
    monkeypatch.chdir(tmp_path)
    demo = Demo()
    Gateway(load_config(folder / "bifrost.yaml"), plugins=[demo], builtins=False)
    assert demo.settings is not None and demo.settings.journal == folder / "j.db"


def test_absolute_and_home_paths_stay_themselves(tmp_path: Path) -> None:
    gw, _ = gateway({}, base_dir=tmp_path)
    assert resolve_path(gw, "/var/x.db") == Path("/var/x.db")
    assert resolve_path(gw, "~/x.db") == Path.home() / "x.db"
