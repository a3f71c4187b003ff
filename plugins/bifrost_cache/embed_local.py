"""The offline embedder: hashed word and character n-gram vectors. No model, no download.

This is near-duplicate matching, not semantics. It sees that "How do I undo my last git
commit?" and "how can I undo the last git commit" are the same question (case, punctuation,
articles, auxiliaries and polite openings are normalised away, and what is left is compared by
its words, their letter trigrams and word pairs), but it does not know that "car" and
"automobile" are synonyms. Word pairs keep word order in the vector, so "Is Go faster than
Python?" and "Is Python faster than Go?" stay apart; numbers are matched exactly elsewhere (see
requestkey.semantic_split). For real semantic similarity use the `provider` embedder.

Hashing uses crc32, which is the same in every process and on every machine, so vectors stored
in SQLite or Redis stay comparable after a restart and between instances.
"""

from __future__ import annotations

import re
import unicodedata
import zlib
from itertools import pairwise

import numpy as np

VERSION = 1  # change when the features change: stored vectors become incomparable
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")
# Removed anywhere: words that carry grammar, not meaning. Negations, question words, pronouns
# and prepositions stay (they change what is asked).
STOPWORDS = frozenset(
    ["a", "an", "the", "is", "are", "was", "were", "be", "been", "being", "am", "do", "does", "did", "can", "could", "i", "please", "pls", "kindly", "just", "really", "actually", "basically", "simply", "hey", "hi", "hello", "thanks", "thank"]
)
# Removed only at the start: request openings ("Can you tell me", "I want to know").
PREAMBLE = frozenset(
    ["can", "could", "would", "will", "you", "please", "tell", "me", "explain", "describe", "show", "i", "want", "wanted", "to", "know", "wonder", "wondering", "if", "hey", "hi", "hello", "so", "ok", "okay", "quick", "question"]
)
_CONTRACTIONS = (("n't", " not"), ("'re", ""), ("'ve", ""), ("'ll", ""), ("'d", ""), ("'m", ""), ("'s", ""))
_SPECIAL = {"can't": "can not", "won't": "will not", "cannot": "can not", "shan't": "shall not"}
WORD_WEIGHT = 1.0
GRAMS_WEIGHT = 1.0   # all letter trigrams of one word together weigh this much
PAIR_WEIGHT = 1.3    # above the single words, so a swap of two words costs more than a typo


def words(text: str) -> list[str]:
    """The content words of `text`, in order, after normalisation."""
    text = unicodedata.normalize("NFKC", text).lower().replace("\u2019", "'")
    out: list[str] = []
    for raw in _WORD.findall(text):
        out.extend(_expand(raw).split())
    start = 0
    while start < len(out) - 1 and out[start] in PREAMBLE:
        start += 1
    kept = [w for i, w in enumerate(out) if i >= start and w not in STOPWORDS and not _how_to(out, i)]
    return kept or out


def _how_to(out: list[str], i: int) -> bool:
    """"how to X" asks what "how do I X" asks."""
    return out[i] == "to" and i > 0 and out[i - 1] == "how"


def _expand(word: str) -> str:
    if word in _SPECIAL:
        return _SPECIAL[word]
    for suffix, replacement in _CONTRACTIONS:
        if word.endswith(suffix) and len(word) > len(suffix):
            return word[: -len(suffix)] + replacement
    return word


def _features(kept: list[str]) -> tuple[list[int], list[float]]:
    hashes: list[int] = []
    weights: list[float] = []
    for word in kept:
        hashes.append(zlib.crc32(b"w:" + word.encode()))
        weights.append(WORD_WEIGHT)
        padded = f"<{word}>"
        grams = [padded[i : i + 3] for i in range(len(padded) - 2)]
        share = GRAMS_WEIGHT / len(grams) ** 0.5
        for gram in grams:
            hashes.append(zlib.crc32(b"g:" + gram.encode()))
            weights.append(share)
    for first, second in pairwise(kept):
        hashes.append(zlib.crc32(f"p:{first} {second}".encode()))
        weights.append(PAIR_WEIGHT)
    return hashes, weights


class LocalEmbedder:
    """Signed feature hashing into `dims` dimensions, L2-normalised (dot product = cosine)."""

    def __init__(self, dims: int = 256) -> None:
        self.dims = dims
        self.id = f"local-v{VERSION}-{dims}"

    async def start(self) -> None:
        """Nothing to open: the embedder is pure computation."""

    async def close(self) -> None:
        """Nothing to close."""

    async def embed(self, text: str) -> np.ndarray:
        return self.vector(text)

    def vector(self, text: str) -> np.ndarray:
        hashes, weights = _features(words(text))
        if not hashes:
            return np.zeros(self.dims, np.float32)
        codes = np.fromiter(hashes, np.uint32, len(hashes))
        signs = np.where(codes & 0x80000000, 1.0, -1.0) * np.fromiter(weights, np.float64, len(weights))
        vec = np.bincount(codes % self.dims, weights=signs, minlength=self.dims).astype(np.float32)
        norm = float(np.linalg.norm(vec))
        return vec / norm if norm else vec
