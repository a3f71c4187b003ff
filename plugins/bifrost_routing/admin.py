"""Admin API of the routing plugin (under /api, admin token checked by the core):

    GET    /api/routing                  the settings in force and how many sessions are remembered
    POST   /api/routing/explain          where a request body would go, and why (changes nothing)
    GET    /api/routing/sessions/{id}    where one client session is placed (?key=<virtual key id>
                                         for a session of an identified caller)
    DELETE /api/routing/sessions/{id}    forget a session's placement (it is drawn afresh)
    /api/routing/rules[/{name}]          the rules in evaluation order; add, replace, delete and
                                         order the ones added at run time (editing.py,
                                         bifrost_py/admin/editable.py)
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    BadParameter,
    body_field,
    json_body,
    json_response,
    text,
)
from bifrost_py.admin.editable import editable_routes
from bifrost_py.context import COUNT_TOKENS, MESSAGES, Call, Caller

from .editing import ORDER
from .facts import RequestFacts
from .router import session_key

if TYPE_CHECKING:
    from .plugin import RoutingPlugin

EXPLAIN_BODY = {
    "type": "object",
    "required": ["body"],
    "properties": {
        "body": {"type": "object", "description": "a Messages or Chat Completions request body"},
        "dialect": {"type": "string", "enum": ["anthropic", "openai"]},
        "endpoint": {"type": "string", "enum": ["messages", "count_tokens"]},
        "headers": {"type": "object", "description": "request headers (session id, rule headers)",
                    "additionalProperties": {"type": "string"}},
        "key": {"type": "string", "description": "virtual key name, for key/team rules"},
        "team": {"type": "string"},
        "customer": {"type": "string"},
        "session_id": {"type": "string"},
    },
}


EXPLAIN_HINT = '{"body": {...request...}, "headers": {...}}'
GLOBS = {"oneOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]}
RULE_BODY = {
    "type": "object",
    "required": ["name", "to"],
    "properties": {
        "name": {"type": "string", "description": "unique; logged as the request's route rule"},
        "to": {"type": "string", "description": "provider/model, a provider name, or a model name"},
        "when": {"type": "object", "description": "as `routing.rules[].when` in the config file", "properties": {
            "model": GLOBS, "key": GLOBS, "team": GLOBS, "customer": GLOBS, "client": GLOBS,
            "min_input_tokens": {"type": "integer"}, "max_input_tokens": {"type": "integer"},
            "tools": {"type": "boolean"}, "thinking": {"type": "boolean"}, "images": {"type": "boolean"},
            "web_search": {"type": "boolean"}, "header": {"type": "object", "additionalProperties": {"type": "string"}},
        }},
    },
}
RULE_HINT = '{"name": "long-to-sonnet", "when": {"min_input_tokens": 100000}, "to": "anthropic/claude-sonnet-4-5"}'
SESSION_PARAMS = {"key": "the virtual key id the session belongs to (sessions are kept per key)"}


def routes(plugin: RoutingPlugin) -> list[AdminRoute]:
    editing = [] if plugin.rules is None else editable_routes(
        plugin.rules, "/routing/rules", plural="rules", order=ORDER, body=RULE_BODY, hint=RULE_HINT, tag="routing")
    return [*editing,
        AdminRoute("GET", "/routing", _settings(plugin), "Routing: rules, splits, aliases, stickiness", tag="routing"),
        AdminRoute("POST", "/routing/explain", _explain(plugin), "Routing: where a request would go, and why",
                   body=EXPLAIN_BODY, tag="routing"),
        AdminRoute("GET", "/routing/sessions/{session_id}", _session(plugin), "Routing: one session's placement",
                   params=SESSION_PARAMS, tag="routing"),
        AdminRoute("DELETE", "/routing/sessions/{session_id}", _forget(plugin),
                   "Routing: forget a session's placement", params=SESSION_PARAMS, tag="routing"),
    ]


def settings_view(plugin: RoutingPlugin) -> dict[str, Any]:
    settings = plugin.settings
    return {
        "aliases": {name: str(spec) for name, spec in settings.aliases.items()},
        "rules": [{"name": rule.name, "when": _condition(asdict(rule.when)), "to": str(rule.to)}
                  for rule in settings.rules],
        "weights": {model: [{"to": str(c.spec), "weight": c.weight} for c in choices]
                    for model, choices in settings.weights.items()},
        "default_model": str(settings.default_model) if settings.default_model else None,
        "stickiness": {**asdict(settings.stickiness), "sessions_remembered": len(plugin.router.sessions)},
    }


def _condition(when: dict[str, Any]) -> dict[str, Any]:
    """The `when:` as written: only what is set, in the config's names."""
    names = {"models": "model", "keys": "key", "teams": "team", "customers": "customer", "headers": "header"}
    out = {}
    for field, value in when.items():
        if value is None or value == ():
            continue
        out[names.get(field, field)] = dict(value) if field == "headers" else (list(value) if isinstance(value, tuple) else value)
    return out


def _settings(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        return json_response(settings_view(plugin))

    return handler


def _explain(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        call = explain_call(await json_body(request, hint=EXPLAIN_HINT))
        decision = plugin.router.decide(call, plugin.gateway.resolve(call.model))
        facts = RequestFacts(call.body).as_dict()
        if decision is None:
            found = plugin.gateway.resolve(call.model)
            return json_response({"rule": None, "target": str(found[0]) if found else None,
                                      "candidates": [], "session": call.session_id, "placement": None,
                                      "facts": facts})
        return json_response({
            "rule": decision.rule,
            "target": str(decision.target),
            "key": decision.target.key_name,
            "candidates": [{"target": str(c.target), "weight": c.weight, "healthy": plugin.router.healthy(c.target)}
                           for c in decision.candidates],
            "session": call.session_id,
            "placement": decision.placement,
            "facts": facts,
        })

    return handler


def explain_call(data: dict[str, Any]) -> Call:
    """A Call built from an explain request, as the server would have built it; a field of the
    wrong type raises BadParameter naming it (a 400)."""
    body = _explain_body(data)
    given = body_field(data, "headers", dict) or {}
    for name, value in given.items():
        if not isinstance(value, str):
            raise BadParameter(f"headers.{name}: must be a string")
    dialect = _choice(data, "dialect", ("anthropic", "openai")) or "anthropic"
    endpoint = _choice(data, "endpoint", (MESSAGES, COUNT_TOKENS)) or MESSAGES
    headers = CIMultiDictProxy(CIMultiDict(given))
    call = Call(request_id="explain_" + os.urandom(6).hex(), dialect=dialect, endpoint=endpoint,
                headers=headers, body=body, raw_body=orjson.dumps(body), model=body["model"])
    session = body_field(data, "session_id", str) or headers.get("x-claude-code-session-id") or headers.get("x-bf-session-id")
    call.session_id = session or None
    key, team, customer = (body_field(data, name, str) for name in ("key", "team", "customer"))
    if key or team or customer:
        call.caller = Caller(key_id=key or "", key_name=key or "", team=team or None, customer=customer or None)
    return call


def _explain_body(data: dict[str, Any]) -> dict[str, Any]:
    """`body`: the request to explain, with the fields the router reads of the right type."""
    body: dict[str, Any] = body_field(data, "body", dict, required=True,
                                      what="a Messages or Chat Completions request object")
    if not isinstance(body.get("model"), str) or not body["model"]:
        raise BadParameter("body.model: required, a non-empty string")
    for name, kind, wanted in (("messages", list, "a list"), ("tools", list, "a list"), ("system", (str, list), "a string or a list")):
        if body.get(name) is not None and not isinstance(body[name], kind):
            raise BadParameter(f"body.{name}: must be {wanted}")
    return body


def _choice(data: dict[str, Any], name: str, choices: tuple[str, ...]) -> str | None:
    value = data.get(name)
    if value is not None and value not in choices:
        raise BadParameter(f"{name}: must be one of {', '.join(choices)}")
    return value


def _remembered_as(request: web.Request) -> tuple[str, str]:
    """(session id as given, the key it is remembered under)."""
    session = request.match_info["session_id"]
    return session, str(session_key(session, key_id=text(request.query, "key")))


def _not_remembered(session: str) -> AdminError:
    return AdminError(404, f"no placement remembered for session '{session}' (per key: add ?key=)")


def _session(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        session, remembered = _remembered_as(request)
        found = plugin.router.sessions.snapshot(remembered)
        if found is None:
            raise _not_remembered(session)
        return json_response({"session": session, "key": text(request.query, "key"), **found})

    return handler


def _forget(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        session, remembered = _remembered_as(request)
        if not plugin.router.sessions.forget(remembered):
            raise _not_remembered(session)
        return json_response({"session": session, "key": text(request.query, "key"), "forgotten": True})

    return handler
