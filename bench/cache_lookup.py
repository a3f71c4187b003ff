"""Lookup time of the semantic cache at 100k entries (issue 7: "fast enough to be worth it").

    python bench/cache_lookup.py [--entries 100000] [--dims 256]

Fills one partition (the worst case: every entry shares model, system, tools and parameters,
as a busy FAQ bot's would) with unit vectors, then times, per lookup: the local embedding of a
question, a full scan of the partition (what a plain numpy index costs), the index's search with
its SimHash prefilter, and a full `Cache.lookup` (exact miss + embed + search + fetch, memory
store) for a paraphrase of a planted entry.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import numpy as np
from bifrost_cache.cache import Cache
from bifrost_cache.catalog import Meta
from bifrost_cache.embed_local import LocalEmbedder
from bifrost_cache.metrics import CacheMetrics
from bifrost_cache.policy import Plan
from bifrost_cache.requestkey import cache_request
from bifrost_cache.settings import CacheSettings
from bifrost_cache.store_memory import MemoryStore
from bifrost_cache.stores import Entry, Known
from prometheus_client import CollectorRegistry


def timed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


async def atimed(fn, repeat: int) -> list[float]:  # type: ignore[no-untyped-def]
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - start) * 1e3)
    return out


def show(name: str, ms: list[float]) -> None:
    ms = sorted(ms)
    print(f"{name:<44} median {statistics.median(ms):8.3f} ms   p95 {ms[int(len(ms) * 0.95) - 1]:8.3f} ms")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--entries", type=int, default=100_000)
    parser.add_argument("--dims", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    settings = CacheSettings(enabled=True, max_entries=args.entries + 10)
    settings.embedder.dims = args.dims
    embedder = LocalEmbedder(args.dims)
    store = MemoryStore()
    cache = Cache(settings, store, embedder, CacheMetrics(CollectorRegistry()))
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 512, "system": "Be brief.",
            "messages": [{"role": "user", "content": "How do I undo the last git commit?"}]}
    request = cache_request(body, "anthropic", body["model"], "shared", semantic=True, embedder_id=embedder.id)
    assert request.partition is not None

    rng = np.random.default_rng(7)
    started = time.perf_counter()
    now = time.time()
    for start in range(0, args.entries, 10_000):
        block = rng.standard_normal((min(10_000, args.entries - start), args.dims)).astype(np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        known = []
        for i, vector in enumerate(block):
            key = f"k{start + i}"
            meta = Meta(key, "shared", request.partition, now, now + 3600, "m", "anthropic", 10)
            store.bodies[key] = (meta, b'{"content":[]}')
            known.append(Known(meta, vector))
        cache.learn(known)
    target = embedder.vector("How do I undo the last git commit?")
    stored = Entry(Meta("target", "shared", request.partition, now, now + 3600, "m", "anthropic", 10), b'{"content":[]}', target)
    store.bodies["target"] = (stored.meta, stored.body)
    cache.learn([Known(stored.meta, target)])
    print(f"{args.entries:,} entries x {args.dims} dims in one partition, index {cache.index.nbytes / 1e6:.0f} MB, "
          f"built in {time.perf_counter() - started:.1f}s")

    question = "Hey, how can I undo the last Git commit?"
    query = embedder.vector(question)
    show("local embedding of a question", timed(lambda: embedder.vector(question), args.repeat))
    part = cache.index.partitions[request.partition]
    show("full scan (matrix @ query + top 4)", timed(
        lambda: np.argpartition(part.matrix[: part.count] @ query, -4)[-4:], args.repeat))
    show("index search (SimHash prefilter + rerank)", timed(
        lambda: cache.index.search(request.partition, query, 0.9), args.repeat))

    paraphrase = dict(body, messages=[{"role": "user", "content": question}])
    async def lookup() -> None:
        plan = Plan(lookup=True, store=True, scope="shared", ttl=3600,
                    request=cache_request(paraphrase, "anthropic", body["model"], "shared", semantic=True,
                                          embedder_id=embedder.id))
        hit = await cache.lookup(plan)
        assert hit is not None and hit.meta.key == "target"
    show("Cache.lookup: key + embed + search + fetch", await atimed(lookup, args.repeat))


if __name__ == "__main__":
    asyncio.run(main())
