"""Per request: may the cache answer it, may it keep the answer, for whom, for how long.

    enabled     cache.enabled, overridden by the virtual key's own setting (governance puts it
                in caller.cache)
    x-bf-cache  no-cache: do not look up, still store;  no-store: neither
    ttl         x-bf-cache-ttl header, else the key's cache_ttl, else cache.ttl. The header also
                caps the age of an answer this request accepts.
    scope       whose answers may be shared: one virtual key (default), its team or customer,
                or everyone (cache.shared); without governance, "anonymous"
"""

from __future__ import annotations

from dataclasses import dataclass

from bifrost_py.configschema import parse_duration
from bifrost_py.context import MESSAGES, Call
from bifrost_py.errors import InvalidRequest

from .requestkey import CacheRequest, Uncacheable, cache_request
from .settings import CacheSettings

NO_CACHE = "no-cache"
NO_STORE = "no-store"


@dataclass(slots=True)
class Plan:
    """What the cache does with one call; kept on the call's stash across its attempts."""

    lookup: bool = False
    store: bool = False
    reason: str = ""                    # why not, for x-bf-cache-reason
    request: CacheRequest | None = None
    scope: str = "anonymous"
    ttl: float = 0.0
    max_age: float | None = None        # from x-bf-cache-ttl: older answers are not served
    vector: object = None               # the request's embedding, computed at most once

    @property
    def active(self) -> bool:
        return self.lookup or self.store


def scope_of(call: Call, settings: CacheSettings) -> str:
    if settings.shared:
        return "shared"
    caller = call.caller
    if caller is None:
        return "anonymous"
    if settings.scope == "customer" and caller.customer:
        return f"customer:{caller.customer}"
    if settings.scope in ("team", "customer") and caller.team:
        return f"team:{caller.team}"
    return f"key:{caller.key_id}"


def enabled_for(call: Call, settings: CacheSettings) -> bool:
    if call.endpoint != MESSAGES or call.body is None:
        return False
    wanted = call.caller.cache if call.caller is not None else None
    return settings.enabled if wanted is None else bool(wanted)


def _ttl(call: Call, settings: CacheSettings) -> tuple[float, float | None]:
    header = call.headers.get("x-bf-cache-ttl")
    if header:
        try:
            seconds = parse_duration(header)
        except ValueError as exc:
            raise InvalidRequest(f"x-bf-cache-ttl: {exc}") from exc
        if seconds <= 0:
            raise InvalidRequest("x-bf-cache-ttl: must be longer than 0s")
        return seconds, seconds
    key_ttl = call.caller.cache_ttl if call.caller is not None else None
    return (float(key_ttl) if key_ttl else settings.ttl), None


def plan_for(call: Call, settings: CacheSettings, embedder_id: str) -> Plan:
    """Decide once per call (raises InvalidRequest for a malformed x-bf-cache* header)."""
    if not enabled_for(call, settings):
        return Plan(reason="disabled")
    directive = (call.headers.get("x-bf-cache") or "").strip().lower()
    if directive and directive not in (NO_CACHE, NO_STORE):
        raise InvalidRequest(f"x-bf-cache: expected '{NO_CACHE}' or '{NO_STORE}', got {directive!r}")
    if directive == NO_STORE:
        return Plan(reason=NO_STORE)
    ttl, max_age = _ttl(call, settings)
    scope = scope_of(call, settings)
    try:
        request = cache_request(
            call.body or {}, call.dialect, call.model, scope, betas=call.headers.get("anthropic-beta"),
            semantic=settings.semantic, semantic_on=settings.semantic_on,
            max_chars=settings.semantic_max_chars, embedder_id=embedder_id,
        )
    except Uncacheable as exc:
        return Plan(reason=str(exc))
    if request.sampled and not settings.sampled:
        return Plan(reason="temperature > 0 (cache.sampled is off)")
    return Plan(lookup=directive != NO_CACHE, store=True, reason=directive, request=request,
                scope=scope, ttl=ttl, max_age=max_age)
