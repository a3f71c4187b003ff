"""One multiplexed connection to Redis for the commands on a request's path (`RedisClient.call`).

redis-py spends some 45 us of Python per command on its own machinery (a connection taken from
and given back to the pool, a timeout context around the send and the read, its retry wrapper,
argument encoding, observability hooks), which is most of what Redis adds to a request. Here a
command is packed by hiredis, appended to a write buffer that is sent once per event-loop round
(every command issued in that round in one write), and its reply is read by hiredis' parser off
the same connection, in order: a future per command, nothing else. Requests running at the same
time share the one connection; Redis answers a pipeline of their commands in one pass.

- No command is cut half-way: a caller that is cancelled leaves at once, its command is still
  sent and its reply read (and dropped).
- A connection that drops (Redis restarted) fails the commands waiting on it with
  ConnectionError; `RedisClient.call` sends such a command once more at once, as redis-py's retry
  does. A reply that does not come within `timeout` fails every command waiting (TimeoutError)
  and drops the connection (what it would still say is unknowable); the next command connects
  again.
- Replies come in the order commands were queued, and Redis runs them in that order: a
  script's first use on a connection is sent as its EVAL (which loads it), later ones as
  EVALSHA.
- Blocking commands (XREAD BLOCK, BLPOP) must not come here: they would hold every other reply
  up. They, pipelines and transactions stay with redis-py (`RedisClient.client`).

Only `redis://` and `unix://` URLs (any AUTH user and password, any db) come here; for others
(`rediss://`) `RedisClient.call` uses redis-py.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import parse_url
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError


class _ReplyError(Exception):
    """hiredis' form of an error reply (`-ERR ...`), turned into redis-py's exception class."""


def supported(url: str) -> dict[str, Any] | None:
    """The connection arguments of `url` if a Pipe can serve it, else None."""
    if not url.lower().startswith(("redis://", "unix://")):
        return None
    return dict(parse_url(url))


def error(reply: Any) -> Exception | None:
    """A raw reply's error as redis-py's exception (NoScriptError, ResponseError...), else None."""
    return BaseParser.parse_error(str(reply)) if isinstance(reply, _ReplyError) else None


class _Connection(asyncio.Protocol):
    """One TCP (or Unix) connection: its write buffer and the callers waiting, oldest first.
    Commands queue from the moment it is made; they are written once it is connected."""

    def __init__(self, pipe: Pipe) -> None:
        self.pipe = pipe
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader(replyError=_ReplyError)
        # per command sent: its caller's future, when it was queued, the command to send instead
        # if Redis answers NOSCRIPT (the script's EVAL), else None
        self.waiting: collections.deque[tuple[asyncio.Future[Any], float, tuple[Any, ...] | None]] = \
            collections.deque()
        self.out: list[bytes] = []
        self.flushing: asyncio.Handle | None = None
        self.opening: asyncio.Task[None] | None = None
        self.closed = False
        self.scripts: set[Any] = set()   # SHA1s sent here as EVAL: Redis has them from then on

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)   # (uvloop's is not a subclass)

    def data_received(self, data: bytes) -> None:
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        try:
            while (reply := reader.gets()) is not False:
                future, queued, instead = waiting.popleft()
                if instead is not None and isinstance(reply, _ReplyError) and str(reply).startswith("NOSCRIPT"):
                    # Redis forgot the script (restarted, SCRIPT FLUSH): EVAL it, which loads it
                    # again. Here, not in the caller, so that a caller who left cannot cut it.
                    self.queue(future, hiredis.pack_command(instead), None, queued)
                elif not future.done():        # its caller may have left (cancelled)
                    future.set_result(reply)
        except (hiredis.ProtocolError, IndexError) as exc:   # garbage, or a reply nobody asked for
            self.drop(RedisConnectionError(f"Redis protocol error: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.drop(RedisConnectionError(f"Redis closed the connection{f': {exc}' if exc else ''}"))

    def queue(self, future: asyncio.Future[Any], packed: bytes, instead: tuple[Any, ...] | None,
              queued: float) -> None:
        self.waiting.append((future, queued, instead))
        self.out.append(packed)
        if self.flushing is None and self.transport is not None:
            self.flushing = asyncio.get_running_loop().call_soon(self.flush)

    def flush(self) -> None:
        self.flushing = None
        if self.transport is not None and self.out:
            out, self.out = self.out, []
            self.transport.write(b"".join(out) if len(out) > 1 else out[0])

    def drop(self, error: Exception) -> None:
        """End this connection: every caller still waiting gets `error`."""
        self.closed = True
        transport, self.transport = self.transport, None
        if transport is not None:
            transport.abort()
        self.out.clear()
        if self.flushing is not None:
            self.flushing.cancel()
            self.flushing = None
        waiting, self.waiting = self.waiting, collections.deque()
        for future, _, _ in waiting:
            if not future.done():
                future.set_exception(error)
        self.pipe.lost(self)


class Pipe:
    """The commands of many callers over one connection, replies matched in order."""

    def __init__(self, options: dict[str, Any], connect_timeout: float, timeout: float) -> None:
        self.options = options
        self.connect_timeout = float(options.get("socket_connect_timeout") or connect_timeout)
        self.timeout = float(options.get("socket_timeout") or timeout)
        self._conn: _Connection | None = None
        self._watch: asyncio.TimerHandle | None = None
        self._closed = False
        hello: list[tuple[Any, ...]] = []
        if options.get("password"):
            hello.append(("AUTH", *([options["username"]] if options.get("username") else []), options["password"]))
        if int(options.get("db") or 0):
            hello.append(("SELECT", int(options["db"])))
        self._hello = [hiredis.pack_command(command) for command in hello]

    async def call(self, args: tuple[Any, ...], instead: tuple[Any, ...] | None = None) -> Any:
        """The reply to one command (bytes, int, list...); an error reply raises as redis-py's
        exception class would (NoScriptError, ResponseError...). `instead`: the command to send
        if Redis answers NOSCRIPT (for EVALSHA: the EVAL of the script's text).

        The command is queued before the first await: a caller cancelled at any point after the
        call leaves at once, and the command is still sent and its reply read."""
        reply = await self.submit(args, instead)
        if isinstance(reply, _ReplyError):
            raise BaseParser.parse_error(str(reply))
        return reply

    def submit(self, args: tuple[Any, ...], instead: tuple[Any, ...] | None = None) -> asyncio.Future[Any]:
        """Queue one command now; the future gets its raw reply (an error reply as a value:
        `error()` turns it into redis-py's exception, None if it is none). For many commands
        at once without a task each."""
        if self._closed:
            raise RedisConnectionError("the Redis client is closed")
        conn = self._conn or self._connect()
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        if instead is not None and args[1] not in conn.scripts:
            # A script's first use on this connection is its EVAL, which loads it: the EVALSHAs
            # queued after it find it, in order (a new connection may be to a Redis that
            # restarted empty). Only a SCRIPT FLUSH meanwhile gets NOSCRIPT, answered by a
            # late EVAL: that one script runs after the commands queued meanwhile.
            conn.scripts.add(args[1])
            args, instead = instead, None
        conn.queue(future, hiredis.pack_command(args), instead, loop.time())
        if self._watch is None:
            self._watch = loop.call_later(self.timeout, self._check)
        return future

    def _connect(self) -> _Connection:
        conn = self._conn = _Connection(self)
        conn.opening = asyncio.get_running_loop().create_task(self._open(conn))
        return conn

    async def _open(self, conn: _Connection) -> None:
        """Connect, then send AUTH and SELECT ahead of the commands queued meanwhile."""
        loop = asyncio.get_running_loop()
        options = self.options
        try:
            async with asyncio.timeout(self.connect_timeout):
                if "path" in options:
                    await loop.create_unix_connection(lambda: conn, options["path"])
                else:
                    await loop.create_connection(lambda: conn, options.get("host", "localhost"),
                                                 int(options.get("port", 6379)))
                hello = [loop.create_future() for _ in self._hello]
                now = loop.time()
                conn.waiting.extendleft((future, now, None) for future in reversed(hello))
                conn.out[:0] = self._hello
                conn.flush()
                for reply in await asyncio.gather(*hello):
                    if isinstance(reply, _ReplyError):
                        raise BaseParser.parse_error(str(reply))
        except TimeoutError:
            conn.drop(RedisTimeoutError("Timeout connecting to Redis"))
        except OSError as exc:
            conn.drop(RedisConnectionError(f"Error connecting to Redis: {exc}"))
        except RedisError as exc:       # AUTH or SELECT refused, or the connection dropped
            conn.drop(RedisConnectionError(f"Redis refused the connection's setup: {exc}"))

    def lost(self, conn: _Connection) -> None:
        if self._conn is conn:
            self._conn = None

    def _check(self) -> None:
        """A reply late by more than `timeout` ends the connection; else look again later."""
        self._watch = None
        conn = self._conn
        if conn is None or not conn.waiting:
            return
        loop = asyncio.get_running_loop()
        late = conn.waiting[0][1] + self.timeout - loop.time()
        if late <= 0:
            conn.drop(RedisTimeoutError("Timeout reading from Redis"))
        else:
            self._watch = loop.call_later(late, self._check)

    @property
    def waiting(self) -> int:
        """Commands sent (or queued) whose reply has not come yet."""
        return len(self._conn.waiting) if self._conn is not None else 0

    async def idle(self) -> None:
        """Until every command sent has its reply (or failed)."""
        while (conn := self._conn) is not None and conn.waiting:   # (shutdown only: a poll will do)
            await asyncio.sleep(0.01)

    def close(self) -> None:
        self._closed = True
        if self._conn is not None:
            self._conn.drop(RedisConnectionError("the Redis client is closed"))
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None


__all__ = ["Pipe", "ResponseError", "error", "supported"]
