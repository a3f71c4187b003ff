"""The request path: who is calling, what they may use, and whether every cap still has room.

On each attempt governance *claims* from every cap that applies (customer, team, key, and the
key's entry for this attempt's provider): the worst-case cost of the request, its worst-case
tokens, one request. The counter store admits all claims or none. When the attempt ends the
hold is settled with what the provider really reported, so a failed attempt costs nothing and a
stream cut short costs what was streamed.

Worst case = (estimated prompt tokens × input_margin) at the dearer of the input and
cache-write price + max_tokens at the output price. An OpenAI request without max_tokens is
held at `default_max_tokens`. If a provider bills more than was held (a prompt the estimate
under-counted, an answer longer than default_max_tokens), the excess is still charged and
counted in `bifrost_governance_overruns_total`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from bifrost_py.context import (
    EMBEDDINGS,
    MESSAGES,
    Attempt,
    Call,
    Caller,
    ProviderWeight,
    StashKey,
    Target,
)
from bifrost_py.counting import call_estimate
from bifrost_py.errors import AuthenticationFailed, GatewayError, PermissionDenied

from .counters import Admission, Claim, CounterStore, MemoryCounters
from .liveness import owner
from .periods import iso
from .plan import IN_FLIGHT, MONEY, NANO, SESSION, TOKENS, Cap, KeyPlan
from .publish import BudgetPublisher
from .redis_rebuild import CountersRebuilding
from .refusals import refusal, session_exhausted, unpriced
from .registry import Registry
from .settings import Settings

log = logging.getLogger("bifrost_governance")
T = TypeVar("T")
ATTEMPT_ENDPOINTS = (MESSAGES, EMBEDDINGS)


@dataclass(slots=True)
class CallState:
    """Governance's memory of one call (on `call.stash`)."""

    plan: KeyPlan
    input_tokens: int = -1      # reserved prompt tokens (estimate × margin), computed once
    max_output: int = 0
    counted: bool = False       # the call already counts as one request for key/team/customer
    slot: str | None = None     # ticket of the in-flight slot (max_concurrent)
    session: Cap | None = None  # the cap of this call's session (session_budget), if any


@dataclass(slots=True)
class Hold:
    """What one admitted attempt holds (on `attempt.stash`), settled in post_attempt."""

    ticket: str
    caps: tuple[Cap, ...]
    claims: tuple[Claim, ...]

    @property
    def amounts(self) -> tuple[int, ...]:
        return tuple([claim.amount for claim in self.claims])


CALL_STATE = StashKey[CallState]("governance.call")
HOLD = StashKey[Hold]("governance.hold")


class Governor:
    """Authentication, access control, admission and settlement for one gateway."""

    def __init__(self, settings: Settings, registry: Registry, store: CounterStore, gateway: Any,
                 metrics: Any) -> None:
        self.settings = settings
        self.registry = registry
        self.store = store
        self.memory = store if isinstance(store, MemoryCounters) else None
        self.gateway = gateway
        self.prices = gateway.prices
        self.per_usd = gateway.config.currency_per_usd
        self.metrics = metrics
        self._store_calls: set[asyncio.Future[Any]] = set()   # admissions and settlements under way
        self.publisher: BudgetPublisher | None = None          # set when a plugin listens (publish.py)

    # ------------------------------------------------------------------ request_start

    def authenticate(self, call: Call) -> KeyPlan | None:
        """Set `call.caller` from the presented key; None when keys are optional and none (or
        an unknown one) was presented. The secret is never logged nor echoed."""
        secret = call.credential
        key = self.registry.authenticate(secret) if secret else None
        if key is None:
            if not self.settings.require_key:
                return None
            self.metrics.refused("virtual key", "authentication")
            if not secret:
                raise AuthenticationFailed(
                    "a virtual key is required: send it as x-api-key, Authorization: Bearer or x-bf-vk"
                )
            raise AuthenticationFailed("invalid virtual key")
        if not key.active:
            self.metrics.refused("virtual key", "authentication")
            raise AuthenticationFailed(f"virtual key '{key.name}' is inactive")
        if key.expires_at is not None and time.time() >= key.expires_at:
            self.metrics.refused("virtual key", "authentication")
            raise AuthenticationFailed(f"virtual key '{key.name}' expired at {iso(key.expires_at)}")
        plan = self.registry.plan(key)
        call.caller = caller_of(plan)
        state = call.stash[CALL_STATE] = CallState(plan)
        if plan.session is not None and call.session_id:
            state.session = plan.session.cap(key.name, call.session_id)
        return plan

    async def acquire_slot(self, call: Call, plan: KeyPlan) -> None:
        """max_concurrent: one in-flight slot per call, held until request_end."""
        cap = plan.in_flight
        if cap is None or call.endpoint not in ATTEMPT_ENDPOINTS:
            return
        admission = await self._admit([cap.claim(1, time.time())])
        if not admission.ok:
            self.metrics.refused(cap.tier.kind, IN_FLIGHT)
            raise refusal(cap, admission.used, admission.held, 1, time.time(), self.gateway.format_money,
                          strict=True, per_usd=self.per_usd)
        call.stash[CALL_STATE].slot = admission.ticket

    async def release_slot(self, call: Call) -> None:
        state = call.stash.get(CALL_STATE)
        if state is not None and state.slot is not None:
            ticket, state.slot = state.slot, None
            await self._settle(ticket, (0,))

    # ------------------------------------------------------------------ pre_attempt

    async def admit(self, attempt: Attempt) -> None:
        """Claim from every cap of every tier for this attempt, or refuse it."""
        state = attempt.call.stash.get(CALL_STATE)
        if state is None:
            return
        self.check_target(attempt.call, state.plan, attempt.target)
        now = time.time()
        caps, claims = self._claims(attempt, state, now)
        if not claims:
            return
        memory = self.memory   # (in memory: no coroutine of its own, nothing awaits)
        admission = memory.admit_now(claims, owner()) if memory is not None else await self._admit(claims)
        if not admission.ok:
            cap = caps[admission.refused]
            self.metrics.refused(cap.tier.kind, cap.kind)
            if cap.tier.kind == SESSION:
                assert state.plan.session is not None
                raise session_exhausted(cap, admission.used, admission.held, claims[admission.refused].amount,
                                        self.gateway.format_money, strict=self.settings.strict,
                                        per_usd=self.per_usd, set_by=state.plan.session.set_by)
            raise refusal(cap, admission.used, admission.held, claims[admission.refused].amount, now,
                          self.gateway.format_money, strict=self.settings.strict, per_usd=self.per_usd,
                          retry_after=admission.retry_after)
        assert admission.ticket is not None
        if state.session is not None and self.memory is not None:
            session = claims[caps.index(state.session)]
            self.memory.keep_until(session.meter, session.expires)
        attempt.stash[HOLD] = Hold(admission.ticket, caps, claims)

    def _claims(self, attempt: Attempt, state: CallState, now: float) -> tuple[tuple[Cap, ...], tuple[Claim, ...]]:
        """One claim per cap of the customer, team, key and this provider's entry, in that order
        (the first that does not fit names the refusal). A fallback of a call that already
        counts as one request claims no request of the key, team or customer again."""
        plan = state.plan
        caps, provider_caps = plan.caps_for(attempt.target.provider, state.counted)
        strict = self.settings.strict
        claims: list[Claim] = []
        cost = tokens = -1
        for cap in caps:
            kind = cap.kind
            if kind == MONEY:
                if cost < 0:
                    cost = self.worst_case(attempt, state, cap)
                claims.append(cap.claim(cost, now, strict))
            elif kind == TOKENS:
                if tokens < 0:
                    tokens = self._reserve(attempt.call, state) + state.max_output
                claims.append(cap.claim(min(tokens, cap.limit), now, strict))
            else:
                claims.append(cap.one(now))
        session = state.session
        if session is not None:
            # After the key's own tiers, before the provider config's (its refusal is final).
            if cost < 0:
                cost = self.worst_case(attempt, state, session)
            assert plan.session is not None
            at = len(claims) - provider_caps
            caps = (*caps[:at], session, *caps[at:])
            claims.insert(at, Claim(session.meter_base, session.limit, cost, strict, now + plan.session.forget_after))
        return caps, tuple(claims)

    def check_target(self, call: Call, plan: KeyPlan, target: Target) -> None:
        """The key must be allowed this attempt's provider and model. Checked per attempt, not
        on the name as sent, so that a routing alias (`sonnet`) is judged by what it leads to.

        Final when the client itself asked for what is denied (the model it sent, or the provider
        it named as `provider/model`): 403 at once, no fallback. Not final when routing or
        failover chose it: the next target may be allowed."""
        key = plan.key
        if not plan.allows_provider(target.provider):
            self.metrics.refused("provider config", "permission")
            raise PermissionDenied(f"provider '{target.provider}' is not allowed for virtual key '{key.name}'",
                                   final=target.provider == self._requested(call.model)[0])
        if plan.allows_model(target.model):
            return
        full = f"{target.provider}/{target.model}"
        if not (plan.allows_model(full) or full in key.fallbacks):
            self.metrics.refused("virtual key", "permission")
            raise PermissionDenied(f"model '{target.model}' is not allowed for virtual key '{key.name}'",
                                   final=target.model == self._requested(call.model)[1])

    def _requested(self, model: str) -> tuple[str | None, str]:
        """(provider named by a `provider/` prefix or None, the model name without it)."""
        provider, _, bare = model.partition("/")
        if bare and provider in self.gateway.providers:
            return provider, bare
        return None, model

    def worst_case(self, attempt: Attempt, state: CallState, cap: Cap) -> int:
        """The most this attempt can cost, in nano-USD (rounded up)."""
        input_tokens = state.input_tokens if state.input_tokens >= 0 else self._reserve(attempt.call, state)
        usd = self.prices.served_worst_case(attempt, input_tokens, state.max_output)
        if usd is None:
            self.metrics.unpriced()
            if self.settings.unpriced == "refuse":
                self.metrics.refused(cap.tier.kind, "unpriced")
                raise unpriced(attempt.target.model, attempt.target.provider, cap.tier.label)
            return 0
        return math.ceil(usd * NANO)

    def _reserve(self, call: Call, state: CallState) -> int:
        """The prompt tokens to reserve (estimate × margin) and the output limit, estimated once
        per call (every attempt and cap of the call reads them from `state`)."""
        if state.input_tokens < 0:
            state.input_tokens = math.ceil(call_estimate(call) * self.settings.input_margin)
            state.max_output = max_output(call.body or {}, call.endpoint, self.settings.default_max_tokens)
        return state.input_tokens

    # ------------------------------------------------------------------ post_attempt

    async def settle(self, attempt: Attempt) -> None:
        """Release the hold and charge what the attempt really used."""
        hold = attempt.stash.pop(HOLD, None)
        if hold is None:
            return
        state = attempt.call.stash[CALL_STATE]
        outcome = attempt.outcome
        served = outcome.refused_by is None          # a later plugin refused: nothing happened
        from_provider = served and outcome.reply is None
        cost = self._cost(attempt) if from_provider else 0
        tokens = outcome.usage.total if from_provider else 0
        actuals: list[int] = []
        overrun = False
        for cap, claim in zip(hold.caps, hold.claims):
            kind = cap.kind
            if kind == MONEY:
                actuals.append(cost)
                overrun = overrun or cost > claim.amount
            elif kind == TOKENS:
                actuals.append(tokens)
            elif cap.tier.final:   # a request of the key, team or customer: the client was answered
                actuals.append(1 if served else 0)
                if served:
                    state.counted = True
            else:                  # a request of the provider config: it was called
                actuals.append(1 if from_provider else 0)
        if overrun:
            self.metrics.overrun()
        memory = self.memory
        if memory is not None:
            memory.settle_now(hold.ticket, actuals)
        else:
            await self._settle(hold.ticket, actuals)
        if cost and self.publisher is not None:
            self.publisher.publish(state.plan.key.name, hold.caps, time.time())

    def _cost(self, attempt: Attempt) -> int:
        usd = self.prices.served_cost(attempt, attempt.outcome.usage)
        return 0 if usd is None else math.ceil(usd * NANO)

    # ------------------------------------------------------------------ the store, safely

    async def _admit(self, claims: Sequence[Claim]) -> Admission:
        """Admit through the store. A client that hangs up while we wait for Redis must not
        leave a hold behind: the admission finishes in a task of its own and is released."""
        if self.memory is not None:
            return self.memory.admit_now(claims, owner())
        task = self._track(self.store.admit(claims, owner()))
        try:
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            task.add_done_callback(lambda done: self._release_orphan(done, len(claims)))
            raise
        except CountersRebuilding as exc:
            raise GatewayError(str(exc), status=503, headers={"retry-after": "1"}) from exc
        except Exception as exc:
            log.exception("governance counter store failed")
            raise GatewayError(f"governance counters are unavailable ({type(exc).__name__}); "
                               "refusing rather than letting spend go uncounted", status=503) from exc

    def _release_orphan(self, task: asyncio.Future[Admission], count: int) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        admission = task.result()
        if admission.ticket is not None:
            self.gateway.spawn(self._settle(admission.ticket, (0,) * count))

    async def _settle(self, ticket: str, actuals: Sequence[int]) -> None:
        if self.memory is not None:
            self.memory.settle_now(ticket, actuals)
            return
        task = self._track(self.store.settle(ticket, actuals))
        try:
            await asyncio.shield(task)   # a cancelled caller does not cancel the settlement
        except asyncio.CancelledError:
            raise
        except Exception:
            # The lease runs out and the hold is charged in full: too much rather than too little.
            log.exception("could not settle governance ticket %s", ticket)

    def _track(self, work: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run a store call in a task of its own (never cancelled half-way), known to `drain`."""
        task = asyncio.ensure_future(work)
        self._store_calls.add(task)
        task.add_done_callback(self._store_calls.discard)
        return task

    async def drain(self) -> None:
        """Wait for the admissions and settlements under way (at shutdown, before the store
        closes: a settlement of a request that just ended must still count)."""
        while self._store_calls:
            await asyncio.gather(*list(self._store_calls), return_exceptions=True)


def max_output(body: dict[str, Any], endpoint: str, default: int) -> int:
    """The request's output limit: Anthropic's max_tokens, OpenAI Chat's max_completion_tokens /
    max_tokens, the Responses API's max_output_tokens, Gemini's generationConfig.maxOutputTokens."""
    if endpoint == EMBEDDINGS:
        return 0
    for name in OUTPUT_LIMITS:
        value = body.get(name)
        if value.__class__ is int and value > 0:  # not a bool, a float or a string
            return value  # type: ignore[no-any-return]
    generation = body.get("generationConfig")
    value = generation.get("maxOutputTokens") if isinstance(generation, dict) else None
    return value if value.__class__ is int and value > 0 else default  # type: ignore[no-any-return]


OUTPUT_LIMITS = ("max_tokens", "max_completion_tokens", "max_output_tokens")


def caller_of(plan: KeyPlan) -> Caller:
    """The Caller other plugins see, with the key's settings in the typed fields documented on
    `bifrost_py.context.Caller` (routing, failover and the cache read them)."""
    made = plan.caller
    if made is None:
        key = plan.key
        providers = key.providers
        made = plan.caller = Caller(
            key_id=key.name, key_name=key.name, team=plan.team, customer=plan.customer,
            allowed_providers=tuple([e.provider for e in providers]) if providers else None,
            provider_weights=tuple([ProviderWeight(e.provider, float(e.weight)) for e in providers]),
            fallbacks=tuple(key.fallbacks), cache=key.cache,
            cache_ttl=None if key.cache_ttl is None else float(key.cache_ttl),
        )
    # A copy per call (a plugin may change its call's caller); its tuples are immutable, shared.
    return Caller(made.key_id, made.key_name, made.team, made.customer,
                  allowed_providers=made.allowed_providers, provider_weights=made.provider_weights,
                  fallbacks=made.fallbacks, cache=made.cache, cache_ttl=made.cache_ttl)
