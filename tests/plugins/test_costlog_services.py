"""The cost log on the gateway's services: its log is the database `gateway.storage` opened for
`storage.logs` (shared with any plugin naming the same URL, relative to the config file's
folder, closed by the gateway), retention and the rollup build are `gateway.every` tasks, and
its admin routes answer bad parameters and a stopped log like every other plugin's."""

from __future__ import annotations

import asyncio
from pathlib import Path

import bifrost_costlog
from bifrost_costlog.plugin import CostLog
from bifrost_costlog.settings import read_settings

from bifrost_py.config import config_from_dict
from bifrost_py.gateway import Gateway
from bifrost_py.settings import load_settings


def gateway(folder: Path, **costlog: object) -> tuple[Gateway, CostLog]:
    config = config_from_dict({"storage": {"logs": "sqlite:///logs/requests.db"}, "costlog": costlog,
                               "logging": {"retention": "30d"}}, base_dir=folder)
    made = Gateway(config, plugins=[bifrost_costlog], builtins=False)
    plugin = next(i.plugin for i in made.plugins.ordered() if isinstance(i.plugin, CostLog))
    return made, plugin


async def test_the_log_is_the_shared_database_of_its_url(tmp_path: Path) -> None:
    made, plugin = gateway(tmp_path)
    await made.start()
    try:
        path = tmp_path / "logs" / "requests.db"
        assert made.storage.opened() == [f"sqlite:///{path}"]  # relative to the config's folder
        assert path.exists()
        same = await made.storage.sqlite(f"sqlite:///{path}")  # another plugin naming the file
        assert plugin.store is not None and plugin.store.db is same  # type: ignore[attr-defined]
        names = {periodic.name for periodic in made.periodic}
        assert {"costlog: retention", "costlog: building the usage rollup"} <= names
    finally:
        await made.stop()
    assert plugin.store is None and plugin.writer is None
    assert made.storage.opened() == []  # closed once, by the gateway


async def test_the_rollup_build_ends_by_itself(tmp_path: Path) -> None:
    made, _ = gateway(tmp_path)
    await made.start()
    try:
        build = next(p for p in made.periodic if p.name == "costlog: building the usage rollup")
        for _ in range(200):
            if not build.running:
                break
            await asyncio.sleep(0.01)
        assert not build.running and build.rounds >= 1  # DONE: a new log has nothing to build
    finally:
        await made.stop()


def test_settings_follow_the_one_convention(tmp_path: Path) -> None:
    made, plugin = gateway(tmp_path, batch_size=50, flush_interval="20ms")
    assert plugin.settings.batch_size == 50 and plugin.settings.flush_interval == 0.02
    assert plugin.settings.retention == 30 * 86400.0  # from logging:
    again = load_settings(made, "costlog", read_settings)
    assert again == plugin.settings
