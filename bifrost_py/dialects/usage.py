"""Reading token usage, model and stop reason from answers in each dialect.

Stream readers look only at the events that carry usage, so relaying a stream costs one cheap
check per event; the rest of each event is never parsed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

OPENAI_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
_OPENAI_FINISH = re.compile(rb'"finish_reason"\s*:\s*"')


@dataclass(slots=True)
class StreamFacts:
    """What a stream has told so far."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    model: str | None = None
    stop_reason: str | None = None
    finished: bool = False            # the dialect's end marker was seen (message_stop / [DONE])
    error: dict[str, Any] | None = None  # an error event sent by the upstream mid-stream


def anthropic_usage(usage: dict[str, Any], facts: StreamFacts) -> None:
    """Merge an Anthropic `usage` object (message_start, message_delta or a response)."""
    if not usage:
        return
    if usage.get("input_tokens") is not None:
        facts.input_tokens = int(usage["input_tokens"])
    if usage.get("output_tokens") is not None:
        facts.output_tokens = int(usage["output_tokens"])
    if usage.get("cache_read_input_tokens") is not None:
        facts.cache_read_tokens = int(usage["cache_read_input_tokens"])
    if usage.get("cache_creation_input_tokens") is not None:
        facts.cache_write_tokens = int(usage["cache_creation_input_tokens"])


def openai_usage(usage: dict[str, Any], facts: StreamFacts) -> None:
    """Merge an OpenAI `usage` object: cached prompt tokens are moved out of the input count."""
    if not usage:
        return
    details = usage.get("prompt_tokens_details") or {}
    cached = int(details.get("cached_tokens") or 0)
    facts.input_tokens = int(usage.get("prompt_tokens") or 0) - cached
    facts.cache_read_tokens = cached
    facts.output_tokens = int(usage.get("completion_tokens") or 0)


def anthropic_event(event: str | None, data: str, facts: StreamFacts) -> None:
    """Update `facts` from one Anthropic SSE event (only usage-bearing events are parsed)."""
    if event == "message_start":
        message = orjson.loads(data).get("message") or {}
        facts.model = message.get("model") or facts.model
        anthropic_usage(message.get("usage") or {}, facts)
    elif event == "message_delta":
        payload = orjson.loads(data)
        facts.stop_reason = (payload.get("delta") or {}).get("stop_reason") or facts.stop_reason
        anthropic_usage(payload.get("usage") or {}, facts)
    elif event == "message_stop":
        facts.finished = True
    elif event == "error":
        try:
            facts.error = orjson.loads(data).get("error") or {"type": "api_error", "message": data}
        except orjson.JSONDecodeError:
            facts.error = {"type": "api_error", "message": data}


def openai_event(data: str, facts: StreamFacts) -> None:
    """Update `facts` from one OpenAI stream chunk."""
    if data == "[DONE]":
        facts.finished = True
        return
    raw = data.encode()
    has_usage = OPENAI_USAGE_OBJECT.search(raw) is not None
    if facts.model and not has_usage and b'"error"' not in raw and not _OPENAI_FINISH.search(raw):
        return  # a plain content chunk: nothing to learn from it
    chunk = orjson.loads(raw)
    if not isinstance(chunk, dict):
        return
    if "error" in chunk and not chunk.get("choices"):
        facts.error = chunk["error"] if isinstance(chunk["error"], dict) else {"message": str(chunk["error"])}
        return
    facts.model = facts.model or chunk.get("model")
    for choice in chunk.get("choices") or ():
        if choice.get("finish_reason"):
            facts.stop_reason = choice["finish_reason"]
    if has_usage:
        openai_usage(chunk.get("usage") or {}, facts)


def anthropic_response_facts(body: dict[str, Any]) -> StreamFacts:
    facts = StreamFacts(model=body.get("model"), stop_reason=body.get("stop_reason"), finished=True)
    anthropic_usage(body.get("usage") or {}, facts)
    return facts


def openai_response_facts(body: dict[str, Any]) -> StreamFacts:
    facts = StreamFacts(model=body.get("model"), finished=True)
    choices = body.get("choices") or []
    if choices:
        facts.stop_reason = choices[0].get("finish_reason")
    openai_usage(body.get("usage") or {}, facts)
    return facts
