"""Entities compiled for the request path: every cap of every tier, with its meter name.

A key's plan lists its tiers in the order they are checked (customer → team → virtual key) and,
separately, its provider-config tiers. Compiling once when the entities change keeps the request
path to dictionary lookups and a few additions.
"""

from __future__ import annotations

import fnmatch
import hashlib
import math
import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from bifrost_py.configschema import parse_duration

from .counters import FOREVER, Claim
from .entities import Budget, Customer, RateLimit, SessionBudget, Team, VirtualKey
from .periods import Period

NANO = 1_000_000_000      # counters hold money in nano-USD
MONEY, REQUESTS, TOKENS, IN_FLIGHT = "money", "requests", "tokens", "in_flight"
SESSION = "session"       # the tier kind of a session cap
_PLAIN_SESSION = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")   # used as is in meter names
_new = tuple.__new__      # a Claim without NamedTuple's Python-level __new__ (several per request)


@dataclass(slots=True)
class Cap:
    """One limit of one tier: a budget, a request or token rate limit, or max_concurrent."""

    kind: str                 # MONEY, REQUESTS, TOKENS or IN_FLIGHT
    tier: Tier
    limit: int                # nano-USD, requests, tokens or slots
    period: Period | None     # None for IN_FLIGHT
    meter_base: str
    shown_limit: float = 0.0  # as configured (currency for money)
    sliding: float = 0.0      # rate limits: the sliding window's length in seconds (else 0)

    _meter: str = ""          # the meter of the window below, built once per window
    _start: float = 0.0
    _end: float = -1.0
    _one: Claim | None = None  # a sliding cap's claim of one request (the same every time)

    def claim(self, amount: int, now: float, strict: bool = True) -> Claim:
        if self.sliding:
            return _new(Claim, (self.meter_base, self.limit, amount, strict, FOREVER, False, self.sliding))
        if self.period is None:
            return _new(Claim, (self.meter_base, self.limit, amount, True, FOREVER, True, 0.0))
        if not self._start <= now < self._end:
            self.meter(now)              # moves _meter and _end to the window holding `now`
        return _new(Claim, (self._meter, self.limit, amount, strict, self._end, False, 0.0))

    def one(self, now: float) -> Claim:
        """The strict claim of one request: a sliding window's does not depend on the time,
        so it is built once."""
        claim = self._one
        if claim is None:
            claim = self.claim(1, now)
            if self.sliding:
                self._one = claim
        return claim

    def meter(self, now: float) -> str:
        """The counter of the window holding `now`: `<meter_base>:<window start>`; a sliding
        window (rate limits) and max_concurrent have one meter for all time, `<meter_base>`."""
        if self.period is None or self.sliding:
            return self.meter_base
        if not self._start <= now < self._end:
            self._start, self._end = self.period.window(now)
            self._meter = f"{self.meter_base}:{int(self._start)}"
        return self._meter


@dataclass(slots=True)
class Tier:
    """A customer, team, virtual key or provider config, with its caps."""

    kind: str                 # "customer", "team", "virtual key", "provider config"
    name: str
    label: str                # how messages name it: "team 'backend'"
    final: bool               # a refusal here ends the request (False: try the next target)
    caps: list[Cap] = field(default_factory=list)


@dataclass(slots=True)
class SessionCap:
    """The session budget that applies to a key's sessions: the smallest of the key's, its
    team's and the global one. `set_by` names where it was configured."""

    limit: int                # nano-USD
    shown_limit: float        # in the configured currency
    set_by: str               # "virtual key 'dev-asha'", "team 'backend'", "governance"
    forget_after: float       # seconds after a session's last request

    def cap(self, key: str, session: str) -> Cap:
        """The cap of one session of `key` (made once per call)."""
        shown = session[:64].encode("utf-8", "backslashreplace").decode("utf-8")
        tier = Tier(SESSION, session, f"session '{shown}' of virtual key '{key}'", True)
        name = session if _PLAIN_SESSION.match(session) else \
            "#" + hashlib.sha256(session.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        cap = Cap(MONEY, tier, self.limit, None, f"key:{key}:session:{name}", self.shown_limit)
        tier.caps.append(cap)
        return cap


def session_cap(candidates: list[tuple[str, SessionBudget | None]], per_usd: float) -> SessionCap | None:
    """The smallest of the session budgets (where each was set, it) that are set."""
    found = [(budget.limit, where, budget) for where, budget in candidates if budget is not None]
    if not found:
        return None
    _, where, budget = min(found, key=lambda entry: entry[0])
    return SessionCap(math.floor(budget.limit / per_usd * NANO), budget.limit, where,
                      parse_duration(budget.forget_after))


@dataclass(slots=True)
class KeyPlan:
    """Everything the request path needs to know about one virtual key."""

    key: VirtualKey
    tiers: tuple[Tier, ...]                   # checked on every attempt, in this order
    providers: dict[str, Tier]                # provider-config tiers, by provider name
    in_flight: Cap | None
    team: str | None
    customer: str | None
    session: SessionCap | None = None         # the cap on each of the key's sessions
    _allowed: dict[str, bool] = field(default_factory=dict)
    _caps: dict[tuple[str, bool], tuple[tuple[Cap, ...], int]] = field(default_factory=dict)
    caller: Any = None                        # the Caller other plugins see (enforcement.caller_of)

    def caps_for(self, provider: str, counted: bool) -> tuple[tuple[Cap, ...], int]:
        """The caps an attempt on `provider` claims from, in checking order (the tiers', then the
        provider config's), and how many of them are the provider config's. `counted`: the call
        already counts as one request (a fallback), so the key's, team's and customer's request
        caps are left out. Built once per provider (the plan is rebuilt when entities change)."""
        found = self._caps.get((provider, counted))
        if found is None:
            tier = self.providers.get(provider)
            tiers = (*self.tiers, tier) if tier is not None else self.tiers
            caps = tuple(cap for t in tiers for cap in t.caps
                         if not (counted and t.final and cap.kind == REQUESTS))
            found = (caps, sum(cap.tier is tier for cap in caps))
            if len(self._caps) < 1024:    # providers come from the config: bounded anyway
                self._caps[(provider, counted)] = found
        return found

    @property
    def has_money(self) -> bool:
        return any(c.kind == MONEY for t in (*self.tiers, *self.providers.values()) for c in t.caps)

    def allows_model(self, model: str) -> bool:
        """Exact names and globs of `models:`; an empty list allows every model. Cached: the
        same few names come back on every request."""
        if not self.key.models:
            return True
        found = self._allowed.get(model)
        if found is None:
            found = any(fnmatch.fnmatchcase(model, p) for p in self.key.models)
            if len(self._allowed) < 1024:    # names come from clients: keep the cache bounded
                self._allowed[model] = found
        return found

    def allows_provider(self, provider: str) -> bool:
        return not self.key.providers or provider in self.providers


def compile_tier(
    kind: str, name: str, budgets: tuple[Budget, ...], limits: tuple[RateLimit, ...], *,
    final: bool, meter_base: str, per_usd: float, tz: ZoneInfo, label: str | None = None,
) -> Tier:
    tier = Tier(kind, name, label or f"{kind} '{name}'", final)
    for budget in budgets:
        # Floor, so that rounding never lets spend pass the configured cap.
        nano = math.floor(budget.limit / per_usd * NANO)
        tier.caps.append(Cap(MONEY, tier, nano, Period(budget.reset, tz), f"{meter_base}:usd:{budget.reset}",
                             budget.limit))
    for limit in limits:
        window = Period(limit.window, tz)
        span = f"{window.seconds:.3f}".rstrip("0").rstrip(".") + "s"   # 1m and 60s share a meter
        # Sliding windows (counters.py): the meter has no window start in its name.
        if limit.requests is not None:
            tier.caps.append(Cap(REQUESTS, tier, limit.requests, window, f"{meter_base}:req:{span}", limit.requests,
                                 window.seconds))
        if limit.tokens is not None:
            tier.caps.append(Cap(TOKENS, tier, limit.tokens, window, f"{meter_base}:tok:{span}", limit.tokens,
                                 window.seconds))
    return tier


def compile_customer(customer: Customer, per_usd: float, tz: ZoneInfo) -> Tier:
    return compile_tier("customer", customer.name, customer.budgets, customer.rate_limits, final=True,
                        meter_base=f"customer:{customer.name}", per_usd=per_usd, tz=tz)


def compile_team(team: Team, per_usd: float, tz: ZoneInfo) -> Tier:
    return compile_tier("team", team.name, team.budgets, team.rate_limits, final=True,
                        meter_base=f"team:{team.name}", per_usd=per_usd, tz=tz)


def compile_key(
    key: VirtualKey, customers: dict[str, Tier], teams: dict[str, Tier], team_customer: dict[str, str | None],
    per_usd: float, tz: ZoneInfo, session: SessionCap | None = None,
) -> KeyPlan:
    customer = team_customer.get(key.team) if key.team else key.customer
    tiers = [t for t in (customers.get(customer or ""), teams.get(key.team or "")) if t is not None]
    own = compile_tier("virtual key", key.name, key.budgets, key.rate_limits, final=True,
                       meter_base=f"key:{key.name}", per_usd=per_usd, tz=tz)
    tiers.append(own)
    providers = {
        entry.provider: compile_tier(
            "provider config", entry.provider, entry.budgets, entry.rate_limits, final=False,
            meter_base=f"key:{key.name}:provider:{entry.provider}", per_usd=per_usd, tz=tz,
            label=f"provider config '{entry.provider}' of virtual key '{key.name}'",
        )
        for entry in key.providers
    }
    in_flight = None
    if key.max_concurrent:
        in_flight = Cap(IN_FLIGHT, own, key.max_concurrent, None, f"key:{key.name}:in_flight", key.max_concurrent)
    return KeyPlan(key, tuple(tiers), providers, in_flight, key.team, customer, session)
