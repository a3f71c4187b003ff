"""Rows and aggregates as the API, the live stream, the CSV export and reports show them:
booleans as booleans, ISO timestamps beside epoch seconds, money in USD and in the configured
currency."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .columns import BOOLS

MONEY_COLUMNS = (("cost_usd", "cost"), ("saved_usd", "saved"), ("requested_cost_usd", "requested_cost"))
AGGREGATE_MONEY = (
    ("cost_usd", "cost"),
    ("saved_by_cache_usd", "saved_by_cache"),
    ("saved_by_routing_usd", "saved_by_routing"),
    ("saved_total_usd", "saved_total"),
    ("without_gateway_usd", "without_gateway"),
)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    moment = datetime.fromtimestamp(ts, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Presenter:
    def __init__(self, currency_code: str, per_usd: float, format_money: Callable[[float], str]) -> None:
        self.code = currency_code
        self.per_usd = per_usd
        self.format_money = format_money

    def currency(self) -> dict[str, Any]:
        return {"code": self.code, "per_usd": self.per_usd}

    def display(self, usd: float) -> str:
        """`format_money`, but a fraction of a cent (a typical single request) keeps its digits:
        `$0.000412` rather than `$0.00`."""
        amount = usd * self.per_usd
        if amount == 0 or abs(amount) >= 0.01:
            return self.format_money(usd)
        return self.format_money(0.0).replace("0.00", f"{amount:.6f}".rstrip("0"), 1)

    def amount(self, usd: float | None) -> float | None:
        return None if usd is None else round(usd * self.per_usd, 6)

    def row(self, raw: dict[str, Any]) -> dict[str, Any]:
        row = dict(raw)
        for name in BOOLS:
            if name in row and row[name] is not None:
                row[name] = bool(row[name])
        row["timestamp"] = iso(row.get("ts"))
        for usd, local in MONEY_COLUMNS:
            if usd in row:
                row[local] = self.amount(row[usd])
        if "cost_usd" in row:
            # Never "free" by accident: an unknown price shows as such, not as 0.
            row["cost_display"] = (
                "unknown price" if row.get("price_unknown") else self.display(row["cost_usd"] or 0.0)
            )
        return row

    def aggregate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """A usage group as shown: money also in the configured currency, the rates, and the
        savings together: saved in all, what it would have cost without the gateway (spend plus
        savings) and the share saved (0 when nothing was spent or saved)."""
        out = dict(raw)
        saved = out["saved_by_cache_usd"] + out["saved_by_routing_usd"]
        out["saved_total_usd"] = saved
        out["without_gateway_usd"] = without = out["cost_usd"] + saved
        out["savings_rate"] = saved / without if without > 0 else 0.0
        for usd, local in AGGREGATE_MONEY:
            out[local] = self.amount(out[usd])
        if "first_ts" in out:  # a session: when it was first and last seen
            out["first_seen"] = iso(out["first_ts"])
            out["last_seen"] = iso(out["last_ts"])
        requests = out["requests"]
        out["error_rate"] = out["errors"] / requests if requests else 0.0
        out["cache_hit_rate"] = out["cache_hits"] / requests if requests else 0.0
        return out
