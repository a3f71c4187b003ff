"""Streams, Anthropic Messages events -> OpenAI Responses API events.

The events come in the order the Responses API sends them, each with its `sequence_number`:

    message_start            response.created, response.in_progress
    text block               response.output_item.added (message), response.content_part.added,
                             response.output_text.delta..., response.output_text.done,
                             response.content_part.done, response.output_item.done
    tool_use block           response.output_item.added (function_call),
                             response.function_call_arguments.delta..., ...arguments.done,
                             response.output_item.done
    thinking block           response.output_item.added (reasoning),
                             response.reasoning_summary_part.added,
                             response.reasoning_summary_text.delta..., ...text.done,
                             response.reasoning_summary_part.done, response.output_item.done
                             (with encrypted_content, `responses_reasoning.py`)
    message_stop             response.completed, or response.incomplete (max_tokens, refusal)
    error                    response.failed, the upstream's message in response.error

Items are numbered by `output_index` in the order their blocks started; server tool blocks are
not shown (the client could not run them). `finish()` ends a stream that stopped without
message_stop with nothing: the relay reports such a stream as cut, and the core ends it.
"""

from __future__ import annotations

import time
from typing import Any

from .fields import ANSWER as F
from .responses_response import (
    Names,
    anthropic_usage,
    envelope,
    finished,
    function_call_item,
    message_item,
    output_text,
    reasoning_item,
    response_id,
)
from .translate_errors import openai_error_type

JSON = dict[str, Any]
Event = tuple[str, JSON]


class _Item:
    __slots__ = ("block", "index", "item", "parts")

    def __init__(self, index: int, item: JSON, block: JSON) -> None:
        self.index = index
        self.item = item
        self.block = block
        self.parts: list[str] = []


class AnthropicStreamToResponses:
    """Feed Anthropic events in order (`feed(name, data)`); each call returns the Responses
    events it completes, as (type, data) pairs."""

    def __init__(self, *, model: str, names: Names | None = None) -> None:
        self.model = model
        self.names = names or {}
        self.sequence = 0
        self.response: JSON = envelope("resp_bifrost", model, int(time.time()))
        self.items: dict[int, _Item] = {}   # by Anthropic block index
        self.output: list[JSON] = []
        self.stop_reason: str | None = None
        self.usage: JSON = {}
        self.base = "bifrost"

    def _event(self, kind: str, **fields: Any) -> Event:
        data = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return kind, data

    def feed(self, name: str, data: JSON) -> list[Event]:
        if name == "content_block_delta":
            return self._delta(data)
        if name == "message_start":
            message = F.opt_object(data, "message", "message_start") or {}
            self.response["id"] = response_id(message.get("id"))
            self.base = self.response["id"].removeprefix("resp_")
            self.usage = dict(F.opt_object(message, "usage", "message_start.message") or {})
            return [self._event("response.created", response=dict(self.response)),
                    self._event("response.in_progress", response=dict(self.response))]
        if name == "content_block_start":
            return self._start(data)
        if name == "content_block_stop":
            return self._stop(data)
        if name == "message_delta":
            delta = F.opt_object(data, "delta", "message_delta") or {}
            self.stop_reason = F.opt_str(delta, "stop_reason", "message_delta.delta") or self.stop_reason
            counts = F.opt_object(data, "usage", "message_delta") or {}
            self.usage.update({k: v for k, v in counts.items() if v is not None})
            return []
        if name == "message_stop":
            return self._end()
        if name == "error":
            return [self._failed(data.get("error"))]
        return []

    def finish(self) -> list[Event]:
        return []

    # ------------------------------------------------------------ blocks

    def _start(self, data: JSON) -> list[Event]:
        index = F.opt_int(data, "index", "content_block_start")
        block = F.opt_object(data, "content_block", "content_block_start") or {}
        kind = block.get("type")
        base = f"{self.base}_{len(self.output)}"
        if kind == "text":
            item = message_item("msg_" + base, "", status="in_progress")
        elif kind == "tool_use":
            tool_id = F.opt_str(block, "id", "content_block") or "toolu_" + base
            item = function_call_item(tool_id, F.opt_str(block, "name", "content_block") or "", "", self.names,
                                      status="in_progress")
        elif kind in ("thinking", "redacted_thinking"):
            item = reasoning_item("rs_" + base, None)
        else:
            return []
        entry = self.items[index or 0] = _Item(len(self.output), item, dict(block))
        self.output.append(item)
        events = [self._event("response.output_item.added", output_index=entry.index, item=dict(item))]
        if kind == "text":
            events.append(self._event("response.content_part.added", item_id=item["id"], output_index=entry.index,
                                      content_index=0, part=output_text("")))
        elif kind == "thinking":
            events.append(self._event("response.reasoning_summary_part.added", item_id=item["id"],
                                      output_index=entry.index, summary_index=0,
                                      part={"type": "summary_text", "text": ""}))
        return events

    def _delta(self, data: JSON) -> list[Event]:
        entry = self.items.get(F.opt_int(data, "index", "content_block_delta") or 0)
        if entry is None:
            return []
        delta = F.opt_object(data, "delta", "content_block_delta") or {}
        kind = delta.get("type")
        item_id, at = entry.item["id"], entry.index
        if kind == "text_delta":  # per token: the event built in place, not through _event
            text = delta.get("text")
            if type(text) is not str:
                text = F.opt_str(delta, "text", "delta") or ""
            entry.parts.append(text)
            self.sequence += 1
            return [("response.output_text.delta", {
                "type": "response.output_text.delta", "sequence_number": self.sequence - 1, "item_id": item_id,
                "output_index": at, "content_index": 0, "delta": text, "logprobs": []})]
        if kind == "input_json_delta":
            piece = F.opt_str(delta, "partial_json", "delta") or ""
            entry.parts.append(piece)
            return [self._event("response.function_call_arguments.delta", item_id=item_id, output_index=at,
                                delta=piece)]
        if kind == "thinking_delta":
            text = F.opt_str(delta, "thinking", "delta") or ""
            entry.parts.append(text)
            return [self._event("response.reasoning_summary_text.delta", item_id=item_id, output_index=at,
                                summary_index=0, delta=text)]
        if kind == "signature_delta":
            entry.block["signature"] = F.opt_str(delta, "signature", "delta") or ""
        return []

    def _stop(self, data: JSON) -> list[Event]:
        entry = self.items.pop(F.opt_int(data, "index", "content_block_stop") or 0, None)
        if entry is None:
            return []
        item, at, whole = entry.item, entry.index, "".join(entry.parts)
        events: list[Event] = []
        kind = item["type"]
        if kind == "message":
            events.append(self._event("response.output_text.done", item_id=item["id"], output_index=at,
                                      content_index=0, text=whole, logprobs=[]))
            events.append(self._event("response.content_part.done", item_id=item["id"], output_index=at,
                                      content_index=0, part=output_text(whole)))
            item["content"] = [output_text(whole)]
        elif kind == "function_call":
            item["arguments"] = whole or "{}"
            events.append(self._event("response.function_call_arguments.done", item_id=item["id"], output_index=at,
                                      arguments=item["arguments"]))
        else:
            if entry.block.get("type") == "thinking":
                entry.block["thinking"] = whole
                events.append(self._event("response.reasoning_summary_text.done", item_id=item["id"],
                                          output_index=at, summary_index=0, text=whole))
                events.append(self._event("response.reasoning_summary_part.done", item_id=item["id"],
                                          output_index=at, summary_index=0,
                                          part={"type": "summary_text", "text": whole}))
            item.update(reasoning_item(item["id"], entry.block))
        if "status" in item:
            item["status"] = "completed"
        events.append(self._event("response.output_item.done", output_index=at, item=dict(item)))
        return events

    # ------------------------------------------------------------ endings

    def _end(self) -> list[Event]:
        response = finished({**self.response, "output": self.output}, self.stop_reason,
                            anthropic_usage(self.usage))
        kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        return [self._event(kind, response=response)]

    def _failed(self, error: object) -> Event:
        return self._event("response.failed", response=failed_response(self.response, error))


def failed_response(response: JSON, error: object) -> JSON:
    """`response` as failed with an Anthropic-shaped `error` (`type`, `message`)."""
    error = error if isinstance(error, dict) else {}
    kind = error.get("type") if isinstance(error.get("type"), str) else "api_error"
    message = error.get("message") if isinstance(error.get("message"), str) else kind
    return {**response, "status": "failed", "error": {"code": openai_error_type(kind), "message": message}}
