"""bifrost-py built-in plugin: routing — aliases, ordered rules, weighted splits, the default
model, and session stickiness.

Configured by the `routing:` section; see docs/routing.md. Registered through the `bifrost_py`
entry-point group like any third-party plugin, and imports nothing but `bifrost_py`. A custom
plugin can make the decision itself through the same `bifrost_route` hook (see
examples/custom_router/): when a plugin ordered before this one sets `call.route_rule`, this
plugin leaves its decision alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .plugin import RoutingPlugin

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

PLUGIN_NAME = "routing"

__all__ = ["PLUGIN_NAME", "RoutingPlugin", "bifrost_plugin"]


def bifrost_plugin(gateway: Gateway) -> RoutingPlugin:
    """A fresh plugin per Gateway: session memory and metrics are never shared between gateways."""
    return RoutingPlugin(gateway)
