"""Streams, OpenAI chat.completion.chunk objects -> Anthropic Messages SSE events.

The translator is fed one upstream chunk at a time and returns the events to send on, so the
relay loop never holds a whole answer. It keeps `usage` (the four Anthropic usage keys) up to
date for billing, also when the stream ends early. After the end (or an error) it returns
nothing. The other direction is `translate_stream_to_openai.py`.

An OpenAI `{"error": ...}` chunk is translated, not raised: it becomes an Anthropic `error`
event and ends the translated stream. A chunk that is not OpenAI's shape (not an object, a field
of the wrong type, usage that is not a token count) raises `MalformedAnswer`, and nothing else
does; the core then ends the client's stream.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import orjson

from .fields import ANSWER as F
from .translate_errors import anthropic_error_type
from .translate_response import (
    anthropic_message_id,
    anthropic_stop_reason,
    empty_usage,
    usage_from_openai,
)
from .translate_shared import anthropic_tool_id
from .usage import upstream_error

JSON = dict[str, Any]
Event = tuple[str, JSON]
_TEXT = -1  # the key of the text stream; OpenAI tool indexes start at 0
# Where a field is, for the message of a MalformedAnswer.
_CHOICE = "chunk.choices[0]"
_DELTA = "chunk.choices[0].delta"
_TOOL_CALL = "chunk.choices[0].delta.tool_calls[]"


@dataclass(slots=True)
class _ToolCall:
    """One OpenAI tool call (by its `index`) on its way to becoming a tool_use block."""

    id: str
    name: str
    arguments: str = ""
    sent: int = 0  # how much of `arguments` has gone out as input_json_delta

    def complete(self) -> bool:
        """Arguments are a JSON object; once they parse, no more fragments can follow."""
        text = self.arguments.rstrip()
        if not text.endswith("}"):
            return False
        try:
            orjson.loads(text)
        except orjson.JSONDecodeError:
            return False
        return True


class OpenAIStreamToAnthropic:
    """OpenAI chunks -> Anthropic events in exactly the order Anthropic sends them.

    Anthropic streams one content block at a time, while OpenAI may interleave the fragments of
    parallel tool calls. A block therefore stays open until its arguments form a complete JSON
    object; fragments of other calls (and text) wait meanwhile and follow in arrival order. With
    OpenAI's own sequential order nothing waits. `message_delta` is held back until the usage
    chunk (which OpenAI sends after the finish_reason chunk) or `finish()`.
    """

    def __init__(
        self, *, model: str, input_tokens_estimate: int = 0, message_id: str | None = None
    ) -> None:
        self.model = model
        # input_tokens is the caller's estimate until the upstream reports usage.
        self.usage: JSON = empty_usage(input_tokens_estimate)
        self._message_id = message_id
        self._started = False
        self._done = False
        self._usage_seen = False
        self._finish_reason: str | None = None
        self._finishing = False
        self._refused = False
        self._tools: dict[int, _ToolCall] = {}
        self._waiting: list[int] = []  # _TEXT or tool indexes with output but no open block
        self._text_backlog = ""
        self._open: int | None = None
        self._open_index = -1

    def feed(self, chunk: object) -> list[Event]:
        """Translate one upstream chunk (its parsed `data:`)."""
        if self._done:
            return []
        if not isinstance(chunk, dict):  # F.an_object, inline: every chunk passes here
            raise F.fail("chunk", "an object")
        # Every chunk passes here: fields that are usually absent are checked only when present.
        usage = chunk.get("usage")
        if usage is not None:
            self._take_usage(F.an_object(usage, "chunk.usage"))
        events = [] if self._started else [self._message_start(chunk.get("id"))]
        if chunk.get("error") and not chunk.get("choices"):
            return events + [self._error(chunk["error"])]
        choice = _first_choice(chunk)
        if choice is not None and not self._finishing:
            events += self._choice(choice)
        if self._finishing and usage is not None:
            events += self._end()
        return events

    def finish(self) -> list[Event]:
        """End of upstream: close what is open, then message_delta and message_stop, once."""
        if self._done:
            return []
        events = [] if self._started else [self._message_start(None)]
        return events + self._end()

    def _take_usage(self, usage: JSON) -> None:
        self._usage_seen = True
        self.usage.update(usage_from_openai(usage, "chunk.usage"))

    def _message_start(self, chunk_id: object) -> Event:
        self._started = True
        message: JSON = {
            "id": self._message_id or anthropic_message_id(chunk_id),
            "type": "message",
            "role": "assistant",
            "model": self.model,
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": dict(self.usage),
        }
        return "message_start", {"type": "message_start", "message": message}

    def _error(self, error: object) -> Event:
        self._done = True
        error = upstream_error(error)
        body = {
            "type": anthropic_error_type(error["type"]),
            "message": error.get("message") or "",
        }
        return "error", {"type": "error", "error": body}

    def _choice(self, choice: JSON) -> list[Event]:
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            delta = F.opt_object(choice, "delta", _CHOICE) or {}
        events: list[Event] = []
        text = delta.get("content")
        if text is not None and not isinstance(text, str):
            raise F.fail(f"{_DELTA}.content", "a string")
        if text:
            events += self._on_text(text)
        refusal = F.opt_str(delta, "refusal", _DELTA) if "refusal" in delta else None
        if refusal:
            self._refused = True
            events += self._on_text(refusal)
        if "tool_calls" in delta:
            for call in F.opt_objects(delta, "tool_calls", _DELTA):
                events += self._on_tool(call)
        finish_reason = F.opt_str(choice, "finish_reason", _CHOICE) if choice.get("finish_reason") is not None else None
        if finish_reason:
            self._finish_reason = finish_reason
            self._finishing = True
            events += self._close_all()
        return events

    def _on_text(self, text: str) -> list[Event]:
        if self._open == _TEXT:
            return [self._text_delta(text)]
        self._text_backlog += text
        if _TEXT not in self._waiting:
            self._waiting.append(_TEXT)
        return self._advance()

    def _on_tool(self, delta: JSON) -> list[Event]:
        index = self._tool_index(delta)
        function = F.opt_object(delta, "function", _TOOL_CALL) or {}
        call = self._tools.get(index)
        if call is None:
            call = self._tools[index] = _ToolCall(id="", name="")
            self._waiting.append(index)
        call.id = call.id or F.opt_str(delta, "id", _TOOL_CALL) or ""
        call.name = call.name or F.opt_str(function, "name", _TOOL_CALL + ".function") or ""
        call.arguments += F.opt_str(function, "arguments", _TOOL_CALL + ".function") or ""
        events = self._flush_arguments(call) if self._open == index else []
        return events + self._advance()

    def _tool_index(self, delta: JSON) -> int:
        """Some OpenAI-compatible servers leave out `index`; then a new id means a new call and
        a fragment without one continues the latest call."""
        index = F.opt_int(delta, "index", _TOOL_CALL)
        if index is not None and index >= 0:
            return index
        call_id = F.opt_str(delta, "id", _TOOL_CALL)
        for known, call in self._tools.items():
            if call_id and call.id == call_id:
                return known
        if call_id or not self._tools:
            return max(self._tools, default=-1) + 1
        return max(self._tools)

    def _advance(self) -> list[Event]:
        """Open the next waiting block once the open one may close (and the next has a name)."""
        events: list[Event] = []
        while self._waiting:
            head = self._waiting[0]
            if head != _TEXT and not self._tools[head].name:
                break
            if self._open is not None:
                if self._open != _TEXT and not self._tools[self._open].complete():
                    break
                events.append(self._stop_block())
            events += self._start_block(self._waiting.pop(0))
        return events

    def _close_all(self) -> list[Event]:
        """The choice is over: everything still waiting goes out now, in arrival order."""
        events: list[Event] = []
        while self._waiting or self._open is not None:
            if self._open is not None:
                events.append(self._stop_block())
            if self._waiting:
                events += self._start_block(self._waiting.pop(0))
        return events

    def _start_block(self, key: int) -> list[Event]:
        self._open_index += 1
        self._open = key
        if key == _TEXT:
            text, self._text_backlog = self._text_backlog, ""
            block: JSON = {"type": "text", "text": ""}
            rest = [self._text_delta(text)] if text else []
        else:
            call = self._tools[key]
            call.id = anthropic_tool_id(call.id or f"toolu_{uuid.uuid4().hex[:24]}", "tool call")
            call.name = call.name or "unknown_tool"
            block = {"type": "tool_use", "id": call.id, "name": call.name, "input": {}}
            rest = self._flush_arguments(call)
        start = {"type": "content_block_start", "index": self._open_index, "content_block": block}
        return [("content_block_start", start), *rest]

    def _stop_block(self) -> Event:
        self._open = None
        return "content_block_stop", {"type": "content_block_stop", "index": self._open_index}

    def _text_delta(self, text: str) -> Event:
        delta = {"type": "text_delta", "text": text}
        return "content_block_delta", {
            "type": "content_block_delta",
            "index": self._open_index,
            "delta": delta,
        }

    def _flush_arguments(self, call: _ToolCall) -> list[Event]:
        if call.sent == len(call.arguments):
            return []
        fragment, call.sent = call.arguments[call.sent :], len(call.arguments)
        delta = {"type": "input_json_delta", "partial_json": fragment}
        data = {"type": "content_block_delta", "index": self._open_index, "delta": delta}
        return [("content_block_delta", data)]

    def _end(self) -> list[Event]:
        events = self._close_all()
        self._done = True
        stop = anthropic_stop_reason(self._finish_reason, bool(self._tools))
        if self._refused:
            stop = "refusal"
        usage = (
            dict(self.usage) if self._usage_seen else {"output_tokens": self.usage["output_tokens"]}
        )
        delta = {"stop_reason": stop, "stop_sequence": None}
        events.append(("message_delta", {"type": "message_delta", "delta": delta, "usage": usage}))
        events.append(("message_stop", {"type": "message_stop"}))
        return events


def _first_choice(chunk: JSON) -> JSON | None:
    """Anthropic has one answer per message; with `n > 1` only choice 0 is translated."""
    choices = F.opt_list(chunk, "choices", "chunk") or ()
    for i, choice in enumerate(choices):
        if not isinstance(choice, dict):
            raise F.fail(f"chunk.choices[{i}]", "an object")
        if choice.get("index", 0) == 0:
            return choice
    return None
