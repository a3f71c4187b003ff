"""`GET /api/failover`: the live state of every circuit and provider key, and the settings in
force. (`/api/providers` shows the same circuits under each provider's `state.circuit`.)"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bifrost_py.admin import AdminRoute, json_response

if TYPE_CHECKING:
    from .plugin import FailoverPlugin


def failover_route(plugin: FailoverPlugin) -> AdminRoute:
    async def handler(request: web.Request) -> web.StreamResponse:
        return json_response(state(plugin))

    return AdminRoute("GET", "/failover", handler, "Failover: circuit of each target, provider keys, settings",
                      tag="failover")


def state(plugin: FailoverPlugin) -> dict[str, Any]:
    board = plugin.board
    settings = asdict(plugin.settings)
    settings["on_status"] = sorted(settings["on_status"])
    return {
        "circuits": [
            {"provider": provider, "model": model, **board.snapshot((provider, model))}
            for provider, model in board.targets()
        ],
        "keys": {name: provider.keys.describe() for name, provider in plugin.gateway.providers.items()},
        "settings": settings,
    }
