"""api.anthropic.com and anything that speaks the Anthropic Messages API."""

from __future__ import annotations

from ..config import ProviderKey
from ..errors import CredentialsRefused
from .base import Provider, UpstreamRequest, UpstreamResponse

DEFAULT_VERSION = "2023-06-01"
PATHS = {"messages": "/v1/messages", "count_tokens": "/v1/messages/count_tokens"}


class AnthropicProvider(Provider):
    type = "anthropic"
    dialects = ("anthropic",)
    supports_count_tokens = True

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if key is None:
            raise CredentialsRefused(f"provider '{self.name}' has no usable API key")
        url = self.config.base_url + PATHS[request.endpoint]
        if request.query_string:
            url += "?" + request.query_string
        headers = {
            "content-type": "application/json",
            **request.headers,  # the client's anthropic-version, anthropic-beta, session id...
            "x-api-key": key.value,
            **self.config.headers,
        }
        headers.setdefault("anthropic-version", DEFAULT_VERSION)
        return await self._post(url, headers, request.body, request.extra_headers)
