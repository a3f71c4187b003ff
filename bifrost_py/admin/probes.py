"""What load balancers, Prometheus and Claude Code ask the gateway without a virtual key:
/health, /metrics and the base-URL probes (CONTRACT.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from .errors import admin_error
from .guard import Handler, bearer, matches

if TYPE_CHECKING:
    from ..gateway import Gateway

METRICS_CHALLENGE = {"www-authenticate": 'Bearer realm="bifrost-py metrics"'}


async def probe_ok(request: web.Request) -> web.StreamResponse:
    """`{"status": "ok"}`: /health, and the base URLs Claude Code sends HEAD to before its
    first request."""
    return web.json_response({"status": "ok"})


def metrics_handler(gateway: Gateway) -> Handler:
    """/metrics in the Prometheus text format; behind `metrics.token` when one is set (the
    series name keys, teams and models, which not everyone who reaches the port should read)."""
    token = gateway.config.metrics_token

    async def metrics(request: web.Request) -> web.StreamResponse:
        if token:
            presented = bearer(request)
            if presented is None or not matches(presented, token):
                return admin_error(401, "wrong or missing metrics token (Authorization: Bearer <metrics.token>)",
                                   headers=METRICS_CHALLENGE)
        return web.Response(body=generate_latest(gateway.metrics), headers={"content-type": CONTENT_TYPE_LATEST})

    return metrics
