"""Budget thresholds: each percentage of each cap fires once per budget window.

`Thresholds.check(usages)` is called with what the budget plugin charged. A threshold crossed
for the first time in this process is claimed in the shared store (AlertStore.claim): exactly
one instance wins it, and only the winner builds and sends the alert. A local set remembers
what was claimed (by anyone), so the store is asked once per threshold and window, not per
request.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from bifrost_py.storage import StorageUnavailable

from .message import Message

if TYPE_CHECKING:
    from bifrost_py.budgets import BudgetUsage
    from bifrost_py.gateway import Gateway

    from .settings import AlertSettings
    from .store import AlertStore

log = logging.getLogger("bifrost_py.alerts")

# What "top spenders" means for each tier: the cost log's column to group its rows by, and the
# column that names the entity. A provider budget is named "<key>/<provider>".
TOP_BY = {"customer": ("team", "customer"), "team": ("key_name", "team"), "key": ("model", "key_name"),
          "session": ("model", "session_id")}
MAX_REMEMBERED = 100_000


class Thresholds:
    def __init__(self, gateway: Gateway, settings: AlertSettings, store: AlertStore) -> None:
        self.gateway = gateway
        self.settings = settings
        self.store = store
        self.seen: dict[str, float] = {}  # marks known to be claimed -> when they expire

    async def check(self, usages: list[BudgetUsage]) -> list[Message]:
        """The alerts this instance won for `usages` (already claimed in the store)."""
        now = time.time()
        won = []
        for usage in usages:
            if usage.limit <= 0:
                continue
            percent = usage.fraction * 100
            for threshold in self.settings.thresholds_of(usage):
                if percent + 1e-9 < threshold:
                    break
                mark = f"budget:{usage.tier}:{usage.name}:{usage.window_id}:{threshold}"
                if mark in self.seen:
                    continue
                try:
                    mine = await self.store.claim(mark, usage.window_end)
                except StorageUnavailable:
                    log.warning("alerts: cannot mark %s now (storage unavailable); will try again", mark)
                    continue
                self._remember(mark, usage.window_end or now + 86400, now)
                if mine:
                    won.append(await self.message(usage, threshold))
        return won

    def _remember(self, mark: str, expires: float, now: float) -> None:
        if len(self.seen) >= MAX_REMEMBERED:
            self.seen = {m: e for m, e in self.seen.items() if e > now}
            if len(self.seen) >= MAX_REMEMBERED:
                self.seen.clear()
        self.seen[mark] = expires

    async def message(self, usage: BudgetUsage, threshold: int) -> Message:
        money = self.money
        label = {"key": "virtual key", "provider": "provider config"}.get(usage.tier, usage.tier)
        title = (f"Budget {threshold}% reached: {label} '{usage.name}' spent {money(usage.spent, usage.currency)} "
                 f"of {money(usage.limit, usage.currency)}")
        lines = [f"{usage.fraction:.0%} of the {usage.period or 'lifetime'} budget is spent."]
        if usage.window_start is not None and usage.window_end is not None:
            lines.append(f"Window: {_utc(usage.window_start)} to {_utc(usage.window_end)} UTC")
        top = await self.top_spenders(usage)
        if top:
            lines.append("Top spenders: " + ", ".join(f"{t['name']} {money(t['spent'], usage.currency)}" for t in top))
        details: dict[str, Any] = {
            "threshold": threshold, "tier": usage.tier, "entity": usage.name, "spent": round(usage.spent, 4),
            "limit": usage.limit, "currency": usage.currency, "percent": round(usage.fraction * 100, 2),
            "period": usage.period, "window": {"start": usage.window_start, "end": usage.window_end},
        }
        if top:
            details["top_spenders"] = top
        return Message("budget", title, tuple(lines), details)

    def money(self, amount: float, currency: str) -> str:
        if currency == self.gateway.config.currency_code:
            return self.gateway.format_money(amount / self.gateway.config.currency_per_usd)
        return f"{amount:,.2f} {currency}"

    async def top_spenders(self, usage: BudgetUsage) -> list[dict[str, Any]]:
        """The entity's biggest spenders this window from the cost log's table, when there is one
        in the logs database; [] otherwise (no cost log, a store that cannot answer now)."""
        tier, name = usage.tier, usage.name
        if tier == "provider":
            key, _, provider = name.rpartition("/")
            group, where, args = "model", "key_name = ? AND provider = ?", [key, provider]
        elif tier in TOP_BY and self.settings.top_spenders:
            group, column = TOP_BY[tier]
            where, args = f"{column} = ?", [name]
        else:
            return []
        since = usage.window_start if usage.window_start is not None else time.time() - 30 * 86400
        try:
            db = await self.gateway.storage.sql(self.gateway.config.logs_url)
            rows = await db.fetch(
                f"SELECT {group} AS name, SUM(cost_usd) AS usd FROM request_log WHERE {where} AND ts >= ? "
                f"AND cost_usd IS NOT NULL GROUP BY {group} ORDER BY usd DESC LIMIT ?",
                *args, since, self.settings.top_spenders)
        except Exception as exc:  # noqa: BLE001 - no cost log table, another schema, a store that is down: omit
            log.debug("alerts: no top spenders for %s %s: %s", tier, name, exc)
            return []
        per_usd = self.gateway.config.currency_per_usd
        return [{"name": r["name"] or "-", "spent": round(float(r["usd"]) * per_usd, 2)} for r in rows if r["usd"]]


def _utc(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(ts))
