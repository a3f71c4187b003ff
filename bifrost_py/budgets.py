"""What one budget looks like after a charge: the payload of ``bifrost_budget_update``.

The plugin that enforces budgets (governance) builds one ``BudgetUsage`` per budget a request
was charged to, after it recorded the spend; plugins that watch budgets (alerts) read them.
Amounts are in the configured currency (``currency.code``), like the caps in the config.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["TIERS", "BudgetTier", "BudgetUsage"]

BudgetTier = Literal["customer", "team", "key", "provider", "session"]
TIERS: tuple[BudgetTier, ...] = ("customer", "team", "key", "provider", "session")


@dataclass(frozen=True, slots=True)
class BudgetUsage:
    """One budget after a request's spend was recorded.

    ``tier`` and ``name`` identify the entity (for ``provider``: ``"<key>/<provider>"``; for
    ``session``: the session id); ``spent`` and ``limit`` are in ``currency``; ``period`` is the
    reset as configured (``"monthly"``, ``"12h"``, ...; ``""`` for a budget that never resets);
    ``window_start``/``window_end`` bound the current window in epoch seconds (None when the
    budget is not windowed); ``thresholds`` are the percentages the entity's own config asks
    alerts at (``alert_thresholds``), None to leave it to the alerts settings.
    """

    tier: BudgetTier
    name: str
    spent: float
    limit: float
    currency: str
    period: str = ""
    window_start: float | None = None
    window_end: float | None = None
    thresholds: tuple[int, ...] | None = None  # the entity's own alert thresholds (percent), if it set any

    @property
    def fraction(self) -> float:
        """``spent / limit`` (0 when there is no positive limit)."""
        return self.spent / self.limit if self.limit > 0 else 0.0

    @property
    def window_id(self) -> str:
        """A stable name for the current window (its start), ``"all"`` when not windowed."""
        return "all" if self.window_start is None else f"{self.window_start:.0f}"
