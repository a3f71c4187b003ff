"""The `provider` embedder: real semantic similarity from an embeddings endpoint (OpenAI's
`text-embedding-3-small`, an Ollama or vLLM server, Azure...), called through the gateway's own
provider layer, so it uses the provider's configured keys, base URL and timeouts.

A failed or slow embedding never fails the request: the lookup falls back to exact matching and
the failure is counted (bifrost_cache_embed_errors_total).
"""

from __future__ import annotations

import asyncio
import base64
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from bifrost_py.context import EMBEDDINGS, OPENAI
from bifrost_py.providers.base import UpstreamRequest

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway


class EmbedderError(Exception):
    """The embedding could not be computed; semantic matching is skipped for this request."""


class ProviderEmbedder:
    def __init__(self, gateway: Gateway, provider: str, model: str, dimensions: int | None, timeout: float) -> None:
        self.gateway = gateway
        self.provider_name = provider
        self.model = model
        self.dimensions = dimensions
        self.timeout = timeout
        self.id = f"provider:{provider}:{model}:{dimensions or 'native'}"
        self.tokens = 0  # prompt tokens spent on embeddings (not in the cost log: no attempt)

    async def start(self) -> None:
        """The provider's HTTP session is the core's; nothing to open."""

    async def close(self) -> None:
        """Nothing to close."""

    def _request(self, text: str) -> UpstreamRequest:
        provider = self.gateway.providers[self.provider_name]
        model = provider.upstream_model(self.model)
        body: dict[str, Any] = {"model": model, "input": text, "encoding_format": "float"}
        if self.dimensions:
            body["dimensions"] = self.dimensions
        return UpstreamRequest(
            endpoint=EMBEDDINGS, dialect=OPENAI, body=orjson.dumps(body), json=body, stream=False, model=model
        )

    async def embed(self, text: str) -> np.ndarray:
        provider = self.gateway.providers[self.provider_name]
        try:
            async with asyncio.timeout(self.timeout):
                response = await provider.send(self._request(text), provider.keys.pick())
                raw = await response.read()
        except TimeoutError as exc:
            raise EmbedderError(f"embeddings from '{self.provider_name}' took over {self.timeout:g}s") from exc
        except Exception as exc:  # the provider layer's errors, connection errors
            raise EmbedderError(f"embeddings from '{self.provider_name}' failed: {exc}") from exc
        if response.status >= 300:
            raise EmbedderError(f"embeddings from '{self.provider_name}' answered {response.status}: {raw[:200]!r}")
        return _vector(raw, self.provider_name, self)


def _vector(raw: bytes, name: str, embedder: ProviderEmbedder) -> np.ndarray:
    try:
        data = orjson.loads(raw)
        item = data["data"][0]["embedding"]
    except (orjson.JSONDecodeError, KeyError, IndexError, TypeError) as exc:
        raise EmbedderError(f"embeddings from '{name}' are not in OpenAI's shape") from exc
    embedder.tokens += int((data.get("usage") or {}).get("prompt_tokens") or 0)
    if isinstance(item, str):  # base64 float32, when a server ignores encoding_format
        vector = np.frombuffer(base64.b64decode(item), dtype="<f4").astype(np.float32)
    else:
        vector = np.asarray(item, dtype=np.float32)
    norm = float(np.linalg.norm(vector))
    if not norm or not np.isfinite(norm):
        raise EmbedderError(f"embeddings from '{name}' returned an empty vector")
    return vector / norm
