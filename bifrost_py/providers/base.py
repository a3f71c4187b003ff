"""What every provider adapter offers the pipeline, and the HTTP plumbing they share."""

from __future__ import annotations

import asyncio
import fnmatch
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

import aiohttp
import orjson
from yarl import URL

from ..config import ProviderConfig, ProviderKey
from ..errors import (
    ANTHROPIC_ERROR_TYPES,
    CredentialsRefused,
    GatewayError,
    UpstreamError,
    UpstreamUnavailable,
)
from ..health import ProviderHealth
from .keys import KeyPool

ERROR_DETAIL_CHARS = 300  # of an upstream error message quoted to the client
# What Claude Code sends that an Anthropic-dialect API acts on (betas, prompt-cache session) or
# that identifies the client; Bedrock's adapter moves the betas into its body.
ANTHROPIC_FORWARDED = ("anthropic-version", "anthropic-beta", "x-claude-code-session-id", "x-app", "user-agent")


@dataclass(slots=True)
class UpstreamRequest:
    """One request to a provider, already in the dialect the provider speaks (`dialect`)."""

    endpoint: str                    # context.MESSAGES, COUNT_TOKENS or EMBEDDINGS
    dialect: str                     # "anthropic" or "openai": the shape of `body`
    body: bytes
    json: dict[str, Any]
    stream: bool
    model: str                       # the provider's own model id
    headers: dict[str, str] = field(default_factory=dict)   # client headers worth forwarding
    query_string: str = ""
    hide_usage: bool = False         # usage was asked for billing only: the client must not see it
    extra_headers: dict[str, str] = field(default_factory=dict)  # plugins' (Attempt.upstream_headers)


class UpstreamResponse:
    """A provider's answer: status and headers at once, the body read whole or as chunks.
    `close()` abandons it (closing the connection cancels the upstream generation). Used as
    `async with`, it is closed on the way out unless it was read to its end."""

    status: int
    headers: Mapping[str, str]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()  # after release() this is a no-op: the connection already went back to the pool

    async def read(self) -> bytes:
        raise NotImplementedError

    def chunks(self) -> AsyncIterator[bytes]:
        raise NotImplementedError

    def ended(self) -> bool:
        """The body has arrived to its end: no chunk follows what `chunks()` gave so far. False
        when that is not known yet (the next chunk may still be the end)."""
        return False

    def close(self) -> None:
        """Abandon the response; safe to call more than once."""

    def release(self) -> None:
        """The body was read to its end; give the connection back to the pool."""


class HTTPUpstreamResponse(UpstreamResponse):
    __slots__ = ("_done", "_response", "headers", "status")

    def __init__(self, response: aiohttp.ClientResponse, done: Callable[[], None] | None = None) -> None:
        self._response = response
        self.status = response.status
        self.headers = response.headers
        self._done = done  # told once, when the response is released or closed

    async def read(self) -> bytes:
        try:
            return await self._response.read()
        finally:
            self.release()

    def chunks(self) -> AsyncIterator[bytes]:
        return self._response.content.iter_any()

    def ended(self) -> bool:
        return self._response.content.at_eof()

    def close(self) -> None:
        self._response.close()
        self._finished()

    def release(self) -> None:
        self._response.release()
        self._finished()

    def _finished(self) -> None:
        done, self._done = self._done, None
        if done is not None:
            done()


class Provider:
    """Base adapter: key pool, model-name mapping, one pooled client session."""

    type = "base"
    dialects: tuple[str, ...] = ("anthropic",)  # dialects it speaks natively; first = preferred
    supports_count_tokens = False
    supports_embeddings = False

    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self.name = config.name
        self.keys = KeyPool(config.keys)
        # What plugins publish about this provider's targets (failover: circuits; routing
        # reads it): typed, bifrost_py/health.py. The admin API shows it as `state`.
        self.health = ProviderHealth()
        self._session: aiohttp.ClientSession | None = None
        # Responses not yet released or closed: a provider replaced at run time (an edit in the
        # admin API) closes its session only once the streams it serves have ended.
        self._in_flight = 0
        self._idle: asyncio.Event | None = None
        self._retired = False  # replaced: a late attempt's session is closed when it ends
        self._closing: asyncio.Task[None] | None = None

    def prepare(self, request: UpstreamRequest, client_headers: Mapping[str, str]) -> UpstreamRequest:
        """Shape a request already in this provider's dialect: client headers worth forwarding,
        options the gateway needs for billing. An Anthropic-dialect request carries the client's
        Anthropic headers."""
        if request.dialect == "anthropic":
            request.headers = {name: client_headers[name] for name in ANTHROPIC_FORWARDED if name in client_headers}
        return request

    def error_for(self, status: int, headers: Mapping[str, str], body: bytes) -> GatewayError:
        """The gateway error for a non-2xx answer: the provider's status, type and message, its
        retry-after kept; a refused API key (401/403) is the gateway's problem, not the client's."""
        message, kind = error_details(body)
        kept = {"retry-after": headers["retry-after"]} if headers.get("retry-after") else {}
        if status in (401, 403):
            return CredentialsRefused(
                f"provider '{self.name}' refused the gateway's API key ({status}: {message})",
                upstream_status=status, headers=kept,
            )
        return UpstreamError(
            f"provider '{self.name}' answered {status}: {message}", status=status,
            error_type=kind if kind in ANTHROPIC_ERROR_TYPES else None, headers=kept,
        )

    def upstream_model(self, model: str) -> str:
        """The provider's own id for a gateway model name (Bedrock ids, Azure deployments): the
        exact `models:` entry, else the first glob entry that matches (globs already decide
        which provider serves a name, so they map it too), else the name unchanged."""
        mapping = self.config.model_map
        if model in mapping:
            return mapping[model]
        for pattern, upstream in mapping.items():
            if fnmatch.fnmatchcase(model, pattern):
                return upstream
        return model

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            timeouts = self.config.timeouts
            self._session = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=timeouts.connect, sock_read=timeouts.idle),
                connector=aiohttp.TCPConnector(limit=0, ttl_dns_cache=300, enable_cleanup_closed=True),
                auto_decompress=True,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and not self._session.closed:
            await self._session.close()

    async def retire(self) -> None:
        """Close once every response it handed out has ended (a replaced provider: the
        streams that started on it finish on it)."""
        while self._in_flight:
            self._idle = self._idle or asyncio.Event()
            await self._idle.wait()
            self._idle = None
        self._retired = True
        await self.close()

    def _response_done(self) -> None:
        self._in_flight -= 1
        if self._in_flight:
            return
        if self._idle is not None:
            self._idle.set()
        elif self._retired:  # an attempt that took this provider just before it was replaced
            self._closing = asyncio.get_running_loop().create_task(self.close())

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        """Send `request`; returns once the status and headers arrived. Raises
        UpstreamUnavailable when the provider cannot be reached or does not answer in time."""
        raise NotImplementedError

    async def _post(self, url: str | URL, headers: dict[str, str], body: bytes,
                    extra: dict[str, str] | None = None) -> UpstreamResponse:
        """POST to the provider; `extra` (plugins' headers, e.g. traceparent) never replaces
        the adapter's own (authentication, content type)."""
        if extra:
            headers = {**extra, **headers}
        timeouts = self.config.timeouts
        try:
            async with asyncio.timeout(timeouts.first_byte):
                response = await self.session.post(url, data=body, headers=headers)
        except TimeoutError as exc:
            raise UpstreamUnavailable(
                f"provider '{self.name}' did not answer within {timeouts.first_byte:g}s", status=504
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamUnavailable(f"provider '{self.name}' could not be reached: {exc}") from exc
        self._in_flight += 1
        return HTTPUpstreamResponse(response, self._response_done)

    def describe(self) -> dict[str, Any]:
        """For the admin API: what is configured (secrets masked) and what plugins published."""
        return {
            "name": self.name,
            "type": self.type,
            "base_url": self.config.base_url,
            "models": self.config.models,
            "keys": self.keys.describe(),
            "state": self.health.describe(),
        }


def error_details(raw: bytes) -> tuple[str, str | None]:
    """(message, type) from an upstream error body in any dialect, or from plain text."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict):
        message, kind = error.get("message") or error.get("type"), error.get("type")
    elif isinstance(data, dict):
        message, kind = data.get("message"), None
    else:
        message, kind = None, None
    if not message:
        message = raw.decode("utf-8", "replace").strip() or "no details"
    return str(message)[:ERROR_DETAIL_CHARS], kind if isinstance(kind, str) else None
