"""The HTTP face of the gateway: routes of CONTRACT.md, body parsing, the Call, the admin API."""

from __future__ import annotations

import os
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from .admin.fallback import add_fallback
from .admin.probes import metrics_handler, probe_ok
from .admin.routes import add_admin_routes
from .admin.webui import add_web_ui
from .context import ANTHROPIC, COUNT_TOKENS, EMBEDDINGS, MESSAGES, MODELS, OPENAI, Call, ModelInfo
from .errors import GatewayError, InvalidRequest, RequestTooLarge, error_body
from .gateway import Gateway

GATEWAY_KEY = web.AppKey("gateway", Gateway)
_SESSION_IN_USER_ID = re.compile(r"session_([0-9a-fA-F-]{8,})")


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
    app.router.add_get("/v1/models", api.models(None))
    app.router.add_get("/anthropic/v1/models", api.models(ANTHROPIC))
    app.router.add_get("/openai/v1/models", api.models(OPENAI))
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
        async def handler(request: web.Request) -> web.StreamResponse:
            call = await self._call(request, dialect, endpoint)
            return await self.gateway.pipeline.handle(call, request)

        return handler

    async def _call(self, request: web.Request, dialect: str, endpoint: str) -> Call:
        headers = request.headers
        call = Call(
            request_id="req_" + os.urandom(12).hex(),
            dialect=dialect,
            endpoint=endpoint,
            headers=headers,
            query_string=request.query_string,
            credential=_credential(headers),
            client_app=_client_app(headers.get("user-agent")),
        )
        try:
            call.raw_body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            call.error = RequestTooLarge(
                f"request body is larger than the gateway's limit of {self.gateway.config.max_body_mb:g} MB"
            )
            return call
        try:
            body = orjson.loads(call.raw_body)
        except orjson.JSONDecodeError as exc:
            call.error = InvalidRequest(f"request body is not valid JSON: {exc}")
            return call
        problem = _validate(body, dialect, endpoint)
        if problem:
            call.error = InvalidRequest(problem)
            return call
        call.body = body
        call.model = body["model"]
        call.stream = bool(body.get("stream")) and endpoint == MESSAGES
        call.session_id = _session_id(headers, body)
        return call

    def models(self, dialect: str | None) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            shape = dialect or (ANTHROPIC if "anthropic-version" in request.headers else OPENAI)
            call = Call(
                request_id="req_" + os.urandom(12).hex(), dialect=shape, endpoint=MODELS,
                headers=request.headers, credential=_credential(request.headers),
            )
            try:
                await self.gateway.dispatcher.request_start(call)
            except GatewayError as error:
                return web.Response(status=error.status, body=error_body(error, shape),
                                    headers={"content-type": "application/json", **error.headers})
            models = [ModelInfo(id=m, provider=p) for m, p in self.gateway.known_models()]
            models = await self.gateway.dispatcher.list_models(call, models)
            return web.Response(body=orjson.dumps(_model_list(models, shape)), content_type="application/json")

        return handler


def _validate(body: Any, dialect: str, endpoint: str) -> str | None:
    """Type checks of the fields the gateway itself reads; everything else passes untouched."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model: field required (a non-empty string)"
    if endpoint in (MESSAGES, COUNT_TOKENS):
        if not isinstance(body.get("messages"), list):
            return "messages: field required (a list)"
        if "stream" in body and not isinstance(body["stream"], bool):
            return "stream: must be true or false"
        max_tokens = body.get("max_tokens")
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1):
            return "max_tokens: must be a positive whole number"
        if dialect == ANTHROPIC and endpoint == MESSAGES and max_tokens is None:
            return "max_tokens: field required"
    if endpoint == EMBEDDINGS and not isinstance(body.get("input"), (str, list)):
        return "input: field required (a string or a list)"
    return None


def _credential(headers: Any) -> str | None:
    """The caller's key: x-bf-vk, then x-api-key, then Authorization: Bearer (CONTRACT.md)."""
    value = headers.get("x-bf-vk") or headers.get("x-api-key")
    if value:
        return str(value)
    auth = headers.get("authorization", "")
    if auth[:7].lower() == "bearer ":
        return str(auth[7:].strip()) or None
    return None


def _client_app(user_agent: str | None) -> str | None:
    return user_agent.split(" ", 1)[0][:100] if user_agent else None


def _session_id(headers: Any, body: dict[str, Any]) -> str | None:
    """Claude Code's session: its header, else the session_id inside metadata.user_id (a JSON
    string in Claude Code 2.x, `user_..._session_<uuid>` before), else x-bf-session-id."""
    session = headers.get("x-claude-code-session-id")
    if session:
        return str(session)
    metadata = body.get("metadata")
    user_id = metadata.get("user_id") if isinstance(metadata, dict) else None
    if isinstance(user_id, str) and user_id:
        if user_id.startswith("{"):
            try:
                parsed = orjson.loads(user_id)
            except orjson.JSONDecodeError:
                parsed = None
            if isinstance(parsed, dict) and parsed.get("session_id"):
                return str(parsed["session_id"])
        match = _SESSION_IN_USER_ID.search(user_id)
        if match:
            return match.group(1)
    header = headers.get("x-bf-session-id")
    return str(header) if header else None


def _model_list(models: list[ModelInfo], shape: str) -> dict[str, Any]:
    created = int(time.time())
    if shape == ANTHROPIC:
        data = [
            {"type": "model", "id": m.id, "display_name": m.display_name or m.id, "created_at": "2025-01-01T00:00:00Z"}
            for m in models
        ]
        return {"data": data, "has_more": False, "first_id": data[0]["id"] if data else None,
                "last_id": data[-1]["id"] if data else None}
    return {"object": "list", "data": [
        {"id": m.id, "object": "model", "created": m.created or created, "owned_by": m.provider} for m in models
    ]}
