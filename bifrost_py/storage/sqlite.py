"""SQLite for plugins: one file, opened once per gateway, written by one connection, read by others.

    writer    one connection (WAL, synchronous=NORMAL, busy_timeout) whose thread runs every
              write of every plugin in the order they were asked for: plugins sharing the file
              never fight over its write lock, and a transaction is never interleaved with
              another plugin's statements
    readers   up to READERS more connections (opened when first needed, `query_only`), so a
              query of the admin API waits neither behind a write nor behind another query

Each connection lives in a thread of its own and only that thread touches it. A job handed to
that thread runs to its end whatever happens to the coroutine that asked for it: a cancelled
caller leaves at once, the statement or transaction still completes (or rolls back), so the
shared connection is never left inside BEGIN. `write_in_thread(fn)` runs a whole transaction in
the writer's thread in one go (BEGIN IMMEDIATE, `fn(connection)`, COMMIT): the fastest way to
write a batch, and all or nothing — any exception, a failed COMMIT included, rolls it back.
`write(fn)` is the same for an async `fn` that awaits between statements (it holds the writer
meanwhile, so keep it short).

Errors that mean the file cannot be used now (busy beyond the timeout, locked, full, read-only,
an I/O error) are raised as StorageUnavailable with the sqlite3 error as their cause; every
other sqlite3 error (a constraint, a value a column refuses, a syntax error) as it is.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import sqlite3
from collections.abc import Awaitable, Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from .errors import StorageClosed, StorageError, StorageUnavailable
from .sql import Dialect, Row

T = TypeVar("T")
Setup = Callable[[sqlite3.Connection], object]

log = logging.getLogger("bifrost_py.storage")

BUSY_TIMEOUT_MS = 5000
READERS = 3
MEMORY = ":memory:"
# Primary result codes that say "the file cannot be used now", not "this statement is wrong":
# BUSY, LOCKED, NOMEM, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_UNAVAILABLE_CODES = frozenset((5, 6, 7, 8, 10, 13, 14, 15))

# sqlite3 binds a None parameter through its adapter protocol: with no adapter registered for
# NoneType it asks its PrepareProtocol type for `__adapt__`, which raises and formats an
# AttributeError that is then thrown away (~2,400 instructions per NULL). A cost-log row has
# some 30 NULL columns, so that was 3% of a request with every plugin on. An adapter that hands
# None back makes it a dict hit: the same NULL bound, half the binding cost. It is registered
# here, by the SQLite storage service, because sqlite3's adapters are process-wide: it holds
# for every connection of every plugin, whichever of them is imported first.
sqlite3.register_adapter(type(None), lambda value: value)


class _Connection:
    """One sqlite3 connection and the one thread that ever uses it. Jobs run in the order they
    were submitted; `setup` (functions the plugins registered) is applied before the next job
    of a connection that has not seen all of it yet."""

    __slots__ = ("_applied", "_conn", "_executor", "_setup", "_shut", "path")

    def __init__(self, path: str, label: str, setup: list[Setup]) -> None:
        self.path = path
        self._setup = setup
        self._applied = 0
        self._conn: sqlite3.Connection | None = None
        self._shut = False
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"sqlite-{label}")

    def submit(self, job: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Queue `job` now (synchronously: nothing can slip in before it); its future."""
        future = asyncio.wrap_future(self._executor.submit(self._call, job))
        future.add_done_callback(_retrieve)
        return future

    def _call(self, job: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise StorageClosed(f"SQLite {self.path} is closed")
        setup = self._setup
        while self._applied < len(setup):
            setup[self._applied](conn)
            self._applied += 1
        return job(conn)

    def open(self, pragmas: Sequence[str]) -> asyncio.Future[None]:
        def connect() -> None:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            try:
                conn.row_factory = sqlite3.Row
                conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
                for pragma in pragmas:
                    conn.execute(f"PRAGMA {pragma}")
            except BaseException:
                conn.close()
                raise
            self._conn = conn

        future = asyncio.wrap_future(self._executor.submit(connect))
        future.add_done_callback(_retrieve)
        return future

    async def close(self) -> None:
        """After every job queued so far (the thread runs them first). Once."""
        if self._shut:
            return
        self._shut = True

        def close() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

        try:
            await asyncio.shield(asyncio.wrap_future(self._executor.submit(close)))
        finally:
            self._executor.shutdown(wait=False)


class SQLiteDatabase:
    """A SQLite file opened through `gateway.storage` (see the module docstring)."""

    dialect: Dialect = "sqlite"

    def __init__(self, url: str, path: str) -> None:
        self.url = url
        self.path = path
        self._setup: list[Setup] = []
        self._writer = _Connection(path, "writer", self._setup)
        self._readers: list[_Connection] = []  # every reader opened
        self._idle: list[_Connection] = []
        self._waiting: collections.deque[asyncio.Future[_Connection]] = collections.deque()
        self._opening = 0  # readers being opened
        self._lock = asyncio.Lock()  # held by a `write(fn)` for the whole of its transaction
        self._writes: set[asyncio.Task[Any]] = set()
        self._closed = False

    async def open(self) -> None:
        if self.path != MEMORY:
            os.makedirs(os.path.dirname(os.path.abspath(self.path)), exist_ok=True)
        try:
            await self._writer.open(("journal_mode=WAL", "synchronous=NORMAL"))
        except sqlite3.Error as exc:
            await self._writer.close()
            raise self._mapped(exc) from exc

    # ------------------------------------------------------------------ writing

    async def execute(self, sql: str, *args: Any) -> int:
        """One statement, committed on its own; the number of rows it changed."""
        return await self._write(lambda conn: conn.execute(sql, args).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """The statement once per row, in one transaction: every row or none."""
        batch = list(rows)
        await self._write(lambda conn: _transaction(conn, lambda c: c.executemany(sql, batch)))

    async def write_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in the writer's thread as one transaction (BEGIN IMMEDIATE ...
        COMMIT; ROLLBACK on any exception, a failed COMMIT included); its result. `fn` must not
        commit, roll back or keep the connection. Runs to its end even if the caller is
        cancelled meanwhile."""
        return await self._write(lambda conn: _transaction(conn, fn))

    async def write(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """Run `await fn(tx)` as one transaction (see `Database.write`); `tx` has execute,
        executemany, fetch, fetchone on the writer connection. Other writes wait meanwhile (so
        `fn` must not call this database's own write methods: they would wait for it)."""
        self._check_open()
        task = asyncio.get_running_loop().create_task(self._transaction(fn))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)
        task.add_done_callback(_retrieve)
        try:
            return await asyncio.shield(task)
        except sqlite3.Error as exc:
            raise self._mapped(exc) from exc

    async def _transaction(self, fn: Callable[[Any], Awaitable[T]]) -> T:
        """In a task of its own, which nothing cancels (a gateway being torn down may)."""
        writer = self._writer
        async with self._lock:
            await writer.submit(_begin)
            try:
                result = await fn(_WriterTransaction(writer))
            except BaseException:
                await writer.submit(_rollback)
                raise
            await writer.submit(_commit)
            return result

    async def _write(self, job: Callable[[sqlite3.Connection], T]) -> T:
        self._check_open()
        async with self._lock:  # free unless a `write(fn)` holds the writer
            future = self._writer.submit(_guarded(job))
        return await self._settle(future)

    # ------------------------------------------------------------------ reading

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Every row of a query, on a reader connection."""
        return await self.read_in_thread(lambda conn: conn.execute(sql, args).fetchall())

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        result: Row | None = await self.read_in_thread(lambda conn: conn.execute(sql, args).fetchone())
        return result

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchone(sql, *args)
        return None if row is None else row[0]

    async def read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run `fn(connection)` in a reader's thread (a query-only connection; the writer's
        for an in-memory database, which other connections cannot see)."""
        self._check_open()
        if self.path == MEMORY:
            return await self._settle(self._writer.submit(_guarded(fn)))
        reader = await self._reader()
        future = reader.submit(_guarded(fn))
        future.add_done_callback(lambda _: self._release(reader))
        return await self._settle(future)

    async def _reader(self) -> _Connection:
        if self._idle:
            return self._idle.pop()
        if len(self._readers) + self._opening < READERS:
            return await self._new_reader()
        waiter: asyncio.Future[_Connection] = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self._release(waiter.result())  # handed over just as the caller left
            raise

    async def _new_reader(self) -> _Connection:
        reader = _Connection(self.path, f"reader{len(self._readers) + self._opening + 1}", self._setup)
        self._opening += 1
        opened = reader.open(("query_only=ON",))

        def done(future: asyncio.Future[None]) -> None:
            self._opening -= 1
            if not future.cancelled() and future.exception() is None:
                self._readers.append(reader)

        opened.add_done_callback(done)
        try:
            await asyncio.shield(opened)
        except asyncio.CancelledError:
            # It opens anyway: into the pool with it, for the next query.
            opened.add_done_callback(lambda f: None if f.exception() else self._release(reader))
            raise
        except BaseException as exc:
            await reader.close()
            if isinstance(exc, sqlite3.Error):
                raise self._mapped(exc) from exc
            raise
        return reader

    def _release(self, reader: _Connection) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done():
                waiter.set_result(reader)
                return
        self._idle.append(reader)

    # ------------------------------------------------------------------ functions

    async def create_function(self, name: str, arguments: int, fn: Callable[..., Any], *,
                              deterministic: bool = True) -> None:
        """A SQL function on every connection of this file (prefix its name with yours: the
        file is shared)."""
        await self._everywhere(lambda conn: conn.create_function(name, arguments, fn, deterministic=deterministic))

    async def create_aggregate(self, name: str, arguments: int, aggregate: type) -> None:
        """A SQL aggregate (a class with step() and finalize()) on every connection."""
        await self._everywhere(lambda conn: conn.create_aggregate(name, arguments, aggregate))

    async def _everywhere(self, setup: Setup) -> None:
        self._check_open()
        self._setup.append(setup)
        # Applied by each connection before its next job; run it on the writer now, so that a
        # mistake is raised here rather than by some later query.
        await self._settle(self._writer.submit(lambda conn: None))

    # ------------------------------------------------------------------ closing

    async def close(self) -> None:
        """Let the transactions under way finish, then close every connection (the gateway
        calls this once, after every plugin's shutdown)."""
        self._closed = True
        while self._writes:
            await asyncio.gather(*list(self._writes), return_exceptions=True)
        for reader in self._readers:
            await reader.close()
        self._readers.clear()
        self._idle.clear()
        await self._writer.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageClosed(f"SQLite {self.path} is closed")

    async def _settle(self, future: asyncio.Future[T]) -> T:
        """The job's result; a cancelled caller leaves at once, the job runs on."""
        try:
            return await asyncio.shield(future)
        except sqlite3.Error as exc:
            raise self._mapped(exc) from exc

    def _mapped(self, exc: sqlite3.Error) -> Exception:
        return unavailable(exc, self.path) or exc


class _WriterTransaction:
    """The `tx` of `SQLiteDatabase.write(fn)`: statements on the writer, inside its transaction."""

    __slots__ = ("_writer",)

    def __init__(self, writer: _Connection) -> None:
        self._writer = writer

    async def execute(self, sql: str, *args: Any) -> int:
        return await self._writer.submit(lambda conn: conn.execute(sql, args).rowcount)

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = list(rows)
        await self._writer.submit(lambda conn: conn.executemany(sql, batch))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self._writer.submit(lambda conn: conn.execute(sql, args).fetchall())

    async def fetchone(self, sql: str, *args: Any) -> Row | None:
        result: Row | None = await self._writer.submit(lambda conn: conn.execute(sql, args).fetchone())
        return result


def unavailable(exc: sqlite3.Error, path: str) -> StorageUnavailable | None:
    """`exc` as StorageUnavailable when it says the file cannot be used now; else None."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _UNAVAILABLE_CODES:
        return StorageUnavailable(f"SQLite {path}: {exc}")
    return None


def _transaction(conn: sqlite3.Connection, fn: Callable[[sqlite3.Connection], T]) -> T:
    """`fn(conn)` between BEGIN IMMEDIATE and COMMIT; ROLLBACK on any exception (COMMIT's too)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn)
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise
    return result


def _guarded(job: Callable[[sqlite3.Connection], T]) -> Callable[[sqlite3.Connection], T]:
    """`job`, refusing to leave a transaction open on the shared writer (a plugin that sent
    BEGIN through execute(), say): it is rolled back and the job fails."""

    def run(conn: sqlite3.Connection) -> T:
        try:
            result = job(conn)
        except BaseException:
            _rollback(conn)
            raise
        if conn.in_transaction:
            _rollback(conn)
            raise StorageError("a statement left a transaction open; it was rolled back "
                               "(use write() or write_in_thread() for transactions)")
        return result

    return run


def _begin(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")


def _commit(conn: sqlite3.Connection) -> None:
    try:
        conn.execute("COMMIT")
    except BaseException:
        _rollback(conn)
        raise


def _rollback(conn: sqlite3.Connection) -> None:
    """End the open transaction, if any (BEGIN may have failed: then there is none)."""
    if not conn.in_transaction:
        return
    try:
        conn.execute("ROLLBACK")
    except sqlite3.Error:
        log.exception("SQLite: rolling back failed")


def _retrieve(future: asyncio.Future[Any]) -> None:
    """Retrieve the outcome of a job whose caller left (no 'never retrieved' noise)."""
    if not future.cancelled():
        future.exception()
