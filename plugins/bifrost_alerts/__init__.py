"""bifrost-py plugin: budget alerts, runaway guards and scheduled reports.

- Budget thresholds (default 50/80/100 % of every cap) from `bifrost_budget_update`, each fired
  once per budget window across instances and restarts (marks in the shared store).
- Guards: a key's spend rate (absolute, or a multiple of its usual hourly spend) and loop
  detection per client session, optionally refusing the loop with a 429.
- Scheduled reports (`reports:`): the `bifrost-py report` content on a cron schedule.
- Channels: a signed JSON webhook, Slack-compatible webhooks, email (aiosmtplib), a folder.
- Admin API: /api/alerts (history with deliveries), /api/alerts/deliveries, /api/alerts/config,
  POST /api/alerts/test; channels, reports, thresholds and guards changed at run time
  (/api/alerts/channels, /api/alerts/reports, /api/alerts/settings), kept on the gateway's
  database and followed by every instance.

Configured by the `alerts:` and `reports:` sections; see docs/alerts-and-reports.md. Written
only against the public plugin API.
"""

from __future__ import annotations

from typing import Any

from bifrost_py.configstore import store_wanted

from .plugin import AlertsBase, AlertsPlugin, GuardedAlertsPlugin

PLUGIN_NAME = "alerts"
CONFIG_SECTIONS = ("alerts", "reports")

__all__ = ["CONFIG_SECTIONS", "PLUGIN_NAME", "AlertsBase", "AlertsPlugin", "GuardedAlertsPlugin", "bifrost_plugin"]


def bifrost_plugin(gateway: Any) -> AlertsBase:
    """Only what is configured is registered: with nothing to send to, no hook but the admin
    routes and the config check; the per-request hooks only when a guard is configured, so
    alerts without guards cost a request nothing (the dispatcher has no hook of ours to call).

    A gateway whose settings can be changed at run time (it keeps them on its database:
    configstore.store_wanted, e.g. the admin API is on) carries every hook, since a channel or
    a guard may be added from the UI; the guard hooks then return at once while no guard is on."""
    alerts = gateway.plugin_section("alerts").data
    if store_wanted(gateway):
        return GuardedAlertsPlugin()
    if not alerts.get("channels") and not gateway.plugin_section("reports").data:
        return AlertsBase()
    return GuardedAlertsPlugin() if alerts.get("loop") or alerts.get("spend_rate") else AlertsPlugin()
