"""The built-in mock provider: the mock upstream's answers, served in-process (no socket), so
`bifrost-py demo` works with no keys and no network. It speaks both dialects natively, and its
injected faults (prompt markers, fail rates) surface exactly as a real server's would."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from ..config import ProviderConfig, ProviderKey
from ..errors import UpstreamUnavailable
from ..mockupstream import MockOptions
from ..mockupstream.calls import (
    anthropic_response,
    count_tokens_response,
    embeddings_response,
    open_anthropic_stream,
    open_openai_stream,
    openai_response,
)
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
        return self._stream if self._stream is not None else _once(self._body)

    def close(self) -> None:
        # Dropping the generator ends the in-process "upstream": nothing is generated after.
        self._stream = None


async def _once(body: bytes) -> AsyncIterator[bytes]:
    yield body


class MockProvider(Provider):
    type = "mock"
    dialects = ("anthropic", "openai")
    supports_count_tokens = True
    supports_embeddings = True

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config)
        self.options = MockOptions(**config.mock)

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        try:
            return await self._answer(request)
        except ConnectionError as exc:  # the mock's [[reset]]: like a refused connection
            raise UpstreamUnavailable(f"provider '{self.name}' could not be reached: {exc}") from exc

    async def _answer(self, request: UpstreamRequest) -> UpstreamResponse:
        body, options = request.json, self.options
        if request.endpoint == "count_tokens":
            return _InProcessResponse(*await count_tokens_response(body, options))
        if request.endpoint == "embeddings":
            return _InProcessResponse(*await embeddings_response(body, options))
        anthropic = request.dialect == "anthropic"
        if request.stream:
            opener = open_anthropic_stream if anthropic else open_openai_stream
            status, headers, chunks = await opener(body, options)
            return _InProcessResponse(status, headers, stream=chunks)
        answer = anthropic_response if anthropic else openai_response
        return _InProcessResponse(*await answer(body, options))
