"""The mock upstream as an aiohttp app: route table, and `run` for the CLI.

To add a dialect: a `<name>_wire.py` with a `Wire`, a `<name>_endpoints.py` with handlers for
its paths and a `routes()`, and that added in `provider_routes` (Bedrock, Azure, Gemini do so).
"""

from __future__ import annotations

import asyncio
from dataclasses import replace

from aiohttp import web

from . import (
    azure_endpoints,
    bedrock_endpoints,
    control,
    endpoints,
    gemini_endpoints,
    responses_endpoints,
)
from .endpoints import STATE
from .state import MockOptions, MockState

MAX_BODY = 64 * 1024 * 1024

API_ROUTES = [
    web.post("/v1/messages", endpoints.messages),
    web.post("/v1/messages/count_tokens", endpoints.count_tokens),
    web.get("/v1/models", endpoints.models),
    web.post("/v1/chat/completions", endpoints.chat_completions),
    web.post("/v1/embeddings", endpoints.embeddings),
    web.head("/", endpoints.head_root),
    web.get("/health", endpoints.health),
]


def provider_routes() -> list[web.RouteDef]:
    """The other providers' dialects, each module owning its route table."""
    return (bedrock_endpoints.routes() + azure_endpoints.routes() + gemini_endpoints.routes()
            + responses_endpoints.routes())


def build_app(options: MockOptions | None = None) -> web.Application:
    """A fresh mock server; its state (script, records, stats) is `app[STATE]`."""
    app = web.Application(client_max_size=MAX_BODY, middlewares=[control.recorder])
    app[STATE] = MockState(replace(options) if options else MockOptions())
    app.router.add_routes(API_ROUTES + control.ROUTES + provider_routes())
    return app


def run(host: str, port: int, options: MockOptions) -> None:
    """Serve until interrupted (uvloop when installed), after one line saying where."""
    try:
        import uvloop
    except ImportError:
        loop_factory = None
    else:
        loop_factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        try:
            runner.run(_serve(host, port, options))
        except KeyboardInterrupt:
            pass


async def _serve(host: str, port: int, options: MockOptions) -> None:
    runner = web.AppRunner(build_app(options), access_log=None)
    await runner.setup()
    try:
        # An upstream accepts a burst of connections (a gateway opening 500 streams at once);
        # aiohttp's default backlog of 128 would make the mock, not the relay, the bottleneck.
        site = web.TCPSite(runner, host, port, backlog=2048)
        await site.start()
        bound_host, bound_port = runner.addresses[0][:2]
        print(f"bifrost-py mock-upstream listening on http://{bound_host}:{bound_port}", flush=True)
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()
