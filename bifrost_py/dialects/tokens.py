"""Local token estimates, for providers without a counting endpoint and for routing thresholds.

An estimate, not a tokenizer: about 3.5 characters per token for English and code, counted
over everything the model reads: system, messages, tool definitions, tool calls and tool
results (an estimate that skips tools makes Claude Code compact too late). Text outside ASCII
counts more: a CJK character is about a token of its own, so each extra UTF-8 byte of a
character weighs 1.25 characters (a 3-byte CJK character comes to 3.5, one token). Offering
tools adds Anthropic's tool-use system prompt (346 tokens). Images count a fixed 1,600 tokens
(Anthropic's figure for a ~1.15 megapixel image). Errs on the high side where it must err.
"""

from __future__ import annotations

from typing import Any

import orjson

CHARS_PER_TOKEN = 3.5
IMAGE_TOKENS = 1600
PER_MESSAGE_TOKENS = 4
TOOLS_OVERHEAD_TOKENS = 346   # Anthropic's tool-use system prompt (tool_choice auto/none)
EXTRA_BYTE_WEIGHT = 1.25      # characters added per UTF-8 byte beyond the first


def _weighted_len(text: str) -> float:
    """Length in ASCII-equivalent characters (see the module docstring)."""
    if text.isascii():
        return len(text)
    return len(text) + EXTRA_BYTE_WEIGHT * (len(text.encode("utf-8", "surrogatepass")) - len(text))


def _text_chars(value: Any) -> tuple[float, int]:
    """(characters of text, number of images) inside a content value of either dialect."""
    if value is None:
        return 0, 0
    if isinstance(value, str):
        return _weighted_len(value), 0
    if isinstance(value, list):
        chars: float = 0
        images = 0
        for item in value:
            c, i = _text_chars(item)
            chars += c
            images += i
        return chars, images
    if isinstance(value, dict):
        kind = value.get("type")
        if kind in ("image", "image_url", "input_image", "document"):
            return 0, 1
        if kind == "text":
            return _weighted_len(value.get("text") or ""), 0
        if kind == "tool_use":
            return len(value.get("name") or "") + len(orjson.dumps(value.get("input") or {})), 0
        if kind == "tool_result":
            return _text_chars(value.get("content"))
        if kind in ("thinking", "redacted_thinking"):
            return _weighted_len(value.get("thinking") or value.get("data") or ""), 0
        return len(orjson.dumps(value)), 0
    return len(str(value)), 0


def estimate_input_tokens(body: dict[str, Any]) -> int:
    """Estimated prompt tokens of an Anthropic Messages or OpenAI Chat request body."""
    chars, images = _text_chars(body.get("system"))
    messages = body.get("messages") or []
    for message in messages:
        if not isinstance(message, dict):
            continue
        c, i = _text_chars(message.get("content"))
        chars += c
        images += i
        for call in message.get("tool_calls") or ():
            chars += len(orjson.dumps(call))
    tools = body.get("tools") or body.get("functions")
    overhead = 0
    if tools:
        chars += len(orjson.dumps(tools))
        overhead = TOOLS_OVERHEAD_TOKENS
    if body.get("input") is not None:  # embeddings
        c, _ = _text_chars(body.get("input"))
        chars += c
    return int(chars / CHARS_PER_TOKEN) + images * IMAGE_TOKENS + PER_MESSAGE_TOKENS * len(messages) + overhead
