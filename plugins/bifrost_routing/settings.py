"""The `routing:` section of the config, read once into frozen values.

Every name a rule, alias or split points at is checked here against the configured providers,
so `bifrost-py check` lists each mistake with its path before anything runs.

Where a rule, alias, split entry or `default_model` points is a `Spec`:

    "anthropic/claude-haiku-4-5"   a fixed target: this provider, this model
    "bedrock"                      a configured provider: the same model on that provider
    "gpt-4o-mini"                  a model name, routed on: splits (`weights`), then the
                                   providers' `models:` and the model family
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bifrost_py.settings import Section

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

SECTION = "routing"
CONDITION_FLAGS = ("tools", "thinking", "images", "web_search")


@dataclass(slots=True, frozen=True)
class Spec:
    """Where something points: `provider` None means "whoever serves `model`"; `model` None
    (only with a provider) means "the model the request is already for"."""

    provider: str | None
    model: str | None

    def __str__(self) -> str:
        if self.provider is None:
            return str(self.model)
        return self.provider if self.model is None else f"{self.provider}/{self.model}"


@dataclass(slots=True, frozen=True)
class Choice:
    """One entry of a weighted split."""

    spec: Spec
    weight: float


@dataclass(slots=True, frozen=True)
class Condition:
    """A rule's `when:`. Every field that is set must hold (and); a list of globs matches when
    any glob does (or). None / empty means "not asked"."""

    models: tuple[str, ...] = ()
    min_input_tokens: int | None = None
    max_input_tokens: int | None = None
    tools: bool | None = None
    thinking: bool | None = None
    images: bool | None = None
    web_search: bool | None = None
    headers: tuple[tuple[str, str], ...] = ()
    keys: tuple[str, ...] = ()
    teams: tuple[str, ...] = ()
    customers: tuple[str, ...] = ()
    clients: tuple[str, ...] = ()     # the client app (bifrost_py.clients.client_name) or its user agent word

    @property
    def needs_tokens(self) -> bool:
        return self.min_input_tokens is not None or self.max_input_tokens is not None


@dataclass(slots=True, frozen=True)
class Rule:
    name: str
    when: Condition
    to: Spec


@dataclass(slots=True, frozen=True)
class Stickiness:
    """Session stickiness: `ttl` is how long an idle session's placement is remembered,
    `max_sessions` bounds that memory (least recently used sessions are forgotten first), and
    `avoid_for` is how long a session keeps away from a target that just failed it."""

    enabled: bool = True
    ttl: float = 3600.0
    max_sessions: int = 100_000
    avoid_for: float = 60.0


@dataclass(slots=True, frozen=True)
class RoutingSettings:
    aliases: dict[str, Spec] = field(default_factory=dict)
    rules: tuple[Rule, ...] = ()
    weights: dict[str, tuple[Choice, ...]] = field(default_factory=dict)  # exact names and globs
    default_model: Spec | None = None
    stickiness: Stickiness = Stickiness()

    @property
    def empty(self) -> bool:
        """Nothing configured: only session key pinning is left to do."""
        return not (self.aliases or self.rules or self.weights or self.default_model)

    def split_for(self, model: str) -> tuple[str, tuple[Choice, ...]] | None:
        """(key, entries) of the split that applies to `model`: its exact name first, then
        globs in the order they are written."""
        found = self.weights.get(model)
        if found is not None:
            return model, found
        for pattern, choices in self.weights.items():
            if fnmatch.fnmatchcase(model, pattern):
                return pattern, choices
        return None


def read_settings(section: Section, gateway: Gateway) -> RoutingSettings:
    """Read and check the section (through `load_settings`, which reports the keys left unread);
    problems are recorded on it with their paths, not raised."""
    reader = _Reader(gateway)
    aliases = reader.aliases(section.section("aliases"))
    weights = reader.weights(section.section("weights"))
    settings = RoutingSettings(
        aliases=aliases,
        rules=tuple(reader.rule(item, i) for i, item in enumerate(section.section_list("rules"))),
        weights=weights,
        default_model=reader.default_model(section),
        stickiness=_read_stickiness(section.section("stickiness")),
    )
    reader.check_routable(settings, section)
    return settings


class _Reader:
    """Parses specs against the gateway's providers; remembers which need checking later."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.pending: list[tuple[Section, str, Spec, str]] = []  # (where, key, spec, what points)

    def spec(self, section: Section, key: str, *, allow_bare_provider: bool = True, kind: str = "rule") -> Spec | None:
        """Parse a destination; `kind` ("rule", "alias", "split", "default") says which may name
        an alias: rules and the default model may, aliases and split entries may not."""
        text = section.str(key, None)
        if text is None:
            if section.has(key) or key == "to":
                section.error(key, "is required: provider/model, a provider name, or a model name")
            return None
        text = text.strip()
        if not text:
            section.error(key, "must not be empty")
            return None
        provider, slash, model = text.partition("/")
        if slash and provider in self.gateway.providers:
            if not model:
                section.error(key, f"'{text}' names no model after the provider")
                return None
            return Spec(provider, model)
        if text in self.gateway.providers:
            if not allow_bare_provider:
                section.error(key, f"'{text}' is a provider; name a model (or provider/model)")
                return None
            return Spec(text, None)
        spec = Spec(None, text)
        self.pending.append((section, key, spec, kind))
        return spec

    def aliases(self, section: Section | None) -> dict[str, Spec]:
        out: dict[str, Spec] = {}
        if section is None:
            return out
        for name in section.keys():  # noqa: SIM118 (a Section, not a dict)
            spec = self.spec(section, name, allow_bare_provider=False, kind="alias")
            if spec is not None:
                out[name] = spec
        return out

    def weights(self, section: Section | None) -> dict[str, tuple[Choice, ...]]:
        out: dict[str, tuple[Choice, ...]] = {}
        if section is None:
            return out
        for model in section.keys():  # noqa: SIM118 (a Section, not a dict)
            entries = section.section_list(model)
            path = section.child_path(model)
            if not entries:
                section.error(model, "expected a list of {to, weight}")
                continue
            choices = []
            for entry in entries:
                spec = self.spec(entry, "to", kind="split")
                weight = entry.number("weight", 1.0, minimum=0)
                entry.done()
                if spec is not None and weight is not None:
                    choices.append(Choice(spec, float(weight)))
            if choices and not any(c.weight > 0 for c in choices):
                section.problems.add(path, "needs at least one entry with a weight above 0")
            out[model] = tuple(choices)
        return out

    def rule(self, section: Section, index: int) -> Rule:
        name = section.str("name", f"rule-{index + 1}")
        when = _read_condition(section.section("when"))
        to = self.spec(section, "to") or Spec(None, "")
        section.done()
        return Rule(str(name), when, to)

    def default_model(self, section: Section) -> Spec | None:
        if not section.has("default_model"):
            return None
        return self.spec(section, "default_model", allow_bare_provider=False, kind="default")

    def check_routable(self, settings: RoutingSettings, root: Section) -> None:
        """A bare model name must lead somewhere: an alias, a split, or a provider serving it."""
        for section, key, spec, kind in self.pending:
            model = str(spec.model)
            if model in settings.aliases:
                if kind in ("alias", "split"):
                    section.error(key, f"points at the alias '{model}'; name a model or provider/model here")
                continue
            if settings.split_for(model) or self.gateway.resolve(model):
                continue
            configured = ", ".join(self.gateway.providers) or "none"
            section.error(key, f"no provider serves model '{model}' (not in routing.weights, no provider's "
                               f"models: lists it, no provider of its family; providers: {configured})")
        names = [rule.name for rule in settings.rules]
        for name in sorted({n for n in names if names.count(n) > 1}):
            root.error("rules", f"two rules are named '{name}'; names must be unique (they are logged)")


def _globs(section: Section, key: str) -> tuple[str, ...]:
    return tuple(section.str_list(key, []))


def _read_condition(section: Section | None) -> Condition:
    if section is None:
        return Condition()
    headers: list[tuple[str, str]] = []
    header_section = section.section("header")
    if header_section is not None:
        for name in header_section.keys():  # noqa: SIM118 (a Section, not a dict)
            value = header_section.str(name, None)
            if value is not None:
                headers.append((name.lower(), str(value)))
    condition = Condition(
        models=_globs(section, "model"),
        min_input_tokens=section.int("min_input_tokens", None, minimum=0),
        max_input_tokens=section.int("max_input_tokens", None, minimum=0),
        tools=section.bool("tools", None),
        thinking=section.bool("thinking", None),
        images=section.bool("images", None),
        web_search=section.bool("web_search", None),
        headers=tuple(headers),
        keys=_globs(section, "key"),
        teams=_globs(section, "team"),
        customers=_globs(section, "customer"),
        clients=_globs(section, "client"),
    )
    lo, hi = condition.min_input_tokens, condition.max_input_tokens
    if lo is not None and hi is not None and lo > hi:
        section.error("min_input_tokens", f"is above max_input_tokens ({lo} > {hi}): the rule can never match")
    section.done()
    return condition


def _read_stickiness(section: Section | None) -> Stickiness:
    if section is None:
        return Stickiness()
    defaults = Stickiness()
    stickiness = Stickiness(
        enabled=section.bool("enabled", defaults.enabled),
        ttl=section.duration("ttl", defaults.ttl),
        max_sessions=section.int("max_sessions", defaults.max_sessions, minimum=1),
        avoid_for=section.duration("avoid_for", defaults.avoid_for),
    )
    section.done()
    return stickiness
