"""Rows a store refuses: the writer writes the rest of the batch, writes the refused row once more
with its values made storable (or drops and counts it), and goes on; it never retries one batch
forever. With a store that refuses chosen rows, and with the real SQLite and PostgreSQL stores."""

from __future__ import annotations

import asyncio
import math
from typing import Any

import bifrost_costlog.writer as writer_module
import pytest
from bifrost_costlog.metrics import Metrics
from bifrost_costlog.settings import Settings
from bifrost_costlog.stores import Store, open_store
from bifrost_costlog.writer import UNKNOWN_RETRIES, BatchWriter
from prometheus_client import CollectorRegistry

SURROGATE_UA = "curl\udcff/8.0"  # what aiohttp makes of a User-Agent holding the byte 0xff


class Refusing:
    """Refuses a batch holding a text with a surrogate (as the drivers do) or a request id in
    `refuse`, with `error`; counts inserts."""

    dialect = "sqlite"

    def __init__(self, refuse: set[str] | None = None, error: Exception | None = None, kind: str = "row") -> None:
        self.refuse = refuse or set()
        self.error = error or ValueError("value refused")
        self.kind = kind
        self.rows: list[tuple[Any, ...]] = []
        self.inserts = 0

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        self.inserts += 1
        for rec in records:
            if rec[0] in self.refuse:
                raise self.error
            for value in rec:
                if isinstance(value, str):
                    value.encode()  # UnicodeEncodeError for a surrogate
        first = len(self.rows) + 1
        self.rows.extend(records)
        return list(range(first, first + len(records)))

    def fault(self, error: Exception) -> str:
        if isinstance(error, OSError):
            return "store"
        return "row" if isinstance(error, UnicodeError) else self.kind


def rows(n: int, start: int = 0, **fields: Any) -> list[dict[str, Any]]:
    return [{"request_id": f"req_{start + i}", "attempt": 1, "final": True, "ts": 1_780_000_000.0 + i, "status": 200,
             "model": "claude-sonnet-4-20250514", "input_tokens": 10, **fields} for i in range(n)]


def make(store: Any, **settings: Any) -> tuple[BatchWriter, Metrics, list[dict[str, Any]]]:
    metrics = Metrics(CollectorRegistry(), 10)
    published: list[dict[str, Any]] = []
    writer = BatchWriter(store, Settings(**settings), metrics, published.extend)
    writer.start()
    return writer, metrics, published


def settle(writer: BatchWriter, count: int) -> Any:
    """Until `count` rows are written, escaped or dropped (a second at most)."""

    async def wait() -> None:
        while writer.written + writer.unwritable + writer.dropped < count:
            await asyncio.sleep(0.005)

    return asyncio.wait_for(wait(), 1.0)


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETRY_FIRST", 0.001)
    monkeypatch.setattr(writer_module, "RETRY_MAX", 0.002)


async def test_a_row_with_a_surrogate_is_written_escaped_and_the_rest_of_its_batch_as_it_is() -> None:
    store = Refusing()
    writer, metrics, published = make(store, batch_size=64, flush_interval=3600.0)
    batch = rows(64)
    batch[37]["client_app"] = SURROGATE_UA
    writer.offer(batch)
    await writer.close()                                  # the batch goes at close
    assert [r[0] for r in store.rows] == [f"req_{i}" for i in range(64)]   # all, in order
    assert store.rows[37][-3] == "curl\\xff/8.0"        # client_app, escaped
    assert published[37]["client_app"] == "curl\\xff/8.0" and published[37]["id"] == 38
    assert metrics.rows_escaped._value.get() == 1 and metrics.rows_unwritable._value.get() == 0
    assert store.inserts <= 2 + 2 * math.ceil(math.log2(64)) + 1   # halving, not one insert per row


async def test_a_row_refused_even_escaped_is_dropped_and_counted_and_the_writer_goes_on() -> None:
    store = Refusing(refuse={"req_3"})
    writer, metrics, _ = make(store, batch_size=8, flush_interval=0.001)
    writer.offer(rows(8))
    await settle(writer, 8)
    assert sorted(r[0] for r in store.rows) == sorted(f"req_{i}" for i in range(8) if i != 3)
    assert writer.unwritable == 1 and metrics.rows_unwritable._value.get() == 1
    writer.offer(rows(5, start=100))                      # later rows are written as usual
    await settle(writer, 13)
    assert len(store.rows) == 12
    await asyncio.wait_for(writer.close(), 5)


async def test_a_store_that_is_down_gets_the_whole_batch_again_not_split() -> None:
    store = Refusing(refuse={"req_0"}, error=ConnectionRefusedError("connection refused"))
    writer, metrics, _ = make(store, batch_size=4, flush_interval=0.001)
    writer.offer(rows(4))
    while store.inserts < 20:
        await asyncio.sleep(0.005)
    assert store.rows == [] and writer.unwritable == 0   # nothing split off, nothing given up
    store.refuse.clear()                                  # the store is back
    await settle(writer, 4)
    assert [r[0] for r in store.rows] == [f"req_{i}" for i in range(4)]
    assert metrics.rows_escaped._value.get() == 0
    await asyncio.wait_for(writer.close(), 5)


async def test_an_error_of_unknown_kind_is_retried_a_few_times_then_the_batch_is_split() -> None:
    store = Refusing(refuse={"req_2"}, error=RuntimeError("something odd"), kind="unknown")
    writer, _, _ = make(store, batch_size=4, flush_interval=0.001)
    writer.offer(rows(4))
    await settle(writer, 4)
    assert sorted(r[0] for r in store.rows) == ["req_0", "req_1", "req_3"]
    assert writer.unwritable == 1
    # 1 + UNKNOWN_RETRIES tries of the batch, then [0, 1] ok, [2, 3] refused, [2] refused, its
    # escaped copy refused, [3] ok.
    assert store.inserts == 1 + UNKNOWN_RETRIES + 5
    await asyncio.wait_for(writer.close(), 5)


async def test_a_value_no_column_takes_is_written_as_null() -> None:
    store = Refusing()
    writer, metrics, _ = make(store, batch_size=4, flush_interval=0.001)
    batch = rows(3)
    batch[1]["cost_usd"] = "a lot"                        # float() of it fails before the store
    writer.offer(batch)
    await settle(writer, 3)
    assert [r[0] for r in store.rows] == ["req_0", "req_1", "req_2"]
    assert metrics.rows_escaped._value.get() == 1
    await asyncio.wait_for(writer.close(), 5)


# ----------------------------------------------------------------------------- real stores


@pytest.fixture
async def real_store(logs_url: str) -> Any:
    store = open_store(logs_url)
    await store.open()
    try:
        yield store
    finally:
        await store.close()


async def test_real_stores_write_a_poisoned_batch(real_store: Store) -> None:
    writer, metrics, published = make(real_store, batch_size=50, flush_interval=3600.0)
    batch = rows(50, session_id="s-1")
    batch[5]["client_app"] = SURROGATE_UA                 # both drivers: UnicodeEncodeError
    batch[20]["session_id"] = "abc\x00def"                # PostgreSQL: invalid byte sequence 0x00
    batch[33]["input_tokens"] = 2**70                     # both: beyond a 64-bit integer
    batch[34]["model"] = "m\udce9\udcff"                  # and in a column of the usage rollup
    writer.offer(batch)
    await asyncio.wait_for(writer.close(), 10)
    stored = await real_store.fetch("SELECT request_id, client_app, session_id, input_tokens, model FROM request_log ORDER BY id")
    assert [r["request_id"] for r in stored] == [f"req_{i}" for i in range(50)]
    assert stored[5]["client_app"] == "curl\\xff/8.0"
    assert stored[20]["session_id"] == ("abc\\x00def" if real_store.dialect == "postgres" else "abc\x00def")
    assert stored[33]["input_tokens"] is None and stored[34]["model"] == "m\\xe9\\xff"
    assert stored[0]["input_tokens"] == 10
    refused = 3 + (real_store.dialect == "postgres")
    assert metrics.rows_escaped._value.get() == refused and writer.unwritable == 0
    assert [r["id"] for r in published] == sorted(r["id"] for r in published)
    totals = await real_store.fetch("SELECT SUM(attempts) AS attempts FROM request_log_rollup")
    assert totals[0]["attempts"] == 50                    # the usage rollup has every row


async def test_refused_rows_are_logged_at_most_every_few_seconds(caplog: pytest.LogCaptureFixture) -> None:
    store = Refusing()
    writer, metrics, _ = make(store, batch_size=20, flush_interval=3600.0)
    writer.offer(rows(20, client_app=SURROGATE_UA))
    await asyncio.wait_for(writer.close(), 5)
    assert metrics.rows_escaped._value.get() == 20 and len(store.rows) == 20
    refused = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(refused) == 1 and "req_0" in refused[0].getMessage()
