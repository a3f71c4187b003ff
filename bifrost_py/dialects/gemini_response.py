"""A Gemini generateContent answer as an Anthropic Messages response, and the reading of answers
that the stream translator (`gemini_stream.py`) shares: the first candidate, its parts, the
finish reason as a stop reason, usageMetadata as Anthropic usage, function calls as tool_use.

An answer that is not Gemini's success shape (an ``error`` object sent with 200, a field of the
wrong type, usage that is not a token count) raises `MalformedAnswer`; nothing else escapes.
Gemini says STOP also when a stop sequence matched, so ``stop_sequence`` is never reported.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from .fields import ANSWER as F
from .gemini_errors import gemini_error
from .gemini_tool_ids import tool_use_id
from .translate_errors import MalformedAnswer

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


def stop_reason(finish_reason: str | None, used_tools: bool, blocked: bool) -> str:
    """The Anthropic stop_reason: tool_use when a function was called, refusal when blocked."""
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
    counts = usage_counts(metadata)
    cached = counts["cachedContentTokenCount"]
    prompt = counts["promptTokenCount"] + counts["toolUsePromptTokenCount"]
    output = counts["candidatesTokenCount"] + counts["thoughtsTokenCount"]
    return {
        "input_tokens": max(prompt - cached, 0),
        "output_tokens": output,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": cached,
    }


def usage_counts(metadata: object) -> dict[str, int]:
    """The token counts of a usageMetadata (0 when absent), each checked to be a count."""
    metadata = F.an_object(metadata, "usageMetadata") if metadata is not None else {}
    return {key: F.opt_count(metadata, key, "usageMetadata") or 0 for key in _USAGE_COUNTS}


def first_candidate(resp: dict[str, Any]) -> dict[str, Any]:
    """Candidate 0 (Anthropic has one answer per message), or {} when there is none."""
    candidates = F.opt_objects(resp, "candidates")
    return candidates[0] if candidates else {}


def candidate_parts(candidate: dict[str, Any]) -> list[dict[str, Any]]:
    """The parts of a candidate's content, each checked to be an object."""
    content = F.opt_object(candidate, "content", "candidates[0]") or {}
    return F.opt_objects(content, "parts", "candidates[0].content")


def candidate_finish_reason(candidate: dict[str, Any]) -> str | None:
    """Gemini's finishReason, None until the chunk that ends the candidate."""
    return F.opt_str(candidate, "finishReason", "candidates[0]")


def is_blocked(resp: dict[str, Any]) -> bool:
    """Whether Gemini refused the prompt itself (promptFeedback.blockReason)."""
    feedback = F.opt_object(resp, "promptFeedback") or {}
    return bool(feedback.get("blockReason"))


def gemini_message_id(resp: dict[str, Any]) -> str:
    """An Anthropic message id from Gemini's responseId, or a new one when it sent none."""
    response_id = F.opt_str(resp, "responseId")
    return f"msg_{response_id}" if response_id else "msg_" + secrets.token_hex(12)


def _check_answer(resp: object) -> dict[str, Any]:
    """A generateContent answer or stream chunk: an object that is not an error."""
    resp = F.an_object(resp, "the answer")
    if "error" in resp:
        error = gemini_error(resp["error"])
        raise MalformedAnswer(f"the answer is an error sent with a success status: {error}")
    return resp


def gemini_response_to_anthropic(resp: Mapping[str, Any], *, model: str) -> dict[str, Any]:
    """A generateContent answer as an Anthropic Messages response; MalformedAnswer when it is
    not one."""
    resp = _check_answer(resp)
    candidate = first_candidate(resp)
    blocks: list[dict[str, Any]] = []
    for j, part in enumerate(candidate_parts(candidate)):
        if part.get("thought"):
            continue
        where = f"candidates[0].content.parts[{j}]"
        call = F.opt_object(part, "functionCall", where)
        text = F.opt_str(part, "text", where)
        if call is not None:
            arguments = F.storable(F.opt_object(call, "args", f"{where}.functionCall") or {}, f"{where}.functionCall.args")
            blocks.append(tool_use_block(part, call, arguments, where))
        elif text:
            if blocks and blocks[-1]["type"] == "text":
                blocks[-1]["text"] += text
            else:
                blocks.append({"type": "text", "text": text})
    used_tools = any(block["type"] == "tool_use" for block in blocks)
    return {
        "id": gemini_message_id(resp),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": blocks,
        "stop_reason": stop_reason(candidate_finish_reason(candidate), used_tools, is_blocked(resp)),
        "stop_sequence": None,
        "usage": anthropic_usage(resp.get("usageMetadata")),
    }


def tool_use_block(part: dict[str, Any], call: dict[str, Any], tool_input: Any, where: str) -> dict[str, Any]:
    """A functionCall part as a tool_use block; its thought signature rides in the id."""
    return {
        "type": "tool_use",
        "id": tool_use_id(F.opt_str(part, "thoughtSignature", where)),
        "name": F.opt_str(call, "name", f"{where}.functionCall") or "",
        "input": tool_input,
    }
