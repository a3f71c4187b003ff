"""The cost of translating a stream, per chunk: what the relay spends on each event when the
client's dialect differs from the provider's (parse, translate, re-encode), vs. passthrough."""

from __future__ import annotations

import time

import orjson

from bifrost_py.dialects.sse import SSEEvent
from bifrost_py.dialects.synthesize import message_events
from bifrost_py.relay import UpstreamReader
from bifrost_py.translation import stream_translator

PIECES = 400
MESSAGE = {
    "id": "msg_bench", "type": "message", "role": "assistant", "model": "claude-sonnet-4-20250514",
    "content": [{"type": "text", "text": "word " * PIECES}], "stop_reason": "end_turn", "stop_sequence": None,
    "usage": {"input_tokens": 100, "output_tokens": PIECES},
}


def anthropic_events() -> list[SSEEvent]:
    events = []
    for name, data in message_events(MESSAGE):
        if name == "content_block_delta":  # one word per delta, like a live stream
            events += [SSEEvent(name, orjson.dumps({**data, "delta": {"type": "text_delta", "text": "word "}}).decode())
                       for _ in range(PIECES)]
        else:
            events.append(SSEEvent(name, orjson.dumps(data).decode()))
    return events


def responses_events() -> list[SSEEvent]:
    """The same answer as an OpenAI Responses API stream (what an openai provider sends Codex)."""
    translator = stream_translator("anthropic", "responses", model="gpt-4o", input_tokens=0, include_usage=False)
    wire = b"".join(translator.feed(event) for event in anthropic_events()) + translator.finish()
    return [SSEEvent(block[7:block.index(b"\n")].decode(), block[block.index(b"data: ") + 6:].decode())
            for block in wire.split(b"\n\n") if block.startswith(b"event: ")]


def gemini_events() -> list[SSEEvent]:
    """The same answer as a Gemini streamGenerateContent stream (what a gemini provider sends
    Gemini CLI)."""
    translator = stream_translator("anthropic", "gemini", model="gemini-2.5-pro", input_tokens=0, include_usage=False)
    wire = b"".join(translator.feed(event) for event in anthropic_events()) + translator.finish()
    return [SSEEvent(None, block[6:].decode()) for block in wire.split(b"\r\n\r\n") if block.startswith(b"data: ")]


def openai_events() -> list[SSEEvent]:
    translator = stream_translator("anthropic", "openai", model="gpt-4o", input_tokens=0, include_usage=True)
    wire = b"".join(translator.feed(event) for event in anthropic_events()) + translator.finish()
    return [SSEEvent(None, block[6:].decode()) for block in wire.split(b"\n\n") if block.startswith(b"data: ")]


def per_event(events: list[SSEEvent], source: str, target: str | None, rounds: int = 20) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        reader = UpstreamReader(source)
        wire = b"".join(f"event: {e.event}\ndata: {e.data}\n\n".encode() if e.event else f"data: {e.data}\n\n".encode()
                        for e in events)
        parsed = reader.read(wire)
        if target is not None:
            translator = stream_translator(source, target, model="m", input_tokens=100, include_usage=True)
            for event in parsed:
                translator.feed(event)
            translator.finish()
    return (time.perf_counter() - started) / rounds / len(events) * 1e6


def report() -> str:
    anthropic, openai, responses = anthropic_events(), openai_events(), responses_events()
    gemini = gemini_events()
    return (
        "stream cost per chunk (parse + usage read [+ translate + re-encode]): "
        f"anthropic passthrough {per_event(anthropic, 'anthropic', None):.1f} µs, "
        f"anthropic->openai {per_event(anthropic, 'anthropic', 'openai'):.1f} µs, "
        f"openai passthrough {per_event(openai, 'openai', None):.1f} µs, "
        f"openai->anthropic {per_event(openai, 'openai', 'anthropic'):.1f} µs, "
        f"responses passthrough {per_event(responses, 'responses', None):.1f} µs, "
        f"anthropic->responses {per_event(anthropic, 'anthropic', 'responses'):.1f} µs, "
        f"openai->responses {per_event(openai, 'openai', 'responses'):.1f} µs, "
        f"gemini passthrough {per_event(gemini, 'gemini', None):.1f} µs, "
        f"anthropic->gemini {per_event(anthropic, 'anthropic', 'gemini'):.1f} µs, "
        f"openai->gemini {per_event(openai, 'openai', 'gemini'):.1f} µs"
    )


if __name__ == "__main__":
    print(report())
