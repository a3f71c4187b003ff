"""Non-streaming responses, Anthropic Messages ⇄ OpenAI Chat Completions, and the pieces a stream
shares with them: ids, stop reasons and usage.

Usage is the subtle part. OpenAI's `prompt_tokens` counts every input token, cached ones included
(`prompt_tokens_details.cached_tokens`); Anthropic's `input_tokens` excludes the tokens read from
or written to the cache. So OpenAI -> Anthropic subtracts the cached tokens, and Anthropic ->
OpenAI adds cache reads and writes back.

These read a provider's answer: whatever is wrong with it (not the dialect's success shape, a
field of the wrong type, usage that is not a token count) raises `MalformedAnswer`, never
anything else.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from .fields import ANSWER as F
from .translate_errors import MalformedAnswer, TranslationError
from .translate_shared import anthropic_tool_id, parse_arguments
from .usage import ANTHROPIC_REQUIRED, check_anthropic_answer, check_openai_answer

JSON = dict[str, Any]

USAGE_KEYS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)
_FINISH_TO_STOP = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
    "content_filter": "refusal",
}
_STOP_TO_FINISH = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}


def anthropic_message_id(openai_id: object) -> str:
    """`chatcmpl-abc` -> `msg_abc`, so one answer keeps one recognisable id across dialects."""
    if isinstance(openai_id, str) and openai_id:
        return "msg_" + openai_id.removeprefix("chatcmpl-")
    return "msg_" + uuid.uuid4().hex[:24]


def openai_completion_id(anthropic_id: object) -> str:
    """`msg_abc` -> `chatcmpl-abc`."""
    if isinstance(anthropic_id, str) and anthropic_id:
        return "chatcmpl-" + anthropic_id.removeprefix("msg_")
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def anthropic_stop_reason(finish_reason: object, has_tool_calls: bool) -> str:
    """Some OpenAI-compatible servers say `stop` after tool calls; the calls decide."""
    if has_tool_calls and finish_reason in (None, "stop", "tool_calls", "function_call"):
        return "tool_use"
    if not isinstance(finish_reason, str):
        return "end_turn"
    return _FINISH_TO_STOP.get(finish_reason, "end_turn")


def openai_finish_reason(stop_reason: object) -> str:
    if not isinstance(stop_reason, str):
        return "stop"
    return _STOP_TO_FINISH.get(stop_reason, "stop")


def empty_usage(input_tokens: int = 0) -> JSON:
    return dict.fromkeys(USAGE_KEYS, 0) | {"input_tokens": input_tokens}


def usage_from_openai(usage: object, where: str = "usage") -> JSON:
    """OpenAI usage -> Anthropic usage (cached prompt tokens become cache reads)."""
    if usage is None:
        usage = {}
    usage = F.an_object(usage, where)
    details = F.opt_object(usage, "prompt_tokens_details", where) or {}
    cached = F.opt_count(details, "cached_tokens", f"{where}.prompt_tokens_details") or 0
    return {
        "input_tokens": max((F.opt_count(usage, "prompt_tokens", where, nullable=False) or 0) - cached, 0),
        "output_tokens": F.opt_count(usage, "completion_tokens", where, nullable=False) or 0,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def anthropic_counts(usage: object, where: str = "usage", required: frozenset[str] = ANTHROPIC_REQUIRED) -> JSON:
    """The Anthropic usage counts present in `usage`, each checked to be a token count (those in
    `required` not null either)."""
    if usage is None:
        return {}
    usage = F.an_object(usage, where)
    counts = {key: F.opt_count(usage, key, where, nullable=key not in required) for key in USAGE_KEYS}
    return {key: count for key, count in counts.items() if count is not None}


def usage_to_openai(usage: object, where: str = "usage") -> JSON:
    """Anthropic usage -> OpenAI usage (cache reads and writes are prompt tokens too)."""
    counts = anthropic_counts(usage, where)
    cached = counts.get("cache_read_input_tokens", 0)
    prompt = counts.get("input_tokens", 0) + cached + counts.get("cache_creation_input_tokens", 0)
    completion = counts.get("output_tokens", 0)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def answer_tool_id(raw: object, where: str) -> str:
    """An upstream's tool call id made to fit Anthropic's pattern (one made up when it has none)."""
    if raw is not None and not isinstance(raw, str):
        raise F.fail(where, "a string")
    return anthropic_tool_id(raw or f"toolu_{uuid.uuid4().hex[:24]}", where)


def answer_arguments(raw: object, where: str) -> JSON:
    """Tool input from an upstream's JSON arguments string; its fault if they are not an object."""
    try:
        arguments = parse_arguments(raw, where)
    except TranslationError as exc:
        raise MalformedAnswer(str(exc)) from None
    return F.storable(arguments, where)


# ---------------------------------------------------------------- OpenAI -> Anthropic


def openai_response_to_anthropic(resp: JSON, *, model: str | None = None) -> JSON:
    """OpenAI chat.completion -> Anthropic message. Only the first choice is kept; an answer
    that is not a completion raises MalformedAnswer."""
    resp = check_openai_answer(resp)
    choices = F.opt_objects(resp, "choices")
    choice = choices[0] if choices else {}
    message = F.opt_object(choice, "message", "choices[0]") or {}
    where = "choices[0].message"
    content = _o2a_text_blocks(message, where) + _o2a_tool_uses(F.opt_objects(message, "tool_calls", where), where)
    has_calls = any(block["type"] == "tool_use" for block in content)
    stop = anthropic_stop_reason(F.opt_str(choice, "finish_reason", "choices[0]"), has_calls)
    if message.get("refusal"):
        stop = "refusal"
    return {
        "id": anthropic_message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model or F.opt_str(resp, "model"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage_from_openai(resp.get("usage")),
    }


def _o2a_text_blocks(message: JSON, where: str) -> list[JSON]:
    content = message.get("content")
    if isinstance(content, list):  # a few compatible servers answer with content parts
        parts = F.objects(content, f"{where}.content")
        content = "".join(F.opt_str(part, "text", f"{where}.content[{j}]") or "" for j, part in enumerate(parts))
    elif content is not None and not isinstance(content, str):
        raise F.fail(f"{where}.content", "a string or a list of content parts")
    texts = [text for text in (content, F.opt_str(message, "refusal", where)) if text]
    return [{"type": "text", "text": text} for text in texts]


def _o2a_tool_uses(calls: list[JSON], where: str) -> list[JSON]:
    blocks = []
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        function = F.opt_object(call, "function", at) or {}
        blocks.append(
            {
                "type": "tool_use",
                "id": answer_tool_id(call.get("id"), f"{at}.id"),
                "name": F.opt_str(function, "name", f"{at}.function") or "",
                "input": answer_arguments(function.get("arguments"), f"{at}.function.arguments"),
            }
        )
    return blocks


# ---------------------------------------------------------------- Anthropic -> OpenAI


def anthropic_response_to_openai(resp: JSON, *, model: str | None = None) -> JSON:
    """Anthropic message -> OpenAI chat.completion. Thinking becomes `reasoning_content` (the
    field DeepSeek and vLLM use); server tool blocks are left out. An answer that is not a
    message raises MalformedAnswer."""
    resp = check_anthropic_answer(resp)
    texts, thinking, calls = _a2o_parts(F.opt_objects(resp, "content"))
    message: JSON = {
        "role": "assistant",
        "content": "".join(texts) if texts or not calls else None,
        "refusal": None,
    }
    if thinking:
        message["reasoning_content"] = "".join(thinking)
    if calls:
        message["tool_calls"] = calls
    choice = {
        "index": 0,
        "message": message,
        "logprobs": None,
        "finish_reason": openai_finish_reason(resp.get("stop_reason")),
    }
    return {
        "id": openai_completion_id(resp.get("id")),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model or F.opt_str(resp, "model"),
        "choices": [choice],
        "usage": usage_to_openai(resp.get("usage")),
    }


def _a2o_parts(content: list[JSON]) -> tuple[list[str], list[str], list[JSON]]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[JSON] = []
    for j, block in enumerate(content):
        where = f"content[{j}]"
        kind = block.get("type")
        if kind == "text":
            texts.append(F.opt_str(block, "text", where) or "")
        elif kind == "thinking":
            thinking.append(F.opt_str(block, "thinking", where) or "")
        elif kind == "tool_use":
            calls.append(answer_tool_call(block, where))
    return texts, thinking, calls


def answer_tool_call(block: JSON, where: str) -> JSON:
    """An upstream's tool_use block as an OpenAI tool call."""
    function = {
        "name": F.opt_str(block, "name", where),
        "arguments": F.dumps(F.opt_object(block, "input", where) or {}, f"{where}.input"),
    }
    return {"id": F.opt_str(block, "id", where), "type": "function", "function": function}
