"""Redis for plugins: one `redis.asyncio` client per URL, shared by every plugin that names it.

What the built-ins learnt the hard way, done once here:

- No command is ever cancelled half-way. On Python 3.11 redis-py's own timeout around a send can
  swallow a cancellation that lands at the wrong moment, and closing a client after a command
  was cut can hang. `run(fn)` therefore runs `fn(client)` in a task of its own that nothing
  cancels; the caller awaits it shielded and, when cancelled, leaves at once while the command
  ends. `close()` gives the commands still running CLOSE_WAIT seconds, then closes.
- A Redis that is down, restarting, loading or too slow raises StorageUnavailable (with
  redis-py's error as its cause), which each plugin maps once: the cache answers a miss,
  governance a 503. That Redis went away is logged once, and again once it answers.
- Timeouts are short (a dead Redis must not stall requests): CONNECT_TIMEOUT to connect,
  COMMAND_TIMEOUT for one reply; `?socket_timeout=` and `?socket_connect_timeout=` in the URL
  override them. A dropped connection (Redis restarted) is retried once at once; a timeout is not.

Replies are bytes (no decoding): `client` is the redis.asyncio.Redis itself, for pipelines and
scripts inside `run()`. Code that already runs in a task nothing cancels (a settlement of its
own) may await `client` directly; everything else goes through `run()` or `spawn()`.

The commands on a request's path go through `call(*command)`, `script(text, keys, args)`,
`scripts(calls)` (many at once) and `send(*command)` (fire and forget) instead: one multiplexed, pipelined connection (redis_pipe.py) that costs a fifth of redis-py's
Python per command, with the same guarantees (a cancelled caller leaves at once and the command
still ends, StorageUnavailable, one retry of a dropped connection, the timeouts). Never a
blocking command there (XREAD BLOCK): it would hold up every other caller's reply.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ReadOnlyError, TryAgainError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .errors import StorageClosed, StorageUnavailable
from .redis_pipe import Pipe, error, supported

T = TypeVar("T")
log = logging.getLogger("bifrost_py.storage")

CONNECT_TIMEOUT = 2.0  # seconds to (re)connect
COMMAND_TIMEOUT = 3.0  # seconds for one reply (a blocking read must block for less)
CLOSE_WAIT = 5.0  # seconds close() gives the commands still running

# Redis cannot answer now; other RedisErrors (WRONGTYPE, a script's error) are about the command.
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, ReadOnlyError, TryAgainError, OSError)


class RedisClient:
    """A Redis server opened through `gateway.storage` (see the module docstring)."""

    def __init__(self, url: str, shown: str) -> None:
        self.url = url
        self._shown = shown  # the URL without its password, for log lines
        self._client: aioredis.Redis | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._down = False
        self._closed = False
        options = supported(url)
        self._pipe = Pipe(options, CONNECT_TIMEOUT, COMMAND_TIMEOUT) if options is not None else None
        self._shas: dict[str, str] = {}

    async def open(self) -> None:
        self._client = aioredis.from_url(
            self.url,
            socket_connect_timeout=CONNECT_TIMEOUT,
            socket_timeout=COMMAND_TIMEOUT,
            retry=Retry(NoBackoff(), 1, (RedisConnectionError,)),
        )
        try:
            await self.run(lambda client: client.ping(), what="connect")
        except BaseException:
            client, self._client = self._client, None
            await client.aclose()
            raise

    @property
    def client(self) -> aioredis.Redis:
        """The redis.asyncio client (bytes replies). Never close it: the gateway does."""
        if self._client is None or self._closed:
            raise StorageClosed(f"Redis {self._shown} is closed")
        return self._client

    async def run(self, fn: Callable[[aioredis.Redis], Awaitable[T]], *, what: str = "command") -> T:
        """`await fn(client)` in a task nothing cancels; a cancelled caller leaves at once and
        the command ends on its own. Redis being unavailable is StorageUnavailable; `what`
        names the work in log lines ("lookup", "admission")."""
        return await asyncio.shield(self.spawn(fn, what=what))

    def spawn(self, fn: Callable[[aioredis.Redis], Awaitable[T]], *, what: str = "command") -> asyncio.Task[T]:
        """Start `fn(client)` without waiting for it (fire and forget: an LRU touch); close()
        waits for it. Its failure is logged as `run()`'s would be."""
        client = self.client
        task = asyncio.get_running_loop().create_task(self._guard(fn(client), what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(_retrieve)
        return task

    async def call(self, *command: Any, what: str = "command") -> Any:
        """One command's reply (bytes, int, list...), sent on the shared pipelined connection
        (module docstring). A cancelled caller leaves at once; the command still ends. Redis
        being unavailable is StorageUnavailable; an error reply raises redis-py's exception."""
        return await self._call(command, None, what)

    def send(self, *command: Any, what: str = "command") -> None:
        """Queue one command whose reply nobody waits for (an LRU touch): no task, no await.
        `close()` and `idle()` wait for it; a failure is logged as `call()`'s would be."""
        pipe = self._pipe
        if pipe is None:
            self.spawn(lambda client: client.execute_command(*command), what=what)
            return
        if self._closed:
            raise StorageClosed(f"Redis {self._shown} is closed")
        pipe.submit(command).add_done_callback(partial(self._sent, what))

    def _sent(self, what: str, future: asyncio.Future[Any]) -> None:
        if future.cancelled():
            return
        exc = future.exception()
        if exc is None:
            if self._down:
                self._answers()
            if (refused := error(future.result())) is not None:
                log.warning("Redis %s: %s refused: %s", self._shown, what, refused)
        elif isinstance(exc, _UNAVAILABLE):
            self._unavailable(exc, what)
        else:
            log.warning("Redis %s: %s failed: %r", self._shown, what, exc)

    async def idle(self) -> None:
        """Until every command sent through `call()`, `script()`, `send()`... has its reply."""
        if self._pipe is not None:
            await self._pipe.idle()

    async def script(self, text: str, keys: list[Any], args: list[Any], *, what: str = "script") -> Any:
        """EVALSHA of the Lua script `text` through `call()`; if Redis forgot the script (a
        restart, SCRIPT FLUSH), the EVAL of its text, which loads it again."""
        sha = self._sha(text)
        if self._pipe is None:
            return await self.run(lambda client: _evalsha(client, sha, text, keys, args), what=what)
        n = len(keys)
        return await self._call(("EVALSHA", sha, n, *keys, *args), ("EVAL", text, n, *keys, *args), what)

    async def scripts(self, calls: Sequence[tuple[str, Sequence[Any], Sequence[Any]]], *,
                      what: str = "scripts") -> list[Any]:
        """EVALSHA of each (text, keys, args), all sent at once (one write, one task: the
        caller's), the replies in order; a script's error reply is its exception, in its place.
        A dropped connection sends them all once more (as redis-py does a pipeline); Redis
        being unavailable fails them all (StorageUnavailable)."""
        pipe = self._pipe
        if pipe is None:
            return await self.run(lambda client: _pipelined(client, calls, self._sha), what=what)
        replies = await self._piped(lambda: self._submit_all(pipe, calls), what)
        return [error(reply) or reply for reply in replies]

    async def _submit_all(self, pipe: Pipe, calls: Sequence[tuple[str, Sequence[Any], Sequence[Any]]]) -> list[Any]:
        futures: list[asyncio.Future[Any]] = []
        try:
            for text, keys, args in calls:
                futures.append(pipe.submit(("EVALSHA", self._sha(text), len(keys), *keys, *args),
                                           ("EVAL", text, len(keys), *keys, *args)))
            return [await future for future in futures]
        except BaseException:
            for future in futures:      # they fail together: retrieved, no "never retrieved" noise
                future.add_done_callback(_retrieve)
            raise

    def _sha(self, text: str) -> str:
        sha = self._shas.get(text)
        if sha is None:
            sha = self._shas[text] = hashlib.sha1(text.encode()).hexdigest()
        return sha

    async def _call(self, command: tuple[Any, ...], instead: tuple[Any, ...] | None, what: str) -> Any:
        pipe = self._pipe
        if pipe is None:
            return await self.run(lambda client: client.execute_command(*command), what=what)
        return await self._piped(lambda: pipe.call(command, instead), what)

    async def _piped(self, send: Callable[[], Awaitable[T]], what: str) -> T:
        """`await send()` (commands on the pipelined connection), once more at once if the
        connection dropped (Redis restarted, as redis-py's retry); unavailable: StorageUnavailable."""
        if self._closed:
            raise StorageClosed(f"Redis {self._shown} is closed")
        try:
            try:
                reply = await send()
            except RedisConnectionError:
                reply = await send()
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc, what) from exc
        if self._down:
            self._answers()
        return reply

    async def _guard(self, work: Awaitable[T], what: str) -> T:
        try:
            result = await work
        except _UNAVAILABLE as exc:
            raise self._unavailable(exc, what) from exc
        if self._down:
            self._answers()
        return result

    def _unavailable(self, exc: BaseException, what: str) -> StorageUnavailable:
        why = str(exc) or type(exc).__name__
        if not self._down:
            self._down = True
            log.warning("Redis %s: %s failed (%s); it counts as unavailable until it answers again",
                        self._shown, what, why)
        return StorageUnavailable(f"Redis {what} failed: {why}")

    def _answers(self) -> None:
        self._down = False
        log.warning("Redis %s answers again", self._shown)

    @property
    def waiting(self) -> int:
        """Commands of `call()` and `script()` whose reply has not come yet."""
        return self._pipe.waiting if self._pipe is not None else 0

    @property
    def available(self) -> bool:
        """False from a failure until the next command that succeeds."""
        return not self._down

    async def close(self) -> None:
        """Give the commands in flight CLOSE_WAIT seconds to end, then close the client (the
        gateway calls this once, after every plugin's shutdown; never cancels a command)."""
        self._closed = True
        running: list[asyncio.Future[Any]] = list(self._tasks)
        idle = asyncio.ensure_future(self._pipe.idle()) if self._pipe is not None else None
        if idle is not None:
            running.append(idle)
        if running:
            _, late = await asyncio.wait(running, timeout=CLOSE_WAIT)
            if late:
                log.warning("Redis %s: %d command(s) still running at shutdown; closing anyway",
                            self._shown, len(late))
        if idle is not None:
            idle.cancel()
        if self._pipe is not None:
            self._pipe.close()
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()


async def _evalsha(client: aioredis.Redis, sha: str, text: str, keys: list[Any], args: list[Any]) -> Any:
    try:
        return await client.evalsha(sha, len(keys), *keys, *args)
    except NoScriptError:
        return await client.eval(text, len(keys), *keys, *args)


async def _pipelined(client: aioredis.Redis, calls: Sequence[tuple[str, Sequence[Any], Sequence[Any]]],
                     sha: Callable[[str], str]) -> list[Any]:
    """`scripts()` through redis-py: one pipeline; the scripts Redis did not have run again."""
    pipe = client.pipeline(transaction=False)
    for text, keys, args in calls:
        pipe.evalsha(sha(text), len(keys), *keys, *args)
    replies: list[Any] = await pipe.execute(raise_on_error=False)
    missing = [i for i, reply in enumerate(replies) if isinstance(reply, NoScriptError)]
    if missing:
        pipe = client.pipeline(transaction=False)
        for i in missing:
            text, keys, args = calls[i]
            pipe.eval(text, len(keys), *keys, *args)
        for i, reply in zip(missing, await pipe.execute(raise_on_error=False), strict=True):
            replies[i] = reply
    return replies


def _retrieve(task: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a command whose caller left (no 'never retrieved' noise)."""
    if not task.cancelled():
        task.exception()
