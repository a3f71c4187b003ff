"""What governance governs: customers, teams and virtual keys, with their budgets and limits.

These are plain records, read from the YAML file or created through the admin API (`source`
says which). Budget limits are in the configured currency, as the user wrote them; the counters
work in nano-USD (see plan.py), so a change of `currency.per_usd` never rewrites history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONFIG = "config"   # defined in the YAML file: listed by the admin API, read-only there
API = "api"         # created through the admin API: kept in the database

CUSTOMER = "customer"
TEAM = "team"
KEY = "key"
KINDS = (CUSTOMER, TEAM, KEY)


@dataclass(frozen=True, slots=True)
class Budget:
    """A spending cap in the configured currency, and when it starts again."""

    limit: float
    reset: str = "monthly"

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "reset": self.reset}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most `requests` requests and `tokens` tokens (input + output) per `window`."""

    window: str
    requests: int | None = None
    tokens: int | None = None

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"window": self.window}
        if self.requests is not None:
            data["requests"] = self.requests
        if self.tokens is not None:
            data["tokens"] = self.tokens
        return data


@dataclass(frozen=True, slots=True)
class SessionBudget:
    """A cap on the spend of one session (a Claude Code or Codex session: `Call.session_id`),
    in the configured currency. A session's spend is forgotten `forget_after` (a duration)
    after its last request, so the counters of sessions long over do not pile up."""

    limit: float
    forget_after: str = "7d"

    def as_dict(self) -> dict[str, Any]:
        return {"limit": self.limit, "forget_after": self.forget_after}


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """A key's entry for one provider: the provider-config tier (its own budgets and limits)."""

    provider: str
    weight: float = 1.0
    budgets: tuple[Budget, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()


@dataclass(slots=True)
class Customer:
    name: str
    budgets: tuple[Budget, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    description: str = ""
    source: str = CONFIG


@dataclass(slots=True)
class Team:
    name: str
    customer: str | None = None
    budgets: tuple[Budget, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    session_budget: SessionBudget | None = None   # each session of each of the team's keys
    description: str = ""
    source: str = CONFIG


@dataclass(slots=True)
class VirtualKey:
    """One developer's (or project's) key. Only the SHA-256 of the secret is ever kept."""

    name: str
    key_sha256: str
    team: str | None = None
    customer: str | None = None          # for a key without a team; a team's key uses the team's
    budgets: tuple[Budget, ...] = ()
    rate_limits: tuple[RateLimit, ...] = ()
    models: tuple[str, ...] = ()         # names or globs; empty = every model
    providers: tuple[ProviderEntry, ...] = ()   # empty = every provider, no provider tier
    fallbacks: tuple[str, ...] = ()      # "provider/model", for the failover plugin
    max_concurrent: int | None = None
    active: bool = True
    expires_at: float | None = None      # Unix time
    cache: bool | None = None            # None: the cache plugin's own default
    cache_ttl: float | None = None
    session_budget: SessionBudget | None = None   # each session of this key
    description: str = ""
    source: str = CONFIG

    def provider_entry(self, provider: str) -> ProviderEntry | None:
        for entry in self.providers:
            if entry.provider == provider:
                return entry
        return None
