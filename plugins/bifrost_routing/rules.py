"""Ordered rules: the first rule whose `when:` holds decides where a request goes.

Conditions are checked cheapest first (names and flags before the token estimate), so a rule
that fails on the model name never pays for counting tokens.

`RuleSet` is what the router holds: the rules of one version of the settings, with the model
part of every rule's condition decided once per model name (the same few names come back all
day) rather than by glob matching on every request. A request then checks only the rules its
model names can match, and builds its `RequestFacts` only when one of those asks about the body.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from bifrost_py.clients import client_name
from bifrost_py.context import Call

from .facts import RequestFacts
from .settings import Condition, Rule


class RuleSet:
    """The rules in force, with the rules each tuple of model names can match remembered
    (bounded: model names are chosen by clients). One is built per version of the settings, so
    a rule added in the web UI applies from the next request on."""

    LIMIT = 4096

    __slots__ = ("_by_names", "rules")

    def __init__(self, rules: tuple[Rule, ...]) -> None:
        self.rules = rules
        # names -> (rule, asks about the caller/client/headers, asks about the body), in order
        self._by_names: dict[tuple[str, ...], tuple[tuple[Rule, bool, bool], ...]] = {}

    def __bool__(self) -> bool:
        return bool(self.rules)

    def for_names(self, names: tuple[str, ...]) -> tuple[tuple[Rule, bool, bool], ...]:
        """The rules whose `model` condition holds for one of `names` (or that have none), in
        order, each with what else it asks about."""
        found = self._by_names.get(names)
        if found is None:
            found = tuple((rule, _asks_call(rule.when), _asks_body(rule.when)) for rule in self.rules
                          if not rule.when.models or any(_any_glob(name, rule.when.models) for name in names))
            if len(self._by_names) >= self.LIMIT:
                self._by_names.clear()
            self._by_names[names] = found
        return found

    def first_match(self, call: Call, names: tuple[str, ...]) -> Rule | None:
        """`first_match` over the rules `names` can match; the request's `RequestFacts` are
        built only when a rule gets as far as a condition on the body."""
        facts: RequestFacts | None = None
        for rule, asks_call, asks_body in self.for_names(names):
            if asks_call and not _rest_matches(rule.when, call):
                continue
            if asks_body:
                if facts is None:
                    facts = RequestFacts(call.body, call)
                if not _facts_match(rule.when, facts):
                    continue
            return rule
        return None


def _asks_call(when: Condition) -> bool:
    return bool(when.keys or when.teams or when.customers or when.clients or when.headers)


def _asks_body(when: Condition) -> bool:
    flags = (when.tools, when.thinking, when.web_search, when.images)
    return when.needs_tokens or any(flag is not None for flag in flags)


def first_match(rules: Iterable[Rule], call: Call, names: tuple[str, ...], facts: RequestFacts) -> Rule | None:
    """The first rule that matches; `names` are the model names the request goes by (as sent,
    and what its alias resolves to)."""
    for rule in rules:
        if matches(rule.when, call, names, facts):
            return rule
    return None


def matches(when: Condition, call: Call, names: tuple[str, ...], facts: RequestFacts) -> bool:
    """Every condition that is set holds."""
    if when.models and not any(_any_glob(name, when.models) for name in names):
        return False
    return _rest_matches(when, call) and _facts_match(when, facts)


def _rest_matches(when: Condition, call: Call) -> bool:
    """The conditions on the caller, the client and the headers."""
    if not _caller_matches(when, call):
        return False
    if when.clients and not _client_matches(when.clients, call.client_app):
        return False
    for name, pattern in when.headers:
        value = call.headers.get(name)
        if value is None or not fnmatch.fnmatchcase(value, pattern):
            return False
    return True


def _facts_match(when: Condition, facts: RequestFacts) -> bool:
    """The conditions on the request body (the flags, then the token estimate)."""
    if when.tools is not None and facts.tools != when.tools:
        return False
    if when.thinking is not None and facts.thinking != when.thinking:
        return False
    if when.web_search is not None and facts.web_search != when.web_search:
        return False
    if when.images is not None and facts.images != when.images:
        return False
    if when.needs_tokens:
        tokens = facts.input_tokens
        if when.min_input_tokens is not None and tokens < when.min_input_tokens:
            return False
        if when.max_input_tokens is not None and tokens > when.max_input_tokens:
            return False
    return True


def _caller_matches(when: Condition, call: Call) -> bool:
    """`key`, `team`, `customer`: a request with no identified caller matches none of them."""
    if not (when.keys or when.teams or when.customers):
        return True
    caller = call.caller
    if caller is None:
        return False
    if when.keys and not (_any_glob(caller.key_name, when.keys) or _any_glob(caller.key_id, when.keys)):
        return False
    if when.teams and not (caller.team and _any_glob(caller.team, when.teams)):
        return False
    return not (when.customers and not (caller.customer and _any_glob(caller.customer, when.customers)))


def _client_matches(patterns: tuple[str, ...], client_app: str | None) -> bool:
    """`client: codex` names the app (`codex_exec/0.171.0` is codex); a glob may also match the
    user agent's first word itself (`client: "codex_exec/*"`). No user agent matches nothing."""
    return bool(client_app) and (_any_glob(client_name(client_app), patterns) or _any_glob(client_app or "", patterns))


def _any_glob(value: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(value, pattern) for pattern in patterns)
