"""Billing facts of Gemini answers relayed untouched (a Gemini client passed through to a
`gemini` provider): usage, model and finish reason, as `usage.py` reads the other dialects.

Gemini repeats the prompt's usageMetadata in every chunk and sends the full usage with the
finishReason, in the last one; so a stream is parsed at its first chunk (what the prompt cost,
should the stream be cut), at chunks that finish or carry an ``error``, and not in between.
Usage is counted as `gemini_response.anthropic_usage` counts it (cached tokens apart, thoughts
billed as output). A chunk that is not Gemini's shape is `MalformedAnswer`.
"""

from __future__ import annotations

from typing import Any

from .fields import ANSWER as F
from .gemini_errors import gemini_error
from .gemini_response import (
    _check_answer,
    anthropic_usage,
    candidate_finish_reason,
    first_candidate,
    is_blocked,
)
from .usage import StreamFacts, answer_object


def gemini_event(data: str, facts: StreamFacts) -> None:
    """Update `facts` from one streamGenerateContent chunk (its ``data:``)."""
    if data[-1:] != "}" or data[:1] != "{":
        raise F.fail("a stream chunk", "a JSON object")
    if facts.model is not None and '"finishReason"' not in data and '"error"' not in data and '"blockReason"' not in data:
        return  # a content chunk: nothing new to bill
    chunk = answer_object(data, "a stream chunk")
    if "error" in chunk:
        error = gemini_error(chunk["error"])
        facts.error = {"type": error.anthropic_error_type, "message": error.message}
        return
    _merge(chunk, facts)


def _merge(answer: dict[str, Any], facts: StreamFacts) -> None:
    facts.model = F.opt_str(answer, "modelVersion") or facts.model or ""
    metadata = answer.get("usageMetadata")
    if metadata is not None:
        usage = anthropic_usage(metadata)
        facts.input_tokens = usage["input_tokens"]
        facts.output_tokens = usage["output_tokens"]
        facts.cache_read_tokens = usage["cache_read_input_tokens"]
    reason = candidate_finish_reason(first_candidate(answer)) or ("PROHIBITED_CONTENT" if is_blocked(answer) else None)
    if reason:  # a prompt Gemini refuses ends with promptFeedback.blockReason and no candidate
        facts.stop_reason = reason
        facts.finished = True


def gemini_response_facts(body: object) -> StreamFacts:
    """Billing facts of a whole generateContent answer, its shape checked first."""
    answer = _check_answer(body)
    facts = StreamFacts()
    _merge(answer, facts)
    facts.finished = True
    return facts
