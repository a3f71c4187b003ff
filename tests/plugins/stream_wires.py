"""Whole upstream streams of every provider dialect, for the tests of stream observers (the
cache's answer, the cost log's body): what they keep from the relay's bytes must be what they
kept from its events."""

from __future__ import annotations

import asyncio
import functools
import itertools
from typing import Any

from bifrost_py.dialects.sse import SSEDecoder
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.mockupstream import MockOptions, anthropic_stream, openai_stream
from bifrost_py.relay import StreamRelay
from bifrost_py.translation import stream_translator

TOOL = {"name": "lookup", "description": "Look a thing up",
        "input_schema": {"type": "object", "properties": {"q": {"type": "string"}, "n": {"type": "integer"}},
                         "required": ["q", "n"]}}


async def _collect(chunks: Any) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def _request(prompt: str, **extra: Any) -> dict[str, Any]:
    return {"model": "claude-sonnet-4-20250514", "max_tokens": 400, "stream": True,
            "messages": [{"role": "user", "content": prompt}], **extra}


def _translated(anthropic: bytes, target: str) -> bytes:
    """An Anthropic stream as another provider dialect would have sent it."""
    translator = stream_translator("anthropic", target, model="m-1", input_tokens=3, include_usage=True)
    return b"".join(translator.feed(event) for event in SSEDecoder().feed(anthropic)) + translator.finish()


@functools.cache
def wires() -> dict[str, tuple[str, bytes]]:
    """name -> (the provider's dialect, its whole stream), made once."""
    async def make() -> dict[str, tuple[str, bytes]]:
        text = await _collect(anthropic_stream(_request("tell me [[long:30]]"), MockOptions(seed=1)))
        tool = await _collect(anthropic_stream(_request("weather [[tool]] [[thinking]]", tools=[TOOL]),
                                               MockOptions(seed=1)))
        openai = await _collect(openai_stream({**_request("tell me [[long:30]]"),
                                               "stream_options": {"include_usage": True}}, MockOptions(seed=1)))
        return {
            "anthropic-text": ("anthropic", text),
            "anthropic-tool": ("anthropic", tool),
            "anthropic-crlf": ("anthropic", tool.replace(b"\n", b"\r\n")),
            "anthropic-unicode": ("anthropic", text.replace(b"Lorem", "L\u00f6rem \u2603".encode())),
            "openai": ("openai", openai),
            "gemini": ("gemini", _translated(tool, "gemini")),
            "responses": ("responses", _translated(tool, "responses")),
        }

    return asyncio.run(make())


class EventsOnly:
    """Shows `target` the stream as the relay showed every observer before `on_bytes`: each
    parsed event, through its `on_event`."""

    def __init__(self, target: Any) -> None:
        self.target = target

    def on_event(self, dialect: str, name: str | None, data: Any) -> None:
        self.target.on_event(dialect, name, data)


def relayed(dialect: str, chunks: list[bytes], observer: Any) -> bool:
    """Pass `chunks` through a passthrough relay watched by `observer`: False when the relay
    refused the stream (it ended in an error: nothing is stored or logged from it)."""
    relay = StreamRelay(dialect, None, hide_usage=False, observers=[observer])
    try:
        for chunk in chunks:
            relay.push(chunk)
    except MalformedAnswer:
        return False
    return True


def cut(data: bytes, offsets: list[int]) -> list[bytes]:
    edges = [0, *sorted(offsets), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]
