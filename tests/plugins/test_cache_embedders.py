"""The optional sentence-transformers adapter (against a stand-in module: the real package and
its models are not installed here) and the provider embedder's parsing of answers."""

from __future__ import annotations

import base64
import sys
import types
from typing import Any, ClassVar

import numpy as np
import orjson
import pytest
from bifrost_cache.embed_provider import EmbedderError, ProviderEmbedder, _vector
from bifrost_cache.embed_sentence import SentenceTransformerEmbedder


class FakeModel:
    created: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, name: str, **kwargs: Any) -> None:
        FakeModel.created.append({"name": name, **kwargs})

    def encode(self, texts: list[str], normalize_embeddings: bool = False) -> np.ndarray:
        assert normalize_embeddings
        return np.array([[3.0, 4.0] for _ in texts], np.float32)


async def test_sentence_transformers_loads_local_files_only(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("sentence_transformers")
    module.SentenceTransformer = FakeModel  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "sentence_transformers", module)
    embedder = SentenceTransformerEmbedder("/models/all-MiniLM-L6-v2", device="cpu")
    await embedder.start()
    assert FakeModel.created[-1] == {"name": "/models/all-MiniLM-L6-v2", "device": "cpu", "local_files_only": True}
    vector = await embedder.embed("hello")
    assert np.allclose(vector, [0.6, 0.8]) and embedder.id == "st:/models/all-MiniLM-L6-v2"


async def test_sentence_transformers_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(RuntimeError, match="pip install sentence-transformers"):
        await SentenceTransformerEmbedder("x").start()


def test_provider_answers_float_and_base64_and_errors() -> None:
    embedder = ProviderEmbedder(None, "p", "m", None, 1.0)  # type: ignore[arg-type]
    floats = orjson.dumps({"data": [{"embedding": [0.0, 2.0]}], "usage": {"prompt_tokens": 4}})
    assert np.allclose(_vector(floats, "p", embedder), [0, 1]) and embedder.tokens == 4
    packed = base64.b64encode(np.array([3, 4], "<f4").tobytes()).decode()
    assert np.allclose(_vector(orjson.dumps({"data": [{"embedding": packed}]}), "p", embedder), [0.6, 0.8])
    for bad in (b"not json", b'{"data": []}', orjson.dumps({"data": [{"embedding": [0, 0]}]})):
        with pytest.raises(EmbedderError):
            _vector(bad, "p", embedder)
