"""`/api/providers`: providers listed, created, changed, disabled, deleted and tested at run time.

Providers from the config file are listed (`source: "config"`, `read_only: true`) and can be
tested, not changed. Key values and AWS secrets are never in an answer: keys show as `sk-a…wxyz`
(`keys[].key`, to admins only), the stored settings (`settings`) without their secrets. A change is in service
for the next request when the answer comes back (providerregistry.py says how streams in flight
are kept on the provider they started with).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ..accounts.roles import WRITE
from ..providerprobe import probe
from ..providerregistry import ProviderChangeError, ProviderRegistry
from ..secrets import mask
from . import AdminRoute
from .editable import refused
from .guard import Handler, principal, shown_keys
from .helpers import AdminError, body_field, json_body, json_response

if TYPE_CHECKING:
    from ..gateway import Gateway

PROVIDER_BODY = {
    "type": "object",
    "properties": {
        "name": {"type": "string"}, "type": {"enum": ["anthropic", "openai", "azure", "bedrock", "gemini", "mock"]},
        "base_url": {"type": "string"}, "models": {"type": ["array", "object"]},
        "keys": {"type": "array", "items": {"type": "object", "properties": {
            "name": {"type": "string"}, "value": {"type": "string"}, "weight": {"type": "number"},
            "enabled": {"type": "boolean"}}}},
        "enabled": {"type": "boolean"}, "region": {"type": "string"}, "access_key_id": {"type": "string"},
        "secret_access_key": {"type": "string"}, "session_token": {"type": "string"},
        "api_version": {"type": "string"}, "headers": {"type": "object"}, "timeouts": {"type": "object"},
    },
}
HINT = '{"name": "anthropic", "type": "anthropic", "keys": [{"value": "sk-ant-..."}]}'


def provider_routes(gateway: Gateway) -> list[AdminRoute]:
    registry = gateway.registry
    before = snapshot(registry)
    return [
        AdminRoute("GET", "/providers", listed(registry),
                   "Providers (config file and admin API), keys masked, health and warnings", tag="providers"),
        AdminRoute("POST", "/providers", created(registry), "Create a provider; in service for the next request",
                   body=PROVIDER_BODY, tag="providers", mask=shown_body),
        AdminRoute("GET", "/providers/{name}", shown(registry), "One provider", tag="providers"),
        AdminRoute("PATCH", "/providers/{name}", changed(registry),
                   "Change a provider: fields given replace the stored ones; a key without `value` keeps "
                   "its stored value; `enabled: false` takes it out of service", body=PROVIDER_BODY, tag="providers",
                   snapshot=before, mask=shown_body),
        AdminRoute("DELETE", "/providers/{name}", deleted(registry), "Delete a provider created here", tag="providers",
                   snapshot=before),
        AdminRoute("POST", "/providers/{name}/test", tested(registry),
                   "Send one minimal request to the provider; its answer or error",
                   body={"type": "object", "properties": {"model": {"type": "string"}, "key": {"type": "string"}}},
                   tag="providers"),
    ]


def shown_body(body: Any) -> Any:
    """A provider's request body for the audit log, its keys masked as answers mask them
    (`sk-a…wxyz` has `…wxyz`), whatever shape a refused body has: a key given as a bare string,
    or `keys` as one string, is masked too (`keys` is no secret's name). AWS credentials and
    headers are masked by their names."""
    if not isinstance(body, dict) or body.get("keys") is None:
        return body
    keys = body["keys"] if isinstance(body["keys"], list) else [body["keys"]]
    return {**body, "keys": [_shown_key(key) for key in keys]}


def _shown_key(key: Any) -> Any:
    if not isinstance(key, dict):
        return mask(str(key))
    return {**key, "value": mask(str(key["value"]))} if key.get("value") is not None else key


def snapshot(registry: ProviderRegistry) -> Callable[[web.Request], Awaitable[Any]]:
    """The provider a request names, as GET shows it (secrets masked), for the audit log."""
    async def taken(request: web.Request) -> Any:
        name = request.match_info.get("name", "")
        return registry.describe(name) if name in registry.names() else None

    return taken


def for_caller(request: web.Request, described: dict[str, Any]) -> dict[str, Any]:
    """A provider as this caller may see it: only admins (the `secrets` access) see even the
    masked ends of its API keys; other roles see each key's name, weight and health."""
    shown = {**described, "keys": shown_keys(request, described.get("keys"))}
    if isinstance(described.get("settings"), dict):
        shown["settings"] = {**described["settings"], "keys": shown_keys(request, described["settings"].get("keys"))}
    return shown


def listed(registry: ProviderRegistry) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        providers = [for_caller(request, p) for p in registry.describe_all()]
        warnings = [text for p in providers for text in p.get("warnings", [])]
        editable = principal(request).may(WRITE)  # this caller may add and change providers
        return json_response({"providers": providers, "warnings": warnings, "editable": editable})

    return handler


def created(registry: ProviderRegistry) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await json_body(request, hint=HINT)
        try:
            return json_response(await registry.create(body), status=201)
        except ProviderChangeError as exc:
            raise refused(exc) from None

    return handler


def shown(registry: ProviderRegistry) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            return json_response(for_caller(request, registry.describe(request.match_info["name"])))
        except ProviderChangeError as exc:
            raise refused(exc) from None

    return handler


def changed(registry: ProviderRegistry) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await json_body(request, hint='{"enabled": false} or {"keys": [{"name": "key-1", "weight": 2}]}')
        try:
            return json_response(await registry.update(request.match_info["name"], body))
        except ProviderChangeError as exc:
            raise refused(exc) from None

    return handler


def deleted(registry: ProviderRegistry) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        try:
            await registry.delete(name)
        except ProviderChangeError as exc:
            raise refused(exc) from None
        return json_response({"deleted": name})

    return handler


def tested(registry: ProviderRegistry) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await json_body(request) if request.can_read_body else {}
        model = body_field(body, "model", str)
        key = body_field(body, "key", str)
        try:
            provider = registry.provider(request.match_info["name"])
        except ProviderChangeError as exc:
            raise refused(exc) from None
        if key is not None and provider.keys.get(key) is None:
            raise AdminError(400, f"key: provider {provider.name!r} has no key named {key!r}")
        return json_response(await probe(provider, model, key))

    return handler
