"""What the core tests share: plugins that write down what the gateway did with them, a raw
HTTP client that shows the bytes as they came, and a tiny upstream that answers whatever a test
tells it to (for the answers the mock upstream cannot give: a 200 that is not JSON).

The plugins are the instrument of the settling tests. A `Probe` notes `name.pre#N` when its
`pre_attempt` is entered, `name.post#N:STATUS` when its `post_attempt` runs and `name.end` at
`request_end`; a `Hold` counts like governance's budget hold (+1 in pre, -1 in post). Whatever
happened to a call, `settled()` must find the post hooks of exactly the plugins whose pre hook
was entered, in reverse order, one `request_end` per plugin after all of them, and no hold left.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from bifrost_py import hookimpl
from bifrost_py.context import Attempt, Call, Outcome, Reply

ANTHROPIC_HEADERS = [(b"content-type", b"application/json"), (b"anthropic-version", b"2023-06-01")]
OPENAI_HEADERS = [(b"content-type", b"application/json")]
WAIT = 5.0  # seconds a test waits for something the gateway must do before calling it a hang
CRLF = b"\r\n"

PreHook = Callable[[Attempt], Awaitable[Reply | None]]


def message(text: str = "hello", *, model: str = "claude-sonnet-4", stream: bool = False,
            **extra: Any) -> dict[str, Any]:
    """A request body valid in both dialects (max_tokens is required by Anthropic's)."""
    return {"model": model, "max_tokens": 50, "stream": stream,
            "messages": [{"role": "user", "content": text}], **extra}


# ----------------------------------------------------------------------------- the journal


@dataclass
class Seen:
    """What one post hook saw of an attempt's outcome (copied: the objects live on)."""

    plugin: str
    number: int
    status: int
    error: str | None
    client_disconnected: bool
    completed: bool
    first_byte_sent: bool
    streamed: bool


class Journal:
    """Every hook call of every probe, in order, and a way to wait for one to happen."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.seen: list[Seen] = []
        self.calls: list[Call] = []
        self._changed = asyncio.Event()

    def add(self, event: str) -> None:
        self.events.append(event)
        self._changed.set()
        self._changed = asyncio.Event()

    async def until(self, done: Callable[[], bool], timeout: float = WAIT) -> None:
        """Return once `done()` holds; fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while not done():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"gave up waiting; journal so far: {self.events}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def ended(self, plugins: int, calls: int = 1) -> None:
        """Wait until every plugin's request_end ran for `calls` calls."""
        await self.until(lambda: sum(e.endswith(".end") for e in self.events) >= plugins * calls)

    def posts(self, number: int = 1) -> list[Seen]:
        return [s for s in self.seen if s.number == number]


class Probe:
    """Writes down its hooks; its pre hook then does what the test asked (`pre`)."""

    def __init__(self, name: str, journal: Journal, pre: PreHook | None = None) -> None:
        self.name = name
        self.journal = journal
        self.pre = pre

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> Reply | None:
        self.journal.add(f"{self.name}.pre#{attempt.number}")
        return await self.pre(attempt) if self.pre is not None else None

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        outcome: Outcome = attempt.outcome
        self.journal.seen.append(Seen(
            self.name, attempt.number, outcome.status, type(outcome.error).__name__ if outcome.error else None,
            outcome.client_disconnected, outcome.completed, outcome.first_byte_sent, outcome.streamed,
        ))
        self.journal.add(f"{self.name}.post#{attempt.number}:{outcome.status}")

    @hookimpl
    async def bifrost_request_end(self, call: Call) -> None:
        if self.name == "first":
            self.journal.calls.append(call)
        self.journal.add(f"{self.name}.end")


class Hold(Probe):
    """Governance's budget hold in miniature: taken in pre, given back in post."""

    def __init__(self, journal: Journal, name: str = "hold") -> None:
        super().__init__(name, journal)
        self.held = 0

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Attempt) -> Reply | None:
        self.journal.add(f"{self.name}.pre#{attempt.number}")
        self.held += 1
        return None

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Attempt) -> None:
        # Settling awaits I/O in real plugins (a database, Redis): give the loop away a few times,
        # so that a core that did not wait for post hooks would let request_end overtake them.
        for _ in range(5):
            await asyncio.sleep(0)
        self.held -= 1
        await Probe.bifrost_post_attempt(self, attempt)


@dataclass
class Lineup:
    """The plugins of a settling test, in configured order: first, hold, actor, last."""

    journal: Journal
    hold: Hold
    plugins: list[Probe] = field(default_factory=list)

    @property
    def names(self) -> list[str]:
        return [p.name for p in self.plugins]


def lineup(pre: PreHook | None = None) -> Lineup:
    journal = Journal()
    hold = Hold(journal)
    plugins = [Probe("first", journal), hold, Probe("actor", journal, pre), Probe("last", journal)]
    return Lineup(journal, hold, plugins)


def settled(line: Lineup, attempts: int = 1) -> list[int | None]:
    """Check the settling rules on the journal; the status the post hooks of each attempt saw
    (None for an attempt no pre hook was entered for)."""
    events = line.journal.events
    numbers = {int(e.rsplit("#", 1)[1]) for e in events if ".pre#" in e}
    assert numbers <= set(range(1, attempts + 1)), f"more attempts than {attempts}: {events}"
    statuses: list[int | None] = []
    for n in range(1, attempts + 1):
        entered = [e.split(".")[0] for e in events if e.endswith(f".pre#{n}")]
        posted = [e.split(".")[0] for e in events if f".post#{n}:" in e]
        assert posted == list(reversed(entered)), f"attempt {n}: pre {entered}, post {posted}"
        seen = {s.status for s in line.journal.posts(n)}
        assert len(seen) <= 1, f"attempt {n}: post hooks saw statuses {seen}"
        status = seen.pop() if seen else None
        assert status is None or status >= 200, f"attempt {n}: post_attempt saw status {status}"
        statuses.append(status)
    ends = [e for e in events if e.endswith(".end")]
    assert ends == [f"{name}.end" for name in reversed(line.names)], f"request_end calls: {ends}"
    last_post = max((i for i, e in enumerate(events) if ".post#" in e), default=-1)
    assert last_post < events.index(ends[0]), f"a post hook ran after request_end: {events}"
    assert line.hold.held == 0, f"{line.hold.held} hold(s) left after the call"
    return statuses


# ----------------------------------------------------------------------------- raw HTTP


@dataclass
class RawAnswer:
    """An answer as bytes: one status line, headers, the body de-chunked, and whether the
    message ended as its framing says. `rest` is whatever came after its end (must be nothing)."""

    status: int
    headers: dict[str, str]
    body: bytes
    complete: bool
    rest: bytes
    raw: bytes

    @property
    def status_lines(self) -> int:
        """How many HTTP status lines the connection carried (a second one is a broken answer)."""
        return self.raw.count(b"HTTP/1.1 ") + self.raw.count(b"HTTP/1.0 ")

    def json(self) -> Any:
        return orjson.loads(self.body)


def request_bytes(path: str, body: bytes, headers: list[tuple[bytes, bytes]], method: str = "POST") -> bytes:
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    lines += [b"Content-Length: " + str(len(body)).encode(), b"Connection: close"]
    return CRLF.join(lines) + CRLF + CRLF + body


class RawConnection:
    """One connection to a server, written and read as bytes (aiohttp's client will not send a
    header byte that is not UTF-8, and hides how an answer was framed)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.received = b""

    @classmethod
    async def open(cls, url: str) -> RawConnection:
        host, port = url.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def read_until(self, marker: bytes, timeout: float = WAIT) -> bytes:
        """Everything received so far, once `marker` is in it."""
        async with asyncio.timeout(timeout):
            while marker not in self.received:
                chunk = await self.reader.read(65536)
                if not chunk:
                    raise AssertionError(f"connection closed before {marker!r}: {self.received!r}")
                self.received += chunk
        return self.received

    async def read_to_eof(self, timeout: float = WAIT) -> RawAnswer:
        """Read until the server closes the connection (a hang fails the test)."""
        async with asyncio.timeout(timeout):
            while chunk := await self.reader.read(65536):
                self.received += chunk
        return parse_answer(self.received)

    def close(self) -> None:
        self.writer.close()


async def raw_post(url: str, path: str, body: bytes, headers: list[tuple[bytes, bytes]]) -> RawAnswer:
    connection = await RawConnection.open(url)
    try:
        await connection.send(request_bytes(path, body, headers))
        return await connection.read_to_eof()
    finally:
        connection.close()


def parse_answer(raw: bytes) -> RawAnswer:
    head, _, rest = raw.partition(CRLF + CRLF)
    status_line, *lines = head.split(CRLF)
    headers: dict[str, str] = {}
    for line in lines:
        name, _, value = line.partition(b":")
        headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    status = int(status_line.split(b" ")[1])
    if "chunked" in headers.get("transfer-encoding", ""):
        body, complete, rest = _dechunk(rest)
    elif "content-length" in headers:
        length = int(headers["content-length"])
        body, complete, rest = rest[:length], len(rest) >= length, rest[length:]
    else:
        body, complete, rest = rest, True, b""
    return RawAnswer(status, headers, body, complete, rest, raw)


def _dechunk(data: bytes) -> tuple[bytes, bool, bytes]:
    parts = []
    while True:
        size_line, sep, data = data.partition(CRLF)
        if not sep:
            return b"".join(parts), False, size_line
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            return b"".join(parts), False, size_line + CRLF + data
        if size == 0:
            return b"".join(parts), data.startswith(CRLF), data[2:]
        if len(data) < size + 2:
            parts.append(data)
            return b"".join(parts), False, b""
        parts.append(data[:size])
        data = data[size + 2:]


def sse_events(body: bytes) -> list[tuple[str | None, Any]]:
    """(event name, parsed data) of every event of a stream body; [DONE], and data that is not
    JSON, as the string (`not_json` finds those)."""
    from bifrost_py.dialects.sse import SSEDecoder

    decoder = SSEDecoder()
    found: list[tuple[str | None, Any]] = []
    for event in decoder.feed(body) + decoder.close():
        try:
            found.append((event.event, orjson.loads(event.data)))
        except orjson.JSONDecodeError:
            found.append((event.event, event.data))
    return found


def not_sse(body: bytes) -> list[bytes]:
    """The lines of a stream body that are no SSE field (event, data, id, retry, a comment)."""
    allowed = (b"event:", b"data:", b"id:", b"retry:", b":")
    return [line for line in body.split(b"\n") if line.strip(b"\r") and not line.startswith(allowed)]


def not_json(events: list[tuple[str | None, Any]]) -> list[str]:
    """The data of events that a client could not parse (not JSON, and not [DONE])."""
    return [data for _, data in events if isinstance(data, str) and data != "[DONE]"]


# ----------------------------------------------------------------------------- a scripted upstream


@dataclass
class Canned:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})


@dataclass
class ScriptedUpstream:
    """Answers each POST with the next `Canned` answer (the last one repeats), and keeps the
    requests. For what the mock upstream will not say: a 200 whose body is not JSON, a
    count_tokens that fails."""

    url: str
    answers: list[Canned]
    requests: list[tuple[str, bytes]] = field(default_factory=list)


@contextlib.asynccontextmanager
async def scripted_upstream(*answers: Canned) -> AsyncIterator[ScriptedUpstream]:
    upstream = ScriptedUpstream("", list(answers))

    async def handle(request: web.Request) -> web.Response:
        upstream.requests.append((request.path, await request.read()))
        canned = upstream.answers.pop(0) if len(upstream.answers) > 1 else upstream.answers[0]
        return web.Response(status=canned.status, body=canned.body, headers=canned.headers)

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    upstream.url = f"http://127.0.0.1:{port}"
    try:
        yield upstream
    finally:
        await runner.cleanup()
