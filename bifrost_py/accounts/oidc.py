"""Single sign-on with any OpenID Connect provider: the authorization-code flow with PKCE.

    GET /api/oidc/login      -> 302 to the provider's authorize endpoint (state, nonce, PKCE)
    GET /api/oidc/callback   <- the provider sends the browser back with a code; we trade it
                                for an ID token, check it, and sign the person in

The provider is found through its discovery document (`ISSUER/.well-known/openid-configuration`);
its signing keys come from its JWKS and are fetched again when a token names a key we do not
know (key rotation). The ID token is checked for signature, issuer, audience, expiry and the
nonce we sent. authlib makes the PKCE challenge and validates the discovery document; its
companion joserfc verifies the JWT (authlib's own `jose` is deprecated in its favour).

The state, nonce and PKCE verifier ride in a short-lived HTTP-only cookie scoped to
/api/oidc (SameSite=Lax: it must come back on the provider's top-level redirect), so any
instance behind a load balancer can finish a sign-in another started. The claim named
`role_claim` (a string or a list) is mapped to a role through `roles`; the most powerful match
wins; `default_role` applies when nothing matches ("none": refused). A person signed in this
way is a user with source "sso" (no password); their role and teams follow the provider's claims
at every sign-in. A local (password) account of the same name is never taken over.
"""

from __future__ import annotations

import html
import secrets
import time
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp import web
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from authlib.oidc.discovery import OpenIDProviderMetadata
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from yarl import URL

from .audit import AuditEntry
from .roles import ROLE_NAMES
from .service import client_address, same
from .settings import OidcSettings

if TYPE_CHECKING:
    from .service import Accounts

COOKIE = "bifrost_oidc"
COOKIE_PATH = "/api/oidc"
FLOW_SECONDS = 600
METADATA_SECONDS = 3600.0
LEEWAY = 60
ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
TIMEOUT = aiohttp.ClientTimeout(total=10)
POWER = {role: rank for rank, role in enumerate(ROLE_NAMES)}  # admin first: the lowest rank wins


class SignOnError(Exception):
    """Why a single sign-on did not sign anyone in (shown to the person, never a 500)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class OidcLogin:
    def __init__(self, settings: OidcSettings, accounts: Accounts) -> None:
        self.settings = settings
        self.accounts = accounts
        self._metadata: dict[str, Any] | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None

    # ------------------------------------------------------------------ the provider

    async def _json(self, method: str, url: str, **kwargs: Any) -> Any:
        try:
            async with aiohttp.ClientSession(timeout=TIMEOUT) as session, \
                    session.request(method, url, **kwargs) as response:
                body = await response.json(content_type=None)
                if response.status >= 400:
                    detail = body.get("error_description") or body.get("error") if isinstance(body, dict) else None
                    raise SignOnError(f"the sign-on provider refused ({response.status}): {detail or 'no reason'}", 502)
                return body
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise SignOnError(f"the sign-on provider did not answer at {url}: {exc or type(exc).__name__}", 502) from exc

    async def metadata(self) -> dict[str, Any]:
        if self._metadata is None or time.monotonic() - self._metadata_at > METADATA_SECONDS:
            found = await self._json("GET", self.settings.issuer + "/.well-known/openid-configuration")
            document = OpenIDProviderMetadata(found if isinstance(found, dict) else {})
            try:
                document.validate_issuer()
                document.validate_authorization_endpoint()
                document.validate_jwks_uri()
            except ValueError as exc:
                raise SignOnError(f"the sign-on provider's discovery document is not valid: {exc}", 502) from exc
            if document.get("issuer", "").rstrip("/") != self.settings.issuer:
                raise SignOnError(f"the discovery document names issuer {document.get('issuer')!r}, "
                                  f"not {self.settings.issuer!r}", 502)
            self._metadata, self._metadata_at = dict(document), time.monotonic()
        return self._metadata

    async def keys(self, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            found = await self._json("GET", (await self.metadata())["jwks_uri"])
            try:
                self._keys = KeySet.import_key_set(found)
            except (JoseError, ValueError, TypeError, KeyError) as exc:
                raise SignOnError(f"the sign-on provider's keys (JWKS) cannot be read: {exc}", 502) from exc
        return self._keys

    # ------------------------------------------------------------------ the flow

    def redirect_uri(self, request: web.Request) -> str:
        return self.settings.redirect_url or str(request.url.origin() / "api" / "oidc" / "callback")

    async def start(self, request: web.Request) -> web.StreamResponse:
        try:
            metadata = await self.metadata()
        except SignOnError as exc:
            return page(str(exc), exc.status)
        state, nonce, verifier = (secrets.token_urlsafe(24) for _ in range(3))
        url = URL(metadata["authorization_endpoint"]).update_query({
            "response_type": "code", "client_id": self.settings.client_id, "redirect_uri": self.redirect_uri(request),
            "scope": " ".join(self.settings.scopes), "state": state, "nonce": nonce,
            "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256"})
        response = web.Response(status=302, headers={"location": str(url), "cache-control": "no-store"})
        response.set_cookie(COOKIE, f"{state}.{nonce}.{verifier}", max_age=FLOW_SECONDS, path=COOKIE_PATH,
                            httponly=True, samesite="Lax", secure=request.secure)
        return response

    async def finish(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = await self._claims(request)
            username, role, teams = self.person(claims)
            user = await self._user(username, role, teams)
        except SignOnError as exc:
            response = page(f"Single sign-on failed: {exc}", exc.status)
            response.del_cookie(COOKIE, path=COOKIE_PATH)
            return response
        response = page("Signed in. Opening the gateway…", 200, refresh="/#/dashboard")
        response.del_cookie(COOKIE, path=COOKIE_PATH)
        await self.accounts.start_session(response, request, user, "sso")
        await (await self.accounts.audit()).record(AuditEntry(
            actor=user, role=role, via="sso", method="GET", path=request.path, action="GET /oidc/callback",
            resource=user, status=200, address=client_address(request), after={"role": role, "teams": list(teams)}))
        return response

    async def _claims(self, request: web.Request) -> dict[str, Any]:
        query = request.query
        if "error" in query:
            raise SignOnError(f"the provider said {query['error']}: {query.get('error_description', '')}".strip(), 403)
        state, _, rest = request.cookies.get(COOKIE, "").partition(".")
        nonce, _, verifier = rest.partition(".")
        if not (state and nonce and verifier):
            raise SignOnError("this sign-in was not started here, or took over 10 minutes: start again")
        if not same(query.get("state", ""), state):
            raise SignOnError("the answer does not belong to this sign-in (state differs): start again")
        code = query.get("code", "")
        if not code or len(code) > 4096:
            raise SignOnError("the provider sent no authorization code")
        metadata = await self.metadata()
        answer = await self._json("POST", metadata["token_endpoint"], data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri(request),
            "code_verifier": verifier, "client_id": self.settings.client_id,
        }, headers={"authorization": aiohttp.encode_basic_auth(self.settings.client_id, self.settings.client_secret)}
            if self.settings.client_secret else None)
        id_token = answer.get("id_token") if isinstance(answer, dict) else None
        if not isinstance(id_token, str):
            raise SignOnError("the provider's token answer has no id_token", 502)
        return await self.checked(id_token, nonce, metadata.get("issuer", self.settings.issuer))

    async def checked(self, id_token: str, nonce: str, issuer: str) -> dict[str, Any]:
        """The claims of `id_token` once its signature, issuer, audience, expiry and nonce hold."""
        try:
            try:
                token = jwt.decode(id_token, await self.keys(), algorithms=ALGORITHMS)
            except (JoseError, ValueError) as first:
                if "key" not in str(first).lower():
                    raise
                token = jwt.decode(id_token, await self.keys(refresh=True), algorithms=ALGORITHMS)  # keys rotated
            jwt.JWTClaimsRegistry(
                leeway=LEEWAY, iss={"essential": True, "value": issuer},
                aud={"essential": True, "value": self.settings.client_id},
                exp={"essential": True}, sub={"essential": True}, nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise SignOnError(f"the ID token was refused: {exc.__class__.__name__}: {exc}", 403) from exc
        return dict(token.claims)

    def person(self, claims: dict[str, Any]) -> tuple[str, str, tuple[str, ...]]:
        """(username, role, teams) from the ID token's claims, as the settings map them."""
        username = claims.get(self.settings.username_claim) or claims.get("sub")
        if not isinstance(username, str) or not username or len(username) > 128 or "\x00" in username:
            raise SignOnError(f"the ID token has no usable {self.settings.username_claim!r} claim", 403)
        values = claims.get(self.settings.role_claim)
        values = [values] if isinstance(values, str) else values if isinstance(values, list) else []
        matched = [self.settings.roles[v] for v in values if isinstance(v, str) and v in self.settings.roles]
        role = min(matched, key=POWER.__getitem__) if matched else self.settings.default_role
        if role not in POWER:
            raise SignOnError(f"{username} may not use this gateway: no {self.settings.role_claim!r} value of "
                              "theirs is mapped to a role", 403)
        teams: tuple[str, ...] = ()
        if self.settings.teams_claim:
            found = claims.get(self.settings.teams_claim)
            found = [found] if isinstance(found, str) else found if isinstance(found, list) else []
            teams = tuple(t for t in found if isinstance(t, str) and 0 < len(t) <= 128)
        return username, role, teams if role == "team_manager" else ()

    async def _user(self, username: str, role: str, teams: tuple[str, ...]) -> str:
        store = await self.accounts.store()
        existing = await store.user(username)
        if existing is not None and existing.source != "sso":
            raise SignOnError(f"a local account named {username!r} exists; it signs in with its password", 409)
        if existing is None:
            await store.add_user(username, role, teams, None, source="sso")
        elif (existing.role, existing.teams) != (role, teams):
            await store.update_user(username, role=role, teams=teams)
        return username


def page(message: str, status: int, refresh: str = "") -> web.Response:
    """A tiny HTML page: the browser arrives here from the provider, not from our script. A
    same-origin refresh (not a redirect) carries on, so the SameSite=Strict cookie is sent."""
    meta = f'<meta http-equiv="refresh" content="0;url={html.escape(refresh)}">' if refresh else ""
    link = "" if refresh else '<p><a href="/">Back to the sign-in</a></p>'
    body = (f'<!doctype html><html lang="en"><head><meta charset="utf-8">{meta}<title>bifrost-py sign-in</title>'
            f'</head><body><p>{html.escape(message)}</p>{link}</body></html>')
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={"cache-control": "no-store", "x-frame-options": "DENY",
                                 "content-security-policy": "default-src 'none'; frame-ancestors 'none'"})
