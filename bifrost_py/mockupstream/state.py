"""What one mock server remembers: its options, the script queue, recorded requests, counters.

A `MockState` belongs to one app (`build_app`) or, for the in-process functions, to the process.
Nothing here does I/O; the server and the control endpoints read and change it.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections import deque
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .faults import Directives

RECORD_LIMIT = 1000  # recorded requests kept (newest); bounds memory under benchmark load
_B62 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_TO_B62 = bytes(_B62[i % 62] for i in range(256))  # byte -> base62 digit (bias is harmless)


@dataclass(slots=True)
class MockOptions:
    """How the mock behaves when no marker or script says otherwise."""

    latency: float = 0.0  # seconds before the response starts
    tokens_per_second: float = 0  # 0 = no pacing between stream chunks
    fail_rate: float = 0.0  # probability that a model request fails with fail_status
    fail_status: int = 529
    retry_after: float | None = None  # seconds, sent as `retry-after` on 429 and 5xx
    seed: int | None = None  # seeds fail_rate draws and generated ids


@dataclass(slots=True)
class Stats:
    requests: int = 0
    streams_started: int = 0
    streams_completed: int = 0
    streams_cancelled: int = 0  # the client went away before the end
    streams_cut: int = 0  # the mock itself cut the stream ([[cut:N]])
    in_flight: int = 0

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(slots=True)
class Record:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def as_dict(self) -> dict[str, Any]:
        import base64

        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": self.headers,
            "body": self.body.decode("utf-8", "replace"),
            "body_base64": base64.b64encode(self.body).decode("ascii"),
        }


@dataclass(slots=True)
class MockState:
    options: MockOptions = field(default_factory=MockOptions)
    initial: MockOptions = field(init=False)
    script: deque[Directives] = field(default_factory=deque)
    records: deque[Record] = field(default_factory=lambda: deque(maxlen=RECORD_LIMIT))
    stats: Stats = field(default_factory=Stats)
    seen_prefixes: set[bytes] = field(default_factory=set)
    rng: random.Random = field(init=False)
    _ids: int = 0
    _salt: str = ""

    def __post_init__(self) -> None:
        self.initial = replace(self.options)
        self._reseed()

    def _reseed(self) -> None:
        """Seeded: repeatable draws and ids. Unseeded: different ones in every process."""
        seed = self.options.seed
        self.rng = random.Random(seed)
        self._salt = str(seed) if seed is not None else os.urandom(8).hex()

    def reset(self) -> None:
        """Forget everything: script, records, counters, cache prefixes; options as at start."""
        self.options = replace(self.initial)
        self.script.clear()
        self.records.clear()
        self.stats = Stats()
        self.seen_prefixes.clear()
        self._reseed()
        self._ids = 0

    def update_options(self, changes: dict[str, Any]) -> None:
        """Change some options live; unknown names raise ValueError."""
        known = {f.name for f in fields(MockOptions)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        self.options = replace(self.options, **changes)
        if "seed" in changes:
            self._reseed()

    def next_script(self) -> Directives | None:
        return self.script.popleft() if self.script else None

    def roll_failure(self) -> bool:
        rate = self.options.fail_rate
        return rate > 0 and self.rng.random() < rate

    def new_id(self, length: int) -> str:
        """A random-looking but reproducible id body (base62, up to 64 characters)."""
        self._ids += 1
        digest = hashlib.blake2b(f"{self._salt}:{self._ids}".encode()).digest()
        return digest.translate(_TO_B62)[:length].decode("ascii")
