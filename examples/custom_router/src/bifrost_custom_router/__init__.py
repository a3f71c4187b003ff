"""An example third-party plugin that makes the routing decision itself.

It reads a header (`x-team-tier` by default) and sends the request where the `custom_router:`
section says that tier goes:

    custom_router:
      header: x-team-tier
      tiers:
        gold: anthropic/claude-opus-4-1-20250805
        free: openai/gpt-4o-mini
      default: null            # tier for requests without the header; null = leave them alone

Everything it does goes through the public plugin API: `bifrost_configure` reads and checks its
own config section, `bifrost_route` rewrites the first target and records the decision in
`call.route_rule` (the core sends it back as `x-bf-route`, the cost log logs it). Its route hook
is `tryfirst`, so it runs before the built-in `routing` plugin however it is loaded, and decides
alone: routing sees `call.route_rule` already set and leaves the decision as it is, and failover
(`trylast`) still appends its fallbacks after it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from bifrost_py import Call, Target, hookimpl
from bifrost_py.errors import InvalidRequest

PLUGIN_NAME = "custom_router"
SECTION = "custom_router"


@dataclass(slots=True)
class TierSettings:
    header: str = "x-team-tier"
    tiers: dict[str, Target] = field(default_factory=dict)
    default: str | None = None


class TierRouter:
    """Routes by the caller's tier header. One instance per gateway (see `bifrost_plugin`)."""

    def __init__(self) -> None:
        self.settings = TierSettings()

    @hookimpl
    def bifrost_configure(self, gateway: Any) -> None:
        section = gateway.plugin_section(SECTION)
        settings = TierSettings(header=section.str("header", "x-team-tier").lower())
        tiers = section.section("tiers")
        for tier in tiers.keys() if tiers is not None else []:
            target = _target(gateway, str(tiers.str(tier, "")))
            if target is None:
                tiers.error(tier, "must be provider/model with a configured provider")
            else:
                settings.tiers[tier] = target
        settings.default = section.str("default", None)
        if settings.default is not None and settings.default not in settings.tiers:
            section.error("default", f"'{settings.default}' is not one of the tiers")
        section.done()
        self.settings = settings

    @hookimpl(tryfirst=True)  # before the built-in routing plugin: decide, and it leaves it alone
    async def bifrost_route(self, call: Call, targets: list[Target]) -> list[Target] | None:
        tier = call.headers.get(self.settings.header) or self.settings.default
        if tier is None:
            return None                      # no opinion: the built-in routing decides
        target = self.settings.tiers.get(tier)
        if target is None:
            raise InvalidRequest(f"{self.settings.header}: unknown tier '{tier}'")
        call.route_rule = f"tier:{tier}"
        return [replace(target, rule=call.route_rule), *targets[1:]]


def _target(gateway: Any, text: str) -> Target | None:
    provider, slash, model = text.partition("/")
    if not slash or not model or provider not in gateway.providers:
        return None
    return Target(provider, model)


def bifrost_plugin(gateway: Any) -> TierRouter:
    """A fresh instance per gateway: no module-level state."""
    return TierRouter()
