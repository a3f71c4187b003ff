"""bifrost-py built-in plugin: governance — virtual keys, four-tier budgets that never overshoot,
rate limits, max_concurrent and model access (docs/governance.md).

Section `governance:` of the config; counters in memory with write-behind to the database at
`storage.logs`, or in Redis (`storage.redis`) to share them between instances.
"""

from __future__ import annotations

from typing import Any

from .plugin import GovernancePlugin

PLUGIN_NAME = "governance"

__all__ = ["PLUGIN_NAME", "GovernancePlugin", "bifrost_plugin"]


def bifrost_plugin(gateway: Any) -> GovernancePlugin:
    """A fresh plugin for each Gateway."""
    return GovernancePlugin(gateway)
