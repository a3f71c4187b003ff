"""One fuzz session: the mock upstream and the gateway on an event loop of their own, requests sent
one at a time from hypothesis' (synchronous) examples, and the record of what came back.

    with Session.open(tmp_path) as session:
        problems = session.one(case)      # what is wrong with this answer ([] when nothing)
        session.finish()                  # afterwards: holds and log rows (problems as well)

The test asserts on `one`'s problems; bench/fuzz.py keeps going and prints `report()`: a
histogram of statuses per endpoint and every failure, grouped by class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import orjson

from bifrost_py.testing import RunningGateway, running_gateway, running_mock_upstream

from .cases import Case
from .client import Answer, send
from .verdict import problems
from .world import ADMIN, Audit, Ledger, gateway_config

EXAMPLES_KEPT = 3  # requests shown per failure class


class GatewayErrors(logging.Handler):
    """Counts what the gateway logged as its own failures (ERROR and above), by message."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        kind = f"{type(exc).__name__}: {str(exc)[:80]}" if exc is not None else ""
        self.seen[f"{record.name}: {record.getMessage()[:80]} {kind}".strip()] += 1


@dataclass
class Session:
    loop: asyncio.AbstractEventLoop
    gateway: RunningGateway
    stack: contextlib.AsyncExitStack
    http: aiohttp.ClientSession
    admin_routes: list[tuple[str, str]]
    ledger: Ledger = field(default_factory=Ledger)
    statuses: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    failures: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: Counter[str] = field(default_factory=Counter)
    answers: dict[str, tuple[int, int, str]] = field(default_factory=dict)  # id -> (status, attempts, label)
    logged: GatewayErrors = field(default_factory=GatewayErrors)
    timeout: float = 15.0

    @classmethod
    @contextlib.contextmanager
    def open(cls, workdir: Path) -> Iterator[Session]:
        loop = asyncio.new_event_loop()
        stack = contextlib.AsyncExitStack()
        try:
            session = loop.run_until_complete(cls._start(loop, stack, workdir))
            logging.getLogger().addHandler(session.logged)
            try:
                yield session
            finally:
                logging.getLogger().removeHandler(session.logged)
        finally:
            loop.run_until_complete(stack.aclose())
            loop.close()

    @classmethod
    async def _start(cls, loop: asyncio.AbstractEventLoop, stack: contextlib.AsyncExitStack,
                     workdir: Path) -> Session:
        upstream = await stack.enter_async_context(running_mock_upstream())
        config = gateway_config(upstream.url, f"sqlite:///{workdir}/fuzz-logs.db")
        gateway = await stack.enter_async_context(running_gateway(config))
        http = await stack.enter_async_context(aiohttp.ClientSession())
        async with http.get(gateway.url + "/api/openapi.json", headers=ADMIN) as response:
            document = orjson.loads(await response.read())
        routes = sorted((method.upper(), path.removeprefix("/api"))
                        for path, operations in document["paths"].items() for method in operations)
        # The live log is an EventSource: it never ends, by design.
        routes = [(method, "/api" + path) for method, path in routes if path != "/logs/stream"]
        return cls(loop, gateway, stack, http, routes)

    @property
    def port(self) -> int:
        return int(self.gateway.url.rsplit(":", 1)[1])

    def one(self, case: Case) -> list[str]:
        """Send one request; record and return what is wrong with its answer."""
        answer = self.loop.run_until_complete(send("127.0.0.1", self.port, case.request, self.timeout))
        found = problems(case, answer)
        self.statuses[case.label][str(answer.status) if answer.status else "none"] += 1
        request_id = answer.headers.get("x-bf-request-id")
        # A successful count_tokens is free and changes nothing: by design it leaves no log row
        # (docs/costs-and-logs.md); a refused one does.
        counted = answer.status == 200 and "/count_tokens" in case.label
        if case.model_endpoint and request_id and answer.status is not None and not counted:
            self.ledger.note(request_id, case.describe())
            attempts = answer.headers.get("x-bf-attempts", "1")
            seen = answer.status if answer.content_type != "text/event-stream" else 0  # 0: a stream
            self.answers[request_id] = (seen, int(attempts) if attempts.isdigit() else 1, case.label)
        for problem in found:
            key = f"{problem.split(':', 1)[0]}: {answer.status}: {gist(answer)}"
            self.record(key, f"{problem}\n[{case.label}] {case.describe()}\n  -> {answer.describe()}")
        return found

    def record(self, key: str, example: str) -> None:
        self.counts[key] += 1
        if len(self.failures[key]) < EXAMPLES_KEPT:
            self.failures[key].append(example)

    def finish(self) -> list[str]:
        """After the run: in-flight holds left on any entity, and requests without exactly one
        log row (or whose row's status is not the one the client saw)."""
        return self.loop.run_until_complete(self._finish())

    async def _finish(self) -> list[str]:
        audit = Audit(self.gateway.url, self.http)
        found = [f"leaked-hold: {entity}: {', '.join(holds)}" for entity, holds in (await audit.holds()).items()]
        rows = await audit.rows_of(self.ledger.request_ids)
        for request_id, kept in rows.items():
            seen, attempts, label = self.answers.get(request_id, (0, 1, "?"))
            final = [row for row in kept if row.get("final")]
            if len(kept) != max(1, attempts) or len(final) != 1:  # 0 attempts: one row all the same
                problem = (f"log-rows: {len(kept)} log rows ({len(final)} final) for a request of {attempts} "
                           f"attempt(s): {label} -> {seen or 'a stream'}")
            elif not final[0].get("status") or (seen and final[0]["status"] != seen):
                problem = (f"log-status: row status {final[0].get('status')!r}, the client saw {seen or 'a stream'}: "
                           f"{label}")
            else:
                continue
            found.append(problem)
            self.record(problem, f"{request_id} {kept}\n{self.ledger.described[request_id]}")
        for problem in found:
            if problem.startswith("leaked-hold"):
                self.record(problem, "")
        self.ledger = Ledger()  # the next check covers only the requests sent after this one
        return found

    def report(self) -> str:
        lines = ["status histogram per endpoint:"]
        for label in sorted(self.statuses):
            counted = self.statuses[label]
            shown = "  ".join(f"{status}:{n}" for status, n in sorted(counted.items()))
            lines.append(f"  {label:<58} {shown}")
        total = sum(sum(c.values()) for c in self.statuses.values())
        fives = sum(n for c in self.statuses.values() for s, n in c.items() if s.startswith("5"))
        lines.append(f"requests: {total}, gateway 5xx: {fives}, failures: {sum(self.counts.values())}")
        for key, count in self.counts.most_common():
            lines.append(f"\n== {count} x {key}")
            lines += [f"  {example}".replace("\n", "\n  ") for example in self.failures[key]]
        if self.logged.seen:
            lines.append("\nthe gateway logged these errors:")
            lines += [f"  {n:6d} x {message}" for message, n in self.logged.seen.most_common(30)]
        return "\n".join(lines)


def gist(answer: Answer) -> str:
    """The answer's error message (or first bytes) with numbers and quoted names blanked, so
    that alike failures group together."""
    text = answer.body[:200].decode("utf-8", "replace").split("\n", 1)[0].split(":", 1)[0]
    try:
        data = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        text = str(data["error"].get("message"))
    text = re.sub(r"'[^']*'|\"[^\"]*\"", "'…'", text)
    return re.sub(r"\d+", "N", text).replace("\n", " ")[:90]
