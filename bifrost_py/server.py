"""The HTTP face of the gateway: the routes of CONTRACT.md, and the model endpoints' handlers."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from .admin.fallback import add_fallback
from .admin.probes import metrics_handler, probe_ok
from .admin.routes import add_admin_routes
from .admin.webui import add_web_ui
from .context import (
    ANTHROPIC,
    COUNT_TOKENS,
    EMBEDDINGS,
    MESSAGES,
    MODELS,
    OPENAI,
    RESPONSES,
    ModelInfo,
)
from .dialects.gemini import GEMINI
from .errors import GatewayError, NotFound, error_body
from .gateway import Gateway
from .gemini_calls import gemini_endpoint, gemini_model, gemini_model_list
from .inbound import new_call, read_call
from .modellist import created_at, served_models

GATEWAY_KEY = web.AppKey("gateway", Gateway)
log = logging.getLogger("bifrost_py.server")


def build_app(gateway: Gateway) -> web.Application:
    """The aiohttp application for `gateway`; start-up and shutdown are paired in cleanup_ctx."""
    max_bytes = int(gateway.config.max_body_mb * 1024 * 1024)
    app = web.Application(client_max_size=max_bytes)
    app[GATEWAY_KEY] = gateway
    api = Api(gateway)
    for prefix in ("", "/anthropic"):
        app.router.add_post(prefix + "/v1/messages", api.endpoint(ANTHROPIC, MESSAGES))
        app.router.add_post(prefix + "/v1/messages/count_tokens", api.endpoint(ANTHROPIC, COUNT_TOKENS))
    for prefix in ("", "/openai"):
        app.router.add_post(prefix + "/v1/chat/completions", api.endpoint(OPENAI, MESSAGES))
        app.router.add_post(prefix + "/v1/embeddings", api.endpoint(OPENAI, EMBEDDINGS))
        app.router.add_post(prefix + "/v1/responses", api.endpoint(RESPONSES, MESSAGES))
        app.router.add_post(prefix + "/v1/responses/input_tokens", api.endpoint(RESPONSES, COUNT_TOKENS))
    for path, shape in (("/v1", None), ("/anthropic/v1", ANTHROPIC), ("/openai/v1", OPENAI),
                        ("/gemini/v1beta", GEMINI), ("/gemini/v1", GEMINI)):  # Google serves both versions
        app.router.add_get(path + "/models", api.models(shape))
        app.router.add_get(path + "/models/{model:.+}", api.model(shape))
    for version in ("v1beta", "v1"):
        app.router.add_post(f"/gemini/{version}/models/{{target}}", gemini_endpoint(gateway))  # model:method
    for path in ("/anthropic", "/anthropic/", "/openai", "/openai/", "/v1"):
        app.router.add_get(path, probe_ok)
    app.router.add_get("/health", probe_ok)
    app.router.add_get("/metrics", metrics_handler(gateway))
    add_admin_routes(app, gateway)
    add_web_ui(app)
    add_fallback(app)  # last: it answers only what no route above matched
    app.cleanup_ctx.append(_lifecycle(gateway))
    app.on_shutdown.append(_stopping(gateway))
    return app


def _stopping(gateway: Gateway) -> Any:
    async def stopping(app: web.Application) -> None:
        gateway.stopping.set()

    return stopping


def _lifecycle(gateway: Gateway) -> Any:
    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await gateway.start()
        yield
        await gateway.stop()

    return lifecycle


class Api:
    """Request handlers. Each model endpoint builds a Call and hands it to the pipeline."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    def endpoint(self, dialect: str, endpoint: str) -> Any:
        max_body_mb = self.gateway.config.max_body_mb

        async def handler(request: web.Request) -> web.StreamResponse:
            call = await read_call(request, dialect, endpoint, max_body_mb)
            return await self.gateway.pipeline.handle(call, request)

        return handler

    def models(self, dialect: str | None) -> Any:
        """`GET .../models`: what this caller may use, in the dialect's list shape."""
        async def handler(request: web.Request) -> web.StreamResponse:
            shape = _list_shape(request, dialect)
            listed = await self._listed(request, shape)
            if isinstance(listed, web.Response):
                return listed
            return web.Response(body=orjson.dumps(_model_list(listed, shape)), content_type="application/json")

        return handler

    def model(self, dialect: str | None) -> Any:
        """`GET .../models/{model}`: one model of that list (SDKs' `models.retrieve`/`get`), or
        a 404 in the dialect's shape when this caller cannot use it."""
        async def handler(request: web.Request) -> web.StreamResponse:
            shape = _list_shape(request, dialect)
            wanted = request.match_info["model"].removeprefix("models/")
            listed = await self._listed(request, shape)
            if isinstance(listed, web.Response):
                return listed
            for model in listed:
                if model.id == wanted:
                    return web.Response(body=orjson.dumps(_one_model(model, shape)), content_type="application/json")
            return _error(NotFound(f"model {wanted!r} is not served to this key"), shape)

        return handler

    async def _listed(self, request: web.Request, shape: str) -> list[ModelInfo] | web.Response:
        """The models this caller may use (the list_models hooks applied), or the error answer."""
        call = new_call(request, shape, MODELS)
        try:
            await self.gateway.dispatcher.request_start(call)
            return await self.gateway.dispatcher.list_models(call, served_models(self.gateway))
        except GatewayError as error:
            return _error(error, shape)
        except Exception as exc:
            log.exception("listing models failed inside the gateway")
            return _error(GatewayError(f"internal gateway error ({type(exc).__name__})"), shape)


def _list_shape(request: web.Request, dialect: str | None) -> str:
    """`/v1/models` is shared by Anthropic and OpenAI clients: Anthropic's send anthropic-version."""
    return dialect or (ANTHROPIC if "anthropic-version" in request.headers else OPENAI)


def _error(error: GatewayError, dialect: str) -> web.Response:
    return web.Response(status=error.status, body=error_body(error, dialect),
                        headers={"content-type": "application/json", **error.headers})


def _model_list(models: list[ModelInfo], shape: str) -> dict[str, Any]:
    if shape == GEMINI:
        return gemini_model_list(models)
    data = [_one_model(m, shape) for m in models]
    if shape == ANTHROPIC:
        return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}
    return {"object": "list", "data": data}


def _one_model(m: ModelInfo, shape: str) -> dict[str, Any]:
    if shape == GEMINI:
        return gemini_model(m)
    if shape == ANTHROPIC:
        return {"type": "model", "id": m.id, "display_name": m.display_name or m.id, "created_at": created_at(m)}
    return {"id": m.id, "object": "model", "created": m.created, "owned_by": m.provider}
