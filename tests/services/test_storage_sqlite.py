"""`gateway.storage` for SQLite: one writer per file shared by every plugin, transactions that are
all or nothing whatever happens to their caller, reads that never queue behind a write."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from bifrost_py.storage import SQLiteDatabase, Storage, StorageClosed, StorageUnavailable
from bifrost_py.storage import sqlite as sqlite_module


@pytest.fixture
async def storage(tmp_path: Path) -> Any:
    store = Storage(tmp_path)
    yield store
    await store.close()


async def _table(db: SQLiteDatabase) -> None:
    await db.execute("CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")


async def test_two_plugins_naming_one_file_share_one_database_closed_once(tmp_path: Path) -> None:
    store = Storage(tmp_path)
    first = await store.sqlite("sqlite:///data/x.db")
    second = await store.sql(f"sqlite:///{tmp_path}/data/x.db")  # the same file, named absolutely
    other = await store.sqlite("sqlite:///y.db")
    assert first is second
    assert other is not first
    assert first.path == str(tmp_path / "data" / "x.db")  # relative to the config's folder
    closes: list[str] = []
    for db in (first, other):
        real = db.close

        async def counted(real: Any = real, db: SQLiteDatabase = db) -> None:
            closes.append(db.path)
            await real()

        db.close = counted  # type: ignore[method-assign]
    await store.close()
    await store.close()
    assert sorted(closes) == sorted([first.path, other.path])
    with pytest.raises(StorageClosed):
        await first.execute("SELECT 1")
    with pytest.raises(StorageClosed):
        await store.sqlite("sqlite:///x.db")


async def test_the_file_is_in_wal_mode_with_normal_synchronous(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///w.db")
    assert await db.write_in_thread(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    assert await db.write_in_thread(lambda c: c.execute("PRAGMA synchronous").fetchone()[0]) == 1
    assert await db.write_in_thread(lambda c: c.execute("PRAGMA busy_timeout").fetchone()[0]) > 0


async def test_a_write_that_fails_half_way_leaves_nothing_and_no_open_transaction(storage: Storage,
                                                                                  tmp_path: Path) -> None:
    db = await storage.sqlite("sqlite:///t.db")
    await _table(db)

    async def half(tx: Any) -> None:
        await tx.execute("INSERT INTO t VALUES ('a', 1)")
        await tx.execute("INSERT INTO t VALUES ('b', NULL)")  # NOT NULL: fails

    with pytest.raises(sqlite3.IntegrityError):
        await db.write(half)
    assert await db.fetchval("SELECT count(*) FROM t") == 0
    other = sqlite3.connect(tmp_path / "t.db", isolation_level=None, timeout=0)
    other.execute("BEGIN IMMEDIATE")  # the write lock is free: nothing was left open
    other.execute("ROLLBACK")
    other.close()
    assert await db.execute("INSERT INTO t VALUES ('c', 3)") == 1  # the writer is usable


async def test_a_failed_commit_rolls_back(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///fk.db")
    await db.execute("PRAGMA foreign_keys=ON")
    await db.execute("CREATE TABLE p (id INTEGER PRIMARY KEY)")
    await db.execute("CREATE TABLE c (p INTEGER REFERENCES p(id) DEFERRABLE INITIALLY DEFERRED)")

    def orphan(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO c VALUES (42)")  # only checked at COMMIT

    with pytest.raises(sqlite3.IntegrityError):
        await db.write_in_thread(orphan)
    assert await db.fetchval("SELECT count(*) FROM c") == 0
    await db.execute("INSERT INTO p VALUES (1)")  # no transaction left open: this commits
    assert await db.fetchval("SELECT count(*) FROM p") == 1


async def test_a_cancelled_caller_cannot_cut_a_transaction(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///cancel.db")
    await _table(db)
    entered = asyncio.Event()

    async def slow(tx: Any) -> None:
        await tx.execute("INSERT INTO t VALUES ('a', 1)")
        entered.set()
        await asyncio.sleep(0.1)
        await tx.execute("INSERT INTO t VALUES ('b', 2)")

    caller = asyncio.create_task(db.write(slow))
    await entered.wait()
    caller.cancel()
    with pytest.raises(asyncio.CancelledError):
        await caller
    # The transaction went on to its end: both rows, committed, nothing left open.
    assert await db.execute("INSERT INTO t VALUES ('c', 3)") == 1
    assert [r["k"] for r in await db.fetch("SELECT k FROM t ORDER BY k")] == ["a", "b", "c"]


async def test_a_statement_that_leaves_begin_open_is_rolled_back(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///begin.db")
    await _table(db)
    with pytest.raises(Exception, match="left a transaction open"):
        await db.execute("BEGIN")
    assert await db.execute("INSERT INTO t VALUES ('a', 1)") == 1
    assert await db.fetchval("SELECT v FROM t WHERE k = 'a'") == 1


async def test_reads_do_not_wait_behind_a_write(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///read.db")
    await _table(db)
    await db.execute("INSERT INTO t VALUES ('a', 1)")
    holding = asyncio.Event()
    release = asyncio.Event()

    async def long_write(tx: Any) -> None:
        await tx.execute("UPDATE t SET v = 2")
        holding.set()
        await release.wait()

    writing = asyncio.create_task(db.write(long_write))
    await holding.wait()
    # The writer is inside its transaction; a read answers now, with the committed value.
    assert await asyncio.wait_for(db.fetchval("SELECT v FROM t"), 2) == 1
    release.set()
    await writing
    assert await db.fetchval("SELECT v FROM t") == 2


async def test_writes_of_two_plugins_are_serialized(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///serial.db")
    await db.execute("CREATE TABLE n (i INTEGER)")

    async def add(tx: Any) -> None:
        row = await tx.fetchone("SELECT count(*) FROM n")
        await asyncio.sleep(0)
        await tx.execute("INSERT INTO n VALUES (?)", row[0])

    await asyncio.gather(*(db.write(add) for _ in range(20)), *(db.execute("SELECT 1") for _ in range(20)))
    assert [r[0] for r in await db.fetch("SELECT i FROM n ORDER BY i")] == list(range(20))


async def test_executemany_is_all_or_nothing(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///many.db")
    await _table(db)
    with pytest.raises(sqlite3.IntegrityError):
        await db.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("a", 2)])
    assert await db.fetchval("SELECT count(*) FROM t") == 0
    await db.executemany("INSERT INTO t VALUES (?, ?)", [("a", 1), ("b", 2)])
    assert dict(await db.fetchone("SELECT * FROM t WHERE k = ?", "b") or {}) == {"k": "b", "v": 2}


async def test_a_busy_file_is_storage_unavailable(storage: Storage, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_module, "BUSY_TIMEOUT_MS", 50)
    db = await storage.sqlite("sqlite:///busy.db")
    await _table(db)
    other = sqlite3.connect(tmp_path / "busy.db", isolation_level=None)  # another process, say
    other.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StorageUnavailable) as caught:
            await db.execute("INSERT INTO t VALUES ('a', 1)")
        assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert await db.execute("INSERT INTO t VALUES ('a', 1)") == 1


async def test_functions_are_on_every_connection(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///fn.db")
    await db.create_function("test_double", 1, lambda x: x * 2)
    assert await db.fetchval("SELECT test_double(21)") == 42
    assert await db.write_in_thread(lambda c: c.execute("SELECT test_double(2)").fetchone()[0]) == 4


async def test_memory_databases_read_what_they_wrote(storage: Storage) -> None:
    db = await storage.sqlite("sqlite:///:memory:")
    await _table(db)
    await db.execute("INSERT INTO t VALUES ('a', 1)")
    assert await db.fetchval("SELECT v FROM t") == 1


async def test_close_waits_for_a_transaction_under_way(tmp_path: Path) -> None:
    store = Storage(tmp_path)
    db = await store.sqlite("sqlite:///close.db")
    await _table(db)
    entered = asyncio.Event()

    async def slow(tx: Any) -> None:
        entered.set()
        await asyncio.sleep(0.1)
        await tx.execute("INSERT INTO t VALUES ('late', 1)")

    writing = asyncio.create_task(db.write(slow))
    await entered.wait()
    await store.close()
    await writing
    check = sqlite3.connect(tmp_path / "close.db")
    assert check.execute("SELECT k FROM t").fetchall() == [("late",)]
    check.close()


def test_bad_urls_are_refused(tmp_path: Path) -> None:
    store = Storage(tmp_path)
    with pytest.raises(ValueError):
        store.sqlite_path("sqlite://relative.db")
    assert store.sqlite_path("sqlite:////abs/x.db") == "/abs/x.db"
    assert store.sqlite_path("plain.db") == str(tmp_path / "plain.db")
