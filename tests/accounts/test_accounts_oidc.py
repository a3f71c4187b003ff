"""Single sign-on against a minimal OpenID Connect provider started here on loopback: its
discovery document, JWKS, authorize and token endpoints, ID tokens signed with a key made in
the test. The whole browser round trip (gateway -> provider -> gateway) runs over real sockets
with a cookie jar, as a browser would."""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from typing import Any

import aiohttp
import pytest
from accounts_wire import ADMIN_TOKEN, admin_call
from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey
from yarl import URL

from bifrost_py.testing import provider_config

CLIENT_ID, CLIENT_SECRET = "bifrost-gateway", "client-secret-for-tests"


class Provider:
    """The provider: signs whoever `claims` says in, the way a real one would, unless told to
    misbehave (another key, another nonce, another audience)."""

    def __init__(self) -> None:
        self.key = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig"})
        self.claims: dict[str, Any] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.sign_with: RSAKey | None = None
        self.nonce: str | None = None
        self.audience = CLIENT_ID
        self.url = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/jwks", self.jwks)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        return app

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": self.url, "authorization_endpoint": self.url + "/authorize", "token_endpoint": self.url + "/token",
            "jwks_uri": self.url + "/jwks", "response_types_supported": ["code"], "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"]})

    async def jwks(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code" and q["code_challenge_method"] == "S256"
        assert "openid" in q["scope"].split()
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"nonce": q["nonce"], "challenge": q["code_challenge"], "redirect_uri": q["redirect_uri"]}
        raise web.HTTPFound(str(URL(q["redirect_uri"]).update_query(code=code, state=q["state"])))

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        assert request.headers["authorization"] == aiohttp.encode_basic_auth(CLIENT_ID, CLIENT_SECRET)
        grant = self.codes.pop(str(form["code"]), None)
        if grant is None or form["redirect_uri"] != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        verifier = str(form["code_verifier"]).encode()
        if base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=").decode() != grant["challenge"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        now = int(time.time())
        claims = {"iss": self.url, "aud": self.audience, "sub": "user-1", "iat": now, "exp": now + 300,
                  "nonce": self.nonce or grant["nonce"], **self.claims}
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, self.sign_with or self.key)
        return web.json_response({"access_token": "at", "token_type": "Bearer", "id_token": id_token})


@pytest.fixture
async def provider(aiohttp_server: Any) -> Provider:
    idp = Provider()
    server = await aiohttp_server(idp.app())
    idp.url = str(server.make_url("")).rstrip("/")
    return idp


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any, provider: Provider, tmp_path: Any) -> Any:
    oidc = {"issuer": provider.url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "label": "Test IdP",
            "roles": {"gw-admins": "admin", "gw-money": "finance", "gw-leads": "team_manager"},
            "teams_claim": "teams"}
    config = {"providers": provider_config(mock_upstream.url), "admin": {"token": ADMIN_TOKEN},
              "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"}, "accounts": {"oidc": oidc}}
    return await start_gateway(config, builtins=False)


async def sign_on(gw: Any) -> tuple[aiohttp.ClientSession, int, str]:
    """The browser's round trip; the session (its cookie jar), the last status and page."""
    session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with session.get(gw.url + "/api/oidc/login") as response:
        return session, response.status, await response.text()


async def me(session: aiohttp.ClientSession, gw: Any) -> tuple[int, Any]:
    async with session.get(gw.url + "/api/me") as response:
        return response.status, await response.json()


async def test_a_mapped_group_signs_in_with_its_role(gw: Any, provider: Provider) -> None:
    provider.claims = {"email": "lee@example.com", "groups": ["staff", "gw-money"]}
    session, status, page = await sign_on(gw)
    try:
        assert status == 200 and "Signed in" in page and 'http-equiv="refresh"' in page
        status, who = await me(session, gw)
        assert status == 200 and (who["username"], who["role"], who["via"]) == ("lee@example.com", "finance", "sso")
        assert who["csrf"]
        async with session.get(gw.url + "/api/auth") as response:
            assert (await response.json())["sso"] == {"label": "Test IdP", "url": "/api/oidc/login"}
    finally:
        await session.close()
    _, users = await admin_call(gw.url, "GET", "/users")
    assert [(u["username"], u["role"], u["source"]) for u in users["users"]] == [("lee@example.com", "finance", "sso")]
    _, audit = await admin_call(gw.url, "GET", "/audit?action=oidc")
    assert audit["entries"][0]["actor"] == "lee@example.com"

    # The provider changes their groups: the next sign-in follows, with the teams claim.
    provider.claims = {"email": "lee@example.com", "groups": "gw-leads", "teams": ["backend"]}
    session, status, _ = await sign_on(gw)
    try:
        status, who = await me(session, gw)
        assert (who["role"], who["teams"]) == ("team_manager", ["backend"])
    finally:
        await session.close()


@pytest.mark.parametrize(("misbehave", "message"), [
    ("unmapped", "may not use this gateway"),
    ("other-key", "ID token was refused"),
    ("other-nonce", "ID token was refused"),
    ("other-audience", "ID token was refused"),
])
async def test_what_the_gateway_refuses(gw: Any, provider: Provider, misbehave: str, message: str) -> None:
    provider.claims = {"email": "mal@example.com", "groups": ["gw-admins"]}
    if misbehave == "unmapped":
        provider.claims["groups"] = ["visitors"]
    elif misbehave == "other-key":
        provider.sign_with = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    elif misbehave == "other-nonce":
        provider.nonce = "replayed-nonce"
    else:
        provider.audience = "another-client"
    session, status, page = await sign_on(gw)
    try:
        assert status == 403 and message in page, page
        assert (await me(session, gw))[0] == 401
    finally:
        await session.close()


async def test_a_callback_not_started_here_is_refused(gw: Any) -> None:
    async with aiohttp.ClientSession() as session, \
            session.get(gw.url + "/api/oidc/callback", params={"code": "stolen", "state": "x"}) as response:
        assert response.status == 400 and "not started here" in await response.text()


async def test_a_local_account_is_not_taken_over(gw: Any, provider: Provider) -> None:
    status, _ = await admin_call(gw.url, "POST", "/users", {"username": "root@example.com", "password": "long enough",
                                                            "role": "admin"})
    assert status == 201
    provider.claims = {"email": "root@example.com", "groups": ["gw-admins"]}
    session, status, page = await sign_on(gw)
    try:
        assert status == 409 and "local account" in page
    finally:
        await session.close()
