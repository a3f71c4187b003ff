"""What this process knows about the cache's entries: their metadata in LRU order, bounded by
`max_entries`, with expiry. Answer bodies are not held here (they live in the store and are
read on a hit), so memory per entry is the metadata plus one vector row.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(slots=True)
class Meta:
    key: str
    scope: str
    partition: str | None
    created: float
    expires: float
    model: str = ""
    provider: str = ""
    size: int = 0
    hits: int = 0

    def fresh(self, now: float, max_age: float | None = None) -> bool:
        """Not expired, and (for a request that sets x-bf-cache-ttl) not older than it allows."""
        return self.expires > now and (max_age is None or now - self.created <= max_age)


class Catalog:
    """Entries by key, least recently used first; an expiry heap finds the expired ones."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self.entries: OrderedDict[str, Meta] = OrderedDict()
        self._expiry: list[tuple[float, str]] = []

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: str) -> Meta | None:
        return self.entries.get(key)

    def add(self, meta: Meta) -> list[Meta]:
        """Insert or replace; returns the entries pushed out by the size bound (LRU first)."""
        self.entries[meta.key] = meta
        self.entries.move_to_end(meta.key)
        heapq.heappush(self._expiry, (meta.expires, meta.key))
        evicted = []
        while len(self.entries) > self.max_entries:
            _, old = self.entries.popitem(last=False)
            evicted.append(old)
        return evicted

    def touch(self, key: str) -> None:
        meta = self.entries.get(key)
        if meta is not None:
            meta.hits += 1
            self.entries.move_to_end(key)

    def remove(self, key: str) -> Meta | None:
        return self.entries.pop(key, None)

    def expired(self, now: float) -> list[Meta]:
        """Remove and return every entry whose time is up."""
        gone = []
        heap = self._expiry
        while heap and heap[0][0] <= now:
            _, key = heapq.heappop(heap)
            meta = self.entries.get(key)
            if meta is not None and meta.expires <= now:
                gone.append(self.entries.pop(key))
        if len(heap) > 2 * len(self.entries) + 64:  # replaced entries leave stale heap items
            self._expiry = [(m.expires, m.key) for m in self.entries.values()]
            heapq.heapify(self._expiry)
        return gone

    def clear(self) -> None:
        self.entries.clear()
        self._expiry.clear()

    def newest(self, limit: int, scope: str | None = None) -> list[Meta]:
        """Most recently used first (admin listing)."""
        out = []
        for meta in reversed(self.entries.values()):
            if scope is None or meta.scope == scope:
                out.append(meta)
                if len(out) >= limit:
                    break
        return out
