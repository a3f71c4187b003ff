"""Reading the `governance:` section, and entity definitions sent to the admin API.

Both go through the same `configschema.Section` readers, so a bad budget gets the same message
with its path whether it came from the YAML file or from a POST body. `entity_dict` is the
reverse: what the admin API shows and what the database stores (never a key's secret).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bifrost_py.configschema import Problems, Section, parse_duration

from .bounds import (
    MAX_CONCURRENT,
    MAX_COUNT,
    MAX_LIMIT,
    MAX_SECONDS,
    MAX_WEIGHT,
    MAX_WINDOW,
    bounded,
    number,
    to_timestamp,
)
from .entities import (
    API,
    CONFIG,
    Budget,
    Customer,
    ProviderEntry,
    RateLimit,
    SessionBudget,
    Team,
    VirtualKey,
)
from .periods import check_reset, iso

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

MODES = ("strict", "soft")
UNPRICED = ("refuse", "allow")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
Entity = Customer | Team | VirtualKey



@dataclass(slots=True)
class Settings:
    """How governance behaves, plus the entities the YAML file defines."""

    require_key: bool = True
    mode: str = "strict"
    default_max_tokens: int = 4096    # worst case for a request that sets no max_tokens
    input_margin: float = 1.5         # reserve this many times the estimated prompt tokens
    unpriced: str = "refuse"          # a budgeted request for a model with no known price
    flush_interval: float = 0.1       # write-behind of counters to the database (a crash loses at most this)
    lease: float = 120.0              # Redis: reservations of a vanished instance expire after this
    hold_max_age: float = 3600.0      # no hold outlives this: past it, it is charged at its amount
    sync_interval: float = 5.0        # how often API-made changes by other instances are picked up
    session_budget: SessionBudget | None = None   # every session of every key
    customers: dict[str, Customer] = field(default_factory=dict)
    teams: dict[str, Team] = field(default_factory=dict)
    keys: dict[str, VirtualKey] = field(default_factory=dict)

    @property
    def strict(self) -> bool:
        return self.mode == "strict"


def hash_secret(secret: str) -> str:
    """The only form in which a key's secret is kept. Header bytes that are not UTF-8 reach us
    as lone surrogates: `surrogatepass` hashes them too (to a digest no key has: a 401, not a 500)."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def read_settings(section: Section, gateway: Gateway) -> Settings:
    """The `governance:` section (through `bifrost_py.settings.load_settings`, which reports
    the keys not read here)."""
    settings = Settings(
        require_key=section.bool("require_key", True),
        mode=section.str("mode", "strict", choices=MODES),
        default_max_tokens=section.int("default_max_tokens", 4096, minimum=1),
        input_margin=section.number("input_margin", 1.5, minimum=1.0),
        unpriced=section.str("unpriced", "refuse", choices=UNPRICED),
        flush_interval=section.duration("flush_interval", 0.1),
        lease=section.duration("lease", 120.0),
        hold_max_age=section.duration("hold_max_age", 3600.0),
        sync_interval=section.duration("sync_interval", 5.0),
        session_budget=read_session_budget(section),
    )
    for name in ("flush_interval", "lease", "hold_max_age", "sync_interval"):
        seconds = getattr(settings, name)
        if not 0.001 <= seconds <= MAX_WINDOW:
            section.error(name, f"must be between 1ms and 366d; got {seconds:g}s")
    for name, sub in section.sections("customers"):
        settings.customers[name] = read_customer(name, sub, CONFIG)
    for name, sub in section.sections("teams"):
        settings.teams[name] = read_team(name, sub, CONFIG)
    for name, sub in section.sections("virtual_keys"):
        settings.keys[name] = read_key(name, sub, CONFIG, secret_required=True)
    return settings


# ----------------------------------------------------------------------------- entities


def read_customer(name: str, section: Section, source: str) -> Customer:
    customer = Customer(
        name=name,
        budgets=read_budgets(section),
        rate_limits=read_rate_limits(section),
        description=section.str("description", ""),
        source=source,
    )
    section.done()
    return customer


def read_team(name: str, section: Section, source: str) -> Team:
    team = Team(
        name=name,
        customer=section.str("customer", None),
        budgets=read_budgets(section),
        rate_limits=read_rate_limits(section),
        session_budget=read_session_budget(section),
        description=section.str("description", ""),
        source=source,
    )
    section.done()
    return team


def read_key(name: str, section: Section, source: str, *, secret_required: bool) -> VirtualKey:
    """A virtual key. In the YAML file the secret is `key` (hashed at once) or `key_sha256`."""
    digest = _read_secret(section, required=secret_required)
    cache, cache_ttl = _read_cache(section)
    key = VirtualKey(
        name=name,
        key_sha256=digest,
        team=section.str("team", None),
        customer=section.str("customer", None),
        budgets=read_budgets(section),
        rate_limits=read_rate_limits(section),
        models=tuple(section.str_list("models", [])),
        providers=_read_provider_entries(section),
        fallbacks=tuple(section.str_list("fallbacks", [])),
        max_concurrent=bounded(section, "max_concurrent", section.int("max_concurrent", None, minimum=1),
                                MAX_CONCURRENT),
        active=section.bool("active", True),
        expires_at=_read_time(section, "expires_at"),
        cache=cache,
        cache_ttl=cache_ttl,
        session_budget=read_session_budget(section),
        description=section.str("description", ""),
        source=source,
    )
    for i, fallback in enumerate(key.fallbacks):
        if "/" not in fallback:
            section.error("fallbacks", f"[{i}] must be provider/model, got {fallback!r}")
    if key.team and key.customer:
        section.error("customer", "set either team (the team's customer applies) or customer, not both")
    section.done()
    return key


def _read_secret(section: Section, *, required: bool) -> str:
    secret = section.str("key", None)
    digest = section.str("key_sha256", None)
    if secret is not None and digest is not None:
        section.error("key", "set key or key_sha256, not both")
    if secret is not None:
        if len(secret) < 8:
            section.error("key", "must be at least 8 characters")
        return hash_secret(secret)
    if digest is not None:
        digest = digest.lower()
        if not _SHA256.match(digest):
            section.error("key_sha256", "must be 64 hexadecimal characters (sha256 of the key)")
        return str(digest)
    if required:
        section.error("key", "is required (or key_sha256)")
    return ""


def _read_cache(section: Section) -> tuple[bool | None, float | None]:
    value = section.raw("cache")
    if value is None or isinstance(value, bool):
        return value, None
    sub = Section(value, section.child_path("cache"), section.problems)
    enabled = sub.bool("enabled", True)
    ttl = bounded(sub, "ttl", sub.duration("ttl", None), MAX_SECONDS, minimum=0)
    sub.done()
    return enabled, ttl


def _read_time(section: Section, key: str) -> float | None:
    """A date (`2026-12-31` expires at 00:00 UTC that day), a date-time, an ISO 8601 string
    (UTC unless it carries an offset), or Unix seconds."""
    value = section.raw(key)
    if value is None:
        return None
    try:
        return to_timestamp(value)
    except (TypeError, ValueError, OverflowError) as exc:
        section.error(key, str(exc))
        return None


def read_budgets(section: Section) -> tuple[Budget, ...]:
    """`budget: {limit, reset}` and/or `budgets: [{limit, reset}, ...]`, each enforced."""
    subs: list[Section] = []
    single = section.section("budget")
    if single is not None:
        subs.append(single)
    subs.extend(section.section_list("budgets"))
    budgets: list[Budget] = []
    for sub in subs:
        limit = number(sub, "limit", minimum=0, maximum=MAX_LIMIT)
        reset = sub.str("reset", "monthly")
        try:
            reset = check_reset(reset)
        except ValueError as exc:
            sub.error("reset", str(exc))
            reset = None      # reported; not compiled (its window could not be computed)
        sub.done()
        if limit is None or reset is None:
            continue
        if any(b.reset == reset for b in budgets):
            sub.error("reset", f"two budgets with reset {reset!r}: merge them (one cap per window)")
            continue
        budgets.append(Budget(limit=limit, reset=reset))
    return tuple(budgets)


def read_session_budget(section: Section) -> SessionBudget | None:
    """`session_budget: {limit, forget_after}`: a cap on each session's spend."""
    sub = section.section("session_budget")
    if sub is None:
        return None
    limit = number(sub, "limit", minimum=0, maximum=MAX_LIMIT)
    forget_after = str(sub.str("forget_after", "7d"))
    try:
        seconds = parse_duration(forget_after)
    except ValueError as exc:
        sub.error("forget_after", str(exc))
        seconds = -1.0
    else:
        if not 60 <= seconds <= MAX_WINDOW:
            sub.error("forget_after", f"must be between 1m and 366d; got {forget_after!r}")
    sub.done()
    if limit is None or not 60 <= seconds <= MAX_WINDOW:
        return None
    return SessionBudget(limit=limit, forget_after=forget_after)


def read_rate_limits(section: Section) -> tuple[RateLimit, ...]:
    """`rate_limit: {requests, tokens, window}` and/or `rate_limits: [...]`."""
    subs: list[Section] = []
    single = section.section("rate_limit")
    if single is not None:
        subs.append(single)
    subs.extend(section.section_list("rate_limits"))
    limits: list[RateLimit] = []
    for sub in subs:
        window = str(sub.str("window", "1m"))
        valid = False
        try:
            valid = 1 <= parse_duration(window) <= MAX_WINDOW
            if not valid:
                sub.error("window", f"must be between 1s and 366d; got {window!r}")
        except ValueError as exc:
            sub.error("window", str(exc))
        limit = RateLimit(
            window=window,
            requests=bounded(sub, "requests", sub.int("requests", None, minimum=1), MAX_COUNT),
            tokens=bounded(sub, "tokens", sub.int("tokens", None, minimum=1), MAX_COUNT),
        )
        if sub.data.get("requests") is None and sub.data.get("tokens") is None:
            sub.error(None, "needs requests, tokens or both")
        sub.done()
        if not valid:
            continue      # reported; not compiled
        if any(_seconds(other.window) == _seconds(window) for other in limits):
            sub.error("window", f"two rate limits with window {window!r}: merge them (one per window)")
            continue
        limits.append(limit)
    return tuple(limits)


def _seconds(window: str) -> float:
    try:
        return parse_duration(window)
    except ValueError:
        return -1.0


def _read_provider_entries(section: Section) -> tuple[ProviderEntry, ...]:
    entries: list[ProviderEntry] = []
    for sub in section.section_list("providers"):
        entry = ProviderEntry(
            provider=sub.str("provider"),
            weight=number(sub, "weight", minimum=0, maximum=MAX_WEIGHT, default=1.0) or 0.0,
            budgets=read_budgets(sub),
            rate_limits=read_rate_limits(sub),
        )
        sub.done()
        if entry.provider is None:
            continue
        if any(e.provider == entry.provider for e in entries):
            sub.error("provider", f"{entry.provider!r} is listed twice")
            continue
        entries.append(entry)
    return tuple(entries)


# ----------------------------------------------------------------------------- references


def check_references(
    customers: dict[str, Customer], teams: dict[str, Team], keys: dict[str, VirtualKey],
    providers: Collection[str], problems: Problems, root: str = "governance",
) -> None:
    """Every team, customer, provider and fallback a definition names must exist; no two keys
    may share a secret."""
    for team in teams.values():
        if team.customer and team.customer not in customers:
            problems.add(f"{root}.teams.{team.name}.customer", f"no customer named {team.customer!r}")
    seen: dict[str, str] = {}
    for key in keys.values():
        path = f"{root}.virtual_keys.{key.name}"
        if key.team and key.team not in teams:
            problems.add(f"{path}.team", f"no team named {key.team!r}")
        if key.customer and key.customer not in customers:
            problems.add(f"{path}.customer", f"no customer named {key.customer!r}")
        for i, entry in enumerate(key.providers):
            if entry.provider not in providers:
                problems.add(f"{path}.providers[{i}].provider", f"no provider named {entry.provider!r}")
        for i, fallback in enumerate(key.fallbacks):
            provider = fallback.partition("/")[0]
            if "/" in fallback and provider not in providers:
                problems.add(f"{path}.fallbacks[{i}]", f"no provider named {provider!r}")
        if key.key_sha256:
            other = seen.setdefault(key.key_sha256, key.name)
            if other != key.name:
                problems.add(f"{path}.key", f"the same secret as virtual key {other!r}")


# ----------------------------------------------------------------------------- serialising


def entity_dict(entity: Entity) -> dict[str, Any]:
    """The definition as the admin API shows it and the database stores it (the config shape;
    never a secret: keys carry only key_sha256)."""
    data: dict[str, Any] = {}
    if isinstance(entity, Team) and entity.customer:
        data["customer"] = entity.customer
    if isinstance(entity, VirtualKey):
        data.update(_key_fields(entity))
    if entity.budgets:
        data["budgets"] = [b.as_dict() for b in entity.budgets]
    if entity.rate_limits:
        data["rate_limits"] = [r.as_dict() for r in entity.rate_limits]
    if isinstance(entity, Team | VirtualKey) and entity.session_budget is not None:
        data["session_budget"] = entity.session_budget.as_dict()
    if entity.description:
        data["description"] = entity.description
    return data


def _key_fields(key: VirtualKey) -> dict[str, Any]:
    data: dict[str, Any] = {"key_sha256": key.key_sha256, "active": key.active}
    for name in ("team", "customer", "max_concurrent"):
        value = getattr(key, name)
        if value is not None:
            data[name] = value
    if key.expires_at is not None:
        data["expires_at"] = iso(key.expires_at)
    if key.models:
        data["models"] = list(key.models)
    if key.providers:
        data["providers"] = [_entry_dict(e) for e in key.providers]
    if key.fallbacks:
        data["fallbacks"] = list(key.fallbacks)
    if key.cache is not None:
        data["cache"] = {"enabled": key.cache, **({"ttl": key.cache_ttl} if key.cache_ttl is not None else {})}
    return data


def _entry_dict(entry: ProviderEntry) -> dict[str, Any]:
    data: dict[str, Any] = {"provider": entry.provider, "weight": entry.weight}
    if entry.budgets:
        data["budgets"] = [b.as_dict() for b in entry.budgets]
    if entry.rate_limits:
        data["rate_limits"] = [r.as_dict() for r in entry.rate_limits]
    return data


def read_entity(kind: str, name: str, data: Any, source: str = API) -> tuple[Entity | None, list[str]]:
    """Parse one definition (from the database or an API body): (entity, problems)."""
    from .entities import CUSTOMER, TEAM

    problems = Problems()
    section = Section(data, kind, problems)
    entity: Entity
    if kind == CUSTOMER:
        entity = read_customer(name, section, source)
    elif kind == TEAM:
        entity = read_team(name, section, source)
    else:
        entity = read_key(name, section, source, secret_required=False)
    return (None, problems.items) if problems.items else (entity, [])
