"""Reading token usage, model and stop reason from answers in each dialect.

Stream readers look only at the events that carry usage, so relaying a stream costs one cheap
check per event; the rest of each event is never parsed. What is parsed is checked before it is
believed, because it is billed: an answer or usage-bearing event that is not its dialect's shape
(not JSON, not an object, a token count that is not a non-negative integer, an error object sent
as a success) raises `MalformedAnswer`, and nothing else escapes. An error the upstream declares
inside a stream is not malformed: it is kept in `StreamFacts.error` for the core to report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from .fields import ANSWER as F
from .fields import describe
from .translate_errors import MalformedAnswer

OPENAI_USAGE_OBJECT = re.compile(rb'"usage"\s*:\s*\{')
_OPENAI_FINISH = re.compile(rb'"finish_reason"\s*:\s*"')
_ANTHROPIC_COUNTS = (
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cache_read_input_tokens", "cache_read_tokens"),
    ("cache_creation_input_tokens", "cache_write_tokens"),
)
# The counts each dialect declares as integers, never null (the SDKs' models: Anthropic's Usage,
# its MessageDeltaUsage, OpenAI's CompletionUsage); the others may be null, which means absent.
ANTHROPIC_REQUIRED = frozenset({"input_tokens", "output_tokens"})
ANTHROPIC_DELTA_REQUIRED = frozenset({"output_tokens"})
OPENAI_REQUIRED = frozenset({"prompt_tokens", "completion_tokens"})


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


def answer_json(data: str | bytes, what: str = "an event's data") -> Any:
    """Parsed JSON of an upstream event or answer; MalformedAnswer when it is not JSON."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        raise MalformedAnswer(f"{what} is not JSON: {data[:80]!r}") from None


def answer_object(data: str | bytes, what: str = "an event's data") -> dict[str, Any]:
    """Parsed JSON that must be an object."""
    return F.an_object(answer_json(data, what), what)


def upstream_error(error: object, raw: str = "") -> dict[str, Any]:
    """An error object an upstream declared, as a dict with a string `type` (and a string
    `message` when it has one) whatever shape it came in: a string, a number, odd fields."""
    if not isinstance(error, dict):
        text = error if isinstance(error, str) else (raw or ("" if error is None else describe(error)))
        return {"type": "api_error", "message": text}
    out = dict(error)
    kind = error.get("type")
    out["type"] = kind if isinstance(kind, str) and kind else "api_error"
    message = error.get("message")
    if message is not None and not isinstance(message, str):
        out["message"] = describe(message)
    return out


def anthropic_usage(
    usage: object, facts: StreamFacts, where: str = "usage", required: frozenset[str] = ANTHROPIC_REQUIRED
) -> None:
    """Merge an Anthropic `usage` object (message_start, message_delta or a response); the
    counts in `required` may be absent but not null."""
    if usage is None:
        return
    usage = F.an_object(usage, where)
    for key, attribute in _ANTHROPIC_COUNTS:
        count = usage.get(key)
        if type(count) is int and count >= 0:  # the usual case, without a call per count
            setattr(facts, attribute, count)
        elif count is not None or key in required:
            F.opt_count(usage, key, where, nullable=key not in required)  # absent, or raises naming it


def openai_usage(usage: object, facts: StreamFacts, where: str = "usage") -> None:
    """Merge an OpenAI `usage` object: cached prompt tokens are moved out of the input count."""
    if usage is None:
        return
    usage = F.an_object(usage, where)
    if not usage:
        return
    details = F.opt_object(usage, "prompt_tokens_details", where) or {}
    cached = F.opt_count(details, "cached_tokens", f"{where}.prompt_tokens_details") or 0
    prompt = F.opt_count(usage, "prompt_tokens", where, nullable=False) or 0
    facts.input_tokens = max(prompt - cached, 0)
    facts.cache_read_tokens = cached
    facts.output_tokens = F.opt_count(usage, "completion_tokens", where, nullable=False) or 0


def anthropic_event(event: str | None, data: str, facts: StreamFacts) -> None:
    """Update `facts` from one Anthropic SSE event (only usage-bearing events are parsed)."""
    if event == "message_start":
        payload = answer_object(data, "message_start")
        message = F.opt_object(payload, "message", "message_start") or {}
        facts.model = F.opt_str(message, "model", "message_start.message") or facts.model
        anthropic_usage(message.get("usage"), facts, "message_start.message.usage")
    elif event == "message_delta":
        payload = answer_object(data, "message_delta")
        delta = F.opt_object(payload, "delta", "message_delta") or {}
        facts.stop_reason = F.opt_str(delta, "stop_reason", "message_delta.delta") or facts.stop_reason
        anthropic_usage(payload.get("usage"), facts, "message_delta.usage", ANTHROPIC_DELTA_REQUIRED)
    elif event == "error":
        facts.error = _anthropic_stream_error(data)
    else:
        # Not parsed, but it must still be a JSON object at a glance: a write cut short upstream
        # (the usual garbage) fails this, for two character compares instead of a parse.
        if data[-1:] != "}" or data[:1] != "{":
            raise _not_an_object(event or "an event", data)
        if event == "message_stop":
            facts.finished = True


def _not_an_object(what: str, data: str) -> MalformedAnswer:
    return MalformedAnswer(f"{what} is not a JSON object: {data[:80]!r}")


def _anthropic_stream_error(data: str) -> dict[str, Any]:
    """An `error` event is the upstream's error whatever its data holds; never malformed."""
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError:
        return upstream_error(None, data)
    error = payload.get("error") if isinstance(payload, dict) else None
    return upstream_error(error or None, data)


def openai_event(data: str, facts: StreamFacts) -> None:
    """Update `facts` from one OpenAI stream chunk."""
    if data == "[DONE]":
        facts.finished = True
        return
    if data[-1:] != "}" or data[:1] != "{":  # the glance of anthropic_event
        raise _not_an_object("a stream chunk", data)
    raw = data.encode()
    has_usage = OPENAI_USAGE_OBJECT.search(raw) is not None
    if facts.model and not has_usage and b'"error"' not in raw and not _OPENAI_FINISH.search(raw):
        return  # a plain content chunk: nothing to learn from it
    chunk = answer_object(raw, "a stream chunk")
    if "error" in chunk and not chunk.get("choices"):
        facts.error = upstream_error(chunk["error"])
        return
    facts.model = facts.model or F.opt_str(chunk, "model", "chunk")
    for i, choice in enumerate(F.opt_objects(chunk, "choices", "chunk")):
        reason = F.opt_str(choice, "finish_reason", f"chunk.choices[{i}]")
        if reason:
            facts.stop_reason = reason
    if has_usage:
        openai_usage(chunk.get("usage"), facts, "chunk.usage")


def _error_sent_as_success(error: object) -> str:
    error = upstream_error(error)
    return f"the answer is an error sent with a success status: {error['type']}: {error.get('message', '')}"


def check_anthropic_answer(body: object) -> dict[str, Any]:
    """`body` if it is the shape of an Anthropic success (a message), else MalformedAnswer."""
    body = F.an_object(body, "the answer")
    if body.get("type") == "error":
        raise MalformedAnswer(_error_sent_as_success(body.get("error")))
    F.opt_list(body, "content")
    return body


def check_openai_answer(body: object) -> dict[str, Any]:
    """`body` if it is the shape of an OpenAI success (a completion or embeddings), else
    MalformedAnswer."""
    body = F.an_object(body, "the answer")
    if body.get("error") is not None:
        raise MalformedAnswer(_error_sent_as_success(body["error"]))
    F.opt_list(body, "choices")
    return body


def anthropic_response_facts(body: object) -> StreamFacts:
    """Billing facts of a whole Anthropic answer, its shape checked first."""
    body = check_anthropic_answer(body)
    facts = StreamFacts(
        model=F.opt_str(body, "model"), stop_reason=F.opt_str(body, "stop_reason"), finished=True
    )
    anthropic_usage(body.get("usage"), facts)
    return facts


def openai_response_facts(body: object) -> StreamFacts:
    """Billing facts of a whole OpenAI answer, its shape checked first."""
    body = check_openai_answer(body)
    facts = StreamFacts(model=F.opt_str(body, "model"), finished=True)
    choices = F.opt_objects(body, "choices")
    if choices:
        facts.stop_reason = F.opt_str(choices[0], "finish_reason", "choices[0]")
    openai_usage(body.get("usage"), facts)
    return facts
