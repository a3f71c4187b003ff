"""Answers, Anthropic Messages -> OpenAI Responses API: the response object and its items.

What the stream translator (`responses_stream.py`) builds event by event is the same object
this module builds at once, with the same ids, so a cache hit replayed as a stream and the live
answer agree:

    text block          a `message` item with one `output_text` part
    tool_use            a `function_call` item (`call_id` = the tool_use id; a namespaced
                        tool's flattened name split back into `namespace` and `name`)
    thinking            a `reasoning` item: the thinking text as its summary, the block itself
                        in `encrypted_content` (`responses_reasoning.py`)
    stop_reason         `status`: max_tokens -> incomplete (max_output_tokens), refusal ->
                        incomplete (content_filter), anything else completed
    usage               input_tokens counts cached tokens too (OpenAI's convention), the cache
                        reads in input_tokens_details.cached_tokens
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from .fields import ANSWER as F
from .responses_reasoning import encrypted_content

JSON = dict[str, Any]
Names = dict[str, tuple[str, str]]

_INCOMPLETE = {"max_tokens": "max_output_tokens", "model_context_window_exceeded": "max_output_tokens",
               "refusal": "content_filter"}


def response_id(message_id: object) -> str:
    text = message_id if isinstance(message_id, str) and message_id else "msg_bifrost"
    return "resp_" + text.removeprefix("msg_")


def envelope(rid: str, model: str, created: int, status: str = "in_progress") -> JSON:
    """A response object with no output yet (what `response.created` carries)."""
    return {
        "id": rid, "object": "response", "created_at": created, "status": status, "error": None,
        "incomplete_details": None, "instructions": None, "max_output_tokens": None, "model": model,
        "output": [], "parallel_tool_calls": True, "previous_response_id": None, "reasoning": None,
        "store": False, "temperature": None, "text": {"format": {"type": "text"}}, "tool_choice": "auto",
        "tools": [], "top_p": None, "truncation": "disabled", "usage": None, "metadata": {},
    }


def finished(response: JSON, stop_reason: str | None, usage: JSON) -> JSON:
    """`response` at its end: status, incomplete_details and usage filled in."""
    reason = _INCOMPLETE.get(stop_reason or "")
    response["status"] = "incomplete" if reason else "completed"
    response["incomplete_details"] = {"reason": reason} if reason else None
    response["usage"] = usage
    return response


def usage(input_tokens: int, output_tokens: int, cache_read: int, cache_write: int) -> JSON:
    total_input = input_tokens + cache_read + cache_write
    return {
        "input_tokens": total_input, "input_tokens_details": {"cached_tokens": cache_read},
        "output_tokens": output_tokens, "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": total_input + output_tokens,
    }


def anthropic_usage(raw: object) -> JSON:
    counts = raw if isinstance(raw, dict) else {}
    return usage(*(_count(counts.get(key)) for key in (
        "input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")))


def _count(value: object) -> int:
    return value if type(value) is int and value >= 0 else 0


def message_item(item_id: str, text: str, status: str = "completed") -> JSON:
    return {"id": item_id, "type": "message", "status": status, "role": "assistant",
            "content": [output_text(text)] if status == "completed" else []}


def output_text(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def function_call_item(tool_id: str, name: str, arguments: str, names: Names, status: str = "completed") -> JSON:
    item: JSON = {"id": "fc_" + tool_id.removeprefix("toolu_"), "type": "function_call", "status": status,
                  "call_id": tool_id, "name": name, "arguments": arguments}
    if name in names:
        item["namespace"], item["name"] = names[name]
    return item


def reasoning_item(item_id: str, block: JSON | None) -> JSON:
    item: JSON = {"id": item_id, "type": "reasoning", "summary": []}
    if block is not None:
        text = block.get("thinking")
        if isinstance(text, str) and text:
            item["summary"] = [{"type": "summary_text", "text": text}]
        item["encrypted_content"] = encrypted_content(block)
    return item


def anthropic_response_to_responses(message: JSON, *, model: str, names: Names | None = None) -> JSON:
    """A whole Anthropic message as a Responses API response object."""
    message = F.an_object(message, "the answer")
    rid = response_id(message.get("id"))
    response = envelope(rid, model, int(time.time()))
    base = rid.removeprefix("resp_")
    for i, block in enumerate(F.opt_objects(message, "content")):
        item = _item(block, f"{base}_{i}", names or {}, f"content[{i}]")
        if item is not None:
            response["output"].append(item)
    return finished(response, F.opt_str(message, "stop_reason"), anthropic_usage(message.get("usage")))


def _item(block: JSON, base: str, names: Names, where: str) -> JSON | None:
    kind = block.get("type")
    if kind == "text":
        return message_item("msg_" + base, F.opt_str(block, "text", where) or "")
    if kind == "tool_use":
        tool_id = F.opt_str(block, "id", where) or "toolu_" + base
        arguments = orjson.dumps(block.get("input") or {}).decode()
        return function_call_item(tool_id, F.opt_str(block, "name", where) or "", arguments, names)
    if kind in ("thinking", "redacted_thinking"):
        return reasoning_item("rs_" + base, block)
    return None  # server tool blocks: the client cannot run or show them
