"""A provider's HTTP answer re-expressed in the Anthropic dialect, for the adapters (Bedrock,
Gemini) that speak another wire format but declare `dialects = ("anthropic",)`.

The status stays the provider's, so the pipeline maps errors and retry-after uniformly; the
body is converted whole on `read()`, or chunk by chunk as it arrives on `chunks()` (a stream is
never buffered). Closing it closes the provider's connection, which cancels the generation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from typing import Any

import aiohttp
import orjson
from multidict import CIMultiDict

from ..dialects.sse import encode_event
from ..dialects.translate_errors import MalformedAnswer
from .base import UpstreamResponse

BodyConverter = Callable[[bytes], bytes]
StreamConverter = Callable[[AsyncIterator[bytes]], AsyncIterator[bytes]]


class ConvertedResponse(UpstreamResponse):
    __slots__ = ("_body", "_stream", "_upstream", "headers", "status")

    def __init__(
        self,
        upstream: UpstreamResponse,
        *,
        body: BodyConverter | None = None,
        stream: StreamConverter | None = None,
        status: int | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self._upstream = upstream
        self._body = body
        self._stream = stream
        self.status = upstream.status if status is None else status
        self.headers = upstream.headers if headers is None else headers

    async def read(self) -> bytes:
        if self._stream is not None:
            return b"".join([chunk async for chunk in self.chunks()])
        raw = await self._upstream.read()
        return self._body(raw) if self._body is not None else raw

    def chunks(self) -> AsyncIterator[bytes]:
        source = self._upstream.chunks()
        return self._stream(source) if self._stream is not None else source

    def ended(self) -> bool:
        return self._stream is None and self._upstream.ended()  # a converter may still hold a tail

    def close(self) -> None:
        self._upstream.close()

    def release(self) -> None:
        self._upstream.release()


class BufferedResponse(UpstreamResponse):
    """An answer already read and converted whole: a provider's error, which is small and must
    be read before its status can be told (Gemini's 400 for a bad API key is a 401)."""

    __slots__ = ("_body", "headers", "status")

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self._body = body

    async def read(self) -> bytes:
        return self._body

    async def _once(self) -> AsyncIterator[bytes]:
        yield self._body

    def chunks(self) -> AsyncIterator[bytes]:
        return self._once()


async def read_error(upstream: UpstreamResponse) -> bytes:
    """An error body, or b"" when even that could not be read (the status still tells)."""
    try:
        return await upstream.read()
    except (aiohttp.ClientError, TimeoutError):
        upstream.close()
        return b""


def anthropic_sse(events: Iterable[tuple[str, dict[str, Any]]]) -> bytes:
    """Anthropic stream events as SSE bytes (`event: X` / `data: {...}`). The events come from
    an upstream's answer: one too deeply nested to write again is MalformedAnswer."""
    try:
        return b"".join(encode_event(orjson.dumps(data), event=name) for name, data in events)
    except orjson.JSONEncodeError as exc:
        raise MalformedAnswer(f"a stream event cannot be written as JSON: {exc}") from None


def anthropic_error(kind: str, message: str) -> dict[str, Any]:
    """The Anthropic error object, as a body and as the data of an `error` event."""
    return {"type": "error", "error": {"type": kind, "message": message}}


def anthropic_error_event(kind: str, message: str) -> bytes:
    return anthropic_sse([("error", anthropic_error(kind, message))])


def converted_headers(headers: Mapping[str, str], retry_after: str | None = None) -> CIMultiDict[str]:
    """The provider's headers (case-insensitive, as aiohttp's) for a converted body, plus a
    retry-after the provider gave somewhere other than its headers."""
    out = CIMultiDict(headers)
    out.popall("content-length", None)
    out["content-type"] = "application/json"
    if retry_after is not None and "retry-after" not in out:
        out["retry-after"] = retry_after
    return out
