"""OpenAI, any OpenAI-compatible server (vLLM, Ollama, Groq, OpenRouter...), and Azure OpenAI.

The `openai` type speaks Chat Completions and the Responses API (`/responses`: Codex CLI's
requests pass through untouched); Azure's deployment paths are Chat Completions only, so a
Responses request to Azure is translated (dialects/responses.py).

`base_url` follows the OpenAI SDK's convention and includes the version prefix
(`https://api.openai.com/v1`, `http://127.0.0.1:11434/v1`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from ..config import ProviderKey
from ..dialects.responses_reasoning import without_foreign_reasoning
from ..errors import CredentialsRefused
from ..limits import request_json
from .base import Provider, UpstreamRequest, UpstreamResponse

PATHS = {"messages": "/chat/completions", "embeddings": "/embeddings"}
RESPONSES = "responses"


class OpenAIProvider(Provider):
    type = "openai"
    dialects: tuple[str, ...] = ("openai", RESPONSES)
    supports_embeddings = True

    def prepare(self, request: UpstreamRequest, client_headers: Mapping[str, str]) -> UpstreamRequest:
        """A stream must report its usage for billing: ask for it, and let the relay hide the
        extra chunk from a client that did not ask. (A Responses stream always reports it; its
        body only loses the reasoning an Anthropic answer left, which OpenAI would refuse.)"""
        if request.dialect == RESPONSES:
            if b'"bfanthropic.' in request.body and (kept := without_foreign_reasoning(request.json)):
                request.json, request.body = kept, request_json(kept)
            return request
        if not request.stream:
            return request
        options = request.json.get("stream_options")
        options = options if isinstance(options, dict) else {}
        if options.get("include_usage") is True:
            return request
        request.json = {**request.json, "stream_options": {**options, "include_usage": True}}
        request.body = request_json(request.json)
        request.hide_usage = True
        return request

    def url(self, request: UpstreamRequest) -> str:
        if request.dialect == RESPONSES:
            return self.config.base_url + "/responses"
        return self.config.base_url + PATHS[request.endpoint]

    def auth_headers(self, key: ProviderKey | None) -> dict[str, str]:
        # Local servers (Ollama, vLLM) often need no key at all.
        return {"authorization": f"Bearer {key.value}"} if key and key.value else {}

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if key is None and len(self.keys):
            raise CredentialsRefused(f"provider '{self.name}' has no usable API key")
        headers = {"content-type": "application/json", **self.auth_headers(key), **self.config.headers}
        return await self._post(self.url(request), headers, request.body, request.extra_headers)


class AzureProvider(OpenAIProvider):
    """Azure OpenAI: the deployment is in the path (`models:` maps model names to deployments),
    the key goes in `api-key`, and `api-version` is a query parameter. `base_url` is the
    resource (`https://RESOURCE.openai.azure.com`); the adapter adds `/openai/deployments/...`."""

    type = "azure"
    dialects = ("openai",)

    async def send(self, request: UpstreamRequest, key: ProviderKey | None) -> UpstreamResponse:
        if key is None or not key.value:  # unlike a local OpenAI-compatible server, Azure always wants one
            raise CredentialsRefused(f"provider '{self.name}' has no usable API key")
        return await super().send(request, key)

    def url(self, request: UpstreamRequest) -> str:
        deployment = quote(request.model, safe="")
        return (
            f"{self.config.base_url}/openai/deployments/{deployment}{PATHS[request.endpoint]}"
            f"?api-version={self.config.api_version}"
        )

    def auth_headers(self, key: ProviderKey | None) -> dict[str, str]:
        return {"api-key": key.value} if key else {}

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "api_version": self.config.api_version}
