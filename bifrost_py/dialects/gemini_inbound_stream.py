"""Anthropic stream events as a streamGenerateContent (``alt=sse``) stream for a Gemini client:
the inverse of `gemini_stream.py`.

Gemini sends whole GenerateContentResponses, each holding the new parts, every one with the
prompt's usageMetadata, and the last with the finishReason and the full usage. To write the
same, each chunk is held back until the next content (or the end) arrives, so the last content
and the finishReason share the last chunk, as Google's do. A tool call is sent whole once its
arguments are complete; thinking text goes out as ``thought`` parts, and the turn's thinking blocks ride in the first call's ``thoughtSignature``
(`gemini_thought_carrier.py`). An Anthropic ``error`` event becomes Google's ``{"error": ...}``
chunk and ends the stream. A wrongly typed event is `MalformedAnswer`.
"""

from __future__ import annotations

from typing import Any

import orjson

from .fields import ANSWER as F
from .gemini_inbound_response import (
    finish_reason,
    function_call_part,
    gemini_error_json,
    response_id,
    usage_metadata,
)
from .gemini_thought_carrier import thought_signature
from .usage import upstream_error

JSON = dict[str, Any]
_ERROR_STATUS = {
    "invalid_request_error": 400, "authentication_error": 401, "billing_error": 402, "permission_error": 403,
    "not_found_error": 404, "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
    "overloaded_error": 503, "timeout_error": 504,
}  # fmt: skip
_COUNTS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")


def gemini_sse(chunks: list[JSON]) -> bytes:
    """Chunks framed as Google frames them (``data:`` only, CRLF line ends)."""
    return b"".join(b"data: " + orjson.dumps(chunk) + b"\r\n\r\n" for chunk in chunks)


class AnthropicStreamToGemini:
    """Anthropic events (name, parsed data) in, GenerateContentResponse chunks out."""

    def __init__(self, *, model: str) -> None:
        self.model = model
        self.usage: dict[str, int] = {}
        self._prompt = 0                        # the prompt's tokens, as every chunk repeats them
        self._id = ""
        self._pending: list[JSON] | None = None
        self._blocks: dict[int, JSON] = {}      # open blocks by index: thinking and tool_use
        self._arguments: dict[int, list[str]] = {}
        self._thinking: list[JSON] = []         # finished thinking blocks, for the carrier
        self._signed = False
        self._stop_reason: str | None = None
        self._done = False

    def feed(self, event: str, data: object) -> list[JSON]:
        """Translate one event; returns the chunks that are now complete."""
        if self._done:
            return []
        data = F.an_object(data, event or "event")
        kind = data.get("type") if isinstance(data.get("type"), str) else event
        if kind == "content_block_delta":
            delta = data.get("delta")
            if type(delta) is dict and delta.get("type") == "text_delta" and type(delta.get("text")) is str:
                return self._hold({"text": delta["text"]}) if delta["text"] else []  # the common case, inline
            return self._delta(F.opt_int(data, "index", kind) or 0, F.opt_object(data, "delta", kind) or {})
        if kind == "content_block_start":
            return self._start(F.opt_int(data, "index", kind) or 0, F.opt_object(data, "content_block", kind) or {})
        if kind == "content_block_stop":
            return self._stop(F.opt_int(data, "index", kind) or 0)
        if kind == "message_start":
            message = F.opt_object(data, "message", kind) or {}
            self._id = response_id(message.get("id"))
            self._take_usage(F.opt_object(message, "usage", "message_start.message"))
        elif kind == "message_delta":
            delta = F.opt_object(data, "delta", kind) or {}
            self._stop_reason = F.opt_str(delta, "stop_reason", "message_delta.delta") or self._stop_reason
            self._take_usage(F.opt_object(data, "usage", kind))
        elif kind == "message_stop":
            return self.finish()
        elif kind == "error":
            return self._error(upstream_error(data.get("error")))
        return []

    def finish(self) -> list[JSON]:
        """The last chunk: the held-back parts with the finishReason and the full usage; once."""
        if self._done:
            return []
        self._done = True
        chunk = self._chunk(self._pending or [{"text": ""}])
        chunk["candidates"][0]["finishReason"] = finish_reason(self._stop_reason)
        chunk["usageMetadata"] = usage_metadata(self.usage)
        return [chunk]

    # ------------------------------------------------------------------ blocks

    def _start(self, index: int, block: JSON) -> list[JSON]:
        kind = block.get("type")
        if kind == "tool_use":
            F.opt_str(block, "name", "content_block_start.content_block")
            self._blocks[index] = block
            self._arguments[index] = []
        elif kind == "thinking":
            self._blocks[index] = {"type": "thinking", "thinking": "", "signature": ""}
        elif kind == "redacted_thinking":
            self._thinking.append(block)
        elif kind == "text" and block.get("text"):
            return self._hold({"text": F.opt_str(block, "text", "content_block_start.content_block")})
        return []

    def _delta(self, index: int, delta: JSON) -> list[JSON]:
        kind = delta.get("type")
        where = "content_block_delta.delta"
        if kind == "text_delta":
            text = F.opt_str(delta, "text", where)
            return self._hold({"text": text}) if text else []
        block = self._blocks.get(index)
        if block is None:
            return []
        if kind == "input_json_delta":
            self._arguments[index].append(F.opt_str(delta, "partial_json", where) or "")
        elif kind == "thinking_delta":
            thinking = F.opt_str(delta, "thinking", where) or ""
            block["thinking"] += thinking
            if thinking:
                return self._hold({"text": thinking, "thought": True})
        elif kind == "signature_delta":
            block["signature"] += F.opt_str(delta, "signature", where) or ""
        return []

    def _stop(self, index: int) -> list[JSON]:
        block = self._blocks.pop(index, None)
        if block is None:
            return []
        if block["type"] == "thinking":
            self._thinking.append(block)
            return []
        fragments = "".join(self._arguments.pop(index, []))
        try:
            arguments = orjson.loads(fragments) if fragments.strip() else (block.get("input") or {})
        except orjson.JSONDecodeError:
            raise F.fail("a tool call's streamed arguments", "JSON") from None
        signature = None if self._signed else thought_signature(self._thinking)
        self._signed = True
        return self._hold(function_call_part({**block, "input": F.an_object(arguments, "tool input")}, signature))

    # ------------------------------------------------------------------ chunks

    def _hold(self, part: JSON) -> list[JSON]:
        """Keep `part` back and send what was held before it."""
        pending = self._pending
        self._pending = [part]
        return [self._chunk(pending)] if pending else []

    def _chunk(self, parts: list[JSON]) -> JSON:
        prompt = self._prompt
        return {
            "candidates": [{"content": {"parts": parts, "role": "model"}, "index": 0}],
            "usageMetadata": {"promptTokenCount": prompt, "totalTokenCount": prompt},
            "modelVersion": self.model,
            "responseId": self._id,
        }

    def _take_usage(self, usage: JSON | None) -> None:
        """Anthropic's counts are running totals: a later one replaces an earlier one."""
        for key in _COUNTS:
            value = (usage or {}).get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                self.usage[key] = value
        self._prompt = usage_metadata(self.usage)["promptTokenCount"]

    def _error(self, error: JSON) -> list[JSON]:
        self._done = True
        held = [self._chunk(self._pending)] if self._pending else []
        status = _ERROR_STATUS.get(str(error.get("type")), 500)
        return [*held, gemini_error_json(status, str(error.get("message") or error.get("type")))]
