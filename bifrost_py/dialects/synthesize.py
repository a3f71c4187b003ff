"""A complete Anthropic message replayed as the event stream the API would have sent for it
(cache hits and plugin replies are streamed this way to clients that asked for a stream)."""

from __future__ import annotations

from typing import Any

import orjson

TEXT_PIECE = 64  # characters per text delta: small enough to look like a live stream


def message_events(message: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (event, data) pairs of an Anthropic stream that carries exactly `message`."""
    usage = dict(message.get("usage") or {})
    start_usage = {**usage, "output_tokens": min(1, int(usage.get("output_tokens") or 0))}
    head = {key: value for key, value in message.items() if key not in ("content", "usage", "stop_reason", "stop_sequence")}
    events: list[tuple[str, dict[str, Any]]] = [
        ("message_start", {"type": "message_start", "message": {
            **head, "content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}}),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(message.get("content") or []):
        events.extend(_block_events(index, block))
    events.append(("message_delta", {
        "type": "message_delta",
        "delta": {"stop_reason": message.get("stop_reason"), "stop_sequence": message.get("stop_sequence")},
        "usage": {"output_tokens": int(usage.get("output_tokens") or 0)},
    }))
    events.append(("message_stop", {"type": "message_stop"}))
    return events


def _block_events(index: int, block: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    kind = block.get("type")
    if kind == "text":
        text = block.get("text") or ""
        start: dict[str, Any] = {"type": "text", "text": ""}
        deltas = [{"type": "text_delta", "text": text[i:i + TEXT_PIECE]} for i in range(0, len(text), TEXT_PIECE)]
    elif kind == "tool_use":
        start = {**block, "input": {}}
        deltas = [{"type": "input_json_delta", "partial_json": orjson.dumps(block.get("input") or {}).decode()}]
    elif kind == "thinking":
        start = {"type": "thinking", "thinking": ""}
        deltas = [{"type": "thinking_delta", "thinking": block.get("thinking") or ""}]
        if block.get("signature"):
            deltas.append({"type": "signature_delta", "signature": block["signature"]})
    else:
        start, deltas = block, []
    events = [("content_block_start", {"type": "content_block_start", "index": index, "content_block": start})]
    events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
    events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    return events
