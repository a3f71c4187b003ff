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
            "anthropic-version": request.headers.get("anthropic-version") or DEFAULT_VERSION,
            "x-api-key": key.value,
            **self.config.headers,
        }
        beta = request.headers.get("anthropic-beta")
        if beta:
            headers["anthropic-beta"] = beta
        return await self._post(url, headers, request.body)
