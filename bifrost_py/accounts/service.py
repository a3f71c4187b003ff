"""`Accounts`: who a request to the admin API is, and the sign-in that makes a browser someone.

Three credentials, checked in this order:

- `Authorization: Bearer <token>`: the config's `admin.token` (an admin, for automation, as
  before) or a user's named API token (`bfp_...`, acting with that user's role). When a header
  is sent it is the credential: a wrong one is a 401 even if a cookie would have been right.
- `?token=` the same, on EventSource routes only (a browser cannot set their headers).
- the `bifrost_session` cookie of a signed-in browser: HTTP-only (no script can read it) and
  SameSite=Strict (no other site's page can make the browser send it). Every write with it
  must also carry the session's CSRF token in `X-CSRF-Token`, which only our own page knows.

The tables are opened on first use, in the gateway's database (`storage.logs`); a request that
presents the admin token never waits for them.
"""

from __future__ import annotations

import asyncio
import hmac
import os
from typing import TYPE_CHECKING

from aiohttp import web

from ..storage import Database
from .audit import AuditLog
from .lockout import Lockout, RedisLockout, SqlLockout
from .passwords import hash_password, verify_password
from .roles import ADMIN, Principal
from .settings import AccountSettings
from .store import TOKEN_PREFIX, AccountStore, User

if TYPE_CHECKING:
    from ..gateway import Gateway

COOKIE = "bifrost_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset(("GET", "HEAD", "OPTIONS"))
SETUP_ENV = "BIFROST_SETUP_TOKEN"   # the one-time set-up link's token (`/ui/setup?token=...`)
ADMIN_TOKEN_NAME = "admin-token"


def bearer(request: web.Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def same(presented: str, expected: str) -> bool:
    """Constant-time comparison; bytes that are not UTF-8 are simply a wrong value."""
    return hmac.compare_digest(presented.encode("utf-8", "surrogatepass"), expected.encode("utf-8", "surrogatepass"))


def client_address(request: web.Request) -> str:
    return request.remote or "unknown"


class Accounts:
    """The accounts of one gateway: its store, audit log, lock-out counts and settings."""

    def __init__(self, gateway: Gateway, settings: AccountSettings | None = None) -> None:
        self.gateway = gateway
        self.settings = settings or getattr(gateway.config, "accounts", None) or AccountSettings()
        self.admin_token = gateway.config.admin_token
        self._store: AccountStore | None = None
        self._lockout: Lockout | None = None
        self._audit: AuditLog | None = None
        self._opening = asyncio.Lock()

    # ------------------------------------------------------------------ the tables, opened once

    async def store(self) -> AccountStore:
        if self._store is None:
            await self._open()
        assert self._store is not None
        return self._store

    async def audit(self) -> AuditLog:
        if self._audit is None:
            await self._open()
        assert self._audit is not None
        return self._audit

    async def lockout(self) -> Lockout:
        """Failed sign-ins, counted where every instance sees them (lockout.py)."""
        if self._lockout is None:
            await self._open()
        assert self._lockout is not None
        return self._lockout

    async def _open(self) -> None:
        async with self._opening:
            if self._store is not None:
                return
            db = await self.gateway.storage.sql(self.gateway.config.logs_url)
            store, audit = AccountStore(db), AuditLog(db)
            await store.create_schema()
            await audit.create_schema()
            self._lockout = await self._open_lockout(db)
            self._store, self._audit = store, audit

    async def _open_lockout(self, db: Database) -> Lockout:
        attempts, window = self.settings.lockout_attempts, self.settings.lockout_window
        redis_url = self.gateway.config.redis_url
        if redis_url:
            return RedisLockout(await self.gateway.storage.redis(redis_url), attempts, window)
        lockout = SqlLockout(db, attempts, window)
        await lockout.create_schema()
        if not self.gateway.stopping.is_set():
            self.gateway.every(min(window, 300.0), lockout.sweep, name="accounts: forgetting old failed sign-ins",
                               final=False)
        return lockout

    # ------------------------------------------------------------------ who is asking

    async def authenticate(self, request: web.Request, *, query_token: bool = False) -> Principal | None:
        presented = bearer(request)
        if presented is None and query_token:
            presented = request.query.get("token") or None
        if presented is not None:
            return await self.from_token(presented)
        session_id = request.cookies.get(COOKIE)
        if session_id:
            return await self.from_session(session_id)
        return None

    async def from_token(self, presented: str) -> Principal | None:
        if self.admin_token and same(presented, self.admin_token):
            return Principal(ADMIN_TOKEN_NAME, ADMIN, "token")
        if not presented.startswith(TOKEN_PREFIX) or len(presented) > 200:
            return None
        user = await (await self.store()).token_user(presented)
        return None if user is None else Principal(user.username, user.role, "api-token", user.teams)

    async def from_session(self, session_id: str) -> Principal | None:
        if len(session_id) > 200:
            return None
        found = await (await self.store()).session(session_id)
        if found is None:
            return None
        session, user = found
        return Principal(user.username, user.role, session.via, user.teams, session=session_id, csrf=session.csrf)

    @staticmethod
    def csrf_ok(request: web.Request, principal: Principal) -> bool:
        """A write made with a cookie carries the session's CSRF token (tokens need none: no
        browser sends an Authorization header on its own)."""
        if principal.via not in ("session", "sso") or request.method in SAFE_METHODS:
            return True
        presented = request.headers.get(CSRF_HEADER, "")
        return bool(presented) and same(presented, principal.csrf)

    async def enabled(self) -> bool:
        """Anyone can be let in at all: an admin token is set or an account exists."""
        return bool(self.admin_token) or await (await self.store()).count_users() > 0

    # ------------------------------------------------------------------ signing in

    async def check_password(self, username: str, password: str) -> User | None:
        user = await (await self.store()).user(username)
        ok = await verify_password(user.password_hash if user else None, password)
        return user if ok and user is not None else None

    async def start_session(self, response: web.StreamResponse, request: web.Request, username: str,
                            via: str = "session") -> str:
        """Sign `username` in: a new session, its cookie set on `response`; the CSRF token."""
        session_id, csrf = await (await self.store()).new_session(username, via, self.settings.session_ttl)
        response.set_cookie(COOKIE, session_id, max_age=int(self.settings.session_ttl), path="/", httponly=True,
                            samesite="Strict", secure=request.secure)
        return csrf

    async def end_session(self, response: web.StreamResponse, principal: Principal) -> None:
        if principal.session:
            await (await self.store()).end_session(principal.session)
        response.del_cookie(COOKIE, path="/")

    def setup_token(self) -> str:
        """The set-up link's token: `BIFROST_SETUP_TOKEN`, which `bifrost-py serve` sets (and
        prints as a link) when it starts with no account; empty when there is none."""
        return os.environ.get(SETUP_ENV, "")

    async def setup_open(self) -> bool:
        return bool(self.setup_token()) and await (await self.store()).count_users() == 0

    async def hashed(self, password: str) -> str:
        return await hash_password(password)
