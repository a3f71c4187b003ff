"""Registering the admin API: the core's own routes, the accounts' and every plugin's, each
behind the guard (who is asking, may they, the audit log), and the OpenAPI document that
describes them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..accounts.api import account_routes
from ..accounts.service import Accounts
from . import AdminRoute
from .guard import Handler, json_of, protected
from .helpers import AdminError
from .openapi import openapi_document
from .providers import provider_routes

if TYPE_CHECKING:
    from ..gateway import Gateway


ACCOUNTS = web.AppKey("accounts", Accounts)


def add_admin_routes(app: web.Application, gateway: Gateway) -> None:
    accounts = Accounts(gateway)
    app[ACCOUNTS] = accounts
    routes = core_routes(gateway)
    routes.extend(account_routes(accounts))
    routes.extend(gateway.plugins.admin_routes(gateway))
    add_snapshots(routes)
    document = openapi_document(routes)
    for route in routes:
        app.router.add_route(route.method, "/api" + route.path, protected(route, accounts))

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", openapi)


def add_snapshots(routes: list[AdminRoute]) -> None:
    """A change of one resource (PATCH, PUT, DELETE on a path that has a GET) is recorded in the
    audit log with what that GET answers before and after it, unless the route brings its own
    snapshot: every plugin's keys, providers and rules get before/after with no code of theirs."""
    reads = {route.path: route.handler for route in routes if route.method == "GET"}
    for route in routes:
        if route.snapshot is None and route.method in ("PATCH", "PUT", "DELETE") and route.path in reads:
            route.snapshot = read_as_snapshot(reads[route.path])


def read_as_snapshot(read: Handler) -> Callable[[web.Request], Awaitable[Any]]:
    async def snapshot(request: web.Request) -> Any:
        try:
            response = await read(request)
        except (AdminError, web.HTTPException):  # not there (yet, or any more): nothing to show
            return None
        return json_of(response) if response.status == 200 else None

    return snapshot


def core_routes(gateway: Gateway) -> list[AdminRoute]:
    return [
        *provider_routes(gateway),
        AdminRoute("GET", "/plugins", plugins_handler(gateway), "Loaded plugins and the hooks each implements"),
        AdminRoute("GET", "/settings", settings_handler(gateway), "Currency and other settings the UI needs"),
    ]


def plugins_handler(gateway: Gateway) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"plugins": gateway.plugins.describe()})  # as `bifrost-py plugins`

    return handler


def settings_handler(gateway: Gateway) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        config = gateway.config
        return web.json_response({
            "currency": {"code": config.currency_code, "per_usd": config.currency_per_usd,
                         "symbol": gateway.format_money(0).replace("0.00", "").strip()},
            "providers": list(gateway.providers),
            "plugins": [i.name for i in gateway.plugins.ordered()],
        })

    return handler
