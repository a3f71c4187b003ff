"""The alerts' admin API: history with deliveries, deliveries alone, the settings, a test alert,
and the channels, reports, thresholds and guards changed at run time (runtime.py).

    POST   /alerts/channels          add a channel: its settings as under alerts.channels.NAME,
                                     plus "name" and "enabled" (default true)
    GET    /alerts/channels/{name}   one channel, secrets masked
    PATCH  /alerts/channels/{name}   change the fields given (null removes one; a secret left
                                     out is kept); {"enabled": false} disables it
    DELETE /alerts/channels/{name}   delete a channel added here (409 while a report sends to it)
    POST   /alerts/reports, GET/PATCH/DELETE /alerts/reports/{name}: the same for scheduled reports
                                     (their settings as under reports.NAME)
    GET    /alerts/settings          thresholds and guards, with where each comes from
    PATCH  /alerts/settings          set budget_thresholds, thresholds_for (per entity), spend_rate,
                                     loop; null puts one back to its default

A team manager reads only the alerts about their teams, and their deliveries (scope.py).
The config file's channels, reports and settings are read-only here (409). Problems are the file's
(400, worded as `bifrost-py check` words them). Every change is recorded in the audit log with
the GET of its path before and after (secrets masked).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from bifrost_py.accounts.audit import MASK
from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    body_field,
    choice,
    flag,
    json_body,
    json_response,
    principal,
    require_started,
    whole_number,
)
from bifrost_py.configstore import ChangeRefused

from .runtime import SECRET_FIELDS
from .scope import scoped_history
from .settings import REPORT_FORMATS, REPORT_GROUPS, shown_url

if TYPE_CHECKING:
    from aiohttp import web

    from .plugin import AlertsBase
    from .runtime import AlertConfig

KINDS = ("budget", "spend_rate", "loop", "test", "report")
CHANNEL_HINT = '{"name": "ops-hook", "type": "webhook", "url": "https://hooks.example.com/x", "secret": "..."}'
CHANNEL_BODY = {"type": "object", "required": ["name", "type"], "properties": {
    "name": {"type": "string"}, "type": {"enum": ["webhook", "slack", "email", "folder"]},
    "enabled": {"type": "boolean"}, "url": {"type": "string"}, "secret": {"type": "string"},
    "smtp": {"type": "string"}, "starttls": {"type": "boolean"}, "username": {"type": "string"},
    "password": {"type": "string"}, "from": {"type": "string"}, "to": {"type": "array", "items": {"type": "string"}},
    "path": {"type": "string"}, "retries": {"type": "integer"}, "backoff": {}, "timeout": {}}}
REPORT_HINT = '{"name": "weekly", "schedule": "0 9 * * MON", "timezone": "Asia/Kolkata", "send_to": ["ops-hook"]}'
REPORT_BODY = {"type": "object", "required": ["name", "schedule"], "properties": {
    "name": {"type": "string"}, "schedule": {"type": "string"}, "timezone": {"type": "string"}, "since": {},
    "by": {"enum": list(REPORT_GROUPS)}, "format": {"enum": list(REPORT_FORMATS)},
    "send_to": {"type": "array", "items": {"type": "string"}}}}
SETTINGS_BODY = {"type": "object", "properties": {
    "budget_thresholds": {"type": ["array", "null"], "items": {"type": "integer"}},
    "thresholds_for": {"type": "object", "additionalProperties": {"type": ["array", "null"]}},
    "spend_rate": {"type": ["object", "null"]}, "loop": {"type": ["object", "null"]}}}


def shown_channel_body(body: Any) -> Any:
    """A channel's request body as the channel's own answers show it (`ChannelSettings.shown`):
    the URL cut to its host and first path part (a Slack URL is itself the secret), and every
    field a channel type keeps secret (`SECRET_FIELDS`) masked. The audit log stores this copy."""
    if not isinstance(body, dict):
        return body
    secret = {field for fields in SECRET_FIELDS.values() for field in fields}
    return {k: shown_url(v) if k == "url" and isinstance(v, str) else MASK if k in secret and v else v
            for k, v in body.items()}


def admin_routes(plugin: AlertsBase) -> list[AdminRoute]:
    async def history(request: web.Request) -> web.Response:
        limit = whole_number(request.query, "limit", default=100, minimum=1, maximum=1000) or 100
        kind = choice(request.query, "kind", KINDS)
        if not plugin.active:
            return json_response({"alerts": [], "active": False})
        store = require_started(plugin.store, "alerts")
        shown = await scoped_history(plugin.gateway, principal(request),
                                     lambda n, before: store.history(n, kind, before), limit)
        return json_response({"alerts": shown, "active": True})

    async def deliveries(request: web.Request) -> web.Response:
        limit = whole_number(request.query, "limit", default=100, minimum=1, maximum=1000) or 100
        failed = flag(request.query, "failed", default=False)
        if not plugin.active:
            return json_response({"deliveries": []})
        store = require_started(plugin.store, "alerts")
        who = principal(request)
        if not who.scoped:
            return json_response({"deliveries": await store.deliveries(limit, failed)})
        # a team manager: the deliveries of the alerts they may read
        alerts = await scoped_history(plugin.gateway, who, lambda n, before: store.history(n, None, before), limit)
        found = [d for a in alerts for d in a["deliveries"] if not failed or not d["ok"]]
        return json_response({"deliveries": sorted(found, key=lambda d: d["ts"], reverse=True)[:limit]})

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

    def runtime() -> AlertConfig:
        if not plugin.active or plugin.runtime is None:
            raise AdminError(409, "alert settings cannot be changed on this gateway: it keeps no database for "
                                  "them (set admin.token, or storage.logs to PostgreSQL or an existing file) "
                                  "and has no alerts: channels; restart it once that is set",
                             type="invalid_request_error")
        return plugin.runtime

    def answering(change: Callable[[web.Request], Awaitable[Any]], status: int = 200) -> \
            Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(request: web.Request) -> web.Response:
            try:
                return json_response(await change(request), status=status)
            except ChangeRefused as exc:
                extra: dict[str, Any] = {"problems": exc.problems} if exc.problems else {}
                raise AdminError(exc.status, str(exc), **extra) from None
        return handler

    def item_routes(plural: str, what: str, label: str, body: dict[str, Any], hint: str,
                    mask: Callable[[Any], Any] | None = None) -> list[AdminRoute]:
        """POST /alerts/PLURAL and GET/PATCH/DELETE /alerts/PLURAL/{name}, on the runtime's
        create_WHAT, change_WHAT, delete_WHAT and WHAT_view."""
        item = f"/alerts/{plural}/{{name}}"

        async def create(request: web.Request) -> Any:
            return await getattr(runtime(), f"create_{what}")(await json_body(request, hint=hint))

        async def one(request: web.Request) -> Any:
            if plugin.runtime is None:
                raise ChangeRefused(404, f"no {label} named {request.match_info['name']!r}")
            return getattr(plugin.runtime, f"{what}_view")(request.match_info["name"])

        async def change(request: web.Request) -> Any:
            return await getattr(runtime(), f"change_{what}")(request.match_info["name"],
                                                              await json_body(request, hint=hint))

        async def delete(request: web.Request) -> Any:
            await getattr(runtime(), f"delete_{what}")(request.match_info["name"])
            return {"deleted": request.match_info["name"]}

        return [
            AdminRoute("POST", f"/alerts/{plural}", answering(create, 201), f"Alerts: add a {label} (in service at "
                       "once, on every instance within seconds)", body=body, tag="alerts", mask=mask),
            AdminRoute("GET", item, answering(one), f"Alerts: one {label} (secrets masked)", tag="alerts"),
            AdminRoute("PATCH", item, answering(change), f"Alerts: change a {label} added here (null removes a "
                       "field; a secret left out is kept)", body=body, tag="alerts", mask=mask),
            AdminRoute("DELETE", item, answering(delete), f"Alerts: delete a {label} added here", tag="alerts"),
        ]

    async def show_settings(request: web.Request) -> Any:
        return plugin.runtime.settings_view() if plugin.runtime is not None else {}

    async def change_settings(request: web.Request) -> Any:
        return await runtime().change_settings(
            await json_body(request, hint='{"budget_thresholds": [10, 50, 100], "thresholds_for": {"team:backend": [80]}}'))

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
                   tag="alerts", names="channel"),
        *item_routes("channels", "channel", "channel", CHANNEL_BODY, CHANNEL_HINT, shown_channel_body),
        *item_routes("reports", "report", "scheduled report", REPORT_BODY, REPORT_HINT),
        AdminRoute("GET", "/alerts/settings", answering(show_settings), "Alerts: thresholds and guards, and where "
                   "each comes from", tag="alerts"),
        AdminRoute("PATCH", "/alerts/settings", answering(change_settings), "Alerts: set thresholds (global and "
                   "per entity) and guards", body=SETTINGS_BODY, tag="alerts"),
    ]
