"""What the gateway serves, as a list a model picker can use (`GET /v1/models` and friends).

Providers usually declare globs (`claude-*`) or nothing at all (the model family), which cannot
be listed as such. They are expanded against the genai-prices catalogue of the provider's type:
every catalogue model the glob (or family) matches and that the gateway would really send to
that provider (`gateway.resolve`) is listed, with the catalogue's display name and context
window. Catalogue entries without a display name (retired ids kept to match old price sources,
fine-tune prefixes) are left out: a picker offering them would offer names no provider answers.

Built once per gateway (the catalogue walk takes milliseconds; providers do not change while
the gateway runs), then filtered per caller by the `bifrost_list_models` hooks (governance).
"""

from __future__ import annotations

import fnmatch
import re
import weakref
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from .context import ModelInfo
from .providers.base import Provider

# Which catalogue providers describe the models a provider type serves (the mock serves any).
CATALOGS: dict[str, tuple[str, ...]] = {
    "anthropic": ("anthropic",),
    "openai": ("openai",),
    "azure": ("openai", "azure"),
    "bedrock": ("aws", "anthropic"),
    "gemini": ("google",),
    "mock": ("anthropic", "openai", "google"),
}
_GLOB = re.compile(r"[*?\[]")
_LISTABLE_ID = re.compile(r"^[a-z0-9][a-z0-9.\-]*[a-z0-9]$")
_DATED = re.compile(r"(\d{4})-?(\d{2})-?(\d{2})$")

_built: weakref.WeakKeyDictionary[Any, list[ModelInfo]] = weakref.WeakKeyDictionary()


def served_models(gateway: Any) -> list[ModelInfo]:
    """Every model the gateway's providers serve, exact names first in config order, then the
    catalogue models their globs and families match. A fresh list: callers may filter it."""
    found = _built.get(gateway)
    if found is None:
        found = _build(gateway)
        _built[gateway] = found
    return list(found)


def _build(gateway: Any) -> list[ModelInfo]:
    listed: dict[str, ModelInfo] = {}
    for provider in gateway.providers.values():
        for name in provider.config.models:
            if not _GLOB.search(name) and name not in listed:
                listed[name] = describe_model(name, provider)
    for provider in gateway.providers.values():
        patterns = provider.config.models or _family_patterns(provider.type)
        globs = [p for p in patterns if _GLOB.search(p)]
        for entry in _catalog_models(CATALOGS.get(provider.type, ())):
            if entry.id in listed or not any(fnmatch.fnmatchcase(entry.id, g) for g in globs):
                continue
            targets = gateway.resolve(entry.id)
            if targets and targets[0].provider == provider.name:
                listed[entry.id] = _info(entry.id, provider.name, entry)
    return list(listed.values())


def _family_patterns(provider_type: str) -> list[str]:
    """The model families a provider listing no models serves (gateway.FAMILIES)."""
    from .gateway import FAMILIES

    return [p for patterns, types in FAMILIES if provider_type in types for p in patterns]


def _catalog_models(catalog_ids: Iterable[str]) -> list[Any]:
    """Listable catalogue models of these catalogue providers, in catalogue order."""
    from genai_prices import data_snapshot

    providers = {p.id: p for p in data_snapshot.get_snapshot().providers}
    models = []
    for catalog_id in catalog_ids:
        provider = providers.get(catalog_id)
        for model in provider.models if provider is not None else ():
            if model.name and not model.deprecated and _LISTABLE_ID.match(model.id):
                models.append(model)
    return models


def describe_model(name: str, provider: Provider) -> ModelInfo:
    """An exact configured name, with the catalogue's description of it when it has one."""
    from genai_prices import data_snapshot

    snapshot = data_snapshot.get_snapshot()
    for catalog_id in CATALOGS.get(provider.type, ()):
        try:
            _, entry = snapshot.find_provider_model(name, None, catalog_id, None)
        except LookupError:
            continue
        return _info(name, provider.name, entry)
    return ModelInfo(id=name, provider=provider.name, created=created_from_name(name))


def _info(name: str, provider: str, entry: Any) -> ModelInfo:
    return ModelInfo(id=name, provider=provider, display_name=entry.name or "", created=created_from_name(name),
                     context_window=entry.context_window or 0)


def created_from_name(name: str) -> int:
    """The release date a model id carries (`-20250514`, `-2024-08-06`) as a Unix time; 0 when
    it carries none (the catalogue has no release dates)."""
    match = _DATED.search(name)
    if match is None or not 2000 <= int(match.group(1)) < 2100:
        return 0
    try:
        year, month, day = (int(g) for g in match.groups())
        return int(datetime(year, month, day, tzinfo=UTC).timestamp())
    except ValueError:
        return 0


def created_at(info: ModelInfo) -> str:
    """Anthropic's `created_at` (RFC 3339); the Unix epoch when the date is unknown."""
    return datetime.fromtimestamp(info.created, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
