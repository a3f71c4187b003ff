"""Admin API routes of the cache (under /api; the core checks the admin token first).

    GET    /api/cache                 settings in force and counters (hits, misses, saved USD)
    GET    /api/cache/entries         entries, most recently used first (?limit=, ?scope=)
    DELETE /api/cache                 empty the cache, or one scope of it (?scope=key:ID)
    DELETE /api/cache/entries/{key}   drop one entry

Entries are listed by metadata only (scope, model, provider, age, size, hits): the cached answers
are what users asked and were told, so the API does not show them. A team manager gets 403 for
the list: an entry does not record which key or team made it, so it cannot be scoped.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bifrost_py.admin import (
    AdminError,
    AdminRoute,
    json_response,
    principal,
    require_started,
    text,
    whole_number,
)

from .catalog import Meta
from .settings import describe
from .stores import StoreError

if TYPE_CHECKING:
    from .plugin import CachePlugin

_MAX_LIST = 1000
# An entry records its scope (shared, customer:, team: or key:ID), not the virtual key or team
# whose request made it, so the list cannot be narrowed to a team manager's teams.
SCOPED_REFUSAL = ("a team manager may not list cache entries: an entry records its cache scope, not the virtual key "
                  "or team whose request made it, so the list cannot be narrowed to your teams (GET /api/cache "
                  "shows the counters)")


def _entry(meta: Meta, now: float) -> dict[str, Any]:
    return {
        "key": meta.key, "scope": meta.scope, "model": meta.model, "provider": meta.provider,
        "semantic": meta.partition is not None, "age_seconds": round(now - meta.created, 1),
        "expires_in_seconds": round(meta.expires - now, 1), "bytes": meta.size, "hits": meta.hits,
    }


def _store_down(exc: StoreError) -> AdminError:
    """This instance forgot the entries at once; the shared store did not: say so, ask to retry."""
    return AdminError(503, f"the cache store could not delete ({exc}); this instance no longer serves "
                           "those entries, but others sharing the store may until the delete is repeated")


def admin_routes(plugin: CachePlugin) -> list[AdminRoute]:
    async def stats(request: web.Request) -> web.Response:
        cache = plugin.cache
        body: dict[str, Any] = {"settings": describe(plugin.settings), "stats": cache.stats() if cache else None}
        if cache is not None:
            body["stats"]["saved"] = plugin.gateway.format_money(cache.metrics.saved_usd)
            body["backend"] = cache.store.name
            body["embedder"] = cache.embedder.id
        return json_response(body)

    async def entries(request: web.Request) -> web.Response:
        if principal(request).scoped:
            raise AdminError(403, SCOPED_REFUSAL)
        cache = require_started(plugin.cache, "the cache")
        limit = whole_number(request.query, "limit", default=100, minimum=1, maximum=_MAX_LIST) or 100
        now = time.time()
        found = cache.catalog.newest(limit, text(request.query, "scope"))
        return json_response({"entries": [_entry(meta, now) for meta in found]})

    async def clear(request: web.Request) -> web.Response:
        cache = require_started(plugin.cache, "the cache")
        try:
            deleted = await cache.clear(text(request.query, "scope"))
        except StoreError as exc:
            raise _store_down(exc) from exc
        return json_response({"deleted": deleted})

    async def drop(request: web.Request) -> web.Response:
        cache = require_started(plugin.cache, "the cache")
        key = request.match_info["key"]
        known = cache.catalog.get(key) is not None
        try:
            await cache.forget([key], "cleared")
        except StoreError as exc:
            raise _store_down(exc) from exc
        return json_response({"deleted": 1 if known else 0})

    return [
        AdminRoute("GET", "/cache", stats, "Cache settings and counters (hits, misses, hit rate, saved cost)", tag="cache"),
        AdminRoute("GET", "/cache/entries", entries, "Cache entries, most recently used first (metadata only)",
                   params={"limit": f"at most this many (1 to {_MAX_LIST}, default 100)", "scope": "only this scope, e.g. key:ID"},
                   tag="cache"),
        AdminRoute("DELETE", "/cache", clear, "Empty the cache, or one scope of it",
                   params={"scope": "only this scope, e.g. key:ID, team:NAME, shared, anonymous"}, tag="cache"),
        AdminRoute("DELETE", "/cache/entries/{key}", drop, "Drop one cache entry", tag="cache"),
    ]
