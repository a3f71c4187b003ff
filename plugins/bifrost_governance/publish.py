"""Telling budget watchers (the alerts plugin) what a request's spend did to its budgets.

Once governance has settled an attempt that cost something, every plugin implementing
`bifrost_budget_update` gets one `bifrost_py.BudgetUsage` per budget the attempt was charged
to (customer, team, key, provider config, session; only caps on money). It happens off the
client's path, in a task the gateway waits for at shutdown:

    in memory   the counters are read where they are (no I/O at all)
    Redis       what the settle script returned for those meters (no round trip); a READ in
                that task when it did not tell them all (never on the request path)

Without a listener nothing is built: the Governor makes no publisher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bifrost_py.budgets import BudgetTier, BudgetUsage

from .counters import CounterStore, MemoryCounters
from .periods import FOREVER, NEVER
from .plan import MONEY, NANO, SESSION, Cap

TIERS: dict[str, BudgetTier] = {"customer": "customer", "team": "team", "virtual key": "key",
                                "provider config": "provider", SESSION: "session"}


class BudgetPublisher:
    def __init__(self, gateway: Any, store: CounterStore, per_usd: float, currency: str) -> None:
        self.gateway = gateway
        self.store = store
        self.memory = store if isinstance(store, MemoryCounters) else None
        self.per_usd = per_usd
        self.currency = currency

    def publish(self, key: str, caps: Sequence[Cap], now: float) -> None:
        """The budgets among `caps` (an attempt of virtual key `key`), after its settlement."""
        budgets = [cap for cap in caps if cap.kind == MONEY]
        if not budgets:
            return
        meters = [cap.meter(now) for cap in budgets]
        if self.memory is not None:
            spent = [self.memory.meters.get(meter, (0, 0))[0] for meter in meters]
            self.gateway.spawn(self._tell(self.usages(key, budgets, spent, now)))
        else:
            self.gateway.spawn(self._read_and_tell(key, budgets, meters, now))

    async def _read_and_tell(self, key: str, budgets: list[Cap], meters: list[str], now: float) -> None:
        told = getattr(self.store, "spent_now", None)   # Redis: what the settlement just saw, if it did
        spent = told(meters) if told is not None else None
        if spent is None:
            spent = [used for used, _ in await self.store.read(meters)]
        await self._tell(self.usages(key, budgets, spent, now))

    async def _tell(self, usages: list[BudgetUsage]) -> None:
        await self.gateway.plugins.budget_update(self.gateway, usages)

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
