"""Fallback chains: where a chain comes from, and how its entries become Targets.

A chain entry is `provider` (the same model on another provider), `provider/model`, or a bare
model name resolved the way a request's `model` is. The most specific chain wins: the
request's `x-bf-fallbacks` header, then the virtual key's `fallbacks`, then `failover.chains`
for the model. Entries already in the target list are not added twice, so a chain may name the
primary itself (`[anthropic, bedrock, openai/gpt-4o]`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

from bifrost_py.context import Call, Target
from bifrost_py.errors import InvalidRequest

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

HEADER = "x-bf-fallbacks"
NO_FALLBACKS = ("none", "off")
SOURCE_HEADER = "header"
SOURCE_KEY = "key"
SOURCE_CHAIN = "chain"
SOURCE_CONTEXT = "context-window"


def rule_for(source: str) -> str:
    """The `Target.rule` of a fallback: says in logs why this target was tried."""
    return f"failover:{source}"


def parse_header(value: str) -> list[str]:
    """`x-bf-fallbacks: bedrock/claude-sonnet-4-20250514, openai/gpt-4o`; `none` for no fallback."""
    entries = [part.strip() for part in value.split(",") if part.strip()]
    if len(entries) == 1 and entries[0].lower() in NO_FALLBACKS:
        return []
    return entries


def lookup(chains: Mapping[str, Sequence[str]], *models: str) -> tuple[str, ...] | None:
    """The chain configured for the first of `models` that has one: exact names first, then
    globs in the order they are written."""
    for model in models:
        if model in chains:
            return tuple(chains[model])
    for model in models:
        for pattern, entries in chains.items():
            if fnmatch.fnmatchcase(model, pattern):
                return tuple(entries)
    return None


class ChainTable:
    """`failover.chains` with lookups remembered per model pair: glob matching costs more than
    the rest of failover's per-request work, and the same few models come back all day. The
    Targets a configured chain (or a key's fallbacks) resolves to are remembered too, per
    (entries, source, model) and for one version of the provider table: a provider added,
    changed or removed at run time (`gateway.providers_version`) starts them afresh, and a
    change of the chains themselves builds a new table. So is a request's whole list when
    routing chose one target (the usual case): that target followed by its chain."""

    LIMIT = 10_000

    def __init__(self, chains: Mapping[str, Sequence[str]]) -> None:
        self.chains = chains
        self._memo: dict[tuple[str, str], tuple[str, ...] | None] = {}
        self._targets: dict[tuple[tuple[str, ...], str, str], tuple[Target, ...]] = {}
        # (provider, model, rule, key_name of the primary, entries, source) -> the targets after it
        self._extended: dict[tuple[str, str, str | None, str | None, tuple[str, ...], str], tuple[Target, ...]] = {}
        self._providers_version = -1

    def lookup(self, routed: str, requested: str) -> tuple[str, ...] | None:
        key = (routed, requested)
        if key in self._memo:
            return self._memo[key]
        found = lookup(self.chains, routed, requested)
        if len(self._memo) < self.LIMIT:
            self._memo[key] = found
        return found

    def _start_afresh(self, gateway: Gateway) -> None:
        self._targets.clear()
        self._extended.clear()
        self._providers_version = gateway.providers_version

    def targets(self, entries: tuple[str, ...], source: str, model: str, gateway: Gateway) -> tuple[Target, ...]:
        """`resolve_chain(...)` of a chain that is not the caller's header, remembered."""
        if gateway.providers_version != self._providers_version:
            self._start_afresh(gateway)
        key = (entries, source, model)
        found = self._targets.get(key)
        if found is None:
            found = resolve_chain(entries, source, model, gateway, strict=False)
            if len(self._targets) < self.LIMIT:
                self._targets[key] = found
        return found

    def extended(self, primary: Target, entries: tuple[str, ...], source: str, gateway: Gateway) -> list[Target]:
        """`primary` followed by the targets of its chain that are not already in the list; what
        follows it is remembered (keyed by its fields: hashing a Target is a Python call)."""
        if gateway.providers_version != self._providers_version:
            self._start_afresh(gateway)
        key = (primary.provider, primary.model, primary.rule, primary.key_name, entries, source)
        after = self._extended.get(key)
        if after is None:
            after = tuple(_append_new([primary], self.targets(entries, source, primary.model, gateway))[1:])
            if len(self._extended) < self.LIMIT:
                self._extended[key] = after
        return [primary, *after]


def chain_for(call: Call, primary: Target, table: ChainTable,
              allow_header: bool) -> tuple[str, tuple[str, ...]] | None:
    """(source, entries) of the chain that applies to this call, or None when none does."""
    header = call.headers.get(HEADER) if allow_header else None
    if header is not None:
        return SOURCE_HEADER, tuple(parse_header(header))
    fallbacks = call.caller.fallbacks if call.caller is not None else ()
    if fallbacks:
        return SOURCE_KEY, fallbacks
    found = table.lookup(primary.model, call.model)
    return (SOURCE_CHAIN, found) if found is not None else None


def resolve_entry(entry: str, model: str, gateway: Gateway) -> Target | None:
    """The Target an entry names; a bare provider name keeps `model`."""
    entry = entry.strip()
    if entry in gateway.providers:
        return Target(entry, model)
    found = gateway.resolve(entry)
    return found[0] if found else None


def resolve_chain(entries: Sequence[str], source: str, model: str, gateway: Gateway,
                  *, strict: bool) -> tuple[Target, ...]:
    """The Targets a chain's entries name (bare providers keep `model`), each with the rule of
    `source`. With `strict`, an entry that names nothing is the caller's mistake (400);
    otherwise it is skipped."""
    rule = rule_for(source)
    out = []
    for entry in entries:
        target = resolve_entry(entry, model, gateway)
        if target is None:
            if strict:
                raise InvalidRequest(f"{HEADER}: '{entry}' is neither a configured provider nor a served model")
            continue
        out.append(replace(target, rule=rule))
    return tuple(out)


def extend(targets: list[Target], entries: Sequence[str], source: str, gateway: Gateway,
           *, strict: bool, table: ChainTable | None = None) -> list[Target]:
    """`targets` followed by the chain's targets not already in it. With `strict`, an entry that
    names nothing is the caller's mistake (400); otherwise it is skipped. With `table`, a
    chain that is not strict is resolved once and remembered there."""
    model = targets[0].model if targets else ""
    if table is not None and not strict and isinstance(entries, tuple):
        if len(targets) == 1:
            return table.extended(targets[0], entries, source, gateway)
        chain = table.targets(entries, source, model, gateway)
    else:
        chain = resolve_chain(entries, source, model, gateway, strict=strict)
    return _append_new(list(targets), chain)


def _append_new(out: list[Target], chain: Sequence[Target]) -> list[Target]:
    """`out` with the targets of `chain` it does not hold yet (by provider and model) appended."""
    seen = {(t.provider, t.model) for t in out}
    for target in chain:
        if (target.provider, target.model) not in seen:
            seen.add((target.provider, target.model))
            out.append(target)
    return out
