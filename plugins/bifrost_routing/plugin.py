"""The routing plugin: the hooks, wiring settings, the router, session memory and metrics.

    route         decide (router.py) unless an earlier plugin already did (`call.route_rule`
                  set); put the chosen target first, record the decision on the call
    post_attempt  learn from the attempts of a session's call: where it was served, or which
                  target failed it (so the session moves on only when its target is unhealthy)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bifrost_py import hookimpl
from bifrost_py.context import MESSAGES, Attempt, Call, StashKey, Target
from bifrost_py.settings import load_settings

from . import admin
from .editing import editable_rules
from .metrics import RoutingMetrics
from .router import Decision, Router
from .settings import SECTION, RoutingSettings, read_settings

if TYPE_CHECKING:
    from bifrost_py.admin import AdminRoute
    from bifrost_py.configstore import EditableSection
    from bifrost_py.gateway import Gateway

DECISION = StashKey[Decision]("routing.decision")  # a session's call only (what post_attempt learns from)
TARGET_HEADER = "x-bf-route-target"
SESSION_HEADER = "x-bf-route-session"


class RoutingPlugin:
    """One per Gateway: the session memory and metrics live here, per-request state on the Call."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = RoutingSettings()
        self.router = Router(self.settings, gateway)
        self.metrics: RoutingMetrics | None = None
        self.rules: EditableSection[RoutingSettings] | None = None

    # ------------------------------------------------------------------ start-up

    @hookimpl
    def bifrost_configure(self, gateway: Gateway) -> None:
        self.settings = load_settings(gateway, SECTION, read_settings)
        self.router = Router(self.settings, gateway)
        self.metrics = RoutingMetrics(gateway.metrics, lambda: len(self.router.sessions))
        self.rules = editable_rules(gateway, self.apply)

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        if self.rules is not None:
            await self.rules.follower.start()  # the rules added in the web UI, followed from now on

    def apply(self, settings: RoutingSettings) -> None:
        """Serve `settings` (the file's rules and the ones added at run time) from the next
        request on: one assignment, so a request decides on the old rules or the new, never half."""
        self.settings = settings
        self.router.settings = settings

    @hookimpl
    def bifrost_admin_routes(self, gateway: Gateway) -> list[AdminRoute]:
        return admin.routes(self)

    # ------------------------------------------------------------------ per request

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Target]) -> list[Target] | None:
        if call.route_rule is not None:
            return None  # an earlier plugin (a custom router) made the decision: respect it
        decision = self.router.decide(call, targets)
        if decision is None:
            return None
        call.route_rule = decision.rule
        target = decision.target
        headers = call.response_headers
        headers[TARGET_HEADER] = str(target)
        placement = decision.placement
        if placement is not None:
            call.stash[DECISION] = decision  # only a session's attempts teach the router anything
            headers[SESSION_HEADER] = placement
            if call.endpoint != MESSAGES:
                placement = None  # count_tokens calls place nothing (no attempt follows)
        if self.metrics is not None:
            self.metrics.decided(decision.rule, target.provider, placement)
        if targets and target is targets[0]:
            return None  # the core's own first target stands (the header and the count say so)
        return [target, *targets[1:]]

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        decision = attempt.call.stash.get(DECISION)
        if decision is not None and decision.session is not None:
            self.router.observe(decision, attempt.target, attempt.key_name, attempt.outcome)
