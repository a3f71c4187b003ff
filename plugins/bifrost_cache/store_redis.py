"""Entries in Redis, shared by every gateway instance that points at it.

    {prefix}e:{key}   hash: body, meta (JSON), vector (float32 bytes); expires with the entry
    {prefix}lru       sorted set: key -> last use; bounds the whole cache to max_entries
    {prefix}feed      stream of new entries (key, meta, vector), trimmed to ~max_entries

Exact lookups read the hash directly, so an answer stored by one instance is a hit on every
other one at once. Semantic lookups run on each instance's in-memory index, which is rebuilt from
`lru` on start and then follows `feed` (a `gateway.every` task whose round is one blocking
XREAD, at most one per FEED_BATCH while entries keep coming), so other instances' entries become
semantic hits within moments. A store is one script (one round trip): it writes the hash, ranks
the key in `lru`, announces it on `feed` and evicts the least recently used keys beyond
max_entries, atomically, so several instances never overfill the cache together.

Robustness comes from the gateway's Redis client (`gateway.storage.redis`, bifrost_py/storage/
redis.py), shared with the other plugins on the same URL: no command is ever cancelled half-way
(a lookup and a store go on its pipelined connection, the rest each in a task of its own; a
cancelled caller leaves at once, the command ends), timeouts are short, and
the gateway closes the client after every plugin's shutdown. Here, every failure (Redis down,
restarted, too slow, or a command it refused) is a StoreError: the cache answers a miss, skips
the store, and the next command reconnects. `close()` ends following the feed and gives the
commands this store started a few seconds at most.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
import redis.asyncio as redis

from bifrost_py.periodic import DONE, Periodic
from bifrost_py.storage import RedisClient, Storage, StorageUnavailable

from .catalog import Meta
from .stores import Apply, Entry, Every, Known, StoreError, vector_bytes, vector_from

log = logging.getLogger("bifrost_py.cache")
T = TypeVar("T")
_LOAD_BATCH = 500
_FOLLOW_BLOCK_MS = 1000
FEED_BATCH = 0.05       # seconds between feed reads while entries keep coming
FEED_RETRY = 1.0        # seconds between attempts to read the feed while Redis is away
CLOSE_WAIT = 5.0        # seconds close() gives the commands still running

# KEYS: entry, lru, feed. ARGV: max entries, entry key prefix, expire-at (ms), key, created, body,
# meta, vector ('' = none). Stores the entry, ranks it in the LRU order, announces it on the feed
# and evicts the least recently used keys beyond max entries: one round trip per store, atomic.
# Returns the evicted keys.
_PUT = """
redis.call('DEL', KEYS[1])
if ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'body', ARGV[6], 'meta', ARGV[7], 'vector', ARGV[8])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'key', ARGV[4], 'meta', ARGV[7], 'vector', ARGV[8])
else
  redis.call('HSET', KEYS[1], 'body', ARGV[6], 'meta', ARGV[7])
  redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', 'key', ARGV[4], 'meta', ARGV[7])
end
redis.call('PEXPIREAT', KEYS[1], ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[5], ARGV[4])
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
if extra <= 0 then return {} end
local popped = redis.call('ZPOPMIN', KEYS[2], extra)
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

    def __init__(self, storage: Storage, url: str, prefix: str, max_entries: int) -> None:
        self.storage = storage
        self.url = url
        self.prefix = prefix
        self.max_entries = max_entries
        self.kv: RedisClient | None = None
        self.client: redis.Redis | None = None  # kv's client while this store is open
        self._feed_id = "0-0"
        self._tasks: set[asyncio.Task[Any]] = set()   # commands running, waited for by flush/close
        self._reading: asyncio.Task[Any] | None = None  # the feed's blocking read, if one runs
        self._feed_pause = 0.0  # before the next feed read: 0, or FEED_RETRY while Redis is away
        self._closing = asyncio.Event()

    def _entry(self, key: str) -> str:
        return f"{self.prefix}e:{key}"

    @property
    def _lru(self) -> str:
        return f"{self.prefix}lru"

    @property
    def _feed(self) -> str:
        return f"{self.prefix}feed"

    # ------------------------------------------------------------------ life cycle

    async def open(self) -> None:
        self._closing = asyncio.Event()
        try:
            kv = await self.storage.redis(self.url)
        except StorageUnavailable as exc:
            raise StoreError(f"the Redis cache store cannot connect: {exc}") from exc
        self.kv, self.client = kv, kv.client

    async def close(self) -> None:
        """Stop following, give the commands this store started CLOSE_WAIT seconds to end. The
        client is the gateway's: it closes it after every plugin's shutdown, never cutting a
        command (redis-py can lose the cancellation or hang closing after one)."""
        self._closing.set()
        running = [*self._tasks, *([self._reading] if self._reading is not None else [])]
        if running:
            _, late = await asyncio.wait(running, timeout=CLOSE_WAIT)
            if late:
                log.warning("cache: %d Redis command(s) still running at shutdown", len(late))
        self.kv = self.client = None

    def _start(self, work: Callable[[redis.Redis], Awaitable[T]], what: str) -> asyncio.Task[T]:
        """Run one Redis exchange in a task of its own, which nothing cancels (the client's)."""
        if self.kv is None:
            raise StoreError("the Redis cache store is closed")
        try:
            return self.kv.spawn(work, what=f"cache {what}")
        except StorageUnavailable as exc:  # the gateway's client is closed
            raise StoreError(str(exc)) from exc

    def _spawn(self, work: Callable[[redis.Redis], Awaitable[T]], what: str) -> asyncio.Task[T]:
        """_start, and let flush() and close() wait for it."""
        task = self._start(work, what)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _run(self, work: Callable[[redis.Redis], Awaitable[T]], what: str) -> T:
        """Await a Redis exchange shielded: a cancelled caller leaves at once, the exchange ends.
        Any failure is a StoreError (the client has logged Redis going away and coming back)."""
        return await _store_errors(asyncio.shield(self._spawn(work, what)), what)

    # ------------------------------------------------------------------ reads

    async def load(self, now: float) -> list[Known]:
        """Entries in LRU order; keys whose hash expired are dropped from `lru` on the way."""
        return await self._run(lambda client: self._load(client, now), "load")

    async def _load(self, client: redis.Redis, now: float) -> list[Known]:
        last = await client.xrevrange(self._feed, count=1)
        self._feed_id = last[0][0].decode() if last else "0-0"
        keys = [k.decode() for k in await client.zrange(self._lru, 0, -1)]
        known: list[Known] = []
        for start in range(0, len(keys), _LOAD_BATCH):
            batch = keys[start : start + _LOAD_BATCH]
            async with client.pipeline(transaction=False) as pipe:
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
                await client.zrem(self._lru, *dead)
        return known

    async def fetch(self, key: str, now: float) -> tuple[Meta, bytes] | None:
        body, meta = await self._call("HMGET", self._entry(key), "body", "meta", what="lookup")
        if body is None or meta is None:
            return None
        entry = _meta_from(key, meta)
        return (entry, bytes(body)) if entry.expires > now else None

    def follow(self, apply: Apply, every: Every) -> Periodic | None:
        """Learn the entries other instances store, until close(): each round is one blocking
        read of the feed (at most _FOLLOW_BLOCK_MS); the next one follows at once after an empty
        read, FEED_BATCH after one that brought entries, FEED_RETRY while Redis is away."""

        async def read() -> object:
            if self._closing.is_set():
                return DONE
            try:
                self._reading = self._start(self._read_feed, "feed read")
                answer = await _store_errors(asyncio.shield(self._reading), "feed read")
            except StoreError:
                self._feed_pause = FEED_RETRY
                return None
            # After entries came, the next read waits FEED_BATCH: under load one read per
            # FEED_BATCH carries every entry stored meanwhile (this instance's own included)
            # instead of one read per store.
            self._feed_pause = FEED_BATCH if answer else 0.0
            self._learn(answer, apply)
            return None

        return every(lambda: self._feed_pause, read, name="cache: following the shared Redis feed",
                     now=True, final=False)

    async def _read_feed(self, client: redis.Redis) -> Any:
        return await client.xread({self._feed: self._feed_id}, block=_FOLLOW_BLOCK_MS, count=500)

    def _learn(self, answer: Any, apply: Apply) -> None:
        """Hand the live entries of one XREAD answer to `apply`, moving the feed position on."""
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
        meta = entry.meta
        vector = vector_bytes(entry.vector)
        args = [self.max_entries, f"{self.prefix}e:", int(meta.expires * 1000) + 1, meta.key, repr(meta.created),
                entry.body, _meta_json(meta), vector or b""]
        if self.kv is None:
            raise StoreError("the Redis cache store is closed")
        gone = await _store_errors(self.kv.script(_PUT, [self._entry(meta.key), self._lru, self._feed], args,
                                                  what="cache store"), "store")
        return [k.decode() if isinstance(k, bytes) else str(k) for k in gone or ()]

    async def _call(self, *command: Any, what: str) -> Any:
        """One command on the client's pipelined connection (a cancelled caller leaves at once,
        the command ends); any failure is a StoreError."""
        if self.kv is None:
            raise StoreError("the Redis cache store is closed")
        return await _store_errors(self.kv.call(*command, what=f"cache {what}"), what)

    def touch(self, key: str, now: float) -> None:
        """Move the key up the shared LRU order (fire and forget: a hit never waits for it)."""
        if self.kv is not None:  # xx: never revive an evicted key
            with contextlib.suppress(StorageUnavailable):   # the gateway's client is closed
                self.kv.send("ZADD", self._lru, "XX", now, key, what="cache hit record")

    async def delete(self, keys: list[str]) -> None:
        if keys:
            await self._run(lambda client: self._delete(client, keys), "delete")

    async def _delete(self, client: redis.Redis, keys: list[str]) -> None:
        async with client.pipeline(transaction=False) as pipe:
            pipe.delete(*[self._entry(k) for k in keys])
            pipe.zrem(self._lru, *keys)
            await pipe.execute()

    async def clear(self, scope: str | None) -> int:
        return await self._run(lambda client: self._clear(client, scope), "clear")

    async def _clear(self, client: redis.Redis, scope: str | None) -> int:
        doomed = []
        async for raw in client.scan_iter(match=f"{self.prefix}e:*", count=1000):
            key = raw.decode()[len(self.prefix) + 2 :]
            if scope is not None:
                meta = await client.hget(raw, "meta")
                if meta is None or orjson.loads(meta).get("scope") != scope:
                    continue
            doomed.append(key)
        for start in range(0, len(doomed), _LOAD_BATCH):
            await self._delete(client, doomed[start : start + _LOAD_BATCH])
        return len(doomed)

    async def flush(self) -> None:
        """Writes are awaited as they happen; only LRU updates may still be on their way."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self.kv is not None:
            await self.kv.idle()


async def _store_errors(work: Awaitable[T], what: str) -> T:
    """`work`'s result; any Redis failure as StoreError (a miss, an answer not stored)."""
    try:
        return await work
    except (StorageUnavailable, redis.RedisError, OSError) as exc:
        raise StoreError(f"Redis {what} failed: {exc}") from exc
