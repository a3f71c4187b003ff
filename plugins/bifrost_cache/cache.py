"""The cache itself: lookups (exact, then semantic) and stores over the catalog, the vector index,
an embedder and a store. Knows nothing of HTTP or hooks; plugin.py connects it to requests.

Its work on a timer (dropping expired entries, following other instances' entries, the SQLite
writer) runs as periodic tasks of `every` (the gateway's `gateway.every`; a private
`Periodics` when none is given, for tools and tests that use the cache on its own).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from bifrost_py.periodic import Periodic, Periodics

from .catalog import Catalog, Meta
from .embedders import Embedder, EmbedderError
from .index import Match, VectorIndex
from .metrics import CacheMetrics
from .policy import Plan
from .settings import CacheSettings
from .stores import Entry, Every, Known, Store, StoreError

log = logging.getLogger("bifrost_py.cache")
SWEEP_SECONDS = 30.0


@dataclass(slots=True)
class Hit:
    meta: Meta
    message: dict[str, Any]
    similarity: float | None = None   # None: exact hit


class Cache:
    def __init__(self, settings: CacheSettings, store: Store, embedder: Embedder, metrics: CacheMetrics,
                 every: Every | None = None) -> None:
        self.settings = settings
        self.store = store
        self.embedder = embedder
        self.metrics = metrics
        self.catalog = Catalog(settings.max_entries)
        self.index = VectorIndex()
        self._own: Periodics | None = None
        if every is None:
            self._own = Periodics()
            every = self._own.every
        self.every: Every = every
        self._background: list[Periodic] = []
        self._writes: set[asyncio.Task[None]] = set()
        # Redis bounds the shared cache itself; elsewhere this process's bound is the store's.
        self._evict_from_store = store.name != "redis"
        self.clock = time.time  # replaceable, so tests can move time instead of waiting

    # ------------------------------------------------------------------ life cycle

    async def start(self) -> None:
        await self.store.open()
        await self.embedder.start()
        self.learn(await self.store.load(self.clock()))
        self._background = [self.every(self._sweep_interval, self._sweep, name="cache: dropping expired entries",
                                       final=False)]
        follower = self.store.follow(self.learn, self.every)
        if follower is not None:
            self._background.append(follower)

    async def stop(self) -> None:
        """End the periodic tasks (a round in progress finishes; the gateway has usually
        stopped them already), commit what is queued, close the store and the embedder."""
        for periodic in self._background:
            await periodic.stop()
        await self.settle()
        await self.store.close()
        if self._own is not None:
            await self._own.stop()
        await self.embedder.close()

    def _sweep_interval(self) -> float:
        return min(SWEEP_SECONDS, max(1.0, self.settings.ttl / 2))

    async def _sweep(self) -> None:
        try:
            await self.expire(self.clock())
        except StoreError as exc:  # the store logged it; the catalog dropped them regardless
            log.warning("cache: deleting expired entries from the store failed (%s); next sweep retries", exc)

    async def expire(self, now: float) -> int:
        gone = self.catalog.expired(now)
        for meta in gone:
            self._unindex(meta)
        if gone and self._evict_from_store:
            await self.store.delete([m.key for m in gone])
        self.metrics.evicted("expired", len(gone))
        return len(gone)

    # ------------------------------------------------------------------ lookups

    async def lookup(self, plan: Plan) -> Hit | None:
        """A hit, or None: a miss, also when the store cannot answer (the provider will)."""
        try:
            return await self._lookup(plan, self.clock())
        except StoreError:
            return None

    async def _lookup(self, plan: Plan, now: float) -> Hit | None:
        hit = await self._exact(plan, now)
        if hit is None and self.settings.semantic and plan.request is not None and plan.request.text is not None:
            hit = await self._semantic(plan, now)
        return hit

    async def _exact(self, plan: Plan, now: float) -> Hit | None:
        assert plan.request is not None
        key = plan.request.exact_key
        meta = self.catalog.get(key)
        if meta is None and not self.store.shared:
            return None
        if meta is not None and not meta.fresh(now, plan.max_age):
            if meta.expires <= now:
                await self.forget([key], "expired")
            return None
        return await self._fetch(key, now, plan.max_age, None)

    async def _semantic(self, plan: Plan, now: float) -> Hit | None:
        request = plan.request
        assert request is not None and request.partition is not None and request.text is not None
        vector = await self.vector_of(plan)
        if vector is None:
            return None
        for match in await self._search(request.partition, vector):
            meta = self.catalog.get(match.key)
            if meta is None or not meta.fresh(now, plan.max_age):
                continue
            hit = await self._fetch(match.key, now, plan.max_age, match.similarity)
            if hit is not None:
                return hit
        return None

    async def _search(self, partition: str, vector: np.ndarray) -> list[Match]:
        return self.index.search(partition, vector, self.settings.threshold)

    async def _fetch(self, key: str, now: float, max_age: float | None, similarity: float | None) -> Hit | None:
        found = await self.store.fetch(key, now)
        if found is None:
            if self.catalog.get(key) is not None:
                await self.forget([key], "gone")
            return None
        meta, body = found
        if not meta.fresh(now, max_age):
            return None
        known = self.catalog.get(key)
        if known is None:  # another instance or worker stored it: learn it for next time
            self.learn([Known(meta, None)])
            known = meta
        self.catalog.touch(key)
        self.store.touch(key, now)
        return Hit(known, orjson.loads(body), similarity)

    async def vector_of(self, plan: Plan) -> np.ndarray | None:
        """The request's embedding, computed once per call (lookup and store share it)."""
        if plan.vector is None and plan.request is not None and plan.request.text is not None:
            try:
                plan.vector = await self.embedder.embed(plan.request.text)
            except EmbedderError as exc:
                log.warning("cache: %s; this request matches exactly only", exc)
                self.metrics.embed_error()
                return None
        return plan.vector  # type: ignore[return-value]

    # ------------------------------------------------------------------ stores

    async def put(self, plan: Plan, message: dict[str, Any], *, provider: str, model: str) -> Meta | None:
        request = plan.request
        assert request is not None
        body = orjson.dumps(message)
        if len(body) > self.settings.max_answer_bytes:
            self.metrics.not_stored("too_large")
            return None
        vector = await self.vector_of(plan) if self.settings.semantic and request.partition else None
        now = self.clock()
        meta = Meta(
            request.exact_key, plan.scope, request.partition if vector is not None else None,
            now, now + plan.ttl, model, provider, len(body),
        )
        self.learn([Known(meta, vector)])
        try:
            gone = await self.store.put(Entry(meta, body, vector))
        except StoreError:
            self._unlearn(meta.key)
            self.metrics.not_stored("store_error")
            return meta
        await self.forget(gone, "size", in_store=False)
        self.metrics.stored()
        return meta

    def learn(self, known: list[Known]) -> None:
        """Add entries to the catalog and index (ours, loaded ones, other instances' ones)."""
        evicted: list[Meta] = []
        for item in known:
            old = self.catalog.get(item.meta.key)
            if old is not None and old.partition and old.partition != item.meta.partition:
                self._unindex(old)
            evicted.extend(self.catalog.add(item.meta))
            if item.meta.partition and item.vector is not None:
                self.index.add(item.meta.partition, item.meta.key, item.vector)
        for meta in evicted:
            self._unindex(meta)
        if evicted:
            self.metrics.evicted("size", len(evicted))
            if self._evict_from_store:
                self._spawn(self.store.delete([m.key for m in evicted]))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    def _unlearn(self, key: str) -> None:
        """Drop an entry the store never got, so this instance does not promise it."""
        meta = self.catalog.remove(key)
        if meta is not None:
            self._unindex(meta)

    def _unindex(self, meta: Meta) -> None:
        if meta.partition:
            self.index.remove(meta.partition, meta.key)

    async def forget(self, keys: list[str], reason: str, *, in_store: bool = True) -> None:
        gone = [meta for meta in (self.catalog.remove(key) for key in keys) if meta is not None]
        for meta in gone:
            self._unindex(meta)
        if in_store and keys and reason != "gone":
            await self.store.delete(keys)
        self.metrics.evicted(reason, len(gone))

    async def clear(self, scope: str | None) -> int:
        doomed = [meta.key for meta in self.catalog.entries.values() if scope is None or meta.scope == scope]
        await self.forget(doomed, "cleared", in_store=False)
        return max(len(doomed), await self.store.clear(scope))

    async def settle(self) -> None:
        """Wait for queued writes (tests, shutdown)."""
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        await self.store.flush()

    def stats(self) -> dict[str, Any]:
        tally = self.metrics.tally
        hits = tally["hit_exact"] + tally["hit_semantic"]
        looked = hits + tally["miss"]
        return {
            "entries": len(self.catalog),
            "partitions": len(self.index.partitions),
            "index_bytes": self.index.nbytes,
            "hits_exact": tally["hit_exact"],
            "hits_semantic": tally["hit_semantic"],
            "misses": tally["miss"],
            "bypassed": tally["bypass"],
            "hit_rate": round(hits / looked, 4) if looked else None,
            "stored": tally["stored"],
            "not_stored": {k.split(":", 1)[1]: v for k, v in tally.items() if k.startswith("not_stored:")},
            "evicted": {k.split(":", 1)[1]: v for k, v in tally.items() if k.startswith("evicted:")},
            "embed_errors": tally["embed_errors"],
            "embedding_tokens": int(getattr(self.embedder, "tokens", 0)),
            "saved_usd": round(self.metrics.saved_usd, 6),
        }
