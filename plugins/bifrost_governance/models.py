"""Model lists as a key sees them: only what it may use."""

from __future__ import annotations

from typing import Any

from bifrost_py.context import ModelInfo
from bifrost_py.modellist import describe_model

from .plan import KeyPlan

_GLOB = set("*?[")


def visible_models(plan: KeyPlan, models: list[ModelInfo], gateway: Any) -> list[ModelInfo]:
    """The listed models the key may use, plus the exact names of its `models:` that a provider
    serves though the list lacks them (a dated name under a glob the catalogue lists undated)."""
    shown = [m for m in models if plan.allows_model(m.id) and plan.allows_provider(m.provider)]
    present = {m.id for m in shown}
    for name in plan.key.models:
        if name in present or _GLOB & set(name):
            continue
        targets = gateway.resolve(name)
        if targets and plan.allows_provider(targets[0].provider):
            provider = gateway.providers.get(targets[0].provider)
            shown.append(describe_model(name, provider) if provider is not None
                         else ModelInfo(id=name, provider=targets[0].provider))
            present.add(name)
    return shown
