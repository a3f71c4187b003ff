"""bifrost-py built-in plugin: failover — fallback chains, retries, key rotation, circuit breakers.

Configured by the `failover:` section; see docs/failover.md. Registered through the `bifrost_py`
entry-point group like any third-party plugin, and imports nothing but `bifrost_py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plugin import FailoverPlugin

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

PLUGIN_NAME = "failover"

__all__ = ["PLUGIN_NAME", "FailoverPlugin", "bifrost_plugin"]


def bifrost_plugin(gateway: Gateway) -> FailoverPlugin:
    """A fresh plugin per Gateway: breakers and metrics are never shared between gateways."""
    return FailoverPlugin(gateway)
