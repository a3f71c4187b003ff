"""Where log rows are kept: SQLite (one machine, no set-up) or PostgreSQL (several instances).

Both speak the same small interface, and every query is written once with `?` placeholders in
SQL both understand; the PostgreSQL store renumbers them. `open_store` picks by URL.

The connections are not the cost log's: a store asks the gateway's storage service
(`gateway.storage`, bifrost_py/storage) for the database its URL names, shared with every other
plugin on that URL and closed by the gateway. The stores keep only the log's schema and row
logic. Without a gateway (a script, a test) a store opens a private `Storage` and closes it with
itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol

from ..rollup import GRAIN

if TYPE_CHECKING:
    from bifrost_py.storage import Storage

    from ..rollup import Shape

# Why a write failed, as `Store.fault` tells the writer:
#   "row"      the store refused a value of some row (encoding, range, type, constraint): the
#              writer finds the row by splitting the batch and writes it escaped (or drops it)
#   "store"    the store is down, busy or full: the same batch is retried with back-off
#   "unknown"  retried a few times, then treated as "row", so no batch is retried forever
Fault = Literal["row", "store", "unknown"]
ROW: Fault = "row"
STORE: Fault = "store"
UNKNOWN: Fault = "unknown"


class Store(Protocol):
    """What the writer, the query API and the report need from a store."""

    dialect: str  # "sqlite" or "postgres": the few SQL expressions that differ are chosen by it
    grain: int  # seconds per bucket of the usage rollup (fixed when it is created)

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        """Write rows (tuples in `columns.NAMES` order) and add them to the usage rollup, in one
        transaction; their new ids."""
        ...

    def fault(self, error: Exception) -> Fault:
        """Whether `error`, raised by `insert`, is about the rows or about the store."""
        ...

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    async def delete_before(self, ts: float) -> int:
        """Delete rows that started before epoch `ts` (and take them out of the rollup); how
        many went."""
        ...

    async def rollup_ready(self, shape: Shape | None = None) -> bool:
        """The usage rollup (`rollup.py`; the main one, or `shape`) covers every row."""
        ...

    async def build_rollup_step(self) -> int | None:
        """Fold the next chunk of rows written before a rollup existed into it (every shape that
        has some); about how many are left (0: done), None when there was nothing to do."""
        ...


def python_fault(error: Exception) -> Fault | None:
    """What the drivers of both stores raise alike: Python's own errors while converting a
    row's values (a surrogate cannot be encoded, an int beyond 64 bits, a value of the wrong
    type), and the operating system's while talking to the store (refused, reset, timed out)."""
    if isinstance(error, (UnicodeError, OverflowError, TypeError)):
        return ROW
    if isinstance(error, (OSError, TimeoutError)):
        return STORE
    return None


def open_store(url: str, timezone: str = "UTC", storage: Storage | None = None) -> Store:
    """A store for `storage.logs` (not opened yet), on `storage` (the gateway's) or, when None,
    on a private one it closes itself. The time zone chooses the length of the usage rollup's
    buckets when it is created (`rollup.grain_for`)."""
    from ..rollup import grain_for

    grain = grain_for(timezone)
    if url.startswith(("postgresql://", "postgres://")):
        from .postgres import PostgresStore

        return PostgresStore(url, grain, storage)
    sqlite_path(url)  # a malformed URL is refused before anything opens
    from .sqlite import SQLiteStore

    return SQLiteStore(url, grain, storage)


def sqlite_path(url: str) -> str:
    """`sqlite:///bifrost.db` -> `bifrost.db` (relative), `sqlite:////var/x.db` -> `/var/x.db`."""
    if not url.startswith("sqlite:///") or len(url) <= len("sqlite:///"):
        raise ValueError(f"storage.logs: expected sqlite:///PATH, got {url!r}")
    return url[len("sqlite:///") :]


class SharedStore:
    """What both stores share: the database comes from a `Storage`, which the store closes only
    when it opened that storage itself; whether the rollup covers every row yet (an older
    database has it built in the background; remembered once true)."""

    dialect: str
    db: Any  # SQLiteDatabase or PostgresDatabase, once open

    def __init__(self, url: str, grain: int = GRAIN, storage: Storage | None = None) -> None:
        self.url = url
        self.grain = grain
        self._storage = storage
        self._own: Storage | None = None
        self._ready: set[int] = set()  # state ids of the rollups known to cover every row

    async def open(self) -> None:
        storage = self._storage
        if storage is None:
            from bifrost_py.storage import Storage

            storage = self._own = Storage()
        try:
            await self._open(storage)
        except BaseException:
            await self.close()
            raise

    async def _open(self, storage: Storage) -> None:
        raise NotImplementedError

    async def close(self) -> None:
        """Closes the database only if this store opened its own storage (else the gateway
        closes it, after every plugin's shutdown)."""
        own, self._own = self._own, None
        if own is not None:
            await own.close()

    async def rollup_ready(self, shape: Shape | None = None) -> bool:
        from ..rollup import MAIN, STATE

        state_id = (shape or MAIN).state_id
        if state_id not in self._ready:
            rows = await self.fetch(f"SELECT built_to, boundary FROM {STATE} WHERE id = ?", [state_id])
            if rows and rows[0]["built_to"] >= rows[0]["boundary"]:
                self._ready.add(state_id)
        return state_id in self._ready

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _built(self, progress: dict[int, tuple[int, int]]) -> int | None:
        """After a build step that folded, for each rollup's state id that had rows to fold,
        rows up to id `done` of `boundary` (empty: none had): about how many are left (ids, not
        rows: an estimate), None when none were."""
        from ..rollup import SHAPES

        if not progress:
            self._ready.update(shape.state_id for shape in SHAPES)
            return None
        for state_id, (done, boundary) in progress.items():
            if done >= boundary:
                self._ready.add(state_id)
        return sum(boundary - done for done, boundary in progress.values())


PRUNE_CHUNK = 5000
