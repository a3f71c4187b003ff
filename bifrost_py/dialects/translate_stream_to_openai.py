"""Streams, Anthropic Messages SSE events -> OpenAI chat.completion.chunk objects.

The translator is fed one upstream event at a time and returns the chunks to send on, so the
relay loop never holds a whole answer. It keeps `usage` (the four Anthropic usage keys) up to
date for billing, also when the stream ends early. After the end (or an error) it returns
nothing. The other direction is `translate_stream_to_anthropic.py`.

An Anthropic `error` event is translated, not raised: it becomes an OpenAI `{"error": ...}` chunk
(what the OpenAI SDK raises on) and ends the translated stream. An event that is not Anthropic's
shape (not an object, a field of the wrong type, usage that is not a token count) raises
`MalformedAnswer`, and nothing else does; the core then ends the client's stream.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from .fields import ANSWER as F
from .translate_errors import openai_error_type
from .translate_response import (
    anthropic_counts,
    empty_usage,
    openai_completion_id,
    openai_finish_reason,
    usage_to_openai,
)
from .usage import ANTHROPIC_DELTA_REQUIRED, ANTHROPIC_REQUIRED, upstream_error

JSON = dict[str, Any]


def _block_index(data: JSON, where: str) -> int:
    index = F.opt_int(data, "index", where)
    return 0 if index is None else index


@dataclass(slots=True)
class _ToolBlock:
    """An Anthropic tool_use block on its way to becoming an OpenAI tool call."""

    index: int  # the OpenAI tool_calls index
    input: Any
    sent: bool = False


class AnthropicStreamToOpenAI:
    """Anthropic events -> OpenAI chunks: the role first, then content and tool_calls deltas, one
    finish_reason chunk, and with `include_usage` a last chunk with `choices: []` and usage.
    Thinking goes out as `delta.reasoning_content`; `ping` and server tool blocks are dropped."""

    def __init__(
        self, *, model: str, include_usage: bool, completion_id: str | None = None
    ) -> None:
        self.model = model
        self.include_usage = include_usage
        self.usage: JSON = empty_usage()
        self._id = completion_id
        self._created = int(time.time())
        self._started = False
        self._finished_choice = False
        self._done = False
        self._tools: dict[int, _ToolBlock] = {}

    def feed(self, event: str, data: object) -> list[JSON]:
        """Translate one upstream event (its `event:` name and parsed `data:`)."""
        if self._done:
            return []
        if not isinstance(data, dict):  # F.an_object, inline: every event passes here
            raise F.fail(event or "event", "an object")
        kind = data.get("type")
        if not isinstance(kind, str) or not kind:
            kind = F.opt_str(data, "type", event) or event
        if kind == "message_start":
            return self._message_start(F.opt_object(data, "message", kind) or {})
        if kind == "error":
            return [self._error(upstream_error(data.get("error")))]
        if kind == "message_stop":
            return self.finish()
        handler = self._HANDLERS.get(kind)
        if handler is None:  # ping, and event types newer than this code
            return []
        return self._ensure_started() + handler(self, data)

    def finish(self) -> list[JSON]:
        """End of upstream: the finish_reason chunk if none went out, then usage; once."""
        if self._done:
            return []
        chunks = self._ensure_started()
        if not self._finished_choice:
            reason = "tool_calls" if self._tools else "stop"
            chunks.append(self._chunk({}, reason))
        if self.include_usage:
            chunks.append(self._usage_chunk())
        self._done = True
        return chunks

    def _message_start(self, message: JSON) -> list[JSON]:
        self._id = self._id or openai_completion_id(message.get("id"))
        self._take_usage(message.get("usage"), "message_start.message.usage")
        return self._ensure_started()

    def _ensure_started(self) -> list[JSON]:
        if self._started:
            return []
        self._started = True
        self._id = self._id or openai_completion_id(None)
        return [self._chunk({"role": "assistant", "content": ""})]

    def _take_usage(self, usage: object, where: str, required: frozenset[str] = ANTHROPIC_REQUIRED) -> None:
        """Anthropic usage counts are running totals; a missing key keeps its last value."""
        self.usage.update(anthropic_counts(usage, where, required))

    def _error(self, error: JSON) -> JSON:
        self._done = True
        return {
            "error": {
                "message": error.get("message") or "",
                "type": openai_error_type(error.get("type")),
                "code": error.get("type"),
            }
        }

    def _block_start(self, data: JSON) -> list[JSON]:
        block = F.opt_object(data, "content_block", "content_block_start") or {}
        kind = block.get("type")
        where = "content_block_start.content_block"
        if kind == "tool_use":
            return [self._tool_start(_block_index(data, "content_block_start"), block)]
        text = F.opt_str(block, "text", where) if kind == "text" else None
        if text:
            return [self._chunk({"content": text})]
        thinking = F.opt_str(block, "thinking", where) if kind == "thinking" else None
        if thinking:
            return [self._chunk({"reasoning_content": thinking})]
        return []

    def _tool_start(self, block_index: int, block: JSON) -> JSON:
        """The first fragment of an OpenAI tool call carries its id and name."""
        where = "content_block_start.content_block"
        tool = self._tools[block_index] = _ToolBlock(len(self._tools), block.get("input"))
        function = {"name": F.opt_str(block, "name", where), "arguments": ""}
        call = {
            "index": tool.index,
            "id": F.opt_str(block, "id", where),
            "type": "function",
            "function": function,
        }
        return self._chunk({"tool_calls": [call]})

    def _block_delta(self, data: JSON) -> list[JSON]:
        delta = F.opt_object(data, "delta", "content_block_delta") or {}
        kind = delta.get("type")
        where = "content_block_delta.delta"
        if kind == "text_delta":
            text = delta.get("text")
            if text and isinstance(text, str):  # the common case, without a call
                return [self._chunk({"content": text})]
            return [self._chunk({"content": text})] if F.opt_str(delta, "text", where) else []
        if kind == "thinking_delta":
            thinking = F.opt_str(delta, "thinking", where)
            return [self._chunk({"reasoning_content": thinking})] if thinking else []
        if kind != "input_json_delta":
            return []
        tool = self._tools.get(_block_index(data, "content_block_delta"))
        fragment = F.opt_str(delta, "partial_json", where)
        if tool is None or not fragment:
            return []
        tool.sent = True
        return [self._arguments(tool, fragment)]

    def _block_stop(self, data: JSON) -> list[JSON]:
        """A tool that streamed no argument fragments still needs JSON arguments."""
        tool = self._tools.get(_block_index(data, "content_block_stop"))
        if tool is None or tool.sent:
            return []
        tool.sent = True
        arguments = F.dumps(F.an_object(tool.input or {}, "content_block_start.content_block.input"), "tool input")
        return [self._arguments(tool, arguments)]

    def _message_delta(self, data: JSON) -> list[JSON]:
        self._take_usage(data.get("usage"), "message_delta.usage", ANTHROPIC_DELTA_REQUIRED)
        if self._finished_choice:
            return []
        self._finished_choice = True
        delta = F.opt_object(data, "delta", "message_delta") or {}
        reason = openai_finish_reason(F.opt_str(delta, "stop_reason", "message_delta.delta"))
        return [self._chunk({}, reason)]

    _HANDLERS: ClassVar[dict[str, Callable[[AnthropicStreamToOpenAI, JSON], list[JSON]]]] = {
        "content_block_start": _block_start,
        "content_block_delta": _block_delta,
        "content_block_stop": _block_stop,
        "message_delta": _message_delta,
    }

    def _arguments(self, tool: _ToolBlock, fragment: str) -> JSON:
        call = {"index": tool.index, "function": {"arguments": fragment}}
        return self._chunk({"tool_calls": [call]})

    def _chunk(self, delta: JSON, finish_reason: str | None = None) -> JSON:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        chunk: JSON = {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [choice],
        }
        if self.include_usage:
            chunk["usage"] = None
        return chunk

    def _usage_chunk(self) -> JSON:
        return {
            "id": self._id,
            "object": "chat.completion.chunk",
            "created": self._created,
            "model": self.model,
            "choices": [],
            "usage": usage_to_openai(self.usage),
        }
