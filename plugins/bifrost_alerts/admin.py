"""The alerts' admin API: history with deliveries, deliveries alone, the settings, a test alert."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    body_field,
    choice,
    flag,
    json_body,
    json_response,
    require_started,
    whole_number,
)

if TYPE_CHECKING:
    from aiohttp import web

    from .plugin import AlertsBase

KINDS = ("budget", "spend_rate", "loop", "test", "report")


def admin_routes(plugin: AlertsBase) -> list[AdminRoute]:
    async def history(request: web.Request) -> web.Response:
        limit = whole_number(request.query, "limit", default=100, minimum=1, maximum=1000) or 100
        kind = choice(request.query, "kind", KINDS)
        if not plugin.active:
            return json_response({"alerts": [], "active": False})
        store = require_started(plugin.store, "alerts")
        return json_response({"alerts": await store.history(limit, kind), "active": True})

    async def deliveries(request: web.Request) -> web.Response:
        limit = whole_number(request.query, "limit", default=100, minimum=1, maximum=1000) or 100
        failed = flag(request.query, "failed", default=False)
        if not plugin.active:
            return json_response({"deliveries": []})
        store = require_started(plugin.store, "alerts")
        return json_response({"deliveries": await store.deliveries(limit, failed)})

    async def settings(request: web.Request) -> web.Response:
        return json_response(plugin.status())

    async def send_test(request: web.Request) -> web.Response:
        body = await json_body(request, hint='{"channel": "finance-hook"} (or {} for every channel)') \
            if request.can_read_body else {}
        channel = body_field(body, "channel", str)
        if channel is not None and channel not in plugin.settings.channels:
            known = ", ".join(plugin.settings.channels) or "none are configured"
            raise AdminError(404, f"no alert channel named {channel!r} (channels: {known})", type="not_found_error")
        if not plugin.settings.channels:
            raise AdminError(409, "no alert channels are configured (alerts.channels)", type="invalid_request_error")
        require_started(plugin.outbox, "alerts")
        message, sent = await plugin.send_test(channel)
        return json_response({"id": message.id, "deliveries": [asdict(d) for d in sent]},
                             status=200 if all(d.ok for d in sent) else 502)

    return [
        AdminRoute("GET", "/alerts", history, "Alerts: the alerts sent, newest first, with their deliveries",
                   params={"limit": "at most this many (1-1000, default 100)", "kind": " | ".join(KINDS)},
                   tag="alerts"),
        AdminRoute("GET", "/alerts/deliveries", deliveries, "Alerts: every delivery attempt's result",
                   params={"limit": "at most this many (1-1000)", "failed": "only failed deliveries"}, tag="alerts"),
        AdminRoute("GET", "/alerts/config", settings, "Alerts: channels, thresholds, guards and report schedules "
                   "(secrets masked)", tag="alerts"),
        AdminRoute("POST", "/alerts/test", send_test, "Alerts: send a test alert to one channel (or all) and "
                   "answer with each delivery", body={"type": "object", "properties": {"channel": {"type": "string"}}},
                   tag="alerts"),
    ]
