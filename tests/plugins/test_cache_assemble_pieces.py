"""A stored stream's pieces of text read all at once: the answer stored is byte for byte the one
the per-event path (every event shown to `on_event`) stores, for any Anthropic stream and split."""

from __future__ import annotations

import json
from typing import Any

import orjson
from bifrost_cache.assemble import StreamAnswer
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.plugins.stream_wires import EventsOnly, cut, relayed

TEXTS = st.lists(st.sampled_from(['a', ' ', '"', '\\', '}', '\u00e9', '\u2603', '\U0001f600', '\n', 'x',
                                  'event: ', 'data: {', '\t']), max_size=8).map("".join)
# Raw JSON string tokens a provider might send, valid or not (a lone surrogate, a bad escape).
RAW_TOKENS = st.sampled_from([b'"\\ud83d"', b'"\\ude00x"', b'"\\q"', b'"a\\u00e9"', b'"\\/"', b'"ok"', b'""'])
KINDS = {"text": ("text_delta", "text"), "thinking": ("thinking_delta", "thinking"),
         "tool_use": ("input_json_delta", "partial_json")}


def _delta_line(index: int, kind: str, token: bytes) -> bytes:
    dtype, field = KINDS[kind]
    return (b'{"type":"content_block_delta","index":' + str(index).encode() + b',"delta":{"type":"'
            + dtype.encode() + b'","' + field.encode() + b'":' + token + b'}}')


@st.composite
def events(draw: Any) -> list[tuple[str, bytes]]:
    """(event name, data line) of a plausible Anthropic stream, sometimes bent."""
    out: list[tuple[str, bytes]] = []
    if draw(st.booleans()) or draw(st.booleans()):
        out.append(("message_start", orjson.dumps({"type": "message_start", "message": {
            "id": "msg_1", "type": "message", "role": "assistant", "model": "m", "content": [],
            "stop_reason": None, "stop_sequence": None, "usage": {"input_tokens": 3, "output_tokens": 1}}})))
    blocks = draw(st.lists(st.sampled_from(list(KINDS)), min_size=0, max_size=3))
    body: list[tuple[str, bytes]] = []
    for index, kind in enumerate(blocks):
        start = {"text": {"type": "text", "text": ""}, "thinking": {"type": "thinking", "thinking": ""},
                 "tool_use": {"type": "tool_use", "id": "t", "name": "f", "input": {}}}[kind]
        body.append(("content_block_start", orjson.dumps({"type": "content_block_start", "index": index,
                                                          "content_block": start})))
    deltas: list[tuple[str, bytes]] = []
    for index, kind in enumerate(blocks):
        if kind == "tool_use":
            pieces = draw(st.sampled_from([['{"q":', ' "x"}'], ['{"a"', ':[1]}'], ['{'], []]))
            tokens = [orjson.dumps(p) for p in pieces]
        else:
            tokens = [orjson.dumps(t) for t in draw(st.lists(TEXTS, max_size=5))]
        if draw(st.booleans()):
            tokens.append(draw(RAW_TOKENS))
        deltas += [("content_block_delta", _delta_line(index, kind, t)) for t in tokens]
        if kind == "thinking" and draw(st.booleans()):
            deltas.append(("content_block_delta", orjson.dumps({"type": "content_block_delta", "index": index,
                                                                "delta": {"type": "signature_delta",
                                                                          "signature": "sig"}})))
    # Interleave blocks' deltas, keeping each block's own order.
    order = draw(st.permutations(range(len(deltas)))) if draw(st.booleans()) else list(range(len(deltas)))
    body += [deltas[i] for i in sorted(order)] if len(blocks) < 2 else _interleave(deltas, draw)
    body.append(("ping", b'{"type": "ping"}'))
    for index in range(len(blocks)):
        body.append(("content_block_stop", orjson.dumps({"type": "content_block_stop", "index": index})))
    out += body
    out.append(("message_delta", orjson.dumps({"type": "message_delta", "delta": {
        "stop_reason": draw(st.sampled_from(["end_turn", "tool_use", "max_tokens"])), "stop_sequence": None},
        "usage": {"output_tokens": 9}})))
    if draw(st.booleans()) or draw(st.booleans()):
        out.append(("message_stop", b'{"type":"message_stop"}'))
    return [_bent(name, data, draw) for name, data in out]


def _interleave(deltas: list[tuple[str, bytes]], draw: Any) -> list[tuple[str, bytes]]:
    keys = draw(st.lists(st.integers(0, 3), min_size=len(deltas), max_size=len(deltas)))
    return [d for _, d in sorted(zip(keys, deltas, strict=True), key=lambda pair: pair[0])]


def _bent(name: str, data: bytes, draw: Any) -> tuple[str, bytes]:
    """Now and then an event in another form: spaced JSON, keys reordered, a leading zero,
    an unknown type, an odd name, not JSON at all."""
    how = draw(st.sampled_from(["same"] * 12 + ["spaced", "reordered", "zero", "unknown", "name", "broken"]))
    if how == "spaced" and _parses(data):
        return name, json.dumps(orjson.loads(data)).encode()
    if how == "reordered" and _parses(data):
        return name, orjson.dumps(dict(reversed(list(orjson.loads(data).items()))))
    if how == "zero":
        return name, data.replace(b'"index":', b'"index":0', 1)
    if how == "unknown":
        return "mystery", b'{"type":"mystery","index":0,"delta":{"type":"text_delta","text":"no"}}'
    if how == "name":
        return "event: " + name, data
    if how == "broken":
        return name, data[:-1] + b",}"
    return name, data


def _parses(data: bytes) -> bool:
    try:
        return isinstance(orjson.loads(data), dict)
    except orjson.JSONDecodeError:
        return False


def _wire(stream: list[tuple[str, bytes]]) -> bytes:
    return b"".join(b"event: " + name.encode() + b"\ndata: " + data + b"\n\n" for name, data in stream)


def _per_event(wire: bytes) -> dict[str, Any] | None:
    answer = StreamAnswer()
    return answer.message() if relayed("anthropic", [wire], EventsOnly(answer)) else None


@settings(max_examples=600, deadline=None)
@given(stream=events(), data=st.data())
def test_pieces_read_at_once_store_what_each_event_stores(stream: list[tuple[str, bytes]], data: st.DataObject) -> None:
    wire = _wire(stream)
    chunks = cut(wire, data.draw(st.lists(st.integers(0, len(wire)), max_size=5), label="cuts"))
    expected = _per_event(wire)
    answer = StreamAnswer()
    got = answer.message() if relayed("anthropic", chunks, answer) else None
    assert (orjson.dumps(got) if got is not None else None) == (orjson.dumps(expected) if expected is not None else None)


def test_a_plain_text_stream_assembles_without_the_per_event_path() -> None:
    wire = _wire([
        ("message_start", orjson.dumps({"type": "message_start", "message": {"id": "m", "model": "m", "content": [],
                                                                             "usage": {"input_tokens": 1}}})),
        ("content_block_start", b'{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}'),
        ("content_block_delta", _delta_line(0, "text", orjson.dumps('say "hi" \\ \u2603'))),
        ("content_block_delta", _delta_line(0, "text", b'"\\u00e9"')),
        ("message_delta", b'{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}'),
        ("message_stop", b'{"type":"message_stop"}'),
    ])
    answer = StreamAnswer()
    answer.on_bytes("anthropic", wire)
    message = answer.message()
    assert message is not None and message["content"] == [{"type": "text", "text": 'say "hi" \\ \u2603\u00e9'}]
    assert message == _per_event(wire)
