"""Reading usage, model and status from OpenAI Responses API answers (passthrough), as
`usage.py` does for the other dialects: only the events that carry them are parsed, and what is
parsed is checked before it is billed (`MalformedAnswer` otherwise).

    response.created                 the model
    response.completed / .incomplete usage (input_tokens includes the cached ones, which move
                                     to cache_read_tokens), status as the stop reason; the end
    response.failed, error           the upstream's error (not malformed: reported as it is)
"""

from __future__ import annotations

from typing import Any

from .fields import ANSWER as F
from .translate_errors import MalformedAnswer, anthropic_error_type
from .usage import StreamFacts, answer_object, upstream_error

_ENDINGS = frozenset({"response.completed", "response.incomplete"})


def responses_usage(usage: object, facts: StreamFacts, where: str = "usage") -> None:
    """Merge a Responses `usage` object: cached input tokens are moved out of the input count."""
    if usage is None:
        return
    usage = F.an_object(usage, where)
    details = F.opt_object(usage, "input_tokens_details", where) or {}
    cached = F.opt_count(details, "cached_tokens", f"{where}.input_tokens_details") or 0
    total = F.opt_count(usage, "input_tokens", where, nullable=False) or 0
    facts.input_tokens = max(total - cached, 0)
    facts.cache_read_tokens = cached
    facts.output_tokens = F.opt_count(usage, "output_tokens", where, nullable=False) or 0


def _response_facts(response: dict[str, Any], facts: StreamFacts, where: str) -> None:
    facts.model = F.opt_str(response, "model", where) or facts.model
    status = F.opt_str(response, "status", where)
    details = F.opt_object(response, "incomplete_details", where) or {}
    facts.stop_reason = F.opt_str(details, "reason", f"{where}.incomplete_details") or status or facts.stop_reason
    responses_usage(response.get("usage"), facts, f"{where}.usage")


def responses_event(event: str | None, data: str, facts: StreamFacts) -> None:
    """Update `facts` from one Responses SSE event (its `event:` line names its type)."""
    if data[-1:] != "}" or data[:1] != "{":
        raise MalformedAnswer(f"{event or 'an event'} is not a JSON object: {data[:80]!r}")
    if event is None:  # a server that leaves out the event lines: the type is in the data
        event = F.opt_str(answer_object(data), "type", "an event")
    if event in _ENDINGS or event == "response.created":
        payload = answer_object(data, event)
        response = F.opt_object(payload, "response", event) or {}
        _response_facts(response, facts, f"{event}.response")
        facts.finished = event in _ENDINGS
    elif event == "response.failed":
        payload = answer_object(data, event)
        response = F.opt_object(payload, "response", event) or {}
        facts.error = _error(response.get("error"))
        facts.finished = True
    elif event == "error":
        facts.error = _error(answer_object(data, event))


def _error(error: object) -> dict[str, Any]:
    """An OpenAI error (`code`, `message`) as the Anthropic-typed dict the core reports."""
    found = upstream_error(error)
    code = error.get("code") if isinstance(error, dict) else None
    found["type"] = anthropic_error_type(code if isinstance(code, str) else found["type"])
    return found


def responses_response_facts(body: object) -> StreamFacts:
    """Billing facts of a whole Responses answer, its shape checked first."""
    body = F.an_object(body, "the answer")
    if body.get("error") is not None and body.get("object") != "response":
        raise MalformedAnswer(f"the answer is an error sent with a success status: {upstream_error(body['error'])}")
    F.opt_list(body, "output")
    facts = StreamFacts(finished=True)
    _response_facts(body, facts, "the answer")
    return facts
