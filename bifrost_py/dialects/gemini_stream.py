"""A Gemini streamGenerateContent stream as Anthropic stream events, one chunk at a time.

Every ``data:`` of the stream is a whole GenerateContentResponse holding the new parts; each is
read with `gemini_response.py`. A function call arrives whole, so its tool_use block opens, fills
and closes at once. A chunk that is not Gemini's shape raises `MalformedAnswer`; an ``error``
chunk raises `GeminiError`, which the adapter relays as an Anthropic ``error`` event.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import ANSWER as F
from .gemini_errors import gemini_error
from .gemini_response import (
    anthropic_usage,
    candidate_finish_reason,
    candidate_parts,
    first_candidate,
    gemini_message_id,
    is_blocked,
    stop_reason,
    tool_use_block,
    usage_counts,
)

Event = tuple[str, dict[str, Any]]


class GeminiStreamToAnthropic:
    """streamGenerateContent chunks (parsed ``data:`` JSON) in, Anthropic stream events out.

    The output is always a valid sequence: one ``message_start``, blocks with consecutive
    indexes each started, delta'd and stopped, one ``message_delta``, one ``message_stop`` —
    also when the upstream ends early, as long as `finish` is called.
    """

    def __init__(self, model: str, input_tokens_estimate: int = 0) -> None:
        self.model = model
        self.input_tokens_estimate = input_tokens_estimate
        self._started = False
        self._finished = False
        self._index = 0
        self._open: str | None = None
        self._used_tools = False
        self._blocked = False
        self._finish_reason: str | None = None
        self._metadata: Mapping[str, Any] | None = None

    @property
    def usage(self) -> dict[str, int]:
        """Usage so far, Anthropic-shaped: what to bill if the stream is cut off."""
        usage = anthropic_usage(self._metadata)
        if self._metadata is None or "promptTokenCount" not in self._metadata:
            usage["input_tokens"] = self.input_tokens_estimate
        return usage

    def feed(self, chunk: object) -> list[Event]:
        """Translate one chunk (a parsed ``data:``); raises `GeminiError` for an in-stream
        ``error`` object and `MalformedAnswer` for a chunk that is not Gemini's shape."""
        if self._finished:
            return []
        chunk = F.an_object(chunk, "a stream chunk")
        if "error" in chunk:
            raise gemini_error(chunk["error"])
        metadata = chunk.get("usageMetadata")
        if metadata:
            usage_counts(metadata)  # checked now, so `usage` can be read any time
            self._metadata = metadata
        candidate = first_candidate(chunk)
        parts = candidate_parts(candidate)
        self._finish_reason = candidate_finish_reason(candidate) or self._finish_reason
        self._blocked = self._blocked or is_blocked(chunk)
        events = self._start(chunk)
        for j, part in enumerate(parts):
            events.extend(self._part(part, f"candidates[0].content.parts[{j}]"))
        return events

    def finish(self) -> list[Event]:
        """End of the upstream stream: close what is open and end the message (once)."""
        if self._finished:
            return []
        self._finished = True
        events = self._start({})
        events.extend(self._close_block())
        usage = self.usage
        delta = {
            "stop_reason": stop_reason(self._finish_reason, self._used_tools, self._blocked),
            "stop_sequence": None,
        }
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events

    def _start(self, chunk: dict[str, Any]) -> list[Event]:
        if self._started:
            return []
        self._started = True
        message: dict[str, Any] = {
            "id": gemini_message_id(chunk),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {**self.usage, "output_tokens": 0},
        }
        return [("message_start", {"type": "message_start", "message": message})]

    def _part(self, part: dict[str, Any], where: str) -> list[Event]:
        if part.get("thought"):
            return []
        call = F.opt_object(part, "functionCall", where)
        if call is not None:
            return self._tool_use(part, call, where)
        text = F.opt_str(part, "text", where)
        if not text:
            return []
        events = (
            []
            if self._open == "text"
            else [*self._close_block(), *self._open_block({"type": "text", "text": ""})]
        )
        delta = {"type": "text_delta", "text": text}
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": self._index, "delta": delta},
            )
        )
        return events

    def _tool_use(self, part: dict[str, Any], call: dict[str, Any], where: str) -> list[Event]:
        """Gemini sends a function call whole, so its block opens, fills and closes at once."""
        at = f"{where}.functionCall.args"
        arguments = F.dumps(F.opt_object(call, "args", f"{where}.functionCall") or {}, at)
        block = tool_use_block(part, call, {}, where)
        self._used_tools = True
        events = [*self._close_block(), *self._open_block(block)]
        delta = {"type": "input_json_delta", "partial_json": arguments}
        events.append(
            (
                "content_block_delta",
                {"type": "content_block_delta", "index": self._index, "delta": delta},
            )
        )
        events.extend(self._close_block())
        return events

    def _open_block(self, block: dict[str, Any]) -> list[Event]:
        self._open = block["type"]
        return [
            (
                "content_block_start",
                {"type": "content_block_start", "index": self._index, "content_block": block},
            )
        ]

    def _close_block(self) -> list[Event]:
        if self._open is None:
            return []
        self._open = None
        self._index += 1
        return [("content_block_stop", {"type": "content_block_stop", "index": self._index - 1})]
