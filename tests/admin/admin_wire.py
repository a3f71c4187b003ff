"""Raw HTTP/1.1 over a socket, for what aiohttp's client will not send: bytes that are not UTF-8
in a header, a NUL or `..%2f` in a path exactly as written, and for seeing every byte a server
wrote (a second status line inside a body shows only there)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import orjson
from yarl import URL


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)   # names lower-cased
    body: bytes = b""
    raw: bytes = b""

    def json(self) -> object:
        return orjson.loads(self.body)


async def exchange(base: str, method: str, target: bytes, headers: dict[str, bytes] | None = None,
                   body: bytes = b"") -> Answer:
    """Send one request with `target` byte for byte; read until the server closes."""
    url = URL(base)
    reader, writer = await asyncio.open_connection(url.host, url.port)
    lines = [method.encode() + b" " + target + b" HTTP/1.1", b"Host: " + f"{url.host}:{url.port}".encode(),
             b"Connection: close", b"Content-Length: " + str(len(body)).encode()]
    lines += [name.encode() + b": " + value for name, value in (headers or {}).items()]
    writer.write(b"\r\n".join(lines) + b"\r\n\r\n" + body)
    await writer.drain()
    raw = await asyncio.wait_for(reader.read(), 30)
    writer.close()
    return parse(raw)


def parse(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return Answer(int(status_line.split(" ")[1]), headers, body, raw)


def dechunk(data: bytes) -> bytes:
    """The chunks that arrived whole (a stream cut off mid-way simply ends)."""
    out = b""
    while data:
        size_line, sep, rest = data.partition(b"\r\n")
        if not sep:
            break
        size = int(size_line.split(b";")[0] or b"0", 16)
        if size == 0 or len(rest) < size:
            break
        out, data = out + rest[:size], rest[size + 2:]
    return out
