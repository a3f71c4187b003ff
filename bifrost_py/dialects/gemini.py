"""Google Gemini generateContent / streamGenerateContent, translated from and to the Anthropic
Messages shape (the core reaches OpenAI clients through Anthropic).

Paths: ``/v1beta/models/{model}:generateContent`` and
``/v1beta/models/{model}:streamGenerateContent?alt=sse``; the key goes in ``x-goog-api-key``. A
stream is SSE whose every ``data:`` is a whole GenerateContentResponse holding the new parts.

Things with no exact equivalent, decided once here:

* Tool-call ids: Gemini has none, so we make ``toolu_gemini_<hex>`` ids, and a later
  ``tool_result`` finds its function name through the ``tool_use`` with that id.
* Thought signatures: Gemini 3 rejects a history whose function calls lack the opaque
  ``thoughtSignature`` it returned. Anthropic clients echo only what Anthropic defines, so the
  signature rides inside the tool_use id (``..._sig_<base64url>``) and is put back on the way
  out; a call without one (made by another model) gets Google's documented bypass value.
* Gemini says STOP also when a stop sequence matched, so ``stop_sequence`` is never reported.
* Thinking is requested through ``thinkingBudget``; thought summaries are not returned.

Translation never fails on a field it does not know: it drops it and says so in the notes,
which the adapter logs. The request side lives in `gemini_request.py` (a wrongly typed field is a
`TranslationError`); this module reads answers: one that is not Gemini's success shape (an
``error`` object sent with 200, a field of the wrong type, usage that is not a token count)
raises `MalformedAnswer`, and an ``error`` chunk inside a stream raises `GeminiError`, which the
adapter relays as an Anthropic ``error`` event. Nothing else escapes.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from .fields import ANSWER as F
from .fields import describe
from .gemini_request import (
    MAX_STOP_SEQUENCES,
    SKIP_THOUGHT_SIGNATURE,
    anthropic_request_to_gemini,
    gemini_schema,
    tool_use_id,
)
from .translate_errors import MalformedAnswer

__all__ = [
    "GEMINI_API_KEY_HEADER",
    "GEMINI_BASE_URL",
    "MAX_STOP_SEQUENCES",
    "SKIP_THOUGHT_SIGNATURE",
    "GeminiError",
    "GeminiStreamToAnthropic",
    "anthropic_request_to_gemini",
    "anthropic_usage",
    "encode_gemini_sse",
    "gemini_error_body",
    "gemini_error_to_anthropic",
    "gemini_path",
    "gemini_request_text",
    "gemini_response",
    "gemini_response_to_anthropic",
    "gemini_schema",
    "gemini_stream_chunks",
]

GEMINI_BASE_URL = "https://generativelanguage.googleapis.com"
GEMINI_API_KEY_HEADER = "x-goog-api-key"

Event = tuple[str, dict[str, Any]]


def gemini_path(model: str, stream: bool) -> str:
    """The request path (and query, for streams) of a model."""
    model = model.removeprefix("models/")
    if stream:
        return f"/v1beta/models/{model}:streamGenerateContent?alt=sse"
    return f"/v1beta/models/{model}:generateContent"


# --------------------------------------------------------------------------- response

_STOP_REASONS = {
    "STOP": "end_turn",
    "MAX_TOKENS": "max_tokens",
    "SAFETY": "refusal",
    "RECITATION": "refusal",
    "BLOCKLIST": "refusal",
    "PROHIBITED_CONTENT": "refusal",
    "SPII": "refusal",
    "IMAGE_SAFETY": "refusal",
    "IMAGE_PROHIBITED_CONTENT": "refusal",
    "IMAGE_RECITATION": "refusal",
}


def _stop_reason(finish_reason: str | None, used_tools: bool, blocked: bool) -> str:
    if used_tools:
        return "tool_use"
    if blocked:
        return "refusal"
    return _STOP_REASONS.get(finish_reason or "STOP", "end_turn")


_USAGE_COUNTS = (
    "promptTokenCount", "toolUsePromptTokenCount", "cachedContentTokenCount",
    "candidatesTokenCount", "thoughtsTokenCount",
)  # fmt: skip


def anthropic_usage(metadata: Mapping[str, Any] | None) -> dict[str, int]:
    """Gemini usageMetadata as Anthropic usage. Anthropic's input_tokens exclude cache reads, and
    thinking tokens are billed as output, so both are moved accordingly."""
    counts = _usage_counts(metadata)
    cached = counts["cachedContentTokenCount"]
    prompt = counts["promptTokenCount"] + counts["toolUsePromptTokenCount"]
    output = counts["candidatesTokenCount"] + counts["thoughtsTokenCount"]
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def _usage_counts(metadata: object) -> dict[str, int]:
    """The token counts of a usageMetadata (0 when absent), each checked to be a count."""
    metadata = F.an_object(metadata, "usageMetadata") if metadata is not None else {}
    return {key: F.opt_count(metadata, key, "usageMetadata") or 0 for key in _USAGE_COUNTS}


def _candidate(resp: dict[str, Any]) -> dict[str, Any]:
    candidates = F.opt_objects(resp, "candidates")
    return candidates[0] if candidates else {}


def _parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    content = F.opt_object(candidate, "content", "candidates[0]") or {}
    return F.opt_objects(content, "parts", "candidates[0].content")


def _finish_reason(candidate: dict[str, Any]) -> str | None:
    return F.opt_str(candidate, "finishReason", "candidates[0]")


def _is_blocked(resp: dict[str, Any]) -> bool:
    feedback = F.opt_object(resp, "promptFeedback") or {}
    return bool(feedback.get("blockReason"))


def _message_id(resp: dict[str, Any]) -> str:
    response_id = F.opt_str(resp, "responseId")
    return f"msg_{response_id}" if response_id else "msg_" + secrets.token_hex(12)


def _check_answer(resp: object) -> dict[str, Any]:
    """A generateContent answer or stream chunk: an object that is not an error."""
    resp = F.an_object(resp, "the answer")
    if "error" in resp:
        error = _gemini_error(resp["error"])
        raise MalformedAnswer(f"the answer is an error sent with a success status: {error}")
    return resp


def gemini_response_to_anthropic(resp: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """A generateContent answer as an Anthropic Messages response; MalformedAnswer when it is
    not one."""
    resp = _check_answer(resp)
    candidate = _candidate(resp)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(_parts(candidate)):
        if part.get("thought"):
            continue
        where = f"candidates[0].content.parts[{j}]"
        call = F.opt_object(part, "functionCall", where)
        text = F.opt_str(part, "text", where)
        if call is not None:
            arguments = F.storable(F.opt_object(call, "args", f"{where}.functionCall") or {}, f"{where}.functionCall.args")
            blocks.append(_tool_use_block(part, call, arguments, where))
        elif text:
            if blocks and blocks[-1]["type"] == "text":
                blocks[-1]["text"] += text
            else:
                blocks.append({"type": "text", "text": text})
    used_tools = any(block["type"] == "tool_use" for block in blocks)
    return {
        "id": _message_id(resp),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": _stop_reason(_finish_reason(candidate), used_tools, _is_blocked(resp)),
        "stop_sequence": None,
        "usage": anthropic_usage(resp.get("usageMetadata")),
    }


def _tool_use_block(part: dict[str, Any], call: dict[str, Any], tool_input: Any, where: str) -> dict[str, Any]:
    return {
        "type": "tool_use",
        "id": tool_use_id(F.opt_str(part, "thoughtSignature", where)),
        "name": F.opt_str(call, "name", f"{where}.functionCall") or "",
        "input": tool_input,
    }


class GeminiError(Exception):
    """An ``error`` object from Gemini, e.g. inside a stream that had already started."""

    def __init__(self, code: int, status: str, message: str, reason: str | None = None) -> None:
        super().__init__(f"{code} {status}: {message}")
        self.code = code
        self.status = status
        self.message = message
        self.reason = reason

    @property
    def anthropic_error_type(self) -> str:
        """The Anthropic error type to relay."""
        return _anthropic_error_type(self.code, self.status, self.message, self.reason)


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
            raise _gemini_error(chunk["error"])
        metadata = chunk.get("usageMetadata")
        if metadata:
            _usage_counts(metadata)  # checked now, so `usage` can be read any time
            self._metadata = metadata
        candidate = _candidate(chunk)
        parts = _parts(candidate)
        self._finish_reason = _finish_reason(candidate) or self._finish_reason
        self._blocked = self._blocked or _is_blocked(chunk)
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
            "stop_reason": _stop_reason(self._finish_reason, self._used_tools, self._blocked),
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
            "id": _message_id(chunk),
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
        block = _tool_use_block(part, call, {}, where)
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


# --------------------------------------------------------------------------- errors

_ERROR_TYPES = {
    "INVALID_ARGUMENT": "invalid_request_error",
    "FAILED_PRECONDITION": "invalid_request_error",
    "OUT_OF_RANGE": "invalid_request_error",
    "UNAUTHENTICATED": "authentication_error",
    "PERMISSION_DENIED": "permission_error",
    "NOT_FOUND": "not_found_error",
    "RESOURCE_EXHAUSTED": "rate_limit_error",
    "DEADLINE_EXCEEDED": "timeout_error",
    "UNAVAILABLE": "overloaded_error",
    "INTERNAL": "api_error",
}
_STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}  # fmt: skip


def _anthropic_error_type(code: int, status: str, message: str, reason: str | None) -> str:
    # Gemini answers a bad API key with 400 INVALID_ARGUMENT; clients must see a 401-type error.
    if reason == "API_KEY_INVALID" or "API key not valid" in message:
        return "authentication_error"
    if status in _ERROR_TYPES:
        return _ERROR_TYPES[status]
    fallback = "api_error" if code >= 500 else "invalid_request_error"
    return _ERROR_TYPES.get(_STATUS_NAMES.get(code, ""), fallback)


def _gemini_error(error: Any) -> GeminiError:
    """Whatever shape the ``error`` came in, a GeminiError with text in its fields."""
    error = error if isinstance(error, Mapping) else {"message": _text(error)}
    code = error["code"] if isinstance(error.get("code"), int) else 500
    details = error.get("details")
    reasons = [d.get("reason") for d in details if isinstance(d, Mapping)] if isinstance(details, list) else []
    reason = next((r for r in reasons if isinstance(r, str)), None)
    return GeminiError(code, _text(error.get("status", "")), _text(error.get("message", "")), reason)


def _text(value: object) -> str:
    return value if isinstance(value, str) else describe(value)


def gemini_error_to_anthropic(status: int, body: bytes) -> tuple[str, str]:
    """(Anthropic error type, message) for a non-2xx Gemini response."""
    try:
        parsed = orjson.loads(body) if body else {}
    except orjson.JSONDecodeError:
        parsed = {}
    if isinstance(parsed, list) and parsed:  # some endpoints wrap the error in a list
        parsed = parsed[0]
    error = parsed.get("error") if isinstance(parsed, Mapping) else None
    if not isinstance(error, Mapping):
        text = body.decode("utf-8", "replace").strip() or f"Gemini returned HTTP {status}"
        return _anthropic_error_type(status, "", text, None), text
    err = _gemini_error({"code": status, **error})
    return err.anthropic_error_type, err.message


def gemini_error_body(code: int, message: str, status: str | None = None) -> dict[str, Any]:
    """A Gemini error body as Google sends it; for the mock upstream."""
    return {
        "error": {
            "code": code,
            "message": message,
            "status": status or _STATUS_NAMES.get(code, "UNKNOWN"),
        }
    }


# --------------------------------------------------------------------------- mock side


def gemini_request_text(body: Mapping[str, Any]) -> str:
    """The text of the last user turn of a Gemini request: what the mock answers to."""
    for content in reversed(body.get("contents") or []):
        if content.get("role", "user") == "user":
            texts = [part["text"] for part in content.get("parts") or [] if "text" in part]
            if texts:
                return "".join(texts)
    return ""


def _usage_metadata(input_tokens: int, output_tokens: int) -> dict[str, int]:
    return {
        "promptTokenCount": input_tokens,
        "candidatesTokenCount": output_tokens,
        "totalTokenCount": input_tokens + output_tokens,
    }


def gemini_response(
    text: str, *, input_tokens: int, output_tokens: int, model: str
) -> dict[str, Any]:
    """A complete generateContent answer carrying ``text``."""
    return {
        "candidates": [
            {
                "content": {"parts": [{"text": text}], "role": "model"},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": _usage_metadata(input_tokens, output_tokens),
        "modelVersion": model,
        "responseId": secrets.token_urlsafe(16),
    }


def gemini_stream_chunks(
    pieces: Iterable[str], *, input_tokens: int = 0, output_tokens: int = 0, model: str = "gemini"
) -> list[dict[str, Any]]:
    """The streamGenerateContent chunks for ``pieces`` of text, as Google sends them: every
    chunk has the prompt count, the last one the finish reason and the full usage."""
    response_id = secrets.token_urlsafe(16)
    pieces = list(pieces) or [""]
    chunks = []
    for position, piece in enumerate(pieces):
        last = position == len(pieces) - 1
        candidate: dict[str, Any] = {
            "content": {"parts": [{"text": piece}], "role": "model"},
            "index": 0,
        }
        usage: dict[str, int] = {"promptTokenCount": input_tokens, "totalTokenCount": input_tokens}
        if last:
            candidate["finishReason"] = "STOP"
            usage = _usage_metadata(input_tokens, output_tokens)
        chunks.append(
            {
                "candidates": [candidate],
                "usageMetadata": usage,
                "modelVersion": model,
                "responseId": response_id,
            }
        )
    return chunks


def encode_gemini_sse(chunk: Mapping[str, Any]) -> bytes:
    """One SSE event as Gemini frames it (``data:`` only, CRLF line ends)."""
    return b"data: " + orjson.dumps(chunk) + b"\r\n\r\n"
