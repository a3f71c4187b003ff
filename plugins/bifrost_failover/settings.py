"""The `failover:` section of the config, read once into a frozen value.

Everything the other modules decide on comes from here, so that `bifrost-py check` reports every
problem of the section (with its path) before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bifrost_py.settings import Section

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

SECTION = "failover"
DEFAULT_ON_STATUS = (408, 429, 500, 502, 503, 504, 529)
WHEN_ALL_OPEN = ("try", "fail")


@dataclass(slots=True, frozen=True)
class Backoff:
    """Exponential backoff between retries of one target: base * 2**(n-1), capped at `max`,
    with "equal jitter" (a uniform draw in the upper half) so that clients do not retry in step."""

    base: float = 0.25
    max: float = 8.0


@dataclass(slots=True, frozen=True)
class Circuit:
    """Open a target's circuit after `failures` failures within `window` seconds; after
    `cooldown` seconds one probe request is let through (half-open)."""

    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0
    when_all_open: str = "try"      # "try": use the targets anyway; "fail": 503 at once


@dataclass(slots=True, frozen=True)
class KeyCooldowns:
    """How long a provider API key is put aside: refused (401/403) or rate limited (429 without
    a usable retry-after)."""

    refused: float = 300.0
    rate_limited: float = 30.0


@dataclass(slots=True, frozen=True)
class FailoverSettings:
    chains: dict[str, tuple[str, ...]] = field(default_factory=dict)
    on_status: frozenset[int] = frozenset(DEFAULT_ON_STATUS)
    retries: int = 1
    backoff: Backoff = Backoff()
    retry_after_cap: float = 10.0
    timeout: float | None = None
    circuit: Circuit = Circuit()
    keys: KeyCooldowns = KeyCooldowns()
    request_header: bool = True
    context_window_fallbacks: dict[str, tuple[str, ...]] = field(default_factory=dict)


def read_settings(section: Section, gateway: Gateway) -> FailoverSettings:
    """Read and check the section (through `load_settings`, which reports the keys left unread);
    problems are recorded on it with their paths, not raised."""
    settings = FailoverSettings(
        chains=_read_chains(section, "chains", gateway),
        on_status=frozenset(_read_statuses(section)),
        retries=section.int("retries", 1, minimum=0),
        backoff=_read_backoff(section.section("backoff")),
        retry_after_cap=section.duration("retry_after_cap", 10.0),
        timeout=section.duration("timeout", None),
        circuit=_read_circuit(section),
        keys=_read_keys(section.section("keys")),
        request_header=section.bool("request_header", True),
        context_window_fallbacks=_read_chains(section, "context_window_fallbacks", gateway),
    )
    if settings.timeout is not None and settings.timeout <= 0:
        section.error("timeout", "must be a positive duration")
    return settings


def _read_statuses(section: Section) -> list[int]:
    statuses: list[int] = section.int_list("on_status", list(DEFAULT_ON_STATUS))
    for status in statuses:
        if not 400 <= status <= 599:
            section.error("on_status", f"{status} is not an HTTP error status (400-599)")
    return statuses


def _read_backoff(section: Section | None) -> Backoff:
    if section is None:
        return Backoff()
    backoff = Backoff(base=section.duration("base", 0.25), max=section.duration("max", 8.0))
    if backoff.max < backoff.base:
        section.error("max", "must not be smaller than base")
    section.done()
    return backoff


def _read_circuit(section: Section) -> Circuit:
    """`cooldown:` sits at the top of the section (CONTRACT.md); the rest under `circuit:`."""
    cooldown = section.duration("cooldown", 30.0)
    sub = section.section("circuit")
    if sub is None:
        return Circuit(cooldown=cooldown)
    circuit = Circuit(
        failures=sub.int("failures", 5, minimum=1),
        window=sub.duration("window", 60.0),
        cooldown=cooldown,
        when_all_open=sub.str("when_all_open", "try", choices=WHEN_ALL_OPEN),
    )
    sub.done()
    return circuit


def _read_keys(section: Section | None) -> KeyCooldowns:
    if section is None:
        return KeyCooldowns()
    keys = KeyCooldowns(
        refused=section.duration("refused_cooldown", 300.0),
        rate_limited=section.duration("rate_limited_cooldown", 30.0),
    )
    section.done()
    return keys


def _read_chains(section: Section, key: str, gateway: Gateway) -> dict[str, tuple[str, ...]]:
    """model name (or glob) -> chain entries; each entry must name something configured. A
    chain is a list (`MODEL: [provider, provider/model, ...]`) or, as the admin API sends it, a
    mapping `{chain: [...]}`; such a mapping without `chain` is "missing 'chain'", for the file
    and the API alike."""
    sub = section.section(key)
    if sub is None:
        return {}
    chains: dict[str, tuple[str, ...]] = {}
    for model in sub.keys():  # noqa: SIM118 (Section.keys, not a dict)
        entries = _chain_entries(sub, model)
        for entry in entries:
            problem = entry_problem(entry, gateway)
            if problem:
                sub.error(model, problem)
        chains[model] = tuple(entries)
    return chains


def _chain_entries(chains: Section, model: str) -> list[str]:
    if not isinstance(chains.raw(model), dict):
        entries: list[str] = chains.str_list(model, [])
        return entries
    fields = chains.section(model)
    assert fields is not None
    if not fields.has("chain"):
        chains.error(model, "missing 'chain' (the providers or models to try in order, e.g. "
                            "[bedrock, openai/gpt-4o])")
    entries = fields.str_list("chain", [])
    fields.done()  # any other field is an unknown key
    return entries


def entry_problem(entry: str, gateway: Gateway) -> str | None:
    """Why a chain entry names nothing this gateway serves, or None when it is fine."""
    entry = entry.strip()
    if not entry:
        return "an empty chain entry"
    if entry in gateway.providers:
        return None
    if gateway.resolve(entry):
        return None
    if "/" in entry:
        return f"'{entry}': no provider named '{entry.partition('/')[0]}' is configured"
    return f"'{entry}' is neither a configured provider nor a model any provider serves"
