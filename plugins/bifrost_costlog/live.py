"""New log rows for live views (`/api/logs/stream`): the writer publishes each written batch,
and every open stream has a small queue of its own.

A subscriber that does not keep up loses rows rather than slowing the writer: it is told how
many it missed (an SSE `lagged` event) and can page the gap through /api/logs.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable

from .rows import Row

SUBSCRIBER_QUEUE = 1000


class Subscriber:
    def __init__(self, accepts: Callable[[Row], bool]) -> None:
        self.accepts = accepts
        self.rows: collections.deque[Row] = collections.deque()
        self.missed = 0
        self.ready = asyncio.Event()

    def offer(self, rows: list[Row]) -> None:
        for row in rows:
            if not self.accepts(row):
                continue
            if len(self.rows) >= SUBSCRIBER_QUEUE:
                self.missed += 1
            else:
                self.rows.append(row)
        if self.rows or self.missed:
            self.ready.set()

    def take(self) -> tuple[list[Row], int]:
        """Everything queued, and how many rows were missed since the last take."""
        rows, missed = list(self.rows), self.missed
        self.rows.clear()
        self.missed = 0
        self.ready.clear()
        return rows, missed


class LiveHub:
    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        self.closed = asyncio.Event()

    def publish(self, rows: list[Row]) -> None:
        for subscriber in self.subscribers:
            subscriber.offer(rows)

    def subscribe(self, accepts: Callable[[Row], bool]) -> Subscriber:
        subscriber = Subscriber(accepts)
        self.subscribers.add(subscriber)
        if self.closed.is_set():
            subscriber.ready.set()
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)

    def close(self) -> None:
        """The gateway is stopping: open streams end."""
        self.closed.set()
        for subscriber in self.subscribers:
            subscriber.ready.set()
