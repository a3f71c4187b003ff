"""The files of a new plugin package, by path: `{name}` and `{package}` are filled in.

Kept as Python strings so that they ship inside the wheel with no package-data rule.
"""

FILES = {
    "pyproject.toml": r'''[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = "{package}"
version = "0.1.0"
description = "A bifrost-py plugin: {name}"
requires-python = ">=3.11"
dependencies = ["bifrost-py"]

[project.optional-dependencies]
test = ["pytest>=8"]

# What makes bifrost-py load it: every installed package with an entry point in this group.
[project.entry-points.bifrost_py]
{name} = "{package}"

[tool.setuptools.packages.find]
where = ["src"]
''',
    "README.md": r'''# {package}

A [bifrost-py](https://github.com/) plugin. Try it:

```sh
pytest                      # its test: a gateway and a mock provider on loopback
pip install -e .            # from now on every bifrost-py in this environment loads it
bifrost-py plugins          # lists {name} with its hooks and their order
```

Without installing, a config can load it by import path (`plugins: [{package}]`, with `src/` on
`PYTHONPATH`) or as a folder relative to the config file (`plugins: [./src/{package}]`).
The hooks, their arguments and their order are in bifrost-py's docs/plugins.md.
''',
    "conftest.py": r'''"""Lets `pytest` import the plugin from src/ before it is installed."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent / "src"))
''',
    "src/{package}/__init__.py": r'''"""bifrost-py plugin `{name}`: tags every answer with an `x-{name}` header.

Replace the hook with your own; docs/plugins.md of bifrost-py lists every hook. Per-gateway state
lives on the Plugin instance (`bifrost_plugin` makes one per gateway), never at module level.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_py import Call, hookimpl

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

PLUGIN_NAME = "{name}"
HEADER = "x-{name}"


class Plugin:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        """Every request: add a response header (a plugin may also refuse here, or reply)."""
        call.response_headers[HEADER] = "seen"


def bifrost_plugin(gateway: Gateway) -> Plugin:
    """A fresh plugin for each gateway."""
    return Plugin(gateway)
''',
    "tests/test_{name}.py": r'''"""The plugin in a real gateway, in front of bifrost-py's mock provider, both on loopback."""

import asyncio

import {package}
from bifrost_py.testing import provider_config, running_gateway, running_mock_upstream

MESSAGE = {"model": "claude-sonnet-4-20250514", "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}


async def scenario() -> tuple[int, dict[str, str]]:
    async with running_mock_upstream() as upstream:
        config = {"providers": provider_config(upstream.url)}
        async with running_gateway(config, plugins=[{package}], builtins=False) as gw:
            status, headers, _ = await gw.post("/anthropic/v1/messages", json=MESSAGE)
            return status, headers


def test_every_answer_carries_the_header() -> None:
    status, headers = asyncio.run(scenario())
    assert status == 200
    assert headers.get({package}.HEADER) == "seen"
''',
}
