"""The interface SQLite and PostgreSQL share, so that a plugin writes its SQL once.

Statements use `?` placeholders; the PostgreSQL database renumbers them to `$1, $2, ...`
(so SQL given to either must not hold a `?` inside a string literal or an operator). Both speak
`INSERT ... ON CONFLICT ... DO UPDATE`. Rows come back as objects that read by position and by
column name (`row[0]`, `row["meter"]`, `dict(row)`): sqlite3.Row and asyncpg.Record alike.

`write(fn)` is the one way to run several statements as one transaction: `fn` gets a
`Transaction`, the whole of it commits or rolls back (also when COMMIT itself fails), and it runs
to its end in a task of its own, so a caller cancelled half-way (a client hanging up, a shutdown)
never leaves a transaction open on the shared connection.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Literal, Protocol, TypeVar

T = TypeVar("T")
Dialect = Literal["sqlite", "postgres"]

_PLACEHOLDER = re.compile(r"\?")


class Row(Protocol):
    """One result row: by position or by column name; `dict(row)` gives {column: value}."""

    def __getitem__(self, key: int | str) -> Any: ...

    def __len__(self) -> int: ...

    def __iter__(self) -> Iterator[Any]: ...

    def keys(self) -> Any: ...


class Transaction(Protocol):
    """The statements of one `Database.write(fn)`, run on the connection that holds it."""

    async def execute(self, sql: str, *args: Any) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...


class Database(Protocol):
    """A SQL database opened through `gateway.storage`: shared by every plugin that named the
    same URL, closed by the gateway after every plugin's shutdown (never by a plugin)."""

    url: str
    dialect: Dialect

    async def execute(self, sql: str, *args: Any) -> int:
        """One statement, committed on its own; the number of rows it changed."""
        ...

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """The statement once per row, all in one transaction: every row or none."""
        ...

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        """Every row of a query (SQLite: on a reader connection, never queued behind a write)."""
        ...

    async def fetchone(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any:
        """The first column of the first row, or None when there is no row."""
        ...

    async def write(self, fn: Callable[[Transaction], Awaitable[T]]) -> T:
        """Run `fn(tx)` as one transaction, all or nothing, to its end even if the caller is
        cancelled meanwhile; its result, or its exception after the rollback. Inside `fn`, write
        through `tx` only: the database's own write methods wait for the transaction to end."""
        ...


def numbered(sql: str) -> str:
    """`?` placeholders as PostgreSQL's `$1, $2, ...`."""
    counter = iter(range(1, 1_000_000))
    return _PLACEHOLDER.sub(lambda _: f"${next(counter)}", sql)
