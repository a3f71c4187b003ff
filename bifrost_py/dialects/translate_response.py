"""Non-streaming responses, Anthropic Messages ⇄ OpenAI Chat Completions, and the pieces a stream
shares with them: ids, stop reasons and usage.

Usage is the subtle part. OpenAI's `prompt_tokens` counts every input token, cached ones included
(`prompt_tokens_details.cached_tokens`); Anthropic's `input_tokens` excludes the tokens read from
or written to the cache. So OpenAI -> Anthropic subtracts the cached tokens, and Anthropic ->
OpenAI adds cache reads and writes back.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import orjson

from .translate_errors import TranslationError
from .translate_request import anthropic_tool_id, parse_arguments

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


def usage_from_openai(usage: object) -> JSON:
    """OpenAI usage -> Anthropic usage (cached prompt tokens become cache reads)."""
    usage = usage if isinstance(usage, dict) else {}
    details = usage.get("prompt_tokens_details") or {}
    cached = details.get("cached_tokens") or 0
    return {
        "input_tokens": max((usage.get("prompt_tokens") or 0) - cached, 0),
        "output_tokens": usage.get("completion_tokens") or 0,
        "cache_read_input_tokens": cached,
        "cache_creation_input_tokens": 0,
    }


def usage_to_openai(usage: object) -> JSON:
    """Anthropic usage -> OpenAI usage (cache reads and writes are prompt tokens too)."""
    usage = usage if isinstance(usage, dict) else {}
    cached = usage.get("cache_read_input_tokens") or 0
    prompt = (
        (usage.get("input_tokens") or 0) + cached + (usage.get("cache_creation_input_tokens") or 0)
    )
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


# ---------------------------------------------------------------- OpenAI -> Anthropic


def openai_response_to_anthropic(resp: JSON, *, model: str | None = None) -> JSON:
    """OpenAI chat.completion -> Anthropic message. Only the first choice is kept."""
    if not isinstance(resp, dict) or (resp.get("error") and not resp.get("choices")):
        raise TranslationError("upstream answer is not a chat completion")
    choices = resp.get("choices") or [{}]
    choice = choices[0] if isinstance(choices[0], dict) else {}
    message = choice.get("message") or {}
    content = _o2a_text_blocks(message) + _o2a_tool_uses(message.get("tool_calls") or ())
    has_calls = any(block["type"] == "tool_use" for block in content)
    stop = anthropic_stop_reason(choice.get("finish_reason"), has_calls)
    if message.get("refusal"):
        stop = "refusal"
    return {
        "id": anthropic_message_id(resp.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model or resp.get("model"),
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage_from_openai(resp.get("usage")),
    }


def _o2a_text_blocks(message: JSON) -> list[JSON]:
    content = message.get("content")
    if isinstance(content, list):  # a few compatible servers answer with content parts
        content = "".join(part.get("text") or "" for part in content if isinstance(part, dict))
    texts = [text for text in (content, message.get("refusal")) if isinstance(text, str) and text]
    return [{"type": "text", "text": text} for text in texts]


def _o2a_tool_uses(calls: Any) -> list[JSON]:
    blocks = []
    for j, call in enumerate(calls):
        function = call.get("function") or {}
        where = f"upstream tool_calls[{j}]"
        blocks.append(
            {
                "type": "tool_use",
                "id": anthropic_tool_id(call.get("id") or f"toolu_{uuid.uuid4().hex[:24]}", where),
                "name": function.get("name") or "",
                "input": parse_arguments(function.get("arguments"), f"{where}.function.arguments"),
            }
        )
    return blocks


# ---------------------------------------------------------------- Anthropic -> OpenAI


def anthropic_response_to_openai(resp: JSON, *, model: str | None = None) -> JSON:
    """Anthropic message -> OpenAI chat.completion. Thinking becomes `reasoning_content` (the
    field DeepSeek and vLLM use); server tool blocks are left out."""
    if not isinstance(resp, dict) or resp.get("type") == "error":
        raise TranslationError("upstream answer is not a message")
    texts, thinking, calls = _a2o_parts(resp.get("content") or ())
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
        "model": model or resp.get("model"),
        "choices": [choice],
        "usage": usage_to_openai(resp.get("usage")),
    }


def _a2o_parts(content: Any) -> tuple[list[str], list[str], list[JSON]]:
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[JSON] = []
    for block in content:
        kind = block.get("type")
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
        elif kind == "tool_use":
            calls.append(openai_tool_call(block.get("id"), block.get("name"), block.get("input")))
    return texts, thinking, calls


def openai_tool_call(call_id: object, name: object, arguments: object) -> JSON:
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": name, "arguments": orjson.dumps(arguments or {}).decode()},
    }
