"""The errors a caller gets when governance says no, with messages that name the tier and the
numbers (CONTRACT.md): `budget exhausted for virtual key 'dev-intern': spent ₹5,003.20 of
₹5,000.00 this month; resets 2026-12-01 00:00 UTC`."""

from __future__ import annotations

import math
from collections.abc import Callable

from bifrost_py.errors import BudgetExceeded, GatewayError, RateLimited

from .counters import FOREVER
from .plan import IN_FLIGHT, MONEY, NANO, REQUESTS, Cap

Money = Callable[[float], str]   # gateway.format_money: USD -> "₹5,003.20"


def refusal(cap: Cap, used: int, held: int, amount: int, now: float, money: Money, *,
            strict: bool, per_usd: float, retry_after: float = 0.0) -> GatewayError:
    """The error for a claim on `cap` that did not fit."""
    if cap.kind == MONEY:
        return budget_exhausted(cap, used, held, amount, now, money, strict=strict, per_usd=per_usd)
    if cap.kind == IN_FLIGHT:
        return RateLimited(
            f"too many requests in flight for {cap.tier.label}: {held} of max_concurrent {cap.limit}",
            retry_after=1, final=cap.tier.final,
        )
    return rate_limited(cap, used, held, amount, now, retry_after)


def budget_exhausted(cap: Cap, used: int, held: int, amount: int, now: float, money: Money, *,
                     strict: bool, per_usd: float) -> BudgetExceeded:
    assert cap.period is not None
    _, end = cap.period.window(now)
    resets = "does not reset" if end == FOREVER else f"resets {cap.period.when(end)}"
    message = (
        f"budget exhausted for {cap.tier.label}: spent {money(used / NANO)} of "
        f"{money(cap.shown_limit / per_usd)} {cap.period.describe()}; {resets}"
    )
    return BudgetExceeded(message + _in_flight(cap, used, held, amount, money, strict), final=cap.tier.final)


def session_exhausted(cap: Cap, used: int, held: int, amount: int, money: Money, *, strict: bool,
                      per_usd: float, set_by: str) -> BudgetExceeded:
    """A session spent its cap (`set_by`: where the cap was configured): this session stops,
    the key's other sessions go on."""
    message = (
        f"session budget exhausted for {cap.tier.label}: spent {money(used / NANO)} of "
        f"{money(cap.shown_limit / per_usd)} (session_budget of {set_by})"
    )
    return BudgetExceeded(message + _in_flight(cap, used, held, amount, money, strict)
                          + "; start a new session to go on", final=True)


def _in_flight(cap: Cap, used: int, held: int, amount: int, money: Money, strict: bool) -> str:
    """` (₹X held by requests in flight; this request may cost up to ₹Y)`, or nothing."""
    details = []
    if held:
        details.append(f"{money(held / NANO)} held by requests in flight")
    if strict and used < cap.limit:
        details.append(f"this request may cost up to {money(amount / NANO)}")
    return f" ({'; '.join(details)})" if details else ""


def rate_limited(cap: Cap, used: int, held: int, amount: int, now: float, retry_after: float = 0.0) -> RateLimited:
    """`retry_after`: what the counter store said (sliding windows: the seconds until enough of
    the window has slid by for this request to fit). Without it, the end of the fixed window."""
    assert cap.period is not None
    window = cap.period.reset
    if cap.kind == REQUESTS:
        message = f"rate limit reached for {cap.tier.label}: {used + held} of {cap.limit} requests per {window}"
    else:
        message = (
            f"token rate limit reached for {cap.tier.label}: {used:,} tokens used and {held:,} held of "
            f"{cap.limit:,} per {window} (this request may use up to {amount:,})"
        )
    if cap.sliding:
        wait = retry_after
    else:
        wait = max(0.0, cap.period.window(now)[1] - now)
    return RateLimited(f"{message}; retry in {max(1, math.ceil(wait))}s", retry_after=wait, final=cap.tier.final)


def unpriced(model: str, provider: str, label: str) -> BudgetExceeded:
    """A budget applies but the model has no price: refuse rather than count it as free."""
    return BudgetExceeded(
        f"model '{model}' on provider '{provider}' has no known price, so its cost cannot be held "
        f"against the budget of {label}; add it under pricing: in the config "
        f"(or set governance.unpriced: allow)",
        final=False,
    )
