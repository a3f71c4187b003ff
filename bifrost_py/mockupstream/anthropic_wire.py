"""The Anthropic Messages API on the wire, as api.anthropic.com sends it."""

from __future__ import annotations

from typing import Any

import orjson

from .answers import (
    Answer,
    Block,
    Prompt,
    ToolSpec,
    Usage,
    cache_blocks,
    estimate_tokens,
    json_bytes,
)
from .pacing import Event
from .wire import BadRequest, Ids, Reply

STOP_REASONS = {"end": "end_turn", "tool": "tool_use", "length": "max_tokens"}
ERROR_TYPES = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    402: ("billing_error", "Your credit balance is too low to access the Anthropic API."),
    403: (
        "permission_error",
        "Your API key does not have permission to use the specified resource.",
    ),
    404: ("not_found_error", "Not found"),
    408: ("timeout_error", "Request timed out"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", "Number of requests has exceeded your per-minute rate limit."),
    500: ("api_error", "Internal server error"),
    504: ("timeout_error", "Request timed out"),
    529: ("overloaded_error", "Overloaded"),
}
MODELS = (
    ("claude-opus-4-1-20250805", "Claude Opus 4.1", "2025-08-05T00:00:00Z"),
    ("claude-sonnet-4-5-20250929", "Claude Sonnet 4.5", "2025-09-29T00:00:00Z"),
    ("claude-sonnet-4-20250514", "Claude Sonnet 4", "2025-05-22T00:00:00Z"),
    ("claude-haiku-4-5-20251001", "Claude Haiku 4.5", "2025-10-01T00:00:00Z"),
    ("claude-3-5-haiku-20241022", "Claude Haiku 3.5", "2024-10-22T00:00:00Z"),
)

_PING = b'event: ping\ndata: {"type": "ping"}\n\n'  # sic: the real API puts a space here
_STOP = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
_DELTA = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":%d,"delta":{"type":"%s","%s":%s}}\n\n'
_DELTA_FIELDS = {
    "text": (b"text_delta", b"text"),
    "thinking": (b"thinking_delta", b"thinking"),
    "tool_use": (b"input_json_delta", b"partial_json"),
}
_BLOCK_STOP = b'event: content_block_stop\ndata: {"type":"content_block_stop","index":%d}\n\n'


def sse(event: str, data: Any) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicWire:
    name = "anthropic"
    request_id_header = "request-id"
    stream_content_type = "text/event-stream; charset=utf-8"

    def request_id(self, ids: Ids) -> str:
        return "req_011C" + ids.new_id(20)

    def message_id(self, ids: Ids) -> str:
        return "msg_01" + ids.new_id(22)

    def prompt(self, body: dict[str, Any]) -> Prompt:
        _validate(body)
        parts = _last_user_texts(body["messages"])
        system, messages, tools = (json_bytes(body.get(k)) for k in ("system", "messages", "tools"))
        prompt = Prompt(
            model=body["model"],
            text="\n".join(parts),
            focus=parts[-1] if parts else "",
            tools=_tool_specs(body.get("tools")),
            tool_choice=_tool_choice(body.get("tool_choice")),
            max_tokens=body["max_tokens"],
            thinking=_thinking_on(body.get("thinking")),
            input_tokens=estimate_tokens(system, messages, tools),
        )
        if "cache_control" in body or any(
            b'"cache_control"' in p for p in (system, messages, tools)
        ):
            prompt.cache_blocks, prompt.cache_upto = cache_blocks(body)
        return prompt

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def message(self, answer: Answer, reply: Reply) -> bytes:
        return orjson.dumps(
            {
                "id": reply.message_id,
                "type": "message",
                "role": "assistant",
                "model": reply.model,
                "content": [_content(block) for block in answer.blocks],
                "stop_reason": STOP_REASONS[answer.stop],
                "stop_sequence": None,
                "usage": usage_json(answer.usage, answer.usage.output_tokens),
            }
        )

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        start: dict[str, Any] = {
            "id": reply.message_id,
            "type": "message",
            "role": "assistant",
            "model": reply.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": usage_json(answer.usage, 1),
        }
        events = [Event(sse("message_start", {"type": "message_start", "message": start}))]
        for index, block in enumerate(answer.blocks):
            events.extend(_block_events(index, block))
            if index == 0:
                events.insert(2, Event(_PING))
        final = {
            "type": "message_delta",
            "delta": {"stop_reason": STOP_REASONS[answer.stop], "stop_sequence": None},
            "usage": _final_usage(answer.usage),
        }
        events.append(Event(sse("message_delta", final) + _STOP))
        return events

    def stream_error(self) -> Event:
        error = {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}
        return Event(sse("error", error))

    def error(
        self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None
    ) -> bytes:
        kind, usual = error_type(status)
        return orjson.dumps(
            {
                "type": "error",
                "error": {"type": kind, "message": message or usual},
                "request_id": request_id,
            }
        )


def error_type(status: int) -> tuple[str, str]:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return ERROR_TYPES[500] if status >= 500 else ERROR_TYPES[400]


def usage_json(usage: Usage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation,
        "cache_read_input_tokens": usage.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": usage.cache_creation,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _final_usage(usage: Usage) -> dict[str, int]:
    """message_delta usage: cumulative totals, input fields repeated as the current API does."""
    return {
        "input_tokens": usage.input_tokens,
        "cache_creation_input_tokens": usage.cache_creation,
        "cache_read_input_tokens": usage.cache_read,
        "output_tokens": usage.output_tokens,
    }


def _content(block: Block) -> dict[str, Any]:
    if block.kind == "text":
        return {"type": "text", "text": block.text}
    if block.kind == "thinking":
        return {"type": "thinking", "thinking": block.text, "signature": block.signature}
    return {
        "type": "tool_use",
        "id": "toolu_01" + block.ident[:22],
        "name": block.name,
        "input": orjson.loads(block.text),
    }


def _block_events(index: int, block: Block) -> list[Event]:
    started: dict[str, Any] = {"type": "text", "text": ""}
    if block.kind == "thinking":
        started = {"type": "thinking", "thinking": "", "signature": ""}
    elif block.kind == "tool_use":
        started = {
            "type": "tool_use",
            "id": "toolu_01" + block.ident[:22],
            "name": block.name,
            "input": {},
        }
    start = {"type": "content_block_start", "index": index, "content_block": started}
    events = [Event(sse("content_block_start", start))]
    kind, field = _DELTA_FIELDS[block.kind]
    events.extend(Event(_DELTA % (index, kind, field, orjson.dumps(p)), True) for p in block.pieces)
    if block.kind == "thinking":
        signature = {"type": "signature_delta", "signature": block.signature}
        delta = {"type": "content_block_delta", "index": index, "delta": signature}
        events.append(Event(sse("content_block_delta", delta)))
    events.append(Event(_BLOCK_STOP % index))
    return events


def _validate(body: dict[str, Any]) -> None:
    for name in ("model", "messages", "max_tokens"):
        if name not in body:
            raise BadRequest(f"{name}: Field required")
    if not isinstance(body["model"], str):
        raise BadRequest("model: Input should be a valid string")
    if not isinstance(body["messages"], list):
        raise BadRequest("messages: Input should be a valid list")
    if not isinstance(body["max_tokens"], int) or isinstance(body["max_tokens"], bool):
        raise BadRequest("max_tokens: Input should be a valid integer")


def _last_user_texts(messages: list[Any]) -> list[str]:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return content_texts(message.get("content"))
    return []


def content_texts(content: Any) -> list[str]:
    """Text blocks of a message, else the text of its tool results."""
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    blocks = [b for b in content if isinstance(b, dict)]
    texts = [
        b["text"] for b in blocks if b.get("type") == "text" and isinstance(b.get("text"), str)
    ]
    if texts:
        return texts
    return [
        t for b in blocks if b.get("type") == "tool_result" for t in content_texts(b.get("content"))
    ]


def _tool_specs(tools: Any) -> list[ToolSpec]:
    if not isinstance(tools, list):
        return []
    return [
        ToolSpec(t["name"], t.get("input_schema") or {})
        for t in tools
        if isinstance(t, dict) and isinstance(t.get("name"), str)
    ]


def _tool_choice(choice: Any) -> str | None:
    kind = choice.get("type") if isinstance(choice, dict) else None
    if kind == "any":
        return ""
    if kind == "tool":
        return str(choice.get("name", ""))
    return "none" if kind == "none" else None


def _thinking_on(thinking: Any) -> bool:
    return isinstance(thinking, dict) and thinking.get("type") in ("enabled", "adaptive")


WIRE = AnthropicWire()


def count_tokens(body: dict[str, Any]) -> int:
    """What /v1/messages/count_tokens answers: the same estimate a message call reports."""
    for name in ("model", "messages"):
        if name not in body:
            raise BadRequest(f"{name}: Field required")
    return estimate_tokens(*(json_bytes(body.get(k)) for k in ("system", "messages", "tools")))


def models_json() -> bytes:
    data = [{"type": "model", "id": i, "display_name": n, "created_at": c} for i, n, c in MODELS]
    return orjson.dumps(
        {"data": data, "has_more": False, "first_id": data[0]["id"], "last_id": data[-1]["id"]}
    )
