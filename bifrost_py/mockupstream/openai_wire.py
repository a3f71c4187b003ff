"""The OpenAI Chat Completions and Embeddings APIs on the wire, as api.openai.com sends them."""

from __future__ import annotations

import base64
import hashlib
import math
import sys
from array import array
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

FINISH_REASONS = {"end": "stop", "tool": "tool_calls", "length": "length"}
FINGERPRINT = "fp_mock0000"
EMBEDDING_DIMENSIONS = 64
ERROR_TYPES = {
    400: ("invalid_request_error", None, "Invalid request."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", None, "You are not allowed to sample from this model."),
    404: (
        "invalid_request_error",
        "model_not_found",
        "The model does not exist or you do not have access to it.",
    ),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again later.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    503: ("server_error", None, "The server is overloaded or not ready yet."),
}
MODELS = (
    ("gpt-4o", 1715367049),
    ("gpt-4o-mini", 1721172741),
    ("gpt-4.1", 1744316542),
    ("o3-mini", 1737146383),
    ("text-embedding-3-small", 1705948997),
    ("text-embedding-3-large", 1705953180),
)
NO_KEY = (
    "You didn't provide an API key. You need to provide your API key in an Authorization header "
    "using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
)
_DONE = b"data: [DONE]\n\n"


class OpenAIWire:
    name = "openai"
    request_id_header = "x-request-id"
    stream_content_type = "text/event-stream; charset=utf-8"

    def request_id(self, ids: Ids) -> str:
        return "req_" + ids.new_id(32)

    def message_id(self, ids: Ids) -> str:
        return "chatcmpl-" + ids.new_id(29)

    def prompt(self, body: dict[str, Any]) -> Prompt:
        _validate(body)
        parts = _last_turn_texts(body["messages"])
        messages, tools = json_bytes(body["messages"]), json_bytes(body.get("tools"))
        limit = body.get("max_completion_tokens", body.get("max_tokens"))
        prompt = Prompt(
            model=body["model"],
            text="\n".join(parts),
            focus=parts[-1] if parts else "",
            tools=_tool_specs(body.get("tools")),
            tool_choice=_tool_choice(body.get("tool_choice")),
            max_tokens=limit if isinstance(limit, int) else None,
            input_tokens=estimate_tokens(messages, tools),
        )
        if b'"cache_control"' in messages or b'"cache_control"' in tools:
            prompt.cache_blocks, prompt.cache_upto = cache_blocks(body)
        return prompt

    def wants_stream(self, body: dict[str, Any]) -> bool:
        return body.get("stream") is True

    def message(self, answer: Answer, reply: Reply) -> bytes:
        text = "".join(b.text for b in answer.blocks if b.kind == "text")
        message: dict[str, Any] = {
            "role": "assistant",
            "content": text or None,
            "refusal": None,
            "annotations": [],
        }
        calls = [_tool_call(b) for b in answer.blocks if b.kind == "tool_use"]
        if calls:
            message["tool_calls"] = calls
        choice = {
            "index": 0,
            "message": message,
            "logprobs": None,
            "finish_reason": FINISH_REASONS[answer.stop],
        }
        return orjson.dumps(
            {
                "id": reply.message_id,
                "object": "chat.completion",
                "created": reply.created,
                "model": reply.model,
                "choices": [choice],
                "usage": usage_json(answer.usage, _reasoning(answer)),
                "service_tier": "default",
                "system_fingerprint": FINGERPRINT,
            }
        )

    def stream(self, answer: Answer, reply: Reply, body: dict[str, Any]) -> list[Event]:
        options = body.get("stream_options")
        with_usage = isinstance(options, dict) and options.get("include_usage") is True
        chunk = _Chunks(reply, with_usage)
        blocks = [b for b in answer.blocks if b.kind != "thinking"]
        has_text = any(b.kind == "text" for b in blocks)
        first = {"role": "assistant", "content": "" if has_text else None, "refusal": None}
        events = [Event(chunk.delta(first))]
        calls = 0
        for block in blocks:
            if block.kind == "text":
                events.extend(Event(chunk.content(p), True) for p in block.pieces)
                continue
            head = {
                "index": calls,
                "id": "call_" + block.ident,
                "type": "function",
                "function": {"name": block.name, "arguments": ""},
            }
            events.append(Event(chunk.delta({"tool_calls": [head]})))
            events.extend(Event(chunk.arguments(calls, p), True) for p in block.pieces)
            calls += 1
        tail = chunk.finish(FINISH_REASONS[answer.stop])
        if with_usage:
            tail += chunk.usage(answer.usage, _reasoning(answer))
        events.append(Event(tail + _DONE))
        return events

    def stream_error(self) -> Event:
        error = {
            "message": "The server is overloaded or not ready yet.",
            "type": "server_error",
            "param": None,
            "code": None,
        }
        return Event(b"data: " + orjson.dumps({"error": error}) + b"\n\n")

    def error(
        self, status: int, message: str | None, request_id: str, bad: BadRequest | None = None
    ) -> bytes:
        kind, code, usual = error_type(status)
        param = bad.param if bad else None
        code = bad.code if bad else code
        return orjson.dumps(
            {"error": {"message": message or usual, "type": kind, "param": param, "code": code}}
        )


class _Chunks:
    """chat.completion.chunk lines of one stream; the constant part is rendered once."""

    def __init__(self, reply: Reply, with_usage: bool) -> None:
        head = {
            "id": reply.message_id,
            "object": "chat.completion.chunk",
            "created": reply.created,
            "model": reply.model,
            "service_tier": "default",
            "system_fingerprint": FINGERPRINT,
        }
        self._head = b"data: " + orjson.dumps(head)[:-1]
        self._tail = b',"usage":null}\n\n' if with_usage else b"}\n\n"

    def _choice(self, delta: bytes, finish: bytes = b"null") -> bytes:
        return (
            self._head
            + b',"choices":[{"index":0,"delta":'
            + delta
            + b',"logprobs":null,"finish_reason":'
            + finish
            + b"}]"
            + self._tail
        )

    def delta(self, delta: dict[str, Any]) -> bytes:
        return self._choice(orjson.dumps(delta))

    def content(self, piece: str) -> bytes:
        return self._choice(b'{"content":' + orjson.dumps(piece) + b"}")

    def arguments(self, index: int, piece: str) -> bytes:
        return self._choice(
            b'{"tool_calls":[{"index":%d,"function":{"arguments":%s}}]}'
            % (index, orjson.dumps(piece))
        )

    def finish(self, reason: str) -> bytes:
        return self._choice(b"{}", b'"' + reason.encode() + b'"')

    def usage(self, usage: Usage, reasoning: int) -> bytes:
        body = orjson.dumps(usage_json(usage, reasoning))
        return self._head + b',"choices":[],"usage":' + body + b"}\n\n"


def _reasoning(answer: Answer) -> int:
    """Thinking pieces: not sent in this dialect, but counted, as OpenAI counts reasoning."""
    return sum(len(b.pieces) for b in answer.blocks if b.kind == "thinking")


def usage_json(usage: Usage, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.output_tokens,
        "total_tokens": usage.prompt_tokens + usage.output_tokens,
        "prompt_tokens_details": {"cached_tokens": usage.cache_read, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def error_type(status: int) -> tuple[str, str | None, str]:
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    return ERROR_TYPES[500] if status >= 500 else ERROR_TYPES[400]


def _tool_call(block: Block) -> dict[str, Any]:
    return {
        "id": "call_" + block.ident,
        "type": "function",
        "function": {"name": block.name, "arguments": block.text},
    }


def _validate(body: dict[str, Any]) -> None:
    if not isinstance(body.get("model"), str):
        raise BadRequest("you must provide a model parameter")
    if "messages" not in body:
        raise BadRequest(
            "Missing required parameter: 'messages'.", "messages", "missing_required_parameter"
        )
    if not isinstance(body["messages"], list):
        raise BadRequest(
            "Invalid type for 'messages': expected an array.", "messages", "invalid_type"
        )


def _last_turn_texts(messages: list[Any]) -> list[str]:
    """Text parts of the last user or tool message (a tool result is the user's turn)."""
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") in ("user", "tool"):
            return _content_texts(message.get("content"))
    return []


def _content_texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return [
        p["text"]
        for p in content
        if isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
    ]


def _tool_specs(tools: Any) -> list[ToolSpec]:
    if not isinstance(tools, list):
        return []
    functions = [t.get("function") for t in tools if isinstance(t, dict)]
    return [
        ToolSpec(f["name"], f.get("parameters") or {})
        for f in functions
        if isinstance(f, dict) and isinstance(f.get("name"), str)
    ]


def _tool_choice(choice: Any) -> str | None:
    if choice == "required":
        return ""
    if choice == "none":
        return "none"
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict):
        return str(choice["function"].get("name", ""))
    return None


# ---- embeddings ------------------------------------------------------------------------------


def embedding_inputs(body: dict[str, Any]) -> list[str]:
    """Each input as text (token arrays as their JSON); raises BadRequest when invalid."""
    if not isinstance(body.get("model"), str):
        raise BadRequest("you must provide a model parameter")
    raw = body.get("input")
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, list) and raw and all(isinstance(x, int) for x in raw):
        return [orjson.dumps(raw).decode()]
    if isinstance(raw, list) and raw and all(isinstance(x, (str, list)) for x in raw):
        return [x if isinstance(x, str) else orjson.dumps(x).decode() for x in raw]
    raise BadRequest("'$.input' is invalid. Please check the API reference.", "input", None)


def embeddings(body: dict[str, Any], inputs: list[str]) -> bytes:
    dims = body.get("dimensions") or EMBEDDING_DIMENSIONS
    if not isinstance(dims, int) or dims <= 0:
        raise BadRequest(
            "Invalid value for 'dimensions': must be a positive integer.", "dimensions", None
        )
    as_base64 = body.get("encoding_format") == "base64"
    data = []
    for index, text in enumerate(inputs):
        vector = unit_vector(text, dims)
        embedding: Any = _base64(vector) if as_base64 else vector
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    tokens = sum(max(1, estimate_tokens(t.encode())) for t in inputs)
    return orjson.dumps(
        {
            "object": "list",
            "data": data,
            "model": body["model"],
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
    )


def unit_vector(text: str, dims: int) -> list[float]:
    """A deterministic unit vector from a hash of the text (equal texts, equal vectors)."""
    values = array("h", hashlib.shake_256(text.encode()).digest(2 * dims))
    if sys.byteorder == "big":
        values.byteswap()
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return [v / norm for v in values]


def _base64(vector: list[float]) -> str:
    packed = array("f", vector)
    if sys.byteorder == "big":
        packed.byteswap()
    return base64.b64encode(packed.tobytes()).decode("ascii")


def models_json() -> bytes:
    return orjson.dumps(
        {
            "object": "list",
            "data": [
                {"id": name, "object": "model", "created": created, "owned_by": "system"}
                for name, created in MODELS
            ],
        }
    )


WIRE = OpenAIWire()
