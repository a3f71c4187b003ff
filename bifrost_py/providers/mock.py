"""The built-in mock provider: the mock upstream's answers, served in-process (no socket), so
`bifrost-py demo` works with no keys and no network. It speaks both dialects natively."""

from __future__ import annotations

from typing import AsyncIterator, Mapping

from ..config import ProviderKey
from ..mockupstream import MockOptions, anthropic_response, anthropic_stream, openai_response, openai_stream
from .base import Provider, UpstreamRequest, UpstreamResponse


class _InProcessResponse(UpstreamResponse):
    def __init__(self, status: int, headers: Mapping[str, str], body: bytes = b"",
                 stream: AsyncIterator[bytes] | None = None) -> None:
        self.status = status
        self.headers = headers
        self._body = body
        self._stream = stream

    async def read(self) -> bytes:
        if self._stream is None:
            return self._body
        return b"".join([chunk async for chunk in self._stream])

    def chunks(self) -> AsyncIterator[bytes]:
        if self._stream is None:
            return _once(self._body)
        return self._stream

    def close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None and hasattr(stream, "aclose"):
            # An abandoned generator is closed by the event loop; nothing else holds resources.
            pass


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


class MockProvider(Provider):
    type = "mock"
    dialects = ("anthropic", "openai")
    supports_count_tokens = True
    supports_embeddings = True

    def __init__(self, config) -> None:  # type: ignore[no-untyped-def]
        super().__init__(config)
        self.options = MockOptions(**config.mock)

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if request.endpoint == "count_tokens":
            return await self._count_tokens(request)
        if request.endpoint == "embeddings":
            from ..mockupstream import embeddings_response

            status, headers, body = await embeddings_response(request.json, self.options)
            return _InProcessResponse(status, headers, body)
        anthropic = request.dialect == "anthropic"
        if request.stream:
            opener = anthropic_stream if anthropic else openai_stream
            return await _streamed(opener(request.json, self.options))
        answer = anthropic_response if anthropic else openai_response
        status, headers, body = await answer(request.json, self.options)
        return _InProcessResponse(status, headers, body)

    async def _count_tokens(self, request: UpstreamRequest) -> UpstreamResponse:
        from ..mockupstream import count_tokens_response

        status, headers, body = await count_tokens_response(request.json, self.options)
        return _InProcessResponse(status, headers, body)


async def _streamed(stream: AsyncIterator[bytes]) -> UpstreamResponse:
    """The mock streams' first item may be an error response: peek at it so that errors come
    back with their status, as from a real server."""
    return _InProcessResponse(200, {"content-type": "text/event-stream"}, stream=stream)
