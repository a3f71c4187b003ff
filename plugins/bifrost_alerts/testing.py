"""Receivers for testing alerts on loopback: a webhook receiver and an SMTP server.

    async with running_webhook_receiver(fail_first=2) as hook:    # 503 twice, then 200
        ... configure a channel {type: webhook, url: hook.url, secret: "s"} ...
        received = await hook.wait_for(1)                          # [Received(headers, body, at)]

    with running_smtp_server() as smtp:                            # aiosmtpd on a free port
                                                                   # (starttls=ssl_context: TLS required)
        ... {type: email, smtp: f"smtp://127.0.0.1:{smtp.port}", ...} ...
        mail = await smtp.wait_for(1)                              # [email.message.EmailMessage]

Both are used by this plugin's tests and work the same for anyone testing their alert set-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import orjson
from aiohttp import web

from bifrost_py.testing import _serve, free_port


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float  # time.time() when it arrived

    def json(self) -> Any:
        return orjson.loads(self.body)


@dataclass
class WebhookReceiver:
    url: str = ""
    fail_first: int = 0            # answer `fail_status` to this many requests first
    fail_status: int = 503
    received: list[Received] = field(default_factory=list)   # the accepted ones
    refused: int = 0
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.refused < self.fail_first:
            self.refused += 1
            return web.json_response({"error": "not now"}, status=self.fail_status)
        self.received.append(Received(dict(request.headers), body, time.time()))
        self._arrived.set()
        return web.json_response({"ok": True})

    async def wait_for(self, count: int, seconds: float = 30.0) -> list[Received]:
        """The first `count` accepted requests; fails after `seconds` without them."""
        async with asyncio.timeout(seconds):
            while len(self.received) < count:
                self._arrived.clear()
                await self._arrived.wait()
        return self.received[:count]


@contextlib.asynccontextmanager
async def running_webhook_receiver(*, fail_first: int = 0, fail_status: int = 503) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(fail_first=fail_first, fail_status=fail_status)
    app = web.Application()
    app.router.add_post("/{tail:.*}", receiver.handle)
    runner, url = await _serve(app)  # the core's test servers' way: a free loopback port
    receiver.url = url + "/hook"
    try:
        yield receiver
    finally:
        await runner.cleanup()


@dataclass
class SmtpServer:
    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    async def wait_for(self, count: int, seconds: float = 30.0) -> list[EmailMessage]:
        async with asyncio.timeout(seconds):
            while len(self.messages) < count:
                await asyncio.sleep(0.02)  # the server runs in its own thread: poll, no shared event
        return self.messages[:count]


@contextlib.contextmanager
def running_smtp_server(*, starttls: ssl.SSLContext | None = None) -> Iterator[SmtpServer]:
    """aiosmtpd on a free loopback port; with `starttls` (a server TLS context) it offers
    STARTTLS and refuses mail until a client upgraded the connection."""
    from aiosmtpd.controller import Controller

    server = SmtpServer(free_port())
    tls: dict[str, Any] = {"tls_context": starttls, "require_starttls": True} if starttls else {}
    controller = Controller(server, hostname="127.0.0.1", port=server.port, **tls)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
