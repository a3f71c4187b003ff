"""Choosing the embedder named in `cache.embedder`. Every embedder has an `id` (stored with each
vector: vectors of different embedders are never compared), `start()`, `close()` and
`async embed(text) -> unit float32 vector`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

import numpy as np

from .embed_local import LocalEmbedder
from .embed_provider import EmbedderError, ProviderEmbedder
from .embed_sentence import SentenceTransformerEmbedder
from .settings import EmbedderSettings

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

__all__ = ["Embedder", "EmbedderError", "make_embedder"]


class Embedder(Protocol):
    id: str

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def embed(self, text: str) -> np.ndarray: ...


def make_embedder(settings: EmbedderSettings, gateway: Gateway) -> Embedder:
    if settings.type == "provider":
        return ProviderEmbedder(gateway, settings.provider, settings.model, settings.dimensions, settings.timeout)
    if settings.type == "sentence_transformers":
        return SentenceTransformerEmbedder(settings.model, settings.device)
    return LocalEmbedder(settings.dims)
