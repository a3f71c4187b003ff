"""The queue and batch writer: batches, the flush interval, a full queue dropping (and counting)
instead of waiting, retries, and the flush at close. Rows a store refuses are in
test_costlog_poison_writer.py."""

from __future__ import annotations

import asyncio
from typing import Any

import bifrost_costlog.writer as writer_module
import pytest
from bifrost_costlog.metrics import Metrics
from bifrost_costlog.settings import Settings
from bifrost_costlog.writer import BatchWriter
from prometheus_client import CollectorRegistry


class FakeStore:
    """Records batches; can be stalled (gate) or made to fail a number of times (as a store that
    is down fails: OSError)."""

    dialect = "sqlite"

    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[tuple[Any, ...]]] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self.failures = failures
        self.calls = 0
        self.next_id = 1

    async def insert(self, records: list[tuple[Any, ...]]) -> list[int]:
        self.calls += 1
        await self.gate.wait()
        if self.failures:
            self.failures -= 1
            raise OSError("disk on fire")
        self.batches.append(records)
        ids = list(range(self.next_id, self.next_id + len(records)))
        self.next_id += len(records)
        return ids

    def fault(self, error: Exception) -> str:
        return "store" if isinstance(error, OSError) else "row"

    @property
    def written(self) -> int:
        return sum(len(b) for b in self.batches)


def rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    return [{"request_id": f"req_{start + i}", "attempt": 1} for i in range(n)]


def make(store: FakeStore, **settings: Any) -> tuple[BatchWriter, Metrics, list[dict[str, Any]]]:
    metrics = Metrics(CollectorRegistry(), 10)
    published: list[dict[str, Any]] = []
    writer = BatchWriter(store, Settings(**settings), metrics, published.extend)  # type: ignore[arg-type]
    writer.start()
    return writer, metrics, published


async def until(condition: Any, rounds: int = 500) -> None:
    for _ in range(rounds):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition never became true")


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "RETRY_FIRST", 0.001)
    monkeypatch.setattr(writer_module, "RETRY_MAX", 0.002)


async def test_full_batches_go_at_once_and_the_rest_at_close() -> None:
    store = FakeStore()
    writer, _, published = make(store, batch_size=10, flush_interval=3600.0)
    writer.offer(rows(25))
    await until(lambda: store.written >= 20)
    await asyncio.sleep(0.05)
    assert [len(b) for b in store.batches] == [10, 10]   # the last 5 wait for the interval...
    await asyncio.wait_for(writer.close(), 10)            # ...or for the close, which does not wait
    assert [len(b) for b in store.batches] == [10, 10, 5]
    assert [r["id"] for r in published] == list(range(1, 26))


async def test_by_default_a_row_is_written_at_once_and_rows_queued_meanwhile_go_together() -> None:
    store = FakeStore()
    writer, _, published = make(store, batch_size=500)          # flush_interval 0: group commit
    store.gate.clear()                                           # the first write takes a while...
    writer.offer(rows(1))
    await until(lambda: store.calls == 1)                        # ...it started without waiting
    for i in range(7):
        writer.offer(rows(1, start=10 + i))                      # these arrive during that write
    store.gate.set()
    await until(lambda: store.written == 8)
    assert [len(b) for b in store.batches] == [1, 7]             # one transaction for the seven
    assert [r["request_id"] for r in published] == ["req_0"] + [f"req_{10 + i}" for i in range(7)]
    await writer.close()


async def test_a_partial_batch_goes_after_the_flush_interval() -> None:
    store = FakeStore()
    writer, metrics, _ = make(store, batch_size=500, flush_interval=0.02)
    writer.offer(rows(3))
    await until(lambda: store.written == 3)
    assert metrics.written._value.get() == 3
    await writer.close()


async def test_a_stalled_store_fills_the_queue_and_rows_are_dropped_not_waited_for() -> None:
    store = FakeStore()
    store.gate.clear()                                   # the store hangs
    writer, metrics, _ = make(store, batch_size=2, queue_size=5, flush_interval=0.001)
    writer.offer(rows(2))
    await until(lambda: store.calls == 1)                # the writer holds 2 rows, stuck in insert
    for i in range(20):
        writer.offer(rows(1, start=100 + i))             # returns at once every time
    assert len(writer.rows) == 5
    assert writer.dropped == 15
    assert metrics.dropped._value.get() == 15
    store.gate.set()
    await writer.close()
    assert store.written == 7                            # everything that was queued, nothing more


async def test_logged_bodies_are_bounded_in_bytes_too() -> None:
    store = FakeStore()
    store.gate.clear()                                   # the store hangs
    writer, metrics, _ = make(store, batch_size=1, queue_body_bytes=10_000, flush_interval=0.001)
    heavy = [{"request_id": f"req_{i}", "attempt": 1, "request_body": "x" * 3000, "response_body": "y" * 1000}
             for i in range(5)]
    writer.offer(heavy[:1])
    await until(lambda: store.calls == 1)                # the writer holds row 0, stuck in insert
    writer.offer(heavy[1:])                              # 4 KB each: two fit in 10 KB, two do not
    writer.offer(rows(3, start=100))                     # rows without bodies still fit
    assert [r["request_id"] for r in writer.rows] == ["req_1", "req_2", "req_100", "req_101", "req_102"]
    assert writer.dropped == 2 and metrics.dropped._value.get() == 2
    store.gate.set()
    await until(lambda: store.written == 6)
    assert writer.body_bytes == 0                        # written rows give their room back
    writer.offer(heavy[3:])
    assert writer.body_bytes == 8000
    await writer.close()
    assert store.written == 8


async def test_failed_writes_are_retried() -> None:
    store = FakeStore(failures=3)
    writer, metrics, _ = make(store, batch_size=4, flush_interval=0.001)
    writer.offer(rows(4))
    await until(lambda: store.written == 4)
    assert metrics.write_errors._value.get() == 3
    assert len(store.batches) == 1
    await writer.close()


async def test_close_gives_up_on_a_store_that_never_recovers() -> None:
    store = FakeStore(failures=10**6)
    writer, metrics, _ = make(store, batch_size=3, flush_interval=3600.0)
    writer.offer(rows(3))
    await asyncio.wait_for(writer.close(), 30)
    assert store.written == 0
    assert writer.dropped == 3 and metrics.dropped._value.get() == 3


async def test_close_with_nothing_queued_returns() -> None:
    writer, _, _ = make(FakeStore())
    await asyncio.wait_for(writer.close(), 10)
