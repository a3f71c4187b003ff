"""Putting a provider's API key aside after the provider refused or rate-limited it.

A refused key (401/403) goes at once, even the last one: it will not start working by itself,
and the next request then skips the provider (or gets a clear 502) instead of being refused
again. A rate-limited key goes only while another key of the provider is still usable, so rate
limits alone never leave a provider without keys; the circuit breaker deals with a provider
that is rate limited as a whole.
"""

from __future__ import annotations

from bifrost_py.context import Attempt
from bifrost_py.providers.base import Provider

from .failures import Kind, retry_after
from .settings import KeyCooldowns

REFUSED = "refused"
RATE_LIMITED = "rate_limited"


def put_aside(attempt: Attempt, kind: Kind, provider: Provider, cooldowns: KeyCooldowns) -> str | None:
    """Put the attempt's key aside when `kind` calls for it; returns why, or None."""
    name = attempt.key_name
    if not name:
        return None
    error = attempt.outcome.error
    if kind == Kind.KEY_REFUSED:
        status = getattr(error, "upstream_status", "")
        provider.keys.put_aside(name, cooldowns.refused, f"refused by the provider ({status})")
        return REFUSED
    if kind == Kind.RATE_LIMITED and provider.keys.usable(exclude={name}):
        wait = retry_after(error)
        provider.keys.put_aside(name, wait if wait else cooldowns.rate_limited, "rate limited by the provider (429)")
        return RATE_LIMITED
    return None


def no_usable_key(provider: Provider) -> bool:
    """The provider has keys, and every one of them is put aside (a keyless provider, such as a
    local Ollama, is never in this state)."""
    keys = provider.keys
    return not keys.has_usable() and len(keys) > 0


def aside_reasons(provider: Provider) -> str:
    """`key-1: refused by the provider (401), usable again in 290s` for error messages."""
    parts = [
        f"{entry['name']}: {entry['reason']}, usable again in {entry['aside_for_seconds']:.0f}s"
        for entry in provider.keys.describe()
        if not entry["usable"]
    ]
    return "; ".join(parts)
