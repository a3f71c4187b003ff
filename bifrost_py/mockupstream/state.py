"""What one mock server remembers: its options, the script queue, recorded requests, counters.

A `MockState` belongs to one app (`build_app`) or, for the in-process functions, to the process.
Nothing here does I/O; the server and the control endpoints read and change it.
"""

from __future__ import annotations

import hashlib
import random
from collections import deque
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from .faults import Directives

RECORD_LIMIT = 1000  # recorded requests kept (newest); bounds memory under benchmark load
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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

    def __post_init__(self) -> None:
        self.initial = replace(self.options)
        self.rng = random.Random(self.options.seed)

    def reset(self) -> None:
        """Forget everything: script, records, counters, cache prefixes; options as at start."""
        self.options = replace(self.initial)
        self.script.clear()
        self.records.clear()
        self.stats = Stats()
        self.seen_prefixes.clear()
        self.rng = random.Random(self.options.seed)
        self._ids = 0

    def update_options(self, changes: dict[str, Any]) -> None:
        """Change some options live; unknown names raise ValueError."""
        known = {f.name for f in fields(MockOptions)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown option(s): {', '.join(unknown)}")
        self.options = replace(self.options, **changes)
        if "seed" in changes:
            self.rng = random.Random(self.options.seed)

    def next_script(self) -> Directives | None:
        return self.script.popleft() if self.script else None

    def roll_failure(self) -> bool:
        rate = self.options.fail_rate
        return rate > 0 and self.rng.random() < rate

    def new_id(self, length: int) -> str:
        """A random-looking but reproducible id body (base62), unique within this state."""
        self._ids += 1
        seed = f"{self.options.seed}:{self._ids}".encode()
        number = int.from_bytes(hashlib.blake2b(seed).digest(), "big")  # 512 bits: 85 digits
        out = []
        for _ in range(length):
            number, digit = divmod(number, 62)
            out.append(_B62[digit])
        return "".join(out)
