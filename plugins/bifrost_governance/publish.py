"""Telling budget watchers (the alerts plugin) what a request's spend did to its budgets.

Once governance has settled an attempt that cost something, every plugin implementing
`bifrost_budget_update` gets one `bifrost_py.BudgetUsage` per budget the attempt was charged
to (customer, team, key, provider config, session; only caps on money). It happens off the
client's path: each attempt's figures join a queue that one task drains (spawned when the queue
was empty; the gateway waits for it at shutdown), so a burst of settlements starts one task,
not one each:

    in memory   the counters are read where they are (no I/O at all), at settlement
    Redis       what the settle script returned for those meters (no round trip); a READ in
                that task when it did not tell them all (never on the request path)

Without a listener nothing is built: the Governor makes no publisher. A listener may say it
wants no updates right now (an attribute `wants_budget_updates` on its plugin object, False
while e.g. the alerts plugin has no channel to send to); while every listener says so, a
settlement publishes nothing at all: no usage is built, no task started.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from bifrost_py.budgets import BudgetTier, BudgetUsage

from .counters import CounterStore, MemoryCounters
from .periods import FOREVER, NEVER
from .plan import MONEY, NANO, SESSION, Cap

log = logging.getLogger("bifrost.governance")

TIERS: dict[str, BudgetTier] = {"customer": "customer", "team": "team", "virtual key": "key",
                                "provider config": "provider", SESSION: "session"}


class BudgetPublisher:
    def __init__(self, gateway: Any, store: CounterStore, per_usd: float, currency: str) -> None:
        self.gateway = gateway
        self.store = store
        self.memory = store if isinstance(store, MemoryCounters) else None
        self.per_usd = per_usd
        self.currency = currency
        self.told = getattr(store, "spent_now", None)   # Redis: what the settlement just saw, if it did
        self.listeners = [getattr(call.function, "__self__", None)
                          for call in gateway.plugins.calls("bifrost_budget_update")]
        self.pending: list[Callable[[], Awaitable[list[BudgetUsage]]] | list[BudgetUsage]] = []
        self.draining = False

    def wanted(self) -> bool:
        """Does any listener want updates now? One that does not say is taken to want them."""
        return any(getattr(listener, "wants_budget_updates", True) for listener in self.listeners)

    def publish(self, key: str, caps: Sequence[Cap], now: float) -> None:
        """The budgets among `caps` (an attempt of virtual key `key`), after its settlement."""
        if not self.wanted():
            return
        budgets = [cap for cap in caps if cap.kind == MONEY]
        if not budgets:
            return
        meters = [cap.meter(now) for cap in budgets]
        if self.memory is not None:
            spent: list[int] | None = [self.memory.meters.get(meter, (0, 0))[0] for meter in meters]
        else:
            spent = self.told(meters) if self.told is not None else None
        if spent is not None:
            self.pending.append(self.usages(key, budgets, spent, now))
        else:
            self.pending.append(lambda: self._read(key, budgets, meters, now))
        if not self.draining:
            self.draining = True
            self.gateway.spawn(self._drain())

    async def _read(self, key: str, budgets: list[Cap], meters: list[str], now: float) -> list[BudgetUsage]:
        return self.usages(key, budgets, [used for used, _ in await self.store.read(meters)], now)

    async def _drain(self) -> None:
        """Tell the listeners each queued attempt's budgets, in settlement order, until none is
        left; one attempt's failure is logged and does not cost the others theirs."""
        try:
            while self.pending:
                queued, self.pending = self.pending, []
                for item in queued:
                    try:
                        usages = item if isinstance(item, list) else await item()
                        await self.gateway.plugins.budget_update(self.gateway, usages)
                    except Exception:
                        log.exception("telling budget watchers failed")
        finally:
            self.draining = False

    def usages(self, key: str, budgets: list[Cap], spent: list[int], now: float) -> list[BudgetUsage]:
        found = []
        for cap, used in zip(budgets, spent, strict=True):
            tier = cap.tier
            kind = TIERS.get(tier.kind, "key")
            name = f"{key}/{tier.name}" if kind == "provider" else tier.name
            period, start, end = "", None, None
            if cap.period is not None and cap.period.reset != NEVER:
                period = cap.period.reset
                start, end = cap.period.window(now)
            found.append(BudgetUsage(kind, name, spent=round(used / NANO * self.per_usd, 6), limit=cap.shown_limit,
                                     currency=self.currency, period=period, window_start=start,
                                     window_end=None if end is None or end == FOREVER else end))
        return found
