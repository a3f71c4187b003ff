"""Admin API of the routing plugin (under /api, admin token checked by the core):

    GET    /api/routing                  the settings in force and how many sessions are remembered
    POST   /api/routing/explain          where a request body would go, and why (changes nothing)
    GET    /api/routing/sessions/{id}    where one client session is placed (?key=<virtual key id>
                                         for a session of an identified caller)
    DELETE /api/routing/sessions/{id}    forget a session's placement (it is drawn afresh)
"""

from __future__ import annotations

import os
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.admin import AdminRoute, admin_error
from bifrost_py.context import COUNT_TOKENS, MESSAGES, Call, Caller

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
        "headers": {"type": "object", "description": "request headers (session id, rule headers)"},
        "key": {"type": "string", "description": "virtual key name, for key/team rules"},
        "team": {"type": "string"},
        "customer": {"type": "string"},
        "session_id": {"type": "string"},
    },
}


SESSION_PARAMS = {"key": "the virtual key id the session belongs to (sessions are kept per key)"}


def routes(plugin: RoutingPlugin) -> list[AdminRoute]:
    return [
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
        return web.json_response(settings_view(plugin))

    return handler


def _explain(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return admin_error(400, "body must be JSON: {\"body\": {...request...}, \"headers\": {...}}")
        call = explain_call(data) if isinstance(data, dict) else None
        if call is None:
            return admin_error(400, "body.body must be a request object with a model (a string), "
                                    "and headers (if given) an object")
        decision = plugin.router.decide(call, plugin.gateway.resolve(call.model))
        facts = RequestFacts(call.body).as_dict()
        if decision is None:
            found = plugin.gateway.resolve(call.model)
            return web.json_response({"rule": None, "target": str(found[0]) if found else None,
                                      "candidates": [], "session": call.session_id, "placement": None,
                                      "facts": facts})
        return web.json_response({
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


def explain_call(data: dict[str, Any]) -> Call | None:
    """A Call built from an explain request, as the server would have built it."""
    body = data.get("body")
    given = data.get("headers") or {}
    if not isinstance(body, dict) or not isinstance(body.get("model"), str) or not isinstance(given, dict):
        return None
    headers = CIMultiDictProxy(CIMultiDict({str(k): str(v) for k, v in given.items()}))
    call = Call(request_id="explain_" + os.urandom(6).hex(), dialect=str(data.get("dialect") or "anthropic"),
                endpoint=COUNT_TOKENS if data.get("endpoint") == COUNT_TOKENS else MESSAGES,
                headers=headers, body=body, raw_body=orjson.dumps(body), model=body["model"])
    session = data.get("session_id") or headers.get("x-claude-code-session-id") or headers.get("x-bf-session-id")
    call.session_id = str(session) if session else None
    if data.get("key") or data.get("team") or data.get("customer"):
        name = str(data.get("key") or "")
        call.caller = Caller(key_id=name, key_name=name, team=_text(data.get("team")),
                             customer=_text(data.get("customer")))
    return call


def _text(value: Any) -> str | None:
    return str(value) if value else None


def _remembered_as(request: web.Request) -> tuple[str, str]:
    """(session id as given, the key it is remembered under)."""
    session = request.match_info["session_id"]
    return session, str(session_key(session, key_id=request.query.get("key") or None))


def _session(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        session, remembered = _remembered_as(request)
        found = plugin.router.sessions.snapshot(remembered)
        if found is None:
            return admin_error(404, f"no placement remembered for session '{session}' (per key: add ?key=)")
        return web.json_response({"session": session, "key": request.query.get("key"), **found})

    return handler


def _forget(plugin: RoutingPlugin) -> Any:
    async def handler(request: web.Request) -> web.StreamResponse:
        session, remembered = _remembered_as(request)
        if not plugin.router.sessions.forget(remembered):
            return admin_error(404, f"no placement remembered for session '{session}' (per key: add ?key=)")
        return web.json_response({"session": session, "key": request.query.get("key"), "forgotten": True})

    return handler
