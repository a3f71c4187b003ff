"""A browser-like client of the admin API for the accounts tests: one cookie jar per person,
the CSRF token kept from the sign-in and sent with every change, as the web UI does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aiohttp
import orjson

from bifrost_py.testing import provider_config

ADMIN_TOKEN = "admin-secret"
ADMIN = {"authorization": f"Bearer {ADMIN_TOKEN}"}


class Person:
    def __init__(self, base: str) -> None:
        self.base = base
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def call(self, method: str, path: str, body: Any = None, *, headers: dict[str, str] | None = None,
                   csrf: bool = True) -> tuple[int, Any]:
        sent = dict(headers or {})
        if csrf and self.csrf and method not in ("GET", "HEAD"):
            sent["x-csrf-token"] = self.csrf
        async with self.session.request(method, self.base + "/api" + path, json=body, headers=sent,
                                        allow_redirects=False) as response:
            raw = await response.read()
            if response.content_type == "application/json" and raw:
                return response.status, orjson.loads(raw)
            return response.status, raw.decode("utf-8", "replace")

    async def sign_in(self, username: str, password: str) -> tuple[int, Any]:
        status, body = await self.call("POST", "/login", {"username": username, "password": password})
        if status == 200:
            self.csrf = body["csrf"]
        return status, body

    async def close(self) -> None:
        await self.session.close()


async def admin_call(base: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, \
            session.request(method, base + "/api" + path, json=body, headers=ADMIN) as response:
        raw = await response.read()
        return response.status, orjson.loads(raw) if raw and response.content_type == "application/json" else raw


def gateway_config(upstream: Any, tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """A gateway with the admin token, its database in the test's folder."""
    return {"providers": provider_config(upstream.url), "admin": {"token": ADMIN_TOKEN},
            "storage": {"logs": f"sqlite:///{tmp_path}/gateway.db"}, **extra}
