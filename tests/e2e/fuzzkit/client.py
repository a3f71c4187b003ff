"""A raw HTTP/1.1 client over asyncio sockets, for what no HTTP library will send or show.

aiohttp's and httpx's clients refuse header values with control characters or bytes that are not
UTF-8, and they hide how a response was framed. This one writes the request bytes as given and
reads the answer byte for byte: the status line, the headers, the body de-chunked, whether the
message ended properly, and whatever came after it (a second status line written inside a body
is exactly the bug a gateway must never have). One connection per request (`Connection: close`).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

CRLF = b"\r\n"
LIMIT = 64 * 1024 * 1024  # bytes read at most from one answer


@dataclass(slots=True)
class Request:
    method: str
    target: bytes  # path and query, as sent
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""

    def wire(self, host: bytes) -> bytes:
        lines = [self.method.encode() + b" " + self.target + b" HTTP/1.1", b"Host: " + host]
        names = {name.lower() for name, _ in self.headers}
        lines += [name + b": " + value for name, value in self.headers]
        if b"content-length" not in names and (self.body or self.method not in ("GET", "HEAD")):
            lines.append(b"Content-Length: " + str(len(self.body)).encode())
        lines.append(b"Connection: close")
        return CRLF.join(lines) + CRLF + CRLF + self.body

    def header(self, name: bytes) -> bytes | None:
        for key, value in self.headers:
            if key.lower() == name:
                return value
        return None


@dataclass(slots=True)
class Answer:
    """What came back. `status` None: no status line at all (closed, reset or timed out)."""

    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased, latin-1 values
    body: bytes = b""  # de-chunked
    complete: bool = False  # the message ended as its framing says (last chunk, full length)
    timed_out: bool = False  # no end within the time allowed: a hang, as a client sees it
    framing: str | None = None  # what was wrong with the framing, if something was
    trailing: bytes = b""  # bytes after the end of the message (should be none)
    seconds: float = 0.0

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";", 1)[0].strip().lower()

    def describe(self) -> str:
        head = f"{self.status} {self.content_type or '-'}"
        flags = [n for n, on in (("timed out", self.timed_out), ("incomplete", not self.complete)) if on]
        if self.framing:
            flags.append(self.framing)
        return f"{head} ({', '.join(flags)}) {self.body[:300]!r}" if flags else f"{head} {self.body[:300]!r}"


async def send(host: str, port: int, request: Request, timeout: float = 10.0) -> Answer:
    """Send `request` on a new connection and read the whole answer, or until `timeout`."""
    started = time.perf_counter()
    answer = Answer()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port, limit=LIMIT)
            try:
                writer.write(request.wire(f"{host}:{port}".encode()))
                await writer.drain()
                await _read_answer(reader, answer, request.method == "HEAD")
            finally:
                writer.close()
    except TimeoutError:
        answer.timed_out = True
    except (ConnectionError, OSError) as exc:
        answer.framing = answer.framing or f"connection error: {exc!r}"
    answer.seconds = time.perf_counter() - started
    return answer


async def _read_answer(reader: asyncio.StreamReader, answer: Answer, head_only: bool) -> None:
    try:
        head = await reader.readuntil(CRLF + CRLF)
    except asyncio.IncompleteReadError as exc:
        answer.framing = f"closed before the end of the headers ({len(exc.partial)} bytes)"
        return
    status_line, *header_lines = head[:-4].split(CRLF)
    parts = status_line.split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        answer.framing = f"not a status line: {status_line[:100]!r}"
        return
    answer.status = int(parts[1])
    for line in header_lines:
        name, _, value = line.partition(b":")
        answer.headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
    if head_only or answer.status in (204, 304) or 100 <= answer.status < 200:
        answer.complete = True
    elif "chunked" in answer.headers.get("transfer-encoding", "").lower():
        await _read_chunked(reader, answer)
    elif "content-length" in answer.headers:
        await _read_length(reader, answer, int(answer.headers["content-length"]))
    else:
        answer.body = await reader.read(LIMIT)  # ends at close: complete by definition
        answer.complete = True
    if answer.complete:
        try:
            answer.trailing = await reader.read(LIMIT)
        except ConnectionError:
            # A server that answered without reading a large body may reset the connection
            # while the client still sends it (nginx does the same): the message had ended.
            return
        if answer.trailing:
            answer.framing = f"{len(answer.trailing)} bytes after the end of the message"


async def _read_length(reader: asyncio.StreamReader, answer: Answer, length: int) -> None:
    try:
        answer.body = await reader.readexactly(length)
        answer.complete = True
    except asyncio.IncompleteReadError as exc:
        answer.body = exc.partial
        answer.framing = f"closed after {len(exc.partial)} of {length} bytes"


async def _read_chunked(reader: asyncio.StreamReader, answer: Answer) -> None:
    parts: list[bytes] = []
    try:
        while True:
            size_line = await reader.readuntil(CRLF)
            size_text = size_line[:-2].split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                answer.framing = f"bad chunk size line {size_line[:80]!r}"
                parts.append(size_line + await reader.read(LIMIT))
                return
            if size == 0:
                await reader.readuntil(CRLF)  # no trailers are sent: the empty line
                answer.complete = True
                return
            parts.append(await reader.readexactly(size))
            if await reader.readexactly(2) != CRLF:
                answer.framing = "a chunk not followed by CRLF"
                return
    except asyncio.IncompleteReadError as exc:
        parts.append(exc.partial)
        answer.framing = "closed before the last chunk"
    finally:
        answer.body = b"".join(parts)
