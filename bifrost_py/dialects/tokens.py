"""Local token estimates, for providers without a counting endpoint and for routing thresholds.

An estimate, not a tokenizer: about 3.5 characters per token for English and code, counted
over everything the model reads: system, messages, tool definitions, tool calls and tool
results (an estimate that skips tools makes Claude Code compact too late). Text outside ASCII
counts more: a CJK character is about a token of its own, so each extra UTF-8 byte of a
character weighs 1.25 characters (a 3-byte CJK character comes to 3.5, one token). Offering
tools adds Anthropic's tool-use system prompt (346 tokens). Images count a fixed 1,600 tokens
(Anthropic's figure for a ~1.15 megapixel image). Errs on the high side where it must err.

The estimate runs on requests before anything has checked them, so it never raises: a field of
an unexpected type is counted by its JSON size, and nesting is walked with a loop, not recursion
(JSON may nest a thousand levels, deeper than Python's stack or orjson's writer go).
"""

from __future__ import annotations

from typing import Any

import orjson

CHARS_PER_TOKEN = 3.5
IMAGE_TOKENS = 1600
PER_MESSAGE_TOKENS = 4
TOOLS_OVERHEAD_TOKENS = 346   # Anthropic's tool-use system prompt (tool_choice auto/none)
EXTRA_BYTE_WEIGHT = 1.25      # characters added per UTF-8 byte beyond the first
_IMAGE_KINDS = ("image", "image_url", "input_image", "document")


def _weighted_len(text: str) -> float:
    """Length in ASCII-equivalent characters (see the module docstring)."""
    if text.isascii():
        return len(text)
    return len(text) + EXTRA_BYTE_WEIGHT * (len(text.encode("utf-8", "surrogatepass")) - len(text))


def json_size(value: object) -> int:
    """Characters of `value` written as JSON; never raises (too deep for orjson: counted by a walk)."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        return _walked_size(value)


def _walked_size(value: object) -> int:
    """An approximation of the JSON size: strings and keys with their quotes, one separator per
    item, numbers and literals by their text."""
    size = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            size += 2 + sum(len(str(key)) + 4 for key in item)
            stack.extend(item.values())
        elif isinstance(item, list):
            size += 2 + len(item)
            stack.extend(item)
        elif isinstance(item, str):
            size += len(item) + 2
        else:
            size += len(str(item))
    return size


def _text_of(value: object) -> float:
    """A field that should be text: its weighted length, or its JSON size when it is not text."""
    if value is None:
        return 0
    if isinstance(value, str):
        return _weighted_len(value)
    return json_size(value)


def _block_chars(block: dict[str, Any]) -> tuple[float, int, Any]:
    """(characters, images, nested content still to count) of one content block of any dialect
    (a Gemini part or Content has no type: its text, media or parts are counted)."""
    kind = block.get("type")
    if not isinstance(kind, str):
        if isinstance(block.get("text"), str):
            return _weighted_len(block["text"]), 0, None
        if "inlineData" in block or "fileData" in block:
            return 0, 1, None
        if isinstance(block.get("parts"), list):
            return 0, 0, block["parts"]
        return json_size(block), 0, None
    if kind in _IMAGE_KINDS:
        return 0, 1, None
    if kind == "text":
        return _text_of(block.get("text")), 0, None
    if kind == "tool_use":
        return _text_of(block.get("name")) + json_size(block.get("input") or {}), 0, None
    if kind == "tool_result":
        return 0, 0, block.get("content")
    if kind in ("thinking", "redacted_thinking"):
        return _text_of(block.get("thinking") or block.get("data")), 0, None
    return _responses_item_chars(kind, block)


def _responses_item_chars(kind: str, block: dict[str, Any]) -> tuple[float, int, Any]:
    """A Responses API input item or content part (Codex CLI); anything else by its JSON size."""
    if kind == "message":
        return 0, 0, block.get("content")
    if kind in ("input_text", "output_text"):
        return _text_of(block.get("text")), 0, None
    if kind == "function_call":
        return _text_of(block.get("name")) + _text_of(block.get("arguments")), 0, None
    if kind == "function_call_output":
        return 0, 0, block.get("output")
    return json_size(block), 0, None


def _text_chars(value: Any) -> tuple[float, int]:
    """(characters of text, number of images) inside a content value of either dialect."""
    chars: float = 0
    images = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if item is None:
            continue
        if isinstance(item, str):
            chars += _weighted_len(item)
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            c, i, nested = _block_chars(item)
            chars += c
            images += i
            stack.append(nested)
        else:
            chars += len(str(item))
    return chars, images


def estimate_input_tokens(body: Any) -> int:
    """Estimated prompt tokens of an Anthropic Messages, OpenAI Chat, OpenAI Responses or Gemini
    request body; any JSON value is accepted (a body that is not an object counts by its size)."""
    if not isinstance(body, dict):
        chars, _ = _text_chars(body)
        return int(chars / CHARS_PER_TOKEN)
    chars, images = _text_chars(body.get("system"))
    messages = body.get("messages")
    messages = messages if isinstance(messages, list) else []
    contents = body.get("contents")  # Gemini: systemInstruction and contents, parts inside
    if isinstance(contents, list) and not messages:
        c, i = _text_chars([body.get("systemInstruction"), contents])
        chars += c
        images += i
        messages = contents
    for message in messages:
        if not isinstance(message, dict):
            continue
        c, i = _text_chars(message.get("content"))
        chars += c
        images += i
        calls = message.get("tool_calls")
        for call in calls if isinstance(calls, list) else ([calls] if calls else ()):
            chars += json_size(call)
    tools = body.get("tools") or body.get("functions")
    overhead = 0
    if tools:
        chars += json_size(tools)
        overhead = TOOLS_OVERHEAD_TOKENS
    items = 0
    if body.get("input") is not None:  # embeddings; Responses: `instructions` and `input` items
        c, i = _text_chars([body.get("instructions"), body.get("input")])
        chars += c
        images += i
        if isinstance(body["input"], list):
            items = sum(1 for item in body["input"] if isinstance(item, dict))
    elif isinstance(body.get("instructions"), str):
        chars += _weighted_len(body["instructions"])
    turns = len(messages) + items
    return int(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS + PER_MESSAGE_TOKENS * turns + overhead
