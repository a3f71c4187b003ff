"""The optional `sentence_transformers` embedder: a sentence-transformers model that is already
on this machine (a local path, or a model in the Hugging Face cache). It never downloads
(`local_files_only=True`); a missing model is a start-up error, not a surprise download.

Needs the optional extra: `pip install sentence-transformers`. Encoding runs in a worker thread
so the event loop keeps serving while the model works.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np


class SentenceTransformerEmbedder:
    def __init__(self, model: str, device: str = "cpu") -> None:
        self.model_name = model
        self.device = device
        self.id = f"st:{model}"
        self._model: Any = None

    async def start(self) -> None:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise RuntimeError("cache.embedder sentence_transformers: pip install sentence-transformers") from exc
        self._model = await asyncio.to_thread(
            SentenceTransformer, self.model_name, device=self.device, local_files_only=True
        )

    async def close(self) -> None:
        self._model = None

    async def embed(self, text: str) -> np.ndarray:
        if self._model is None:
            raise RuntimeError("the sentence-transformers model is not loaded (startup did not run)")
        rows = await asyncio.to_thread(self._model.encode, [text], normalize_embeddings=True)
        vector = np.asarray(rows[0], dtype=np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm else vector
