"""Accounts over real sockets: sign-in with a cookie session, CSRF on every cookie write,
sign-out, lock-out, named API tokens, the admin token still an admin, the set-up link."""

from __future__ import annotations

from typing import Any

from accounts_wire import ADMIN, admin_call


async def add_user(gw: Any, username: str, role: str, password: str = "correct horse", **extra: Any) -> None:
    status, body = await admin_call(gw.url, "POST", "/users",
                                    {"username": username, "password": password, "role": role, **extra})
    assert status == 201, body


async def test_sign_in_sets_an_http_only_strict_cookie_and_sign_out_ends_it(gw: Any, people: Any) -> None:
    await add_user(gw, "ana", "viewer")
    ana = people()
    status, body = await ana.sign_in("ana", "correct horse")
    assert status == 200 and body["user"]["role"] == "viewer" and body["csrf"]
    cookie = next(iter(ana.session.cookie_jar))
    assert cookie.key == "bifrost_session" and cookie["httponly"] and cookie["samesite"] == "Strict"
    status, me = await ana.call("GET", "/me")
    assert status == 200 and me["username"] == "ana" and me["csrf"] == body["csrf"]
    assert (await ana.call("GET", "/settings"))[0] == 200
    status, auth = await ana.call("GET", "/auth")
    assert auth["me"]["username"] == "ana" and auth["me"]["csrf"] == body["csrf"]
    assert (await ana.call("POST", "/logout"))[0] == 204
    assert (await ana.call("GET", "/auth"))[1]["me"] is None
    assert (await ana.call("GET", "/me"))[0] == 401


async def test_a_cookie_write_without_the_csrf_token_is_refused(gw: Any, people: Any) -> None:
    await add_user(gw, "root", "admin")
    root = people()
    await root.sign_in("root", "correct horse")
    status, body = await root.call("POST", "/users", {"username": "eve", "password": "12345678x", "role": "viewer"},
                                   csrf=False)
    assert status == 403 and "CSRF" in body["error"]["message"]
    status, _ = await root.call("POST", "/users", {"username": "eve", "password": "12345678x", "role": "viewer"},
                                headers={"x-csrf-token": "guessed"}, csrf=False)
    assert status == 403
    assert (await root.call("POST", "/users", {"username": "eve", "password": "12345678x", "role": "viewer"}))[0] == 201


async def test_wrong_passwords_lock_the_account_and_the_address(gw: Any, people: Any) -> None:
    await add_user(gw, "bo", "viewer")
    bo = people()
    for _ in range(5):
        status, body = await bo.sign_in("bo", "wrong password")
        assert status == 401 and body["error"]["message"] == "wrong user name or password"
    status, body = await bo.sign_in("bo", "correct horse")
    assert status == 429 and "try again" in body["error"]["message"]
    # The address is locked too: guessing another account's password from it is refused.
    await add_user(gw, "cy", "viewer")
    assert (await bo.sign_in("cy", "correct horse"))[0] == 429
    # An unknown user is answered exactly like a wrong password.
    other = people()
    status, body = await other.sign_in("nobody", "whatever1")
    assert status in (401, 429)


async def test_api_tokens_act_with_their_owners_role_and_can_be_revoked(gw: Any, people: Any) -> None:
    await add_user(gw, "fin", "finance")
    fin = people()
    await fin.sign_in("fin", "correct horse")
    status, made = await fin.call("POST", "/tokens", {"name": "monthly-report"})
    assert status == 201 and made["token"].startswith("bfp_")
    token = {"authorization": f"Bearer {made['token']}"}
    assert (await fin.call("POST", "/tokens", {"name": "monthly-report"}))[0] == 409
    status, listed = await fin.call("GET", "/tokens")
    assert [t["name"] for t in listed["tokens"]] == ["monthly-report"] and "token" not in listed["tokens"][0]
    robot = people()
    status, me = await robot.call("GET", "/me", headers=token)
    assert status == 200 and me["username"] == "fin" and me["role"] == "finance" and me["via"] == "api-token"
    assert (await robot.call("POST", "/users", {"username": "x", "password": "12345678x", "role": "admin"},
                             headers=token))[0] == 403
    assert (await fin.call("DELETE", f"/tokens/{made['id']}"))[0] == 204
    assert (await robot.call("GET", "/me", headers=token))[0] == 401


async def test_the_admin_token_is_an_admin_and_users_are_managed_with_it(gw: Any) -> None:
    status, me = await admin_call(gw.url, "GET", "/me")
    assert status == 200 and me["role"] == "admin" and me["via"] == "token"
    await add_user(gw, "tm", "team_manager", teams=["backend"])
    status, body = await admin_call(gw.url, "POST", "/users", {"username": "tm", "password": "12345678", "role": "viewer"})
    assert status == 409
    status, body = await admin_call(gw.url, "POST", "/users", {"username": "x", "password": "short", "role": "viewer"})
    assert status == 400 and "password" in body["error"]["message"]
    status, body = await admin_call(gw.url, "POST", "/users", {"username": "y", "password": "12345678", "role": "boss"})
    assert status == 400 and "role" in body["error"]["message"]
    status, body = await admin_call(gw.url, "PATCH", "/users/tm", {"teams": ["backend", "platform"]})
    assert status == 200 and body["teams"] == ["backend", "platform"]
    status, body = await admin_call(gw.url, "GET", "/users")
    assert [u["username"] for u in body["users"]] == ["tm"] and "password_hash" not in str(body)
    assert (await admin_call(gw.url, "DELETE", "/users/tm"))[0] == 204
    assert (await admin_call(gw.url, "DELETE", "/users/tm"))[0] == 404


async def test_a_role_change_signs_the_person_out(gw: Any, people: Any) -> None:
    await add_user(gw, "dee", "admin")
    dee = people()
    await dee.sign_in("dee", "correct horse")
    assert (await dee.call("GET", "/users"))[0] == 200
    assert (await admin_call(gw.url, "PATCH", "/users/dee", {"role": "viewer"}))[0] == 200
    assert (await dee.call("GET", "/users"))[0] == 401
    await dee.sign_in("dee", "correct horse")
    status, body = await dee.call("GET", "/users")
    assert status == 403 and "viewer" in body["error"]["message"]


async def test_no_credentials_is_a_401_naming_both_ways_in(gw: Any, people: Any) -> None:
    nobody = people()
    status, body = await nobody.call("GET", "/settings")
    assert status == 401 and body["error"]["type"] == "authentication"
    status, body = await nobody.call("GET", "/auth")
    assert status == 200 and body == {"setup_open": False, "sso": None, "me": None}
    assert ADMIN  # the admin token header is what automation keeps sending


async def test_the_set_up_link_creates_the_first_admin_once(start_gateway: Any, mock_upstream: Any, tmp_path: Any,
                                                            monkeypatch: Any, people: Any) -> None:
    monkeypatch.setenv("BIFROST_SETUP_TOKEN", "one-time-setup")
    config = {"providers": {"m": {"type": "mock"}}, "storage": {"logs": f"sqlite:///{tmp_path}/first.db"}}
    first = await start_gateway(config, builtins=False)
    stranger = people()
    stranger.base = first.url
    status, body = await stranger.call("GET", "/settings")
    assert status == 403 and "set-up link" in body["error"]["message"]
    assert (await stranger.call("GET", "/auth"))[1]["setup_open"] is True
    status, body = await stranger.call("POST", "/setup", {"token": "guess", "username": "owner", "password": "long enough"})
    assert status == 403
    status, body = await stranger.call("POST", "/setup", {"token": "one-time-setup", "username": "owner",
                                                          "password": "long enough"})
    assert status == 201 and body["user"]["role"] == "admin"
    stranger.csrf = body["csrf"]
    assert (await stranger.call("GET", "/settings"))[0] == 200   # signed in by the set-up
    assert (await stranger.call("GET", "/auth"))[1]["setup_open"] is False
    late = people()
    late.base = first.url
    status, body = await late.call("POST", "/setup", {"token": "one-time-setup", "username": "late",
                                                      "password": "long enough"})
    assert status == 409
    assert (await late.call("GET", "/settings"))[0] == 401


async def test_a_cross_site_form_cannot_sign_a_browser_in(gw: Any, people: Any) -> None:
    await add_user(gw, "victim", "viewer")
    browser = people()
    body = '{"username": "victim", "password": "correct horse", "x": "="}'
    async with browser.session.post(gw.url + "/api/login", data=body,
                                    headers={"content-type": "text/plain"}) as response:
        assert response.status == 415 and "application/json" in (await response.json())["error"]["message"]
    assert (await browser.call("GET", "/me"))[0] == 401
    # Signing in again with a live session simply replaces it.
    assert (await browser.sign_in("victim", "correct horse"))[0] == 200
    assert (await browser.sign_in("victim", "correct horse"))[0] == 200
    assert (await browser.call("GET", "/me"))[0] == 200
