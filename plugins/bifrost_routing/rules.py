"""Ordered rules: the first rule whose `when:` holds decides where a request goes.

Conditions are checked cheapest first (names and flags before the token estimate), so a rule
that fails on the model name never pays for counting tokens.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable

from bifrost_py.clients import client_name
from bifrost_py.context import Call

from .facts import RequestFacts
from .settings import Condition, Rule


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
    if not _caller_matches(when, call):
        return False
    if when.clients and not _client_matches(when.clients, call.client_app):
        return False
    for name, pattern in when.headers:
        value = call.headers.get(name)
        if value is None or not fnmatch.fnmatchcase(value, pattern):
            return False
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
