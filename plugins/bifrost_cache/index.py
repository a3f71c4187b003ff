"""The in-memory vector index: one contiguous float32 matrix per partition.

Entries are only ever compared with entries of their own partition (same scope, model, system,
tools, parameters, history: see requestkey), so each partition keeps its vectors in one
contiguous block. Rows are added at the end (the block doubles when full) and removed by moving
the last row into the hole, so both are O(1).

A search over a small partition is one matrix-vector product. A big one is bound by memory
bandwidth (100k rows x 256 float32 = 100 MB read per lookup, ~10 ms here), so above
PREFILTER_ROWS each row also keeps a 256-bit SimHash signature (the signs of 256 fixed random
projections; 32 bytes a row, 3 MB per 100k rows, cache-resident). The angle between two vectors
shows in the Hamming distance of their signatures, so rows whose distance is too large to be
within `threshold` are skipped and only the few left are scored exactly. The cut-off is 4.5
standard deviations above the expected distance at the threshold, so a real match is skipped
with probability below 1e-5 (a miss, never a wrong hit), and a 100k-row lookup takes ~2 ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

_FIRST_CAPACITY = 8
TOP = 4  # candidates returned per lookup: the best may be too old for this request
PREFILTER_ROWS = 4096
BITS = 256
_WORDS = BITS // 64
_SIGMAS = 4.5


def hyperplanes(dims: int) -> np.ndarray:
    """The fixed random projections of the signatures (the same in every process)."""
    return np.random.default_rng(20250101 + dims).standard_normal((BITS, dims)).astype(np.float32)


def signatures(planes: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """(n, 4) uint64 SimHash signatures of (n, dims) vectors."""
    return np.packbits((vectors @ planes.T) > 0, axis=-1).view(np.uint64)


def max_distance(threshold: float) -> int:
    """The largest Hamming distance a row within `threshold` of the query plausibly has."""
    p = math.acos(max(-1.0, min(1.0, threshold))) / math.pi
    return math.ceil(BITS * p + _SIGMAS * math.sqrt(BITS * p * (1 - p)))


@dataclass(slots=True)
class Match:
    key: str
    similarity: float


class Partition:
    __slots__ = ("count", "keys", "matrix", "planes", "rows", "signs")

    def __init__(self, planes: np.ndarray) -> None:
        self.planes = planes
        self.matrix = np.zeros((_FIRST_CAPACITY, planes.shape[1]), np.float32)
        self.signs = np.zeros((_FIRST_CAPACITY, _WORDS), np.uint64)
        self.keys: list[str] = []
        self.rows: dict[str, int] = {}
        self.count = 0

    def add(self, key: str, vector: np.ndarray) -> None:
        row = self.rows.get(key)
        if row is None:
            if self.count == len(self.matrix):
                self._resize(len(self.matrix) * 2)
            row = self.count
            self.count += 1
            self.keys.append(key)
            self.rows[key] = row
        self.matrix[row] = vector
        self.signs[row] = signatures(self.planes, self.matrix[row : row + 1])[0]

    def _resize(self, capacity: int) -> None:
        matrix = np.zeros((capacity, self.matrix.shape[1]), np.float32)
        signs = np.zeros((capacity, _WORDS), np.uint64)
        matrix[: self.count] = self.matrix[: self.count]
        signs[: self.count] = self.signs[: self.count]
        self.matrix, self.signs = matrix, signs

    def remove(self, key: str) -> None:
        row = self.rows.pop(key, None)
        if row is None:
            return
        last = self.count - 1
        if row != last:
            moved = self.keys[last]
            self.matrix[row] = self.matrix[last]
            self.signs[row] = self.signs[last]
            self.keys[row] = moved
            self.rows[moved] = row
        self.keys.pop()
        self.count = last
        if len(self.matrix) > _FIRST_CAPACITY and self.count < len(self.matrix) // 4:
            self._resize(len(self.matrix) // 2)

    def search(self, query: np.ndarray, threshold: float) -> list[Match]:
        """The best rows at or above `threshold`, best first (at most TOP)."""
        if not self.count:
            return []
        rows = self._candidates(query, threshold) if self.count >= PREFILTER_ROWS else None
        if rows is None:
            rows = np.arange(self.count)
            scores = self.matrix[: self.count] @ query
        else:
            scores = self.matrix[rows] @ query
        if len(rows) > TOP:
            best = np.argpartition(scores, -TOP)[-TOP:]
        else:
            best = np.arange(len(rows))
        found = [Match(self.keys[rows[i]], float(scores[i])) for i in best if scores[i] >= threshold]
        found.sort(key=lambda m: m.similarity, reverse=True)
        return found

    def _candidates(self, query: np.ndarray, threshold: float) -> np.ndarray | None:
        """Rows whose signature is close enough to matter, or None when so many are that a
        full scan is cheaper (a low threshold)."""
        sign = signatures(self.planes, query[None, :])[0]
        distance = np.bitwise_count(self.signs[: self.count] ^ sign).sum(axis=1, dtype=np.uint16)
        rows = np.flatnonzero(distance <= max_distance(threshold))
        return None if len(rows) > self.count // 4 else rows

    @property
    def nbytes(self) -> int:
        return int(self.matrix.nbytes + self.signs.nbytes)


class VectorIndex:
    """Partitions by id; vectors of one dimension count per partition (an embedder change gives
    new partition ids, because the embedder is part of them)."""

    def __init__(self) -> None:
        self.partitions: dict[str, Partition] = {}
        self._planes: dict[int, np.ndarray] = {}

    def add(self, partition: str, key: str, vector: np.ndarray) -> None:
        part = self.partitions.get(partition)
        dims = vector.shape[0]
        if part is None or part.matrix.shape[1] != dims:
            planes = self._planes.get(dims)
            if planes is None:
                planes = self._planes[dims] = hyperplanes(dims)
            part = self.partitions[partition] = Partition(planes)
        part.add(key, vector)

    def remove(self, partition: str, key: str) -> None:
        part = self.partitions.get(partition)
        if part is None:
            return
        part.remove(key)
        if not part.count:
            del self.partitions[partition]

    def search(self, partition: str, query: np.ndarray, threshold: float) -> list[Match]:
        part = self.partitions.get(partition)
        if part is None or part.matrix.shape[1] != query.shape[0]:
            return []
        return part.search(query, threshold)

    def size(self, partition: str) -> int:
        part = self.partitions.get(partition)
        return part.count if part else 0

    @property
    def nbytes(self) -> int:
        return sum(part.nbytes for part in self.partitions.values())

    def clear(self) -> None:
        self.partitions.clear()
