"""Registering the admin API: the core's own routes, the accounts' and every plugin's, each
behind the guard (who is asking, may they, the audit log), and the OpenAPI document that
describes them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from ..accounts.api import account_routes
from ..accounts.service import Accounts
from . import AdminRoute
from .guard import Handler, protected
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
    document = openapi_document(routes)
    for route in routes:
        app.router.add_route(route.method, "/api" + route.path, protected(route, accounts))

    async def openapi(request: web.Request) -> web.StreamResponse:
        return web.json_response(document)

    app.router.add_get("/api/openapi.json", openapi)


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
