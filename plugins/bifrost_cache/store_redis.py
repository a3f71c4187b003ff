"""Entries in Redis, shared by every gateway instance that points at it.

    {prefix}e:{key}   hash: body, meta (JSON), vector (float32 bytes); expires with the entry
    {prefix}lru       sorted set: key -> last use; bounds the whole cache to max_entries
    {prefix}feed      stream of new entries (key, meta, vector), trimmed to ~max_entries

Exact lookups read the hash directly, so an answer stored by one instance is a hit on every
other one at once. Semantic lookups run on each instance's in-memory index, which is rebuilt from
`lru` on start and then follows `feed` (blocking XREAD), so other instances' entries become
semantic hits within moments. Eviction is atomic in Redis (a script pops the least recently used
keys beyond max_entries and deletes them), so several instances never overfill it together.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
import redis.asyncio as redis

from .catalog import Meta
from .stores import Apply, Entry, Known, vector_bytes, vector_from

log = logging.getLogger("bifrost_py.cache")
_LOAD_BATCH = 500
_FOLLOW_BLOCK_MS = 1000

# KEYS[1] = lru, ARGV[1] = max entries, ARGV[2] = entry key prefix. Returns the evicted keys.
_EVICT = """
local extra = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[1])
if extra <= 0 then return {} end
local popped = redis.call('ZPOPMIN', KEYS[1], extra)
local gone = {}
for i = 1, #popped, 2 do
  redis.call('DEL', ARGV[2] .. popped[i])
  gone[#gone + 1] = popped[i]
end
return gone
"""


def _meta_json(meta: Meta) -> bytes:
    return orjson.dumps({
        "scope": meta.scope, "partition": meta.partition, "created": meta.created, "expires": meta.expires,
        "model": meta.model, "provider": meta.provider, "size": meta.size,
    })


def _meta_from(key: str, raw: bytes) -> Meta:
    data = orjson.loads(raw)
    return Meta(key, data["scope"], data.get("partition"), data["created"], data["expires"],
                data.get("model", ""), data.get("provider", ""), int(data.get("size", 0)))


class RedisStore:
    name = "redis"
    shared = True

    def __init__(self, url: str, prefix: str, max_entries: int) -> None:
        self.url = url
        self.prefix = prefix
        self.max_entries = max_entries
        self.client: redis.Redis | None = None
        self._evict: Any = None
        self._feed_id = "0-0"
        self._tasks: set[asyncio.Task[None]] = set()

    def _entry(self, key: str) -> str:
        return f"{self.prefix}e:{key}"

    @property
    def _lru(self) -> str:
        return f"{self.prefix}lru"

    @property
    def _feed(self) -> str:
        return f"{self.prefix}feed"

    async def open(self) -> None:
        self.client = redis.from_url(self.url)
        await self.client.ping()
        self._evict = self.client.register_script(_EVICT)

    async def close(self) -> None:
        await self.flush()
        if self.client is not None:
            await self.client.aclose()
            self.client = None

    # ------------------------------------------------------------------ reads

    async def load(self, now: float) -> list[Known]:
        """Entries in LRU order; keys whose hash expired are dropped from `lru` on the way."""
        assert self.client is not None
        last = await self.client.xrevrange(self._feed, count=1)
        self._feed_id = last[0][0].decode() if last else "0-0"
        keys = [k.decode() for k in await self.client.zrange(self._lru, 0, -1)]
        known: list[Known] = []
        for start in range(0, len(keys), _LOAD_BATCH):
            batch = keys[start : start + _LOAD_BATCH]
            async with self.client.pipeline(transaction=False) as pipe:
                for key in batch:
                    pipe.hmget(self._entry(key), "meta", "vector")
                rows = await pipe.execute()
            dead = []
            for key, (meta, vector) in zip(batch, rows):
                if meta is None:
                    dead.append(key)
                    continue
                entry = _meta_from(key, meta)
                if entry.expires > now:
                    known.append(Known(entry, vector_from(vector)))
            if dead:
                await self.client.zrem(self._lru, *dead)
        return known

    async def fetch(self, key: str, now: float) -> tuple[Meta, bytes] | None:
        assert self.client is not None
        body, meta = await self.client.hmget(self._entry(key), "body", "meta")
        if body is None or meta is None:
            return None
        entry = _meta_from(key, meta)
        return (entry, bytes(body)) if entry.expires > now else None

    async def follow(self, apply: Apply) -> None:
        """Learn the entries other instances store (runs until cancelled)."""
        assert self.client is not None
        while True:
            try:
                answer = await self.client.xread({self._feed: self._feed_id}, block=_FOLLOW_BLOCK_MS, count=500)
            except (redis.ConnectionError, redis.TimeoutError):
                log.warning("cache: Redis feed unreachable; retrying")
                await asyncio.sleep(1.0)
                continue
            now = time.time()
            for _, messages in answer or ():
                known = []
                for message_id, fields in messages:
                    self._feed_id = message_id.decode()
                    entry = _meta_from(fields[b"key"].decode(), fields[b"meta"])
                    if entry.expires > now:
                        known.append(Known(entry, vector_from(fields.get(b"vector"))))
                apply(known)

    # ------------------------------------------------------------------ writes

    async def put(self, entry: Entry) -> list[str]:
        """Store and announce the entry; returns the keys Redis evicted to stay in bounds."""
        assert self.client is not None
        meta = entry.meta
        name = self._entry(meta.key)
        mapping: dict[str, bytes] = {"body": entry.body, "meta": _meta_json(meta)}
        vector = vector_bytes(entry.vector)
        if vector is not None:
            mapping["vector"] = vector
        announced: dict[str, bytes] = {"key": meta.key.encode(), "meta": mapping["meta"]}
        if vector is not None:
            announced["vector"] = vector
        async with self.client.pipeline(transaction=True) as pipe:
            pipe.delete(name)
            pipe.hset(name, mapping=mapping)
            pipe.pexpireat(name, int(meta.expires * 1000) + 1)
            pipe.zadd(self._lru, {meta.key: meta.created})
            pipe.xadd(self._feed, announced, maxlen=self.max_entries, approximate=True)
            await pipe.execute()
        gone = await self._evict(keys=[self._lru], args=[self.max_entries, f"{self.prefix}e:"])
        return [k.decode() if isinstance(k, bytes) else str(k) for k in gone or ()]

    def touch(self, key: str, now: float) -> None:
        """Move the key up the shared LRU order (fire and forget: a hit never waits for it)."""
        task = asyncio.get_running_loop().create_task(self._touch(key, now))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _touch(self, key: str, now: float) -> None:
        if self.client is None:
            return
        try:
            await self.client.zadd(self._lru, {key: now}, xx=True)  # xx: never revive an evicted key
        except redis.RedisError:
            log.warning("cache: recording a hit in Redis failed", exc_info=True)

    async def delete(self, keys: list[str]) -> None:
        if not keys or self.client is None:
            return
        async with self.client.pipeline(transaction=False) as pipe:
            pipe.delete(*[self._entry(k) for k in keys])
            pipe.zrem(self._lru, *keys)
            await pipe.execute()

    async def clear(self, scope: str | None) -> int:
        assert self.client is not None
        doomed = []
        async for raw in self.client.scan_iter(match=f"{self.prefix}e:*", count=1000):
            key = raw.decode()[len(self.prefix) + 2 :]
            if scope is not None:
                meta = await self.client.hget(raw, "meta")
                if meta is None or orjson.loads(meta).get("scope") != scope:
                    continue
            doomed.append(key)
        for start in range(0, len(doomed), _LOAD_BATCH):
            await self.delete(doomed[start : start + _LOAD_BATCH])
        return len(doomed)

    async def flush(self) -> None:
        """Writes are awaited as they happen; only LRU updates may still be on their way."""
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
