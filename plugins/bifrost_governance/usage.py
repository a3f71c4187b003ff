"""The usage view of the admin API: for each cap of an entity, the current window's numbers.

Budgets: the calendar (or fixed) window holding now, `resets_at` its end. Rate limits: the
sliding window, i.e. the last `window` seconds (`window_start` = now - window); `resets_at` is
when the oldest request or tokens still counted slide out of it (null when nothing counts)."""

from __future__ import annotations

import time
from typing import Any

from .counters import CounterStore
from .entities import CUSTOMER, TEAM
from .periods import FOREVER, iso
from .plan import IN_FLIGHT, MONEY, NANO, Cap, Tier
from .registry import Registry


class UsageView:
    def __init__(self, registry: Registry, store: CounterStore, money: Any, per_usd: float, currency: str) -> None:
        self.registry = registry
        self.store = store
        self.money = money
        self.per_usd = per_usd
        self.currency = currency

    def tiers_of(self, kind: str, name: str) -> list[Tier]:
        """The tiers whose caps belong to this entity (a key: its own and its provider configs)."""
        if kind == CUSTOMER:
            return [self.registry.customer_tiers[name]]
        if kind == TEAM:
            return [self.registry.team_tiers[name]]
        plan = self.registry.plan(self.registry.keys[name])
        return [plan.tiers[-1], *plan.providers.values()]

    async def of(self, kind: str, name: str) -> dict[str, Any]:
        now = time.time()
        tiers = self.tiers_of(kind, name)
        caps = [cap for tier in tiers for cap in tier.caps]
        if kind not in (CUSTOMER, TEAM):
            in_flight = self.registry.plan(self.registry.keys[name]).in_flight
            if in_flight is not None:
                caps.append(in_flight)
        values = await self.store.read_windows([cap.meter(now) for cap in caps]) if caps else []
        result: dict[str, Any] = {"kind": kind, "name": name, "currency": self.currency, "budgets": [],
                                  "rate_limits": [], "providers": {}}
        for cap, (used, held, oldest) in zip(caps, values):
            row = self._row(cap, used, held, oldest, now)
            if cap.tier.kind == "provider config":
                entry = result["providers"].setdefault(cap.tier.name, {"budgets": [], "rate_limits": []})
                entry["budgets" if cap.kind == MONEY else "rate_limits"].append(row)
            elif cap.kind == IN_FLIGHT:
                result["in_flight"] = row
            else:
                result["budgets" if cap.kind == MONEY else "rate_limits"].append(row)
        return result

    def _row(self, cap: Cap, used: int, held: int, oldest: float | None, now: float) -> dict[str, Any]:
        if cap.kind == IN_FLIGHT:
            return {"max_concurrent": cap.limit, "in_flight": held}
        assert cap.period is not None
        start, end = cap.period.window(now)
        if cap.kind == MONEY:
            def amount(nano: int) -> float:
                return round(nano / NANO * self.per_usd, 6)

            return {
                "reset": cap.period.reset, "limit": cap.shown_limit, "spent": amount(used), "in_flight": amount(held),
                "remaining": round(max(0.0, cap.shown_limit - amount(used) - amount(held)), 6),
                "window_start": iso(start), "resets_at": iso(end),
                "text": f"spent {self.money(used / NANO)} of {self.money(cap.shown_limit / self.per_usd)} "
                        f"{cap.period.describe()}",
            }
        if cap.sliding:
            # The last `window` seconds: what was admitted in them (settled: used; running:
            # in_flight), and when the oldest of it slides out (null: nothing counted).
            start = now - cap.sliding
            end = FOREVER if oldest is None else oldest + cap.sliding
        return {
            "kind": cap.kind, "window": cap.period.reset, "sliding": bool(cap.sliding), "limit": cap.limit,
            "used": used, "in_flight": held, "remaining": max(0, cap.limit - used - held),
            "window_start": iso(start), "resets_at": iso(end),
        }
