"""Admin API for customers, teams and virtual keys, and their usage (`/api/governance/...`).

The core's guard checks who is asking before any handler here runs: admins change everything,
team managers the virtual keys of their own teams within the team's cap (`in_scope`).
What a team manager reads is scoped too (`visible`): the lists and usage hold only their teams,
those teams' keys and customers; anything else answers 404, as if it did not exist, whether it
is read or changed. A key's `key_sha256` is shown to admins only (the `secrets` access).
Entities from the YAML file are listed with `"source": "config", "read_only": true` and cannot
be changed here; entities made here live in the database. A key's secret is returned once, by the call that creates (or
rotates) it; afterwards only its SHA-256 exists.

Bodies are checked field by field by the same readers as the YAML file: a wrong type, a negative
or absurd number (`"limit": 1e400`, a date past 9999) is a 400 whose message names the field.
No route takes numeric query parameters; should one, it reads them with
`bifrost_py.admin.params.number` / `whole_number` (a bad value is a 400 naming it).

Bodies, answers, "not started" and refusals go through the core's admin helpers
(`bifrost_py.admin`): handlers raise AdminError / NotStarted and `guarded()` answers them.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn

from aiohttp import web
from redis.exceptions import RedisError

from bifrost_py.accounts.roles import SECRETS, Principal
from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    json_body,
    json_response,
    principal,
    require_started,
)
from bifrost_py.storage import StorageUnavailable

from .entities import CONFIG, CUSTOMER, KEY, KINDS, TEAM
from .journal import EntityStore
from .redis_rebuild import CountersRebuilding
from .registry import Registry
from .settings import Entity, entity_dict, read_entity
from .usage import UsageView

PATHS = {CUSTOMER: "customers", TEAM: "teams", KEY: "keys"}
NOUNS = {CUSTOMER: "customer", TEAM: "team", KEY: "virtual key"}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_BUDGET = {"type": "object", "properties": {"limit": {"type": "number"},
                                            "reset": {"type": "string", "description": "daily|weekly|monthly|never|30m|12h|7d"}}}
_RATE = {"type": "object", "properties": {"requests": {"type": "integer"}, "tokens": {"type": "integer"},
                                          "window": {"type": "string"}}}
_SESSION = {"type": "object", "properties": {"limit": {"type": "number"},
                                             "forget_after": {"type": "string", "description": "e.g. 7d"}}}
_COMMON = {"name": {"type": "string"}, "description": {"type": "string"}, "budget": _BUDGET,
           "budgets": {"type": "array", "items": _BUDGET}, "rate_limit": _RATE,
           "rate_limits": {"type": "array", "items": _RATE}}
SCHEMAS: dict[str, dict[str, Any]] = {
    CUSTOMER: {"type": "object", "properties": dict(_COMMON)},
    TEAM: {"type": "object", "properties": {**_COMMON, "customer": {"type": "string"}, "session_budget": _SESSION}},
    KEY: {"type": "object", "properties": {
        **_COMMON, "team": {"type": "string"}, "customer": {"type": "string"},
        "models": {"type": "array", "items": {"type": "string"}},
        "providers": {"type": "array", "items": {"type": "object", "properties": {
            "provider": {"type": "string"}, "weight": {"type": "number"}, "budget": _BUDGET, "rate_limit": _RATE}}},
        "fallbacks": {"type": "array", "items": {"type": "string"}},
        "max_concurrent": {"type": "integer"}, "active": {"type": "boolean"},
        "expires_at": {"type": "string", "format": "date-time"}, "cache": {"type": "boolean"},
        "key_sha256": {"type": "string", "description": "import an existing key by its hash (no secret returned)"},
        "session_budget": _SESSION,
    }},
}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Who may change what (docs/security.md): team managers their own teams' keys (in_scope checks
# which); customers and teams stay with admins (a route that says nothing is admin-only).
ACCESS = {KEY: "team", TEAM: "", CUSTOMER: ""}
# The counter store cannot answer: Redis down, or rebuilding its counters (a 503, not a bug).
UNAVAILABLE = (CountersRebuilding, StorageUnavailable, RedisError, OSError)


class GovernanceAdmin:
    """The handlers. `store` and `usage` are set at start-up (the routes exist before it)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.store: EntityStore | None = None
        self.usage: UsageView | None = None
        self.lock = asyncio.Lock()   # one change at a time, and not while a sync reloads

    def routes(self) -> list[AdminRoute]:
        routes = [AdminRoute("GET", "/governance/usage", self.all_usage,
                             "Usage of every customer, team and virtual key in the current windows", tag="governance")]
        for kind in KINDS:
            path, noun = "/governance/" + PATHS[kind], NOUNS[kind]
            routes += [
                AdminRoute("GET", path, self._list(kind), f"List {noun}s (config-file entries are read-only)",
                           tag="governance"),
                AdminRoute("POST", path, self._create(kind), f"Create a {noun}"
                           + (" (the response carries its secret, shown only this once)" if kind == KEY else ""),
                           body=SCHEMAS[kind], tag="governance", access=ACCESS[kind]),
                AdminRoute("GET", path + "/{name}", self._get(kind), f"One {noun}", tag="governance"),
                AdminRoute("PATCH", path + "/{name}", self._patch(kind),
                           f"Change fields of a {noun} (null removes a field)", body=SCHEMAS[kind], tag="governance",
                           access=ACCESS[kind]),
                AdminRoute("DELETE", path + "/{name}", self._delete(kind), f"Delete a {noun}", tag="governance",
                           access=ACCESS[kind]),
                AdminRoute("GET", path + "/{name}/usage", self._usage(kind),
                           f"Spent, cap, remaining, resets_at and rate-limit windows of a {noun}", tag="governance"),
            ]
        routes.append(AdminRoute("POST", "/governance/keys/{name}/rotate", self._rotate,
                                 "Give a virtual key a new secret (returned only this once)", tag="governance",
                                 access=ACCESS[KEY]))
        return routes

    # ------------------------------------------------------------------ reading

    @staticmethod
    def describe(entity: Entity, who: Principal | None = None) -> dict[str, Any]:
        shown = {"name": entity.name, "source": entity.source, "read_only": entity.source == CONFIG,
                 **entity_dict(entity)}
        if who is not None and not who.may(SECRETS):
            shown.pop("key_sha256", None)
        return shown

    def visible(self, who: Principal, kind: str, entity: Entity) -> bool:
        """`who` may see `entity`: everyone everything, but a team manager only their teams,
        their teams' keys and the customers their teams belong to."""
        if not who.scoped:
            return True
        if kind == TEAM:
            return who.sees(entity.name)
        if kind == KEY:
            return who.sees(getattr(entity, "team", None))
        return any(getattr(self.registry.find(TEAM, team), "customer", None) == entity.name for team in who.teams)

    def shown(self, request: web.Request, kind: str) -> list[Entity]:
        who = principal(request)
        return [e for e in self.registry.all(kind) if self.visible(who, kind, e)]

    def found(self, request: web.Request, kind: str, name: str) -> Entity:
        """The entity `name`, if it exists and the caller may see it (404 otherwise, the same
        answer either way: a team manager cannot probe for other teams' key names)."""
        entity = _found(self.registry, kind, name)
        if not self.visible(principal(request), kind, entity):
            raise AdminError(404, f"no {NOUNS[kind]} named '{name}'")
        return entity

    def changeable(self, request: web.Request, kind: str, name: str) -> Entity:
        """The entity, if the caller may see it and it was made through the API (404, 409)."""
        entity = self.found(request, kind, name)
        if entity.source == CONFIG:
            raise AdminError(409, f"{NOUNS[kind]} '{name}' is defined in the config file and is read-only "
                                  "here; change it in the file")
        return entity

    def _list(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            who = principal(request)
            return json_response({PATHS[kind]: [self.describe(e, who) for e in self.shown(request, kind)]})

        return handler

    def _get(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            entity = self.found(request, kind, request.match_info["name"])
            return json_response(self.describe(entity, principal(request)))

        return handler

    def _usage(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            name = self.found(request, kind, request.match_info["name"]).name
            usage = require_started(self.usage, "governance")
            try:
                return json_response(await usage.of(kind, name))
            except UNAVAILABLE as exc:
                _unavailable(exc)

        return handler

    async def all_usage(self, request: web.Request) -> web.StreamResponse:
        usage = require_started(self.usage, "governance")
        result: dict[str, Any] = {}
        try:
            for kind in KINDS:
                result[PATHS[kind]] = [await usage.of(kind, e.name) for e in self.shown(request, kind)]
        except UNAVAILABLE as exc:
            _unavailable(exc)
        return json_response(result)

    # ------------------------------------------------------------------ changing

    def _create(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            body = await json_body(request)
            name = body.pop("name", None)
            if not isinstance(name, str) or not _NAME.match(name):
                raise AdminError(400, "name: required; letters, digits and . _ @ - (at most 128)")
            if self.registry.find(kind, name) is not None:
                raise AdminError(409, f"{NOUNS[kind]} '{name}' already exists")
            secret = None
            if kind == KEY and "key" not in body and "key_sha256" not in body:
                secret = body["key"] = new_secret()
            return await self._save(kind, name, body, secret, status=201, request=request)

        return handler

    def _patch(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            name = request.match_info["name"]
            current = self.changeable(request, kind, name)
            body = await json_body(request)
            if "name" in body and body.pop("name") != name:
                raise AdminError(400, "name: cannot be changed (create a new one and delete this)")
            merged = entity_dict(current)
            for field_name, value in body.items():
                if field_name in ("budget", "budgets"):
                    merged.pop("budgets", None)
                if field_name in ("rate_limit", "rate_limits"):
                    merged.pop("rate_limits", None)
                if field_name in ("key", "key_sha256"):
                    merged.pop("key_sha256", None)
                if value is None:
                    merged.pop(field_name, None)
                else:
                    merged[field_name] = value
            return await self._save(kind, name, merged, None, status=200, request=request, before=current)

        return handler

    async def _rotate(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        current = self.changeable(request, KEY, name)
        data = entity_dict(current)
        data.pop("key_sha256", None)
        secret = data["key"] = new_secret()
        return await self._save(KEY, name, data, secret, status=200, request=request, before=current)

    def _delete(self, kind: str) -> Handler:
        async def handler(request: web.Request) -> web.StreamResponse:
            name = request.match_info["name"]
            self.in_scope(request, self.changeable(request, kind, name))
            users = self.registry.users_of(kind, name)
            if users:
                raise AdminError(409, f"{NOUNS[kind]} '{name}' is still used by {', '.join(users)}")
            store = require_started(self.store, "governance")
            async with self.lock:
                await store.delete(kind, name)
                self.registry.remove(kind, name)
                self.registry.rebuild()
            return json_response({"deleted": name})

        return handler

    def in_scope(self, request: web.Request, entity: Entity, before: Entity | None = None) -> None:
        """A team manager changes the keys of their own teams only (`before` is the key as it
        was: one cannot be moved in or out of their teams), never above their team's cap."""
        who = principal(request)
        if who.may("write"):  # an admin
            return
        for key in (before, entity):
            team = getattr(key, "team", None) if key is not None else None
            if key is not None and not who.manages(team):
                raise AdminError(403, f"{who.name} manages {', '.join(who.teams) or 'no team'}: virtual key "
                                      f"'{key.name}' is {'in team ' + repr(team) if team else 'in no team'}")
        team_entity = self.registry.find(TEAM, getattr(entity, "team", None) or "")
        caps = {b.reset: b.limit for b in team_entity.budgets} if team_entity is not None else {}
        for budget in entity.budgets:
            cap = caps.get(budget.reset, min(caps.values()) if caps else None)
            if cap is not None and budget.limit > cap:
                raise AdminError(403, f"virtual key '{entity.name}': a budget of {budget.limit:g} is above the cap "
                                      f"of its team ({cap:g}); ask an admin to raise the team's budget")

    async def _save(self, kind: str, name: str, data: dict[str, Any], secret: str | None, *,
                    status: int, request: web.Request | None = None,
                    before: Entity | None = None) -> web.StreamResponse:
        entity, problems = read_entity(kind, name, data)
        if entity is None:
            raise AdminError(400, "; ".join(problems), problems=problems)
        if kind == KEY and not getattr(entity, "key_sha256", ""):
            raise AdminError(400, "key_sha256: required")
        if request is not None:
            self.in_scope(request, entity, before)
        problems = self.registry.problems_with(kind, entity)
        if problems:
            raise AdminError(400, "; ".join(problems), problems=problems)
        store = require_started(self.store, "governance")
        async with self.lock:
            await store.save(kind, entity)
            self.registry.put(kind, entity)
            self.registry.rebuild()
        result = self.describe(entity, principal(request) if request is not None else None)
        if secret is not None:
            result["key"] = secret
        return json_response(result, status=status)


def new_secret() -> str:
    """A fresh virtual key: `vk-` and 32 url-safe random bytes."""
    return "vk-" + secrets.token_urlsafe(32)


def _found(registry: Registry, kind: str, name: str) -> Entity:
    entity = registry.find(kind, name)
    if entity is None:
        raise AdminError(404, f"no {NOUNS[kind]} named '{name}'")
    return entity


def _unavailable(exc: Exception) -> NoReturn:
    """The counter store cannot answer: a 503 saying why (rebuilding) or what failed."""
    cause = exc.__cause__ if isinstance(exc, StorageUnavailable) and exc.__cause__ is not None else exc
    message = str(exc) if isinstance(exc, CountersRebuilding) else \
        f"governance counters are unavailable ({type(cause).__name__}); try again shortly"
    raise AdminError(503, message, headers={"retry-after": "1"}) from exc
