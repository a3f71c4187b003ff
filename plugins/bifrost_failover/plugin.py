"""The failover plugin: the hooks, wiring chains, breakers, key rotation and decisions together.

    route           append the fallback chain; leave out targets whose circuit is open or whose
                    provider has no usable key; set the request's deadline
    pre_attempt     an attempt on a half-open target becomes its probe; a streamed probe
                    reports success at its first event, not minutes later at its end
    post_attempt    facts: put a refused or rate-limited key aside, count the attempt for or
                    against its target's circuit
    should_fall_back  the decision: another key, the same target after a delay, the next target,
                    or stop (decisions.py)
    request_end     give back a half-open probe the request held but did not use
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from bifrost_py import hookimpl
from bifrost_py.context import Advice, Attempt, Call, StashKey, Target
from bifrost_py.health import Circuit, TargetHealth
from bifrost_py.settings import load_settings

from . import admin, chains
from .admission import admit, when_nothing_admitted
from .breaker import CLOSED, OPEN, BreakerBoard, Key
from .decisions import MEMORY, Decider, memory
from .editing import editable_chains
from .failures import HEALTH_FAILURES, Kind, classify, describe
from .keys import RATE_LIMITED, put_aside
from .metrics import FailoverMetrics
from .settings import SECTION, FailoverSettings, read_settings

if TYPE_CHECKING:
    from bifrost_py.admin import AdminRoute
    from bifrost_py.configstore import EditableSection
    from bifrost_py.gateway import Gateway

log = logging.getLogger("bifrost_failover")
KIND = StashKey[Kind]("failover.kind")
# The attempt went to a target whose circuit was not closed on purpose (the half-open probe, or
# tried because every target was open): only such an attempt's success closes the circuit. An
# attempt already under way or scheduled (a retry) when the circuit opened is no trial.
TRIAL = StashKey[bool]("failover.trial")


class FailoverPlugin:
    """One per Gateway: the breakers and metrics live here, per-request state on the Call."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = FailoverSettings()
        self.board = BreakerBoard(self.settings.circuit)
        self.decider = Decider(self.settings, gateway)
        self.chains = chains.ChainTable({})
        self.metrics: FailoverMetrics | None = None
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self.editable: EditableSection[FailoverSettings] | None = None

    # ------------------------------------------------------------------ start-up

    @hookimpl
    def bifrost_configure(self, gateway: Gateway) -> None:
        self.settings = load_settings(gateway, SECTION, read_settings)
        self.board = BreakerBoard(self.settings.circuit)
        self.decider = Decider(self.settings, gateway)
        self.chains = chains.ChainTable(self.settings.chains)
        self.metrics = FailoverMetrics(gateway.metrics, self.board)
        self.editable = editable_chains(gateway, self.apply)

    @hookimpl
    async def bifrost_startup(self, gateway: Gateway) -> None:
        if self.editable is not None:
            await self.editable.follower.start()  # the chains added in the web UI, followed from now on

    def apply(self, settings: FailoverSettings) -> None:
        """Serve `settings` (the file's chains and the ones added at run time) from the next
        request on; circuits and key cool-downs are kept (they describe the upstreams)."""
        self.settings = settings
        self.chains = chains.ChainTable(settings.chains)

    @hookimpl
    async def bifrost_shutdown(self, gateway: Gateway) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    @hookimpl
    def bifrost_admin_routes(self, gateway: Gateway) -> list[AdminRoute]:
        return admin.routes(self)

    # ------------------------------------------------------------------ per request

    @hookimpl(trylast=True)  # appends fallbacks to what the routers decided
    async def bifrost_route(self, call: Call, targets: list[Target]) -> list[Target] | None:
        settings = self.settings
        if settings.timeout is not None and call.deadline is None:
            call.deadline = call.started + settings.timeout
        if not targets:
            return None
        chain = chains.chain_for(call, targets[0], self.chains, settings.request_header)
        if chain is not None:
            source, entries = chain
            targets = chains.extend(targets, entries, source, self.gateway, strict=source == chains.SOURCE_HEADER,
                                    table=self.chains)
        usable, skipped = admit(targets, call.request_id, self.board, self.gateway.providers)
        for item in skipped:
            self._count_skip(item.target, item.why)
        if not usable:
            usable = when_nothing_admitted(skipped, settings.circuit.when_all_open, self.board, self.gateway.providers)
            memory(call).forced.update((t.provider, t.model) for t in usable)
        return usable

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> None:
        if not self.board.opened:
            return  # every circuit is closed: no attempt is a probe
        key = (attempt.target.provider, attempt.target.model)
        if self.board.state(key) == CLOSED:
            return
        remembered = memory(attempt.call)
        if self.board.claim_probe(key, attempt.call.request_id):
            remembered.probes.add(key)
        elif key not in remembered.forced:
            return  # e.g. a retry scheduled before the circuit opened: not a trial
        attempt.stash[TRIAL] = True
        if attempt.call.stream:
            attempt.observe_stream(FirstEvent(self, key))

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        kind = classify(attempt, self.settings.on_status)
        outcome = attempt.outcome
        if kind is Kind.OK:  # a success says something only when the attempt was a trial
            if outcome.reply is None and outcome.refused_by is None and attempt.stash.get(TRIAL):
                self.answered((attempt.target.provider, attempt.target.model))
            return
        attempt.stash[KIND] = kind
        if outcome.reply is not None or outcome.refused_by is not None:
            return  # no provider was called: nothing learnt about it
        target = attempt.target
        provider = self.gateway.providers.get(target.provider)
        aside = put_aside(attempt, kind, provider, self.settings.keys) if provider is not None else None
        if aside is not None and self.metrics is not None:
            self.metrics.keys_put_aside.labels(target.provider, aside).inc()
        if kind in HEALTH_FAILURES and aside != RATE_LIMITED:
            self._count_failure((target.provider, target.model), attempt)

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Attempt) -> Advice | None:
        kind = attempt.stash.get(KIND) or classify(attempt, self.settings.on_status)
        target = attempt.target
        circuit_open = self.board.state((target.provider, target.model)) == OPEN
        advice = self.decider.decide(attempt, kind, circuit_open)
        if self.metrics is not None:
            self.metrics.decisions.labels(advice.action, kind.value).inc()
        log.info("request %s: attempt #%d %s failed; %s (%s)", attempt.call.request_id, attempt.number,
                 describe(attempt), advice.action, advice.reason)
        return advice

    @hookimpl
    async def bifrost_request_end(self, call: Call) -> None:
        if not self.board.opened:
            return  # every circuit closed: no probe is held (closing or re-opening frees it)
        remembered = call.stash.get(MEMORY)
        if remembered is not None and remembered.probes:
            self.board.release(call.request_id)

    # ------------------------------------------------------------------ circuit state

    def answered(self, key: Key) -> None:
        """The target answered: close its circuit if it was not closed."""
        if self.board.record_success(key):
            log.warning("circuit of %s/%s closed: it answered again", *key)
            self._publish(key)

    def _count_failure(self, key: Key, attempt: Attempt) -> None:
        if self.board.record_failure(key, describe(attempt)):
            log.warning("circuit of %s/%s opened after %s; skipping it for %gs", key[0], key[1],
                        describe(attempt), self.settings.circuit.cooldown)
            if self.metrics is not None:
                self.metrics.circuit_opened.labels(*key).inc()
        self._publish(key)
        if self.board.state(key) == OPEN:
            self._publish_later(key, self.board.retry_in(key))

    def _count_skip(self, target: Target, why: str) -> None:
        if self.metrics is not None:
            self.metrics.skipped.labels(target.provider, target.model, why).inc()

    def _publish(self, key: Key) -> None:
        """Publish the target's circuit as the provider's health: routing reads it, the core's
        /api/providers shows it. No `reopens_at`: the board keeps its own clock, and
        `_publish_later` publishes again when a cooldown ends."""
        provider = self.gateway.providers.get(key[0])
        if provider is not None:
            details = self.board.snapshot(key)
            circuit = Circuit(str(details.pop("state")))
            provider.health.publish(key[1], TargetHealth(circuit, details=details))

    def _publish_later(self, key: Key, seconds: float) -> None:
        """Refresh the published state when the cooldown ends (open -> half-open by time)."""
        previous = self._timers.pop(key, None)
        if previous is not None:
            previous.cancel()
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(seconds + 0.01, self._publish, key)


class FirstEvent:
    """Stream observer on a probe: the first event relayed to the client proves the target
    answers, so its circuit closes then rather than when a long stream ends."""

    __slots__ = ("key", "plugin", "seen")

    def __init__(self, plugin: FailoverPlugin, key: Key) -> None:
        self.plugin = plugin
        self.key = key
        self.seen = False

    def on_event(self, dialect: str, event: str | None, data: object) -> None:
        if not self.seen:
            self.seen = True
            self.plugin.answered(self.key)
