"""A Responses API answer (passed through from an `openai` provider) as the Anthropic message the
cache stores: hits are rendered back to Responses clients by the core (and to any other dialect).

Text and function calls are kept; reasoning items are not (their encrypted content belongs to
the provider that produced it, and a replay cannot sign it). An answer the cache could not
reproduce faithfully is None, and is not stored: a failed or in-progress response, a call to a
namespaced tool (its name is only meaningful with the request's namespaces), server tool calls.
"""

from __future__ import annotations

from typing import Any

import orjson

_STORED_ITEMS = frozenset({"message", "function_call", "reasoning"})


class ResponsesStreamAnswer:
    """Keeps the final response object of a Responses stream (`response.completed` or
    `response.incomplete` carry it whole)."""

    __slots__ = ("failed", "response")

    def __init__(self) -> None:
        self.response: dict[str, Any] | None = None
        self.failed = False

    def on(self, event: str | None, data: dict[str, Any]) -> None:
        kind = event or data.get("type")
        if kind in ("response.completed", "response.incomplete"):
            response = data.get("response")
            self.response = response if isinstance(response, dict) else None
        elif kind in ("response.failed", "error"):
            self.failed = True

    def message(self) -> dict[str, Any] | None:
        return None if self.failed or self.response is None else responses_answer_to_anthropic(self.response)


def responses_answer_to_anthropic(response: dict[str, Any]) -> dict[str, Any] | None:
    """The Anthropic message a whole Responses response object carries, or None (see above)."""
    status = response.get("status")
    if status not in ("completed", "incomplete"):
        return None
    content: list[dict[str, Any]] = []
    for item in response.get("output") or []:
        if not isinstance(item, dict) or item.get("type") not in _STORED_ITEMS:
            return None
        if item["type"] == "message":
            for part in item.get("content") or []:
                if not isinstance(part, dict) or part.get("type") != "output_text" or part.get("annotations"):
                    return None
                content.append({"type": "text", "text": str(part.get("text") or "")})
        elif item["type"] == "function_call":
            if item.get("namespace"):
                return None
            arguments = orjson.loads(item.get("arguments") or "{}")
            if not isinstance(arguments, dict):
                return None
            content.append({"type": "tool_use", "id": str(item.get("call_id") or item.get("id")),
                            "name": str(item.get("name") or ""), "input": arguments})
    if status == "incomplete":
        stop = "max_tokens"
    else:
        stop = "tool_use" if any(block["type"] == "tool_use" for block in content) else "end_turn"
    return {"id": str(response.get("id") or ""), "type": "message", "role": "assistant",
            "model": str(response.get("model") or ""), "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": _usage(response.get("usage"))}


def _usage(raw: Any) -> dict[str, int]:
    raw = raw if isinstance(raw, dict) else {}
    details = raw.get("input_tokens_details")
    cached = details.get("cached_tokens") if isinstance(details, dict) else 0
    cached = cached if isinstance(cached, int) else 0
    total = raw.get("input_tokens") if isinstance(raw.get("input_tokens"), int) else 0
    output = raw.get("output_tokens") if isinstance(raw.get("output_tokens"), int) else 0
    return {"input_tokens": max(total - cached, 0), "output_tokens": output,
            "cache_read_input_tokens": cached, "cache_creation_input_tokens": 0}
