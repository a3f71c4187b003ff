"""The floor: a bare aiohttp + uvloop relay with no logic at all, what `make bench` divides by.

    python -m bench.floor --port 8300 --upstream http://127.0.0.1:8090 [--workers N]

Every request is sent on to `upstream` (same method, path, query, body and headers, minus the
hop-by-hop ones) and its answer relayed back: a stream chunk by chunk as it arrives, anything
else read whole. The upstream session is built as the gateway's providers build theirs
(bifrost_py/providers/base.py: no total timeout, the same connector, auto-decompression, no
User-Agent), the server runs as `bifrost-py serve` does (uvloop, no access log, handler
cancellation, gc.freeze after start-up, its listen backlog), so the difference to the gateway is the gateway's
own work: parsing, plugins, accounting. With BIFROST_LOOP_STALL_MS set it runs the gateway's
loop-lag sampler and stall log too (bifrost_py/looplag.py), so the two pay the same for it and
the floor's stalls show what the machine alone causes. `--workers N` forks N such processes sharing the port
(SO_REUSEPORT), as `bifrost-py serve --workers N` does; SIGTERM to the parent stops them all.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import sys
from typing import Any

import aiohttp
import uvloop
from aiohttp import web
from prometheus_client import CollectorRegistry

from bifrost_py.cli import LISTEN_BACKLOG, fork_workers
from bifrost_py.looplag import LoopLag, stall_threshold

HOP_BY_HOP = frozenset(("connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "transfer-encoding", "upgrade", "host", "content-length"))
CONNECT_TIMEOUT = 10.0  # the gateway's defaults (providers' `timeouts:`)
IDLE_TIMEOUT = 300.0


def upstream_session() -> aiohttp.ClientSession:
    """The session settings of bifrost_py.providers.base.Provider.session."""
    return aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=IDLE_TIMEOUT),
        connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
        auto_decompress=True,
        skip_auto_headers=("User-Agent",),
    )


def relay_app(upstream: str, worker: int | None = None) -> web.Application:
    app = web.Application()
    base = upstream.rstrip("/")

    async def session_context(app: web.Application) -> Any:
        app["session"] = upstream_session()
        yield
        await app["session"].close()

    async def relay(request: web.Request) -> web.StreamResponse:
        session: aiohttp.ClientSession = request.app["session"]
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = await request.read()
        async with session.request(request.method, base + request.path_qs, data=body, headers=headers) as answer:
            if not answer.headers.get("content-type", "").startswith("text/event-stream"):
                return web.Response(body=await answer.read(), status=answer.status,
                                    content_type=answer.content_type)
            response = web.StreamResponse(status=answer.status, headers={"content-type": "text/event-stream",
                                                                         "cache-control": "no-cache"})
            await response.prepare(request)
            async for chunk in answer.content.iter_any():
                await response.write(chunk)
            await response.write_eof()
            return response

    app.cleanup_ctx.append(session_context)
    app.cleanup_ctx.append(_loop_lag)
    app.router.add_route("*", "/{tail:.*}", relay)
    app.on_startup.append(_freeze)
    if worker is not None:  # as `bifrost-py serve --workers N` does (the bench waits for every worker)
        index = str(worker)

        async def name_worker(request: web.Request, response: web.StreamResponse) -> None:
            response.headers["x-bf-worker"] = index

        app.on_response_prepare.append(name_worker)
    return app


async def _loop_lag(app: web.Application) -> Any:
    """The gateway's loop-lag sampler, with its stall log when BIFROST_LOOP_STALL_MS asks for it."""
    stall_after = stall_threshold()
    if stall_after is None:
        yield
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    lag = LoopLag(CollectorRegistry(), stall_after=stall_after)
    lag.start()
    yield
    lag.stop()


async def _freeze(app: web.Application) -> None:
    gc.collect()
    gc.freeze()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.floor")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="base URL of the upstream, e.g. http://127.0.0.1:8090")
    parser.add_argument("--workers", type=int, default=1, help="processes sharing the port (SO_REUSEPORT)")
    args = parser.parse_args()
    if args.workers <= 1:
        serve(args)
        return
    sys.exit(fork_workers(args.workers, lambda index: serve(args, worker=index)))


def serve(args: argparse.Namespace, worker: int | None = None) -> None:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    web.run_app(relay_app(args.upstream, worker), host=args.host, port=args.port, loop=loop, access_log=None,
                handler_cancellation=True, print=None, shutdown_timeout=5, reuse_port=worker is not None or None,
                backlog=LISTEN_BACKLOG)


if __name__ == "__main__":
    main()
