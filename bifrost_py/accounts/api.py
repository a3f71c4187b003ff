"""The admin routes of people: sign-in and out, the set-up link, users, API tokens, the audit log.

    POST   /api/login                {username, password} -> session cookie + CSRF token
    POST   /api/logout
    GET    /api/auth                 what the sign-in page offers (set-up open? single sign-on?)
    GET    /api/me                   who you are, your role, your CSRF token
    POST   /api/me/password          {current, password}
    POST   /api/setup                {token, username, password}: the first admin account
    GET    /api/users, POST /api/users, PATCH/DELETE /api/users/{username}
    GET    /api/tokens, POST /api/tokens {name}, DELETE /api/tokens/{id}
    GET    /api/audit, GET /api/audit/export?format=csv|json
    GET    /api/oidc/login, /api/oidc/callback   single sign-on (oidc.py), when configured
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web

from ..admin import AdminError, AdminRoute, body_field, json_body, json_response, principal
from ..admin.guard import PRINCIPAL
from ..admin.params import choice, flag, number, text, whole_number
from .audit import AuditQuery, as_csv
from .oidc import OidcLogin
from .passwords import password_problem
from .roles import ADMIN, AUDIT, PUBLIC, ROLE_NAMES, SELF, TEAM_MANAGER, USERS, Principal
from .service import Accounts, client_address, same
from .store import User, digest

log = logging.getLogger("bifrost_py.accounts")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
TEAM_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
USER_BODY = {"type": "object", "properties": {
    "username": {"type": "string"}, "password": {"type": "string"},
    "role": {"type": "string", "enum": list(ROLE_NAMES)},
    "teams": {"type": "array", "items": {"type": "string"}, "description": "a team manager's teams"}}}
AUDIT_FILTERS = {"actor": "who made the change", "action": "part of the route, e.g. governance/keys",
                 "resource": "the name the route took, e.g. a key's name", "since": "unix seconds",
                 "until": "unix seconds", "limit": "entries (default 100, at most 1000)",
                 "before": "the id of the last entry of the previous page"}


def account_routes(accounts: Accounts) -> list[AdminRoute]:
    api = AccountApi(accounts)
    tag = "accounts"
    oidc = accounts.settings.oidc
    sso = [] if oidc is None else sso_routes(OidcLogin(oidc, accounts))
    return sso + [
        AdminRoute("POST", "/login", api.login, "Sign in: sets the session cookie, answers the CSRF token",
                   body={"type": "object", "properties": {"username": {"type": "string"},
                                                          "password": {"type": "string"}}},
                   tag=tag, access=PUBLIC, names="username"),
        AdminRoute("POST", "/logout", api.logout, "Sign out of this session", tag=tag, access=SELF),
        AdminRoute("GET", "/auth", api.auth, "How one can sign in here (set-up link open, single sign-on)",
                   tag=tag, access=PUBLIC),
        AdminRoute("GET", "/me", api.me, "Who you are: user, role, teams, this session's CSRF token",
                   tag=tag, access=SELF),
        AdminRoute("POST", "/me/password", api.change_password, "Change your own password", tag=tag, access=SELF,
                   body={"type": "object", "properties": {"current": {"type": "string"},
                                                          "password": {"type": "string"}}}),
        AdminRoute("POST", "/setup", api.setup, "Create the first admin account with the set-up link's token",
                   tag=tag, access=PUBLIC, names="username"),
        AdminRoute("GET", "/users", api.list_users, "People who can sign in, and their roles", tag=tag, access=USERS),
        AdminRoute("POST", "/users", api.create_user, "Add a person", body=USER_BODY, tag=tag, access=USERS,
                   names="username"),
        AdminRoute("PATCH", "/users/{username}", api.patch_user, "Change a person's role, teams or password",
                   body=USER_BODY, tag=tag, access=USERS, snapshot=api.user_snapshot),
        AdminRoute("DELETE", "/users/{username}", api.delete_user, "Remove a person (their sessions and tokens too)",
                   tag=tag, access=USERS, snapshot=api.user_snapshot),
        AdminRoute("GET", "/tokens", api.list_tokens, "Your API tokens (an admin: ?all=true for everyone's)",
                   {"all": "true: every user's tokens (admins)"}, tag=tag, access=SELF),
        AdminRoute("POST", "/tokens", api.create_token, "A named API token, acting with your role (shown once)",
                   body={"type": "object", "properties": {"name": {"type": "string"}}}, tag=tag, access=SELF),
        AdminRoute("DELETE", "/tokens/{id}", api.revoke_token, "Revoke an API token", tag=tag, access=SELF),
        AdminRoute("GET", "/audit", api.audit, "Who changed what, when (secrets masked), newest first",
                   AUDIT_FILTERS, tag="audit", access=AUDIT),
        AdminRoute("GET", "/audit/export", api.audit_export, "The audit log as CSV or JSON",
                   {**AUDIT_FILTERS, "format": "csv (default) or json"}, tag="audit", access=AUDIT),
    ]


def sso_routes(login: OidcLogin) -> list[AdminRoute]:
    return [
        AdminRoute("GET", "/oidc/login", login.start, "Single sign-on: go to the OpenID Connect provider",
                   tag="accounts", access=PUBLIC),
        AdminRoute("GET", "/oidc/callback", login.finish, "Single sign-on: where the provider sends the browser back",
                   {"code": "authorization code", "state": "the state sent"}, tag="accounts", access=PUBLIC),
    ]


class AccountApi:
    def __init__(self, accounts: Accounts) -> None:
        self.accounts = accounts

    # ------------------------------------------------------------------ signing in and out

    async def login(self, request: web.Request) -> web.StreamResponse:
        body = await json_sent(request, '{"username": "...", "password": "..."}')
        username = body_field(body, "username", str, required=True)
        password = body_field(body, "password", str, required=True)
        keys = (f"user:{username.lower()}", f"address:{client_address(request)}")
        lockout = await self.accounts.lockout()
        wait = await lockout.retry_after(*keys)
        if wait > 0:
            log.warning("sign-in of %r from %s refused: locked for %d s more", username[:128], keys[1][8:], wait)
            raise AdminError(429, f"too many failed sign-ins; try again in {int(wait) + 1} s",
                             headers={"retry-after": str(int(wait) + 1)})
        user = await self.accounts.check_password(username, password[:1024]) if USERNAME.match(username) else None
        if user is None:
            await lockout.failed(*keys)
            raise AdminError(401, "wrong user name or password")
        await lockout.succeeded(keys[0])
        log.info("%s signed in from %s", user.username, keys[1][8:])
        return await self.signed_in(request, user, "session")

    async def signed_in(self, request: web.Request, user: User, via: str, status: int = 200) -> web.Response:
        request[PRINCIPAL] = Principal(user.username, user.role, via, user.teams)
        response = json_response({}, status=status)
        csrf = await self.accounts.start_session(response, request, user.username, via)
        response.body = json_response({"user": user.describe(), "csrf": csrf}).body
        return response

    async def logout(self, request: web.Request) -> web.StreamResponse:
        response = web.Response(status=204)
        await self.accounts.end_session(response, principal(request))
        return response

    async def auth(self, request: web.Request) -> web.StreamResponse:
        """Public: whether set-up is open, single sign-on offered, and who this browser's
        session (if any) is, so the UI learns it without a refused call."""
        oidc = self.accounts.settings.oidc
        who = request.get(PRINCIPAL)
        me = {**who.describe(), "csrf": who.csrf or None} if who is not None and who.via in ("session", "sso") else None
        return json_response({"setup_open": await self.accounts.setup_open(), "me": me,
                              "sso": {"label": oidc.label, "url": "/api/oidc/login"} if oidc else None})

    async def me(self, request: web.Request) -> web.StreamResponse:
        who = principal(request)
        return json_response({**who.describe(), "csrf": who.csrf or None})

    async def change_password(self, request: web.Request) -> web.StreamResponse:
        who = principal(request)
        body = await json_body(request)
        current = body_field(body, "current", str, required=True)
        new = _password(body_field(body, "password", str, required=True))
        if await self.accounts.check_password(who.name, current) is None:
            raise AdminError(403, "current: not your current password")
        store = await self.accounts.store()
        await store.update_user(who.name, password_hash=await self.accounts.hashed(new))
        await store.end_sessions(who.name, keep=_digest(who.session))
        return json_response({"changed": True})

    async def setup(self, request: web.Request) -> web.StreamResponse:
        body = await json_sent(request, '{"token": "...", "username": "...", "password": "..."}')
        token = body_field(body, "token", str, required=True)
        username = _username(body_field(body, "username", str, required=True))
        password = _password(body_field(body, "password", str, required=True))
        expected = self.accounts.setup_token()
        if not expected or not same(token, expected):
            raise AdminError(403, "this set-up link is not valid: use the link the gateway printed when it started")
        hashed = await self.accounts.hashed(password)
        store = await self.accounts.store()
        if not await store.add_user(username, ADMIN, (), hashed, only_if_none=True):
            raise AdminError(409, "set-up is done: an account already exists; sign in instead")
        user = await store.user(username)
        assert user is not None
        return await self.signed_in(request, user, "session", status=201)

    # ------------------------------------------------------------------ users

    async def list_users(self, request: web.Request) -> web.StreamResponse:
        users = await (await self.accounts.store()).users()
        return json_response({"users": [u.describe() for u in users]})

    async def create_user(self, request: web.Request) -> web.StreamResponse:
        body = await json_body(request, hint='{"username": "ana", "password": "...", "role": "finance"}')
        username = _username(body_field(body, "username", str, required=True))
        role = _role(body_field(body, "role", str, required=True))
        teams = _teams(body.get("teams"), role)
        password = _password(body_field(body, "password", str, required=True))
        store = await self.accounts.store()
        if not await store.add_user(username, role, teams, await self.accounts.hashed(password)):
            raise AdminError(409, f"user {username!r} exists")
        user = await store.user(username)
        assert user is not None
        return json_response(user.describe(), status=201)

    async def user_snapshot(self, request: web.Request) -> Any:
        user = await (await self.accounts.store()).user(request.match_info["username"])
        return None if user is None else user.describe()

    async def patch_user(self, request: web.Request) -> web.StreamResponse:
        store = await self.accounts.store()
        user = await self._user(request)
        body = await json_body(request, hint='{"role": "viewer"}')
        role = _role(body_field(body, "role", str)) if body.get("role") is not None else user.role
        teams = _teams(body["teams"], role) if body.get("teams") is not None else None
        password = body_field(body, "password", str)
        if user.role == ADMIN and role != ADMIN:
            await self._not_last_admin(user)
        hashed = await self.accounts.hashed(_password(password)) if password is not None else None
        await store.update_user(user.username, role=role, teams=teams, password_hash=hashed)
        if password is not None or role != user.role:
            await store.end_sessions(user.username)  # they sign in again, with what changed
        changed = await store.user(user.username)
        assert changed is not None
        return json_response(changed.describe())

    async def delete_user(self, request: web.Request) -> web.StreamResponse:
        user = await self._user(request)
        if user.role == ADMIN:
            await self._not_last_admin(user)
        await (await self.accounts.store()).delete_user(user.username)
        return web.Response(status=204)

    async def _user(self, request: web.Request) -> User:
        name = request.match_info["username"]
        user = await (await self.accounts.store()).user(name)
        if user is None:
            raise AdminError(404, f"no user {name!r}")
        return user

    async def _not_last_admin(self, user: User) -> None:
        admins = [u for u in await (await self.accounts.store()).users() if u.role == ADMIN]
        if admins == [user] and not self.accounts.admin_token:
            raise AdminError(409, f"{user.username!r} is the last admin: make someone else an admin first")

    # ------------------------------------------------------------------ API tokens

    async def list_tokens(self, request: web.Request) -> web.StreamResponse:
        who = principal(request)
        everyone = flag(request.query, "all", default=False) and who.may(USERS)
        tokens = await (await self.accounts.store()).tokens(None if everyone else who.name)
        return json_response({"tokens": tokens})

    async def create_token(self, request: web.Request) -> web.StreamResponse:
        who = principal(request)
        if who.via == "token":
            raise AdminError(400, "the admin token belongs to no user: sign in as a person to make API tokens")
        body = await json_body(request, hint='{"name": "ci-reports"}')
        name = text(body, "name", max_length=100) if isinstance(body.get("name"), str) else None
        if not name:
            raise AdminError(400, "name: required, a string naming what the token is for")
        made = await (await self.accounts.store()).new_token(who.name, name)
        if made is None:
            raise AdminError(409, f"you already have a token named {name!r}")
        value, described = made
        return json_response({**described, "token": value}, status=201)

    async def revoke_token(self, request: web.Request) -> web.StreamResponse:
        who = principal(request)
        store = await self.accounts.store()
        token_id = request.match_info["id"]
        owner = await store.token_owner(token_id)
        if owner is None or (owner != who.name and not who.may(USERS)):
            raise AdminError(404, f"no API token {token_id!r} of yours")
        await store.revoke_token(token_id)
        return web.Response(status=204)

    # ------------------------------------------------------------------ audit

    def _audit_query(self, request: web.Request, limit: int) -> AuditQuery:
        q = request.query
        return AuditQuery(
            actor=text(q, "actor", default="", max_length=200) or "",
            action=text(q, "action", default="", max_length=200) or "",
            resource=text(q, "resource", default="", max_length=200) or "",
            since=number(q, "since", default=None, minimum=0, maximum=1e10),
            until=number(q, "until", default=None, minimum=0, maximum=1e10),
            limit=whole_number(q, "limit", default=limit, minimum=1, maximum=max(limit, 1000)) or limit,
            before_id=text(q, "before", default="", max_length=64) or "")

    async def audit(self, request: web.Request) -> web.StreamResponse:
        query = self._audit_query(request, 100)
        entries = await (await self.accounts.audit()).query(query)
        more = len(entries) == query.limit
        return json_response({"entries": entries, "next": entries[-1]["id"] if more else None})

    async def audit_export(self, request: web.Request) -> web.StreamResponse:
        form = choice(request.query, "format", ("csv", "json"), default="csv")
        entries = await (await self.accounts.audit()).query(self._audit_query(request, 100_000))
        disposition = {"content-disposition": f'attachment; filename="bifrost-audit.{form}"'}
        if form == "json":
            return json_response({"entries": entries}, headers=disposition)
        return web.Response(text=as_csv(entries), content_type="text/csv", headers=disposition)


async def json_sent(request: web.Request, hint: str) -> dict[str, Any]:
    """The body of a sign-in, which must be sent as JSON: a page on another site can POST a
    form (even one whose text looks like JSON) without asking, but not application/json, so
    no other site can sign a visitor's browser in to an account of its choosing."""
    if request.content_type != "application/json":
        raise AdminError(415, f"send the body as Content-Type: application/json ({hint})")
    return await json_body(request, hint=hint)


def _digest(session_id: str) -> str:
    return digest(session_id) if session_id else ""


def _username(name: str) -> str:
    if not USERNAME.match(name):
        raise AdminError(400, "username: letters, digits and . _ @ + - (at most 128), starting with a letter or digit")
    return name


def _password(password: str) -> str:
    problem = password_problem(password)
    if problem:
        raise AdminError(400, problem)
    return password


def _role(role: str) -> str:
    if role not in ROLE_NAMES:
        raise AdminError(400, f"role: one of {', '.join(ROLE_NAMES)}; got {role!r}")
    return role


def _teams(value: Any, role: str) -> tuple[str, ...]:
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(t, str) and TEAM_NAME.match(t) for t in value):
        raise AdminError(400, "teams: a list of team names")
    if value and role != TEAM_MANAGER:
        raise AdminError(400, "teams: only a team_manager has teams")
    return tuple(dict.fromkeys(value))
