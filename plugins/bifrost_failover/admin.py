"""`GET /api/failover`: the live state of every circuit and provider key, and the settings in
force. (`/api/providers` shows the same circuits under each provider's `state.circuit`.)

`/api/failover/chains[/{model}]`: the chains in the order they are looked up; add, replace,
delete and order the ones added at run time (editing.py, bifrost_py/admin/editable.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bifrost_py.admin import AdminRoute, json_response, shown_keys
from bifrost_py.admin.editable import editable_routes

from .editing import ORDER

if TYPE_CHECKING:
    from .plugin import FailoverPlugin


CHAIN_BODY = {
    "type": "object",
    "required": ["model", "chain"],
    "properties": {
        "model": {"type": "string", "description": "a model name or glob (claude-*)"},
        "chain": {"type": "array", "items": {"type": "string"},
                  "description": "providers (same model), provider/model, or model names, tried in order"},
    },
}
CHAIN_HINT = '{"model": "claude-sonnet-4-5", "chain": ["bedrock", "openai/gpt-4o"]}'


def routes(plugin: FailoverPlugin) -> list[AdminRoute]:
    editing = [] if plugin.editable is None else editable_routes(
        plugin.editable, "/failover/chains", plural="chains", order=ORDER, body=CHAIN_BODY, hint=CHAIN_HINT,
        tag="failover")
    return [failover_route(plugin), *editing]


def failover_route(plugin: FailoverPlugin) -> AdminRoute:
    async def handler(request: web.Request) -> web.StreamResponse:
        found = state(plugin)
        found["keys"] = {name: shown_keys(request, keys) for name, keys in found["keys"].items()}  # admins: masked text
        return json_response(found)

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
