"""The routing decision: aliases, rules, splits, the default model, then one target per session.

    model as sent ──alias──▶ name ──first matching rule──▶ spec ──▶ candidates ──choose──▶ Target
                                                                   (key's provider weights,
                                                                    routing.weights, or the
                                                                    core's resolution;
                                                                    default_model if none)

Choosing among candidates skips unhealthy ones (no usable API key, or a circuit the failover
plugin publishes as open in `provider.health`), then: a session stays where it was last served
while that target is healthy; a new session is placed by a hash of its id (draw.py); a request
without a session is drawn by chance. For a session the API key is pinned the same way, so
Anthropic's prompt cache (per organisation, per model) keeps being read.
"""

from __future__ import annotations

import fnmatch
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bifrost_py.context import COUNT_TOKENS, MESSAGES, Call, ProviderWeight, Target
from bifrost_py.gateway import FAMILIES

from . import draw
from .rules import RuleSet
from .sessions import Placement, SessionMemory, SessionState
from .settings import Choice, RoutingSettings, Spec

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway
    from bifrost_py.providers.base import Provider

# Decision labels other than rule names (what `call.route_rule` and `x-bf-route` show).
ALIAS = "alias"
WEIGHTS = "weights"
KEY_WEIGHTS = "key-weights"
DEFAULT_MODEL = "default_model"
# Session placements (the `x-bf-route-session` header and the metrics).
KEPT, NEW, MOVED = "kept", "new", "moved"
SPLIT_CACHE_SIZE = 4096


@dataclass(slots=True, frozen=True)
class Candidate:
    target: Target
    weight: float = 1.0

    @property
    def key(self) -> tuple[str, str]:
        return (self.target.provider, self.target.model)


@dataclass(slots=True)
class Decision:
    """What routing decided for one call (kept on the call's stash for post_attempt)."""

    rule: str | None                 # a rule name, ALIAS, WEIGHTS, KEY_WEIGHTS, DEFAULT_MODEL or None
    target: Target
    group: str                       # what a session's placement is remembered under
    candidates: tuple[Candidate, ...]
    session: str | None = None
    placement: str | None = None     # KEPT, NEW or MOVED for a session; None otherwise

    def holds(self, target: Target) -> bool:
        if target is self.target:
            return True
        key = (target.provider, target.model)
        return any(c.key == key for c in self.candidates)


class Router:
    """Decides; remembers sessions. One per plugin instance (so one per Gateway)."""

    def __init__(self, settings: RoutingSettings, gateway: Gateway, *, rng: random.Random | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.gateway = gateway
        self.providers = gateway.providers
        self.rng = rng or random.Random()
        self.clock = clock
        sticky = settings.stickiness
        self.sessions = SessionMemory(sticky.max_sessions, sticky.ttl, clock)
        self.settings = settings

    @property
    def settings(self) -> RoutingSettings:
        return self._settings

    @settings.setter
    def settings(self, settings: RoutingSettings) -> None:
        """Serve `settings` from the next decision on, with what is remembered of the old ones
        (each model's rules and splits) forgotten."""
        self._settings = settings
        self._empty = settings.empty
        self.rules = RuleSet(settings.rules)
        self._splits: dict[tuple[str, str], tuple[Candidate, ...]] = {}
        self._splits_version = self.gateway.providers_version
        self._fixed_targets: dict[tuple[str, str], tuple[Candidate, ...]] = {}
        # The core's own resolution's candidate, by the id of its (memoised, shared) Target; an
        # entry is used only while it holds that very object.
        self._resolved: dict[int, tuple[Candidate, ...]] = {}
        self._bare: dict[str, Spec] = {}

    # ------------------------------------------------------------------ the decision

    def decide(self, call: Call, targets: list[Target]) -> Decision | None:
        """The decision for `call`, or None to leave the core's resolution (`targets`) alone.
        Reads session memory but records nothing (admin explain uses this as a dry run)."""
        settings = self._settings
        session = session_key(call.session_id, call) if settings.stickiness.enabled else None
        if self._empty and session is None and not _provider_weights(call):
            return None
        model = call.model
        if targets and _explicit(model, self.providers):
            # The client named the provider: CONTRACT.md puts that before rules and weights.
            return self._finish(call, None, str(targets[0]), (Candidate(targets[0]),), session)
        spec = settings.aliases.get(model)
        label = ALIAS if spec is not None else None
        current = spec if spec is not None else self._bare_spec(model)
        bare = current if spec is None else None   # (its group is the model name itself)
        if settings.rules:
            names = (model,) if current.model in (None, model) else (model, str(current.model))
            rule = self.rules.first_match(call, names)
            if rule is not None:
                current = self._follow(rule.to, current)
                label = rule.name
        candidates, how = self._candidates(call, current, targets if current.model == model and
                                           current.provider is None else None)
        if not candidates and settings.default_model is not None and call.endpoint in (MESSAGES, COUNT_TOKENS):
            current = settings.default_model
            candidates, how = self._candidates(call, current, None)
            label = label or DEFAULT_MODEL
        if not candidates:
            return None
        return self._finish(call, label or how, model if current is bare else str(current), candidates, session)

    def _bare_spec(self, model: str) -> Spec:
        """`Spec(None, model)`, made once per model name (bounded: clients choose the names)."""
        found = self._bare.get(model)
        if found is None:
            if len(self._bare) >= SPLIT_CACHE_SIZE:
                self._bare.clear()
            found = self._bare[model] = Spec(None, model)
        return found

    def _follow(self, to: Spec, current: Spec) -> Spec:
        """Where a rule's `to` leads from the request's current spec."""
        if to.model is None:
            return Spec(to.provider, current.model)
        aliases = self._settings.aliases
        if to.provider is None and to.model in aliases:
            return aliases[to.model]
        return to

    def _candidates(self, call: Call, spec: Spec, resolved: list[Target] | None
                    ) -> tuple[tuple[Candidate, ...], str | None]:
        """The targets `spec` may go to, with weights, and which setting made them."""
        aliases = self._settings.aliases
        if spec.provider is None and spec.model in aliases:
            spec = aliases[str(spec.model)]  # default_model may name an alias
        model = str(spec.model)
        if spec.provider is not None:
            return self._fixed(spec.provider, model), None
        how: str | None = None
        weights = _provider_weights(call)
        candidates = self._key_split(weights, model) if weights else ()
        if candidates:
            how = KEY_WEIGHTS
        else:
            candidates = self._split(model) if self._settings.weights else ()
            if candidates:
                how = WEIGHTS
            else:
                found = resolved if resolved is not None else self.gateway.resolve(model)
                candidates = self._resolved_candidate(found[0]) if found else ()
        return _allowed(call, candidates), how

    def _fixed(self, provider: str, model: str) -> tuple[Candidate, ...]:
        """The one candidate of a fixed target (a rule's or an alias's `provider/model`, or a
        provider keeping the request's model), made once per target."""
        found = self._fixed_targets.get((provider, model))
        if found is None:
            if len(self._fixed_targets) >= SPLIT_CACHE_SIZE:
                self._fixed_targets.clear()  # "to: bedrock" keeps client-chosen names: stay bounded
            found = self._fixed_targets[(provider, model)] = (Candidate(Target(provider, model)),)
        return found

    def _resolved_candidate(self, target: Target) -> tuple[Candidate, ...]:
        """`(Candidate(target),)`, made once per Target object (the gateway remembers its
        resolutions, so the same few objects come back on every request)."""
        found = self._resolved.get(id(target))
        if found is None or found[0].target is not target:
            if len(self._resolved) >= SPLIT_CACHE_SIZE:
                self._resolved.clear()
            found = self._resolved[id(target)] = (Candidate(target),)
        return found

    def _key_split(self, weights: tuple[ProviderWeight, ...], model: str) -> tuple[Candidate, ...]:
        """The virtual key's `providers:` weights, over the providers that serve `model`."""
        out = []
        for entry in weights:
            provider = self.providers.get(entry.provider)
            weight = entry.weight
            if provider is not None and weight > 0 and serves(provider, model):
                out.append(Candidate(Target(provider.name, model), weight))
        return tuple(out)

    def _split(self, model: str) -> tuple[Candidate, ...]:
        found = self._settings.split_for(model)
        if found is None:
            return ()
        pattern, choices = found
        if self._splits_version != self.gateway.providers_version:  # a provider added or changed
            self._splits.clear()
            self._splits_version = self.gateway.providers_version
        cached = self._splits.get((pattern, model))
        if cached is None:
            if len(self._splits) >= SPLIT_CACHE_SIZE:
                self._splits.clear()  # a glob split sees client-chosen names: keep the cache bounded
            cached = self._splits[(pattern, model)] = tuple(self._split_candidates(choices, model))
        return cached

    def _split_candidates(self, choices: Sequence[Choice], model: str) -> list[Candidate]:
        out = []
        for choice in choices:
            spec = choice.spec
            if spec.provider is not None:
                out.append(Candidate(Target(spec.provider, spec.model or model), choice.weight))
            else:
                found = self.gateway.resolve(str(spec.model))
                if found:
                    out.append(Candidate(found[0], choice.weight))
        return out

    # ------------------------------------------------------------------ choosing one

    def _finish(self, call: Call, label: str | None, group: str, candidates: tuple[Candidate, ...],
                session: str | None) -> Decision:
        # One candidate is chosen whatever its health (an unhealthy one is still the best chance).
        healthy: Sequence[Candidate] = candidates
        if len(candidates) > 1:
            healthy = [c for c in candidates if self.healthy(c.target)] or candidates
        if session is None:
            chosen = healthy[0].target if len(healthy) == 1 else \
                draw.by_chance(self.rng, healthy, [c.weight for c in healthy]).target
            return Decision(label, _labelled(chosen, label, chosen.key_name), group, candidates)
        state = self.sessions.get(session)
        target, key_name, placement = self._for_session(session, state, group, healthy)
        return Decision(label, _labelled(target, label, key_name), group, candidates, session, placement)

    def _for_session(self, session: str, state: SessionState | None, group: str,
                     healthy: Sequence[Candidate]) -> tuple[Target, str | None, str]:
        """(target, API key name, placement) for a session."""
        avoided = state.avoided(self.clock()) if state is not None and state.avoid else ()
        placed = state.placements.get(group) if state is not None else None
        eligible = [c for c in healthy if c.key not in avoided] if avoided else healthy
        eligible = eligible or healthy
        if placed is not None:
            for candidate in eligible:
                target = candidate.target
                if target.provider == placed.provider and target.model == placed.model:
                    return target, self._key_for(session, target, placed), KEPT
        chosen = draw.by_session(session, eligible, [c.weight for c in eligible], [str(c.target) for c in eligible])
        placement = MOVED if placed is not None or avoided else NEW
        return chosen.target, self._key_for(session, chosen.target, None), placement

    def _key_for(self, session: str, target: Target, placed: Placement | None) -> str | None:
        """The API key a session uses on `target`: the one that last served it while usable,
        else one drawn by the session id (None: let the key pool choose)."""
        if target.key_name is not None:
            return target.key_name
        provider = self.providers.get(target.provider)
        if provider is None or len(provider.keys) < 2:
            return None
        usable = provider.keys.usable()
        if not usable:
            return None
        if placed is not None and placed.key_name and any(k.name == placed.key_name for k in usable):
            return placed.key_name
        key = draw.by_session(session, usable, [k.weight for k in usable], [f"{provider.name}:{k.name}" for k in usable])
        return key.name

    def healthy(self, target: Target) -> bool:
        """A usable API key, and no open circuit published for the target."""
        provider = self.providers.get(target.provider)
        if provider is None:
            return False
        if len(provider.keys) and not provider.keys.usable():
            return False
        return not provider.health.is_open(target.model)

    # ------------------------------------------------------------------ what happened

    def observe(self, decision: Decision, target: Target, key_name: str | None, outcome: Any) -> str | None:
        """Learn from an attempt of a session's call: remember where it was served, or keep the
        session away from a target that failed it. Returns "remembered", "avoided" or None."""
        session = decision.session
        if session is None or outcome.reply is not None or not decision.holds(target):
            return None
        if outcome.error is None:
            if outcome.ok or outcome.first_byte_sent:
                self.sessions.remember(session, decision.group, Placement(target.provider, target.model, key_name))
                return "remembered"
            return None
        if moves_session(outcome):
            self.sessions.avoid(session, decision.group, (target.provider, target.model),
                                self.settings.stickiness.avoid_for)
            return "avoided"
        return None


# ---------------------------------------------------------------------- helpers


def moves_session(outcome: Any) -> bool:
    """A failure that says the target cannot serve the session now (so it should move): a
    non-final refusal (a provider-tier budget), a timeout, a rate limit, a 5xx, a broken
    stream. A 400 is the request's own fault and moves nothing."""
    error = outcome.error
    if outcome.refused_by is not None:
        return not error.final
    status = outcome.status
    return status in (408, 429) or status >= 500


def serves(provider: Provider, model: str) -> bool:
    """Does `provider` serve `model` by its own `models:` or, listing none, by model family."""
    patterns = provider.config.models
    if patterns:
        return any(fnmatch.fnmatchcase(model, p) for p in patterns)
    for family, types in FAMILIES:
        if provider.type in types and any(fnmatch.fnmatchcase(model, p) for p in family):
            return True
    return False


def session_key(session_id: str | None, call: Call | None = None, key_id: str | None = None) -> str | None:
    """What a session is remembered and hashed under: its id within the caller's virtual key.
    Session ids come from clients, so two keys sending the same id stay two sessions, and no
    key can move another key's sessions."""
    if not session_id:
        return None
    if key_id is None and call is not None and call.caller is not None:
        key_id = call.caller.key_id
    return f"{key_id}\x1f{session_id}" if key_id else session_id


def _labelled(target: Target, rule: str | None, key_name: str | None) -> Target:
    """`target` with this rule and API key (the same object when it has them already, as the
    core's own resolution has when no rule decided)."""
    if target.rule == rule and target.key_name == key_name:
        return target
    return Target(target.provider, target.model, rule, key_name)


def _explicit(model: str, providers: dict[str, Any]) -> bool:
    provider, slash, _ = model.partition("/")
    return bool(slash) and provider in providers


def _provider_weights(call: Call) -> tuple[ProviderWeight, ...]:
    caller = call.caller
    return () if caller is None else caller.provider_weights


def _allowed(call: Call, candidates: tuple[Candidate, ...]) -> tuple[Candidate, ...]:
    """Leave out providers the caller's key may not use; if that leaves nothing, keep them all
    and let governance refuse with its own message."""
    caller = call.caller
    allowed = caller.allowed_providers if caller is not None else None
    if not allowed or not candidates:
        return candidates
    kept = tuple(c for c in candidates if c.target.provider in allowed)
    return kept or candidates
