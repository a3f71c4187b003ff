"""Hypothesis strategies for JSON the dialect layer did not write: any JSON value (its keys and
strings drawn mostly from the names the dialects read, so generated objects reach deep into the
translators), and a valid body with one value swapped for a value of another JSON type."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import strategies as st

# Field names and type strings of all dialects, so random objects look like requests/answers.
NAMES = [
    "model", "messages", "role", "content", "type", "text", "id", "name", "input", "tools",
    "tool_choice", "system", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
    "stop", "stop_sequences", "stream", "stream_options", "include_usage", "metadata", "user_id",
    "thinking", "budget_tokens", "source", "media_type", "data", "url", "image_url", "detail",
    "file", "file_data", "filename", "title", "function", "arguments", "tool_calls", "tool_call_id",
    "tool_use_id", "is_error", "input_schema", "parameters", "description", "strict", "n", "user",
    "response_format", "parallel_tool_calls", "disable_parallel_tool_use", "anthropic_beta",
    "refusal", "usage", "choices", "delta", "message", "finish_reason", "index", "prompt_tokens",
    "completion_tokens", "prompt_tokens_details", "cached_tokens", "input_tokens", "output_tokens",
    "cache_read_input_tokens", "cache_creation_input_tokens", "error", "stop_reason",
    "content_block", "partial_json", "candidates", "parts", "functionCall", "args",
    "thoughtSignature", "thought", "finishReason", "usageMetadata", "promptTokenCount",
    "candidatesTokenCount", "cachedContentTokenCount", "thoughtsTokenCount", "responseId",
    "promptFeedback", "blockReason", "code", "status", "details", "properties", "required",
    "items", "$ref", "$defs", "allOf", "anyOf", "enum", "format", "const",
]  # fmt: skip
TYPES = [
    "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
    "function", "base64", "url", "content", "image_url", "file", "auto", "any", "none", "tool",
    "required", "enabled", "disabled", "adaptive", "custom", "message_start", "message_delta",
    "message_stop", "content_block_start", "content_block_delta", "content_block_stop", "ping",
    "error", "text_delta", "input_json_delta", "thinking_delta", "user", "assistant", "developer",
    "object", "string", "integer", "STOP", "data:image/png;base64,AAAA", "https://x.test/a.png",
]  # fmt: skip

keys = st.sampled_from(NAMES) | st.text(max_size=6)
strings = st.sampled_from(TYPES) | st.sampled_from(NAMES) | st.text(max_size=12)
# orjson reads integers up to 64 bits (larger ones become floats), never NaN or infinity.
numbers = st.integers(-(2**63), 2**64 - 1) | st.integers(-5, 5) | st.floats(allow_nan=False, allow_infinity=False)
KINDS: dict[str, st.SearchStrategy[Any]] = {
    "null": st.none(),
    "bool": st.booleans(),
    "number": numbers,
    "string": strings,
}
scalars = st.one_of(*KINDS.values())
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=24,
)
KINDS["list"] = st.lists(json_values, max_size=3)
KINDS["object"] = st.dictionaries(keys, json_values, max_size=3)


def json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return "list" if isinstance(value, list) else "object"


def places(value: object) -> list[tuple[Any, Any]]:
    """Every (container, key) inside `value`: each object member and list item, at any depth."""
    found: list[tuple[Any, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        pairs = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        for key, child in pairs:
            found.append((item, key))
            stack.append(child)
    return found


@st.composite
def one_field_wrong(draw: st.DrawFn, body: Any) -> Any:
    """A copy of `body` with one value, anywhere in it, replaced by one of another JSON type."""
    body = copy.deepcopy(body)
    spots = places(body)
    if not spots:
        return body
    container, key = draw(st.sampled_from(spots))
    kind = draw(st.sampled_from(sorted(set(KINDS) - {json_kind(container[key])})))
    container[key] = draw(KINDS[kind])
    return body


def nested(depth: int, leaf: object = 1) -> object:
    """A list nested `depth` levels deep: valid JSON that Python's repr and orjson's writer
    cannot handle (orjson reads up to 1024 levels)."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value
