"""The alerts plugin's hooks: budget thresholds, guards, scheduled reports, admin routes.

Three shapes, chosen when the plugin is built (`bifrost_plugin`), so that what is off costs
nothing: `AlertsBase` (nothing to send to: only checks its config and answers its admin
routes), `AlertsPlugin` (channels or reports: budget thresholds, reports, deliveries) and
`GuardedAlertsPlugin` (also the per-request guards).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import aiohttp

from bifrost_py import hookimpl
from bifrost_py.context import MESSAGES
from bifrost_py.errors import RateLimited
from bifrost_py.settings import load_settings
from bifrost_py.storage import StorageUnavailable

from .admin import admin_routes
from .budgets import Thresholds
from .channels import Channel, Delivery, make_channel
from .guards import LoopDetector, SpendRateGuard, fingerprint, too_fast
from .message import Message
from .outbox import Outbox
from .reports import ScheduledReport
from .runtime import AlertConfig
from .settings import REPORTS, SECTION, AlertSettings, ReportSettings, read_reports, read_settings
from .shared_counters import SharedCounters
from .store import AlertStore

if TYPE_CHECKING:
    from bifrost_py.admin import AdminRoute
    from bifrost_py.budgets import BudgetUsage
    from bifrost_py.context import Call
    from bifrost_py.gateway import Gateway
    from bifrost_py.periodic import Periodic

    from .settings import LoopGuard

log = logging.getLogger("bifrost_py.alerts")
DRAIN_SECONDS = 30.0
REFUSE_WAIT = 1.0   # seconds a request waits for the shared loop count before its instance's count decides


class AlertsBase:
    """No channel and no report configured: the plugin checks its sections (so `bifrost-py
    check` finds mistakes) and answers its admin routes, and has no other hook: it creates no
    table, and no request or budget update reaches it."""

    active = False

    def __init__(self) -> None:
        self.settings = AlertSettings()
        self.gateway: Gateway | None = None
        self.store: AlertStore | None = None
        self.outbox: Outbox | None = None
        self.thresholds: Thresholds | None = None
        self.session: aiohttp.ClientSession | None = None
        self.reports: dict[str, tuple[ScheduledReport, Periodic]] = {}   # by name, with its periodic task
        self.rate: SpendRateGuard | None = None
        self.loops: LoopDetector | None = None
        self.shared: SharedCounters | None = None   # the guards' counters in Redis (None: this instance's)
        self.runtime: AlertConfig | None = None

    @hookimpl
    def bifrost_configure(self, gateway: Gateway) -> None:
        settings = load_settings(gateway, SECTION, read_settings)
        reports = read_reports(gateway.plugin_section(REPORTS), settings.channels)
        self.settings = replace(settings, reports=reports)
        self.gateway = gateway
        self.rate = SpendRateGuard(self.settings.spend_rate) if self.settings.spend_rate.on else None
        self.loops = LoopDetector(self.settings.loop) if self.settings.loop.repeats else None
        self.runtime = AlertConfig(gateway, self.apply_settings)
        self.runtime.read_all = self.settings

    def apply_settings(self, settings: AlertSettings) -> None:
        """Put new settings (the file's with what was changed at run time) in service in one
        step: the next threshold check, guard, delivery and report use them. Channels whose
        settings did not change are kept (with their connections); the guards keep what they
        counted unless their own settings changed; a report whose settings changed is
        rescheduled, one deleted stops."""
        old = self.settings
        self.settings = settings
        if self.outbox is not None:
            wanted = {report.name: report for report in settings.reports}
            for name, (scheduled, periodic) in list(self.reports.items()):
                if wanted.get(name) != scheduled.settings:
                    del self.reports[name]
                    self._stop(periodic)
            for name, report in wanted.items():
                if name not in self.reports:
                    self.reports[name] = self._schedule(report)
        if self.outbox is not None and self.session is not None:
            kept = self.outbox.channels
            self.outbox.channels = {
                name: kept[name] if name in kept and old.channels.get(name) == channel
                else make_channel(channel, self.session) for name, channel in settings.channels.items()}
        if self.thresholds is not None:
            self.thresholds.settings = self.settings
        if settings.spend_rate != old.spend_rate:
            self.rate = SpendRateGuard(settings.spend_rate) if settings.spend_rate.on else None
        if settings.loop != old.loop:
            self.loops = LoopDetector(settings.loop) if settings.loop.repeats else None

    def _schedule(self, report: ReportSettings) -> tuple[ScheduledReport, Periodic]:
        assert self.gateway is not None and self.outbox is not None
        scheduled = ScheduledReport(self.gateway, report, self.outbox)
        return scheduled, self.gateway.every(scheduled.until_next, scheduled.run, name=f"alerts: report {report.name}",
                                             final=False)

    def _stop(self, periodic: Periodic) -> None:
        assert self.gateway is not None
        self.gateway.spawn(periodic.stop())  # a report being sent finishes; no round after it

    @hookimpl
    def bifrost_admin_routes(self, gateway: Gateway) -> list[AdminRoute]:
        return admin_routes(self)

    async def send_test(self, channel: str | None) -> tuple[Message, list[Delivery]]:
        assert self.outbox is not None
        names = (channel,) if channel else tuple(self.settings.channels)
        message = Message("test", "Test alert from bifrost-py",
                          ("If you can read this, alerts reach this channel.",), {"channels": list(names)})
        return message, await self.outbox.send(message, names)

    def status(self) -> dict[str, Any]:
        shown = self.settings.shown()
        if self.runtime is not None:
            shown |= {"channels": self.runtime.channel_views(), "reports": self.runtime.report_views(),
                      "settings": self.runtime.settings_view()}
        return {**shown, "active": self.active, "editable": self.active,
                "next_reports": {name: scheduled.next_fire() for name, (scheduled, _) in self.reports.items()},
                "shared_marks": "redis" if self.store is not None and self.store.redis is not None else "sql",
                "guard_counters": "redis" if self.shared is not None else "instance",
                "in_flight": len(self.outbox.tasks) if self.outbox is not None else 0}


class AlertsPlugin(AlertsBase):
    """Channels or reports are configured: budget thresholds, reports, deliveries."""

    active = True

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        config = gateway.config
        db = await gateway.storage.sql(self.settings.database or config.logs_url)
        redis = await gateway.storage.redis(config.redis_url) if config.redis_url else None
        self.store = AlertStore(db, redis)
        await self.store.open()
        self.session = aiohttp.ClientSession()
        channels: dict[str, Channel] = {n: make_channel(c, self.session) for n, c in self.settings.channels.items()}
        self.outbox = Outbox(self.store, channels)
        self.thresholds = Thresholds(gateway, self.settings, self.store)
        for report in self.settings.reports:
            self.reports[report.name] = self._schedule(report)
        gateway.every(3600.0, self.store.prune, name="alerts: forgetting expired marks", final=False)
        if self.runtime is not None:  # channels, reports, thresholds and guards changed at run time
            await self.runtime.follower.start()

    @hookimpl
    async def bifrost_shutdown(self, gateway: Gateway) -> None:
        if self.outbox is not None:
            await self.outbox.drain(DRAIN_SECONDS)
        if self.session is not None:
            await self.session.close()

    @property
    def wants_budget_updates(self) -> bool:
        """Governance asks this per settlement and, while it is False, builds no update at all
        (publish.py): the same condition `bifrost_budget_update` returns on at once."""
        return self.thresholds is not None and self.outbox is not None and bool(self.settings.send_to)

    @hookimpl
    async def bifrost_budget_update(self, gateway: Gateway, usages: list[BudgetUsage]) -> None:
        thresholds, outbox = self.thresholds, self.outbox
        if thresholds is None or outbox is None or not self.settings.send_to:
            return  # nothing to send to (yet): a threshold already crossed fires once a channel is added
        for message in await thresholds.check(usages):
            outbox.post(message, self.settings.send_to)

    def _alert(self, message: Message, mark: str, lasts: float) -> None:
        """Send `message` off the request path, unless an instance already sent it under `mark`."""
        if self.outbox is not None and self.settings.send_to:
            self.outbox.post(message, self.settings.send_to, mark=(mark, time.time() + lasts))


class GuardedAlertsPlugin(AlertsPlugin):
    """The plugin with its guards: registered when `alerts.loop` or `alerts.spend_rate` is set.

    With Redis (`storage.redis`) the guards count in it, across instances and restarts
    (shared_counters.py); else, and while Redis cannot answer, in this instance (guards.py).
    A guard that only alerts counts off the request path (a task of the gateway's); the loop
    guard set to refuse counts on it: one Redis round trip per Messages request of a session."""

    _counting_here = False   # Redis failed: the guards count in this instance until it answers

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        await super().bifrost_startup(gateway)
        if self.store is not None and self.store.redis is not None:
            self.shared = SharedCounters(self.store.redis, gateway.spawn)

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> None:
        loops = self.loops
        if loops is None or not call.session_id or call.endpoint != MESSAGES or not isinstance(call.body, dict):
            return
        guard = loops.settings
        sent = Sent(call.session_id, fingerprint(call.body), call.caller.key_name if call.caller else "-",
                    call.caller.team if call.caller else None, call.model, call.client_app)
        if self.shared is None:
            self._loop_counted(guard, sent, loops.count(sent.session, sent.shape))
        elif not guard.refuse:   # alerts only: counted off the request path
            self.shared.queue_loop(sent.session, sent.shape, guard.within,
                                   lambda count: self._loop_counted(guard, sent, self._or_here(count, loops, sent)))
        else:
            try:
                async with asyncio.timeout(REFUSE_WAIT):
                    count = await self.shared.count_loop(sent.session, sent.shape, guard.within)
            except (StorageUnavailable, TimeoutError):
                count = None
            self._loop_counted(guard, sent, self._or_here(count, loops, sent))

    def _or_here(self, count: int | None, loops: LoopDetector, sent: Sent) -> int:
        """The shared count, or this instance's when Redis could not answer (None)."""
        if count is None:
            self._redis_failed()
            return loops.count(sent.session, sent.shape)
        self._redis_answers()
        return count

    def _loop_counted(self, guard: LoopGuard, sent: Sent, count: int) -> None:
        """Alert when `count` first goes past the limit; refuse past it when asked to."""
        if count <= guard.repeats:
            return
        if count == guard.repeats + 1:
            title = (f"Loop suspected: session {sent.session} (key '{sent.key}') sent the same request "
                     f"{count} times in {_minutes(guard.within)}")
            lines = (f"Model: {sent.model}", f"Client: {sent.client_app or '-'}",
                     "Refusing its repeats with 429." if guard.refuse else "Not refused (loop.refuse is off).")
            details = {"session": sent.session, "key": sent.key, "team": sent.team,
                       "model": sent.model, "repeats": count, "within_seconds": guard.within}
            self._alert(Message("loop", title, lines, details),
                        f"loop:{sent.session}:{int(time.time() // guard.within)}", guard.within)
        if guard.refuse:
            raise RateLimited(
                f"loop detected: session {sent.session} sent the same request {count} times in "
                f"{_minutes(guard.within)}; the gateway refuses its repeats (alerts.loop). Change the request "
                "or start a new session.", retry_after=guard.within)

    @hookimpl
    async def bifrost_request_end(self, call: Call) -> None:
        rate = self.rate
        if rate is None or call.caller is None or self.gateway is None:
            return
        spent = self._spent(call)
        if spent <= 0:
            return
        key, team = call.caller.key_name, call.caller.team
        if self.shared is None:
            self._rate_counted(key, team, rate.add(key, spent))
        else:   # it only alerts: counted off the request path
            self.shared.queue_spend(key, spent, rate.settings.baseline,
                                    lambda figures: self._spend_counted(rate, key, team, spent, figures))

    def _spend_counted(self, rate: SpendRateGuard, key: str, team: str | None, spent: float,
                       figures: tuple[float, float, float, float] | None) -> None:
        if figures is None:   # Redis could not answer: this instance's count
            self._redis_failed()
            self._rate_counted(key, team, rate.add(key, spent))
        else:
            self._redis_answers()
            self._rate_counted(key, team, too_fast(rate.settings, *figures))

    def _rate_counted(self, key: str, team: str | None, found: tuple[float, float] | None) -> None:
        if found is None or self.gateway is None:
            return
        last_hour, usual = found
        money = self.gateway.format_money
        per_usd = self.gateway.config.currency_per_usd
        title = f"Spend rate: virtual key '{key}' spent {money(last_hour / per_usd)} in the last hour"
        limit = self.settings.spend_rate
        lines = [f"Usual hourly spend: {money(usual / per_usd)}."]
        if limit.max_per_hour is not None:
            lines.append(f"Alarm above {money(limit.max_per_hour / per_usd)} per hour.")
        if limit.multiple is not None:
            lines.append(f"Alarm above {limit.multiple:g}× the usual hourly spend.")
        details = {"key": key, "team": team, "last_hour": round(last_hour, 4), "usual_hourly": round(usual, 4),
                   "currency": self.gateway.config.currency_code}
        hour = int(time.time() // 3600)
        self._alert(Message("spend_rate", title, tuple(lines), details), f"rate:{key}:{hour}", 3600.0)

    def _redis_failed(self) -> None:
        if not self._counting_here:
            self._counting_here = True
            log.warning("alerts: the guards count in this instance while Redis cannot answer (requests are served)")

    def _redis_answers(self) -> None:
        if self._counting_here:
            self._counting_here = False
            log.warning("alerts: the guards count in Redis again")

    def _spent(self, call: Call) -> float:
        """What the call cost, in the configured currency (cache hits and refusals: nothing)."""
        assert self.gateway is not None
        usd = 0.0
        for attempt in call.attempts:
            if attempt.outcome.reply is not None or attempt.upstream_dialect is None:
                continue
            usd += self.gateway.prices.served_cost(attempt, attempt.outcome.usage) or 0.0
        return usd * self.gateway.config.currency_per_usd


@dataclass(frozen=True, slots=True)
class Sent:
    """What the loop guard keeps of a request (it may be counted after the request moved on)."""

    session: str
    shape: str            # guards.fingerprint of the request
    key: str
    team: str | None
    model: str | None
    client_app: str | None


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:g} min" if seconds >= 60 else f"{seconds:g} s"
