"""The complete answer of a stream, assembled once, after the stream, from the bytes it kept.

The relay calls `on_bytes(dialect, data)` with the complete events of each chunk as the
PROVIDER sent them (Anthropic events, OpenAI, Responses or Gemini chunks); per chunk this only
keeps a reference to the bytes (up to `limit` bytes in all: past it the answer is dropped and
not stored). Nothing is parsed unless the answer is to be stored: `message()` then reads the
events and assembles them exactly as `on_event` does, event by event; in a passed-through
Anthropic stream in Anthropic's own form, the events that add a piece of text (most of them)
are found by one regular expression and their strings read by one JSON parse
(`_pieces_at_once`), the others read one by one without the SSE reader.

OpenAI streams are assembled into a chat.completion and converted to the canonical Anthropic
message with the core's own translation; Gemini chunks go through the core's Gemini stream
translation into Anthropic events.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

from bifrost_py.context import ANTHROPIC, RESPONSES
from bifrost_py.dialects.anthropic_openai import TranslationError, openai_response_to_anthropic
from bifrost_py.dialects.gemini import GEMINI
from bifrost_py.dialects.gemini_errors import GeminiError
from bifrost_py.dialects.gemini_stream import GeminiStreamToAnthropic
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.relay import anthropic_lines, observed_events, parse_event_data

from .responses_answer import ResponsesStreamAnswer

_TEXT_FIELDS = {"text_delta": "text", "thinking_delta": "thinking"}
# One event that only adds a piece to a block's text, thinking or tool input, as Anthropic writes
# it (compact, this key order), with the blank line that ends the event before it (so a match
# starts at an event and the pattern starts with a long literal); group 1 its index, group 2 the
# piece as a JSON string token (orjson rejects a raw control character, so no \r, no \n).
_PIECE_EVENT = re.compile(
    rb'\n\nevent: content_block_delta\ndata: \{"type":"content_block_delta","index":(0|[1-9][0-9]{0,8}),'
    rb'"delta":\{"type":(?:"text_delta","text"|"thinking_delta","thinking"|"input_json_delta","partial_json"):'
    rb'("[^"\\\n]*(?:\\.[^"\\\n]*)*")\}\}(?=\n\n)')


class _AnthropicAnswer:
    __slots__ = ("blocks", "ended", "head", "parts")

    def __init__(self) -> None:
        self.head: dict[str, Any] | None = None
        self.blocks: dict[int, dict[str, Any]] = {}
        self.parts: dict[int, list[str]] = {}
        self.ended = False

    def on(self, event: str | None, data: dict[str, Any]) -> None:
        kind = data.get("type") or event
        if kind == "content_block_delta":
            delta = data.get("delta") or {}
            dtype = delta.get("type")
            if dtype in _TEXT_FIELDS:
                self.parts.setdefault(data.get("index", 0), []).append(delta.get(_TEXT_FIELDS[dtype]) or "")
            elif dtype == "input_json_delta":
                self.parts.setdefault(data.get("index", 0), []).append(delta.get("partial_json") or "")
            elif dtype == "signature_delta":
                self.blocks.setdefault(data.get("index", 0), {})["signature"] = delta.get("signature")
            elif dtype == "citations_delta":
                self.blocks.setdefault(data.get("index", 0), {}).setdefault("citations", []).append(delta.get("citation"))
        elif kind == "content_block_start":
            self.blocks[data.get("index", 0)] = dict(data.get("content_block") or {})
        elif kind == "message_start":
            self.head = dict(data.get("message") or {})
        elif kind == "message_delta":
            self._delta(data)
        elif kind == "message_stop":
            self.ended = True

    def _delta(self, data: dict[str, Any]) -> None:
        if self.head is None:
            return
        delta = data.get("delta") or {}
        for field in ("stop_reason", "stop_sequence"):
            if field in delta:
                self.head[field] = delta[field]
        usage = data.get("usage")
        if isinstance(usage, dict):
            self.head["usage"] = {**(self.head.get("usage") or {}), **{k: v for k, v in usage.items() if v is not None}}

    def message(self) -> dict[str, Any] | None:
        if self.head is None or not self.ended:
            return None
        content = []
        for index in sorted(self.blocks):
            block = self.blocks[index]
            joined = "".join(self.parts.get(index, ()))
            kind = block.get("type")
            if kind == "text":
                block["text"] = block.get("text", "") + joined
            elif kind == "thinking":
                block["thinking"] = block.get("thinking", "") + joined
            elif kind in ("tool_use", "server_tool_use") and joined:
                block["input"] = orjson.loads(joined)
            content.append(block)
        return {**self.head, "content": content}


class _OpenAIAnswer:
    __slots__ = ("calls", "ended", "finish", "first", "refusals", "texts", "usage")

    def __init__(self) -> None:
        self.first: dict[str, Any] | None = None
        self.texts: list[str] = []
        self.refusals: list[str] = []
        self.calls: dict[int, dict[str, Any]] = {}
        self.finish: str | None = None
        self.usage: dict[str, Any] | None = None
        self.ended = False

    def on(self, data: dict[str, Any]) -> None:
        if self.first is None:
            self.first = data
        if isinstance(data.get("usage"), dict):
            self.usage = data["usage"]
        for choice in data.get("choices") or ():
            delta = choice.get("delta") or {}
            if delta.get("content"):
                self.texts.append(delta["content"])
            if delta.get("refusal"):
                self.refusals.append(delta["refusal"])
            for call in delta.get("tool_calls") or ():
                self._call(call)
            if choice.get("finish_reason"):
                self.finish = choice["finish_reason"]

    def _call(self, fragment: dict[str, Any]) -> None:
        call = self.calls.setdefault(fragment.get("index", 0), {"id": None, "name": "", "arguments": []})
        call["id"] = call["id"] or fragment.get("id")
        function = fragment.get("function") or {}
        if function.get("name"):
            call["name"] += function["name"]
        if function.get("arguments"):
            call["arguments"].append(function["arguments"])

    def message(self) -> dict[str, Any] | None:
        if self.first is None or self.finish is None:
            return None
        message: dict[str, Any] = {"role": "assistant", "content": "".join(self.texts) or None}
        if self.refusals:
            message["refusal"] = "".join(self.refusals)
        if self.calls:
            message["tool_calls"] = [
                {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": "".join(c["arguments"])}}
                for _, c in sorted(self.calls.items())
            ]
        completion = {
            "id": self.first.get("id"), "object": "chat.completion", "model": self.first.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": self.finish}],
            "usage": self.usage,
        }
        return openai_response_to_anthropic(completion)


def _pieces_at_once(kept: bytes) -> _AnthropicAnswer | None:
    """A stream in Anthropic's own form (see `anthropic_lines`) assembled as `_AnthropicAnswer.on`
    would assemble its events one by one, with the events that add a piece of text (the most of
    them) taken all at once: their JSON strings read by one parse, in stream order. The other
    events go through `on`, in order; they cannot see the difference, since pieces only touch
    `parts`. None (nothing decided: the per-event path takes it) when the stream is in another
    form, a piece is not a valid JSON string, or another event also added a piece (written in
    some other way: its order among the pieces would be lost). Raises what `on` and the reading
    of an event raise, which the per-event path would raise at the same event."""
    split = _PIECE_EVENT.split(kept)  # the other events, index, piece, the other events, ...
    try:
        pieces = orjson.loads(b"[" + b",".join(split[2::3]) + b"]")
    except orjson.JSONDecodeError:
        return None
    # The pieces are whole events in that form, so `kept` is in it exactly when the rest is.
    lines = anthropic_lines(b"".join(split[0::3]))
    if lines is None:
        return None
    answer = _AnthropicAnswer()
    for at in range(0, len(lines) - 1, 3):  # as `observed_events` reads them
        answer.on(lines[at][7:].decode(), parse_event_data(lines[at + 1][6:]))
    if answer.parts:
        return None
    indexes = split[1::3]
    if indexes and indexes.count(indexes[0]) == len(indexes):
        answer.parts[int(indexes[0])] = pieces
    else:
        for index, piece in zip(indexes, pieces, strict=True):
            answer.parts.setdefault(int(index), []).append(piece)
    return answer


# What a stream observer keeps of one answer at most, unless the cache's settings say otherwise.
DEFAULT_LIMIT = 8 * 1024 * 1024
_UNDERSTOOD = (AttributeError, TypeError, KeyError, ValueError, GeminiError)


class StreamAnswer:
    """A stream observer (see hookspecs): keeps the stream's bytes to rebuild the final message.
    `too_large` tells that the stream passed `limit` (then `message()` is None)."""

    __slots__ = ("_anthropic", "_chunks", "_dialect", "_gemini", "_openai", "_responses", "_size", "broken",
                 "limit", "too_large")

    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self._responses: ResponsesStreamAnswer | None = None
        self._anthropic: _AnthropicAnswer | None = None
        self._openai: _OpenAIAnswer | None = None
        self._gemini: GeminiStreamToAnthropic | None = None
        self._chunks: list[bytes] = []
        self._dialect = ANTHROPIC
        self._size = 0
        self.limit = limit
        self.broken = False
        self.too_large = False

    def on_bytes(self, dialect: str, data: bytes) -> None:
        if self.broken:
            return
        self._size += len(data)
        if self._size > self.limit:
            self.broken = self.too_large = True
            self._chunks = []
            return
        self._dialect = dialect
        self._chunks.append(data)

    def on_event(self, dialect: str, event: str | None, data: dict[str, Any]) -> None:
        """One parsed event (what `message()` replays the kept bytes through)."""
        if self.broken:
            return
        try:
            if dialect == ANTHROPIC:
                self._anthropic = self._anthropic or _AnthropicAnswer()
                self._anthropic.on(event, data)
            elif dialect == RESPONSES:  # passed through: the final event carries the whole response
                self._responses = self._responses or ResponsesStreamAnswer()
                self._responses.on(event, data)
            elif dialect == GEMINI:
                self._gemini = self._gemini or GeminiStreamToAnthropic(model="")
                self._anthropic = self._anthropic or _AnthropicAnswer()
                for name, translated in self._gemini.feed(data):
                    self._anthropic.on(name, translated)
            else:
                self._openai = self._openai or _OpenAIAnswer()
                self._openai.on(data)
        except _UNDERSTOOD:
            self.broken = True  # an event we do not understand: do not store a guess

    def _replay(self) -> None:
        """Read the kept bytes into events, as the relay would have shown them, and assemble."""
        kept = b"".join(self._chunks)
        self._chunks = []
        if self._dialect == ANTHROPIC and self._anthropic is None:
            try:
                self._anthropic = _pieces_at_once(kept)
            except (*_UNDERSTOOD, MalformedAnswer):  # what the per-event path fails at too
                self.broken = True
                return
            if self._anthropic is not None:
                return
        events = observed_events(self._dialect, kept)
        try:
            if self._dialect == ANTHROPIC:
                answer = self._anthropic = self._anthropic or _AnthropicAnswer()
                for name, data in events:
                    answer.on(name, data)
                return
            for name, data in events:
                self.on_event(self._dialect, name, data)
                if self.broken:
                    return
        except (*_UNDERSTOOD, MalformedAnswer):  # not JSON, not text: the relay would have refused it
            self.broken = True

    def message(self) -> dict[str, Any] | None:
        """The Anthropic message the stream carried, or None if it did not end well."""
        if self._chunks:
            self._replay()
        if self.broken:
            return None
        try:
            if self._gemini is not None and self._anthropic is not None:
                for name, translated in self._gemini.finish():  # Gemini's stream has no end event
                    self._anthropic.on(name, translated)
            if self._responses is not None:
                return self._responses.message()
            if self._anthropic is not None:
                return self._anthropic.message()
            if self._openai is not None:
                return self._openai.message()
        except (orjson.JSONDecodeError, TranslationError, TypeError, ValueError):
            return None
        return None
