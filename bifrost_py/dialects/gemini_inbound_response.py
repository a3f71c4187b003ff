"""An Anthropic Messages answer as the GenerateContentResponse a Gemini client expects (the
inverse of `gemini_response.py`), and the pieces the stream translator shares: finish reasons,
usageMetadata, function calls, Google's error shape.

Tool calls keep the provider's id as ``functionCall.id``, which Gemini clients echo in
``functionResponse.id``; the thinking blocks of the answer ride in the first call's
``thoughtSignature`` (`gemini_thought_carrier.py`); thinking text is sent as ``thought`` parts
(thinking is only turned on when the client asked for thoughts, `gemini_inbound_request.py`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .fields import ANSWER as F
from .gemini_thought_carrier import thought_signature

JSON = dict[str, Any]

FINISH_REASONS = {
    "end_turn": "STOP", "stop_sequence": "STOP", "tool_use": "STOP", "pause_turn": "STOP",
    "max_tokens": "MAX_TOKENS", "model_context_window_exceeded": "MAX_TOKENS", "refusal": "SAFETY",
}  # fmt: skip
# google.rpc.Code names for HTTP statuses, as Google's APIs pair them.
STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 402: "RESOURCE_EXHAUSTED", 403: "PERMISSION_DENIED",
    404: "NOT_FOUND", 409: "ABORTED", 413: "INVALID_ARGUMENT", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED",
    500: "INTERNAL", 501: "UNIMPLEMENTED", 502: "UNAVAILABLE", 503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
    529: "UNAVAILABLE",
}  # fmt: skip


def finish_reason(stop_reason: object) -> str:
    """Gemini's finishReason for an Anthropic stop_reason (Gemini stops with STOP after calls)."""
    return FINISH_REASONS.get(stop_reason if isinstance(stop_reason, str) else "", "STOP")


def usage_metadata(usage: Mapping[str, Any] | None) -> JSON:
    """Anthropic usage as usageMetadata: Gemini's prompt count includes cached tokens."""
    usage = usage or {}
    cached = _count(usage, "cache_read_input_tokens")
    prompt = _count(usage, "input_tokens") + cached + _count(usage, "cache_creation_input_tokens")
    output = _count(usage, "output_tokens")
    metadata: JSON = {"promptTokenCount": prompt, "candidatesTokenCount": output, "totalTokenCount": prompt + output}
    if cached:
        metadata["cachedContentTokenCount"] = cached
    return metadata


def _count(usage: Mapping[str, Any], key: str) -> int:
    value = usage.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def function_call_part(block: Mapping[str, Any], signature: str | None) -> JSON:
    """A tool_use block as a functionCall part (its id kept, so the client can echo it)."""
    call: JSON = {"name": block.get("name") or "", "args": block.get("input") or {}}
    if block.get("id"):
        call = {"id": block["id"], **call}
    part: JSON = {"functionCall": call}
    if signature:
        part["thoughtSignature"] = signature
    return part


def response_id(message_id: object) -> str:
    """Gemini's responseId from an Anthropic message id."""
    return message_id.removeprefix("msg_") if isinstance(message_id, str) else ""


def anthropic_response_to_gemini(message: Mapping[str, Any], *, model: str) -> JSON:
    """A complete Anthropic message as a generateContent answer; MalformedAnswer when the
    message is not one."""
    message = F.an_object(message, "the answer")
    blocks = F.opt_objects(message, "content")
    signature = thought_signature(blocks)
    parts: list[JSON] = []
    for j, block in enumerate(blocks):
        kind = F.opt_str(block, "type", f"content[{j}]")
        if kind == "text" and block.get("text"):
            parts.append({"text": F.opt_str(block, "text", f"content[{j}]")})
        elif kind == "thinking" and block.get("thinking"):
            parts.append({"text": F.opt_str(block, "thinking", f"content[{j}]"), "thought": True})
        elif kind == "tool_use":
            F.opt_str(block, "name", f"content[{j}]")
            F.opt_object(block, "input", f"content[{j}]")
            parts.append(function_call_part(block, signature))
            signature = None
    candidate: JSON = {"content": {"parts": parts, "role": "model"},
                       "finishReason": finish_reason(message.get("stop_reason")), "index": 0}
    return {
        "candidates": [candidate],
        "usageMetadata": usage_metadata(F.opt_object(message, "usage")),
        "modelVersion": model,
        "responseId": response_id(message.get("id")),
    }


def gemini_error_json(status: int, message: str) -> JSON:
    """An error as Google's APIs write it: ``{"error": {"code", "message", "status"}}``."""
    name = STATUS_NAMES.get(status, "INTERNAL" if status >= 500 else "INVALID_ARGUMENT")
    return {"error": {"code": status, "message": message, "status": name}}
