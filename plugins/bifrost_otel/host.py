"""What this plugin uses of the gateway, described as protocols.

The plugin is written against the public plugin API only: the names `bifrost_py` exports and
what docs/plugins.md documents of the `gateway` object (`plugin_section(name)`, `prices`). The
core's classes behind them (the Gateway, a config Section, the PriceBook) are not among the
exported names, so the parts used here are typed structurally instead of imported.
"""

from __future__ import annotations

import builtins
from typing import Any, Protocol

from bifrost_py import Usage


class ConfigSection(Protocol):
    """A section of the config file (`gateway.plugin_section(name)`): its getters record problems
    with their path in the file, `done()` reports the keys nobody read."""

    def bool(self, key: builtins.str, default: Any = ...) -> Any: ...

    def str(self, key: builtins.str, default: Any = ..., *, choices: tuple[builtins.str, ...] | None = None) -> Any: ...

    def error(self, key: builtins.str | None, message: builtins.str) -> None: ...

    def done(self) -> None: ...


class Prices(Protocol):
    """`gateway.prices`: USD prices from the catalogue plus the config's `pricing:`."""

    def cost(self, model: str, provider_type: str | None, usage: Usage) -> float | None: ...


class Host(Protocol):
    """The gateway, as far as this plugin needs it."""

    @property
    def prices(self) -> Prices: ...

    def plugin_section(self, name: str) -> ConfigSection: ...
