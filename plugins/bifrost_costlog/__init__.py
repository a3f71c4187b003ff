"""bifrost-py built-in plugin: the cost log.

Prices every attempt from the genai-prices catalogue (with `pricing:` overrides), writes one row
per attempt to SQLite or PostgreSQL off the request path, serves the log and its aggregates on
the admin API (/api/logs, /api/usage, ...), implements `bifrost-py report`, and exports
Prometheus metrics. See docs/costs-and-logs.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plugin import CostLog

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

PLUGIN_NAME = "costlog"
CONFIG_SECTIONS = ("costlog", "logging")  # claimed also while the plugin is disabled


def bifrost_plugin(gateway: Gateway) -> CostLog:
    """A fresh plugin for each Gateway (no state at module level)."""
    return CostLog(gateway)


__all__ = ["CONFIG_SECTIONS", "PLUGIN_NAME", "CostLog", "bifrost_plugin"]
