"""Gemini <-> Anthropic: request translation, schema cleaning, responses, and streams whose
every chunking yields a valid Anthropic event sequence with the same content."""

from __future__ import annotations

import itertools
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.gemini import GEMINI_API_KEY_HEADER, gemini_path
from bifrost_py.dialects.gemini_errors import (
    GeminiError,
    gemini_error_body,
    gemini_error_to_anthropic,
)
from bifrost_py.dialects.gemini_mock import (
    encode_gemini_sse,
    gemini_request_text,
    gemini_response,
    gemini_stream_chunks,
)
from bifrost_py.dialects.gemini_request import anthropic_request_to_gemini
from bifrost_py.dialects.gemini_response import anthropic_usage, gemini_response_to_anthropic
from bifrost_py.dialects.gemini_schema import gemini_schema
from bifrost_py.dialects.gemini_stream import GeminiStreamToAnthropic
from bifrost_py.dialects.gemini_tool_ids import SKIP_THOUGHT_SIGNATURE
from bifrost_py.dialects.sse import SSEDecoder

# ------------------------------------------------------------------ request


def test_paths_and_auth_header() -> None:
    assert (
        gemini_path("gemini-2.5-flash", False) == "/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert gemini_path("models/gemini-2.5-pro", True) == (
        "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
    )
    assert GEMINI_API_KEY_HEADER == "x-goog-api-key"


def conversation(model: str = "gemini-2.5-pro") -> dict[str, Any]:
    return {
        "model": model,
        "max_tokens": 512,
        "temperature": 0.2,
        "top_p": 0.9,
        "top_k": 40,
        "stop_sequences": ["END"],
        "stream": True,
        "system": [{"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "What is in README.md?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "text", "text": "Reading it."},
                    {
                        "type": "tool_use",
                        "id": "toolu_A",
                        "name": "Read",
                        "input": {"path": "README.md"},
                    },
                    {
                        "type": "tool_use",
                        "id": "toolu_B",
                        "name": "Glob",
                        "input": {"pattern": "*"},
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_A", "content": "# Title"},
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_B",
                        "is_error": True,
                        "content": [{"type": "text", "text": "permission denied"}],
                    },
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "image",
                        "source": {"type": "base64", "media_type": "image/png", "data": "iVBOR"},
                    }
                ],
            },
        ],
        "tools": [
            {
                "name": "Read",
                "description": "Read a file",
                "input_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {"path": {"type": "string"}},
                    "required": ["path"],
                },
            },
            {
                "name": "Glob",
                "description": "List",
                "input_schema": {"type": "object", "properties": {"pattern": {"type": "string"}}},
            },
            {
                "name": "Now",
                "description": "Time",
                "input_schema": {"type": "object", "properties": {}},
            },
        ],
        "tool_choice": {"type": "tool", "name": "Read"},
    }


def test_conversation_translates() -> None:
    out, notes = anthropic_request_to_gemini(conversation())
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}]}
    roles = [content["role"] for content in out["contents"]]
    assert roles == ["user", "model", "user"]  # the two user messages merged
    model_parts = out["contents"][1]["parts"]
    assert model_parts[0] == {"text": "Reading it."}
    assert model_parts[1] == {"functionCall": {"name": "Read", "args": {"path": "README.md"}}}
    user_parts = out["contents"][2]["parts"]
    assert user_parts[0] == {
        "functionResponse": {"name": "Read", "response": {"output": "# Title"}}
    }
    assert user_parts[1] == {
        "functionResponse": {"name": "Glob", "response": {"error": "permission denied"}}
    }
    assert user_parts[2] == {"inlineData": {"mimeType": "image/png", "data": "iVBOR"}}
    declarations = out["tools"][0]["functionDeclarations"]
    assert declarations[0]["parameters"] == {
        "type": "object",
        "properties": {"path": {"type": "string"}},
        "required": ["path"],
    }
    assert "parameters" not in declarations[2]  # Gemini rejects empty OBJECT properties
    assert out["toolConfig"] == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["Read"]}
    }
    assert out["generationConfig"] == {
        "maxOutputTokens": 512,
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "stopSequences": ["END"],
    }
    assert any("$schema" in note and "additionalProperties" in note for note in notes)
    assert "model" not in out and "stream" not in out


def test_thought_signatures_ride_in_tool_ids() -> None:
    """Gemini 3 rejects function calls in history without their signature."""
    answer = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {
                            "functionCall": {"name": "Read", "args": {"p": 1}},
                            "thoughtSignature": "Cq+/ab==",
                        },
                        {"functionCall": {"name": "Read", "args": {"p": 2}}},
                    ],
                },
                "finishReason": "STOP",
            }
        ]
    }
    message = gemini_response_to_anthropic(answer, model="gemini-3-pro-preview")
    first, second = message["content"]
    assert all(
        c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-" for c in first["id"]
    )
    history = {
        "model": "gemini-3-pro-preview",
        "messages": [
            {"role": "user", "content": "go"},
            {"role": "assistant", "content": message["content"]},
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": first["id"], "content": "1"},
                    {"type": "tool_result", "tool_use_id": second["id"], "content": "2"},
                ],
            },
        ],
    }
    out, _ = anthropic_request_to_gemini(history)
    calls = out["contents"][1]["parts"]
    assert calls[0]["thoughtSignature"] == "Cq+/ab=="
    assert "thoughtSignature" not in calls[1]
    responses = out["contents"][2]["parts"]
    assert [part["functionResponse"]["name"] for part in responses] == ["Read", "Read"]


def test_calls_from_other_models_get_the_bypass_signature_on_gemini_3_only() -> None:
    out3, _ = anthropic_request_to_gemini(conversation("gemini-3-flash-preview"))
    assert out3["contents"][1]["parts"][1]["thoughtSignature"] == SKIP_THOUGHT_SIGNATURE
    assert "thoughtSignature" not in out3["contents"][1]["parts"][2]
    out25, _ = anthropic_request_to_gemini(conversation("gemini-2.5-flash"))
    assert "thoughtSignature" not in out25["contents"][1]["parts"][1]


def test_dropped_things_are_noted() -> None:
    body = {
        "model": "gemini-2.5-pro",
        "max_tokens": 10,
        "stop_sequences": list("abcdefg"),
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "tools": [{"type": "web_search_20250305", "name": "web_search"}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "container": "x",
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "q"}, {"type": "search_result", "x": 1}],
            },
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "t", "signature": "s"},
                    {"type": "text", "text": "a"},
                ],
            },
            {
                "role": "user",
                "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "r"}],
            },
        ],
    }
    out, notes = anthropic_request_to_gemini(body)
    text = " | ".join(notes)
    for expected in (
        "thinking",
        "web_search_20250305",
        "'container'",
        "search_result",
        "first 5",
        "matching tool_use",
    ):
        assert expected in text
    assert out["generationConfig"]["stopSequences"] == list("abcde")
    assert out["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 1024}
    assert "tools" not in out and "toolConfig" not in out
    assert out["contents"][2]["parts"][0]["functionResponse"]["name"] == "unknown_tool"


def test_media_sources() -> None:
    messages = [
        {
            "role": "user",
            "content": [
                {"type": "image", "source": {"type": "url", "url": "https://x.test/cat.png"}},
                {
                    "type": "document",
                    "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"},
                },
                {
                    "type": "document",
                    "source": {"type": "text", "media_type": "text/plain", "data": "plain"},
                },
                {"type": "document", "source": {"type": "url", "url": "https://x.test/doc"}},
                {"type": "image", "source": {"type": "file", "file_id": "f"}},
            ],
        }
    ]
    out, notes = anthropic_request_to_gemini({"messages": messages})
    assert out["contents"][0]["parts"] == [
        {"fileData": {"mimeType": "image/png", "fileUri": "https://x.test/cat.png"}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
        {"text": "plain"},
        {"fileData": {"mimeType": "application/pdf", "fileUri": "https://x.test/doc"}},
    ]
    assert any("'file'" in note for note in notes)


# ------------------------------------------------------------------ JSON schema

ALLOWED = {
    "type", "format", "title", "description", "nullable", "enum", "items", "properties",
    "required", "minItems", "maxItems", "minProperties", "maxProperties", "minLength",
    "maxLength", "pattern", "minimum", "maximum", "anyOf", "propertyOrdering", "default", "example",
}  # fmt: skip


def assert_gemini_schema(schema: dict[str, Any]) -> None:
    assert set(schema) <= ALLOWED, set(schema) - ALLOWED
    assert schema.get("properties") != {}
    for sub in (schema.get("properties") or {}).values():
        assert_gemini_schema(sub)
    for sub in schema.get("anyOf", []):
        assert_gemini_schema(sub)
    if "items" in schema:
        assert_gemini_schema(schema["items"])
    if "required" in schema:
        assert set(schema["required"]) <= set(schema.get("properties", {}))
    if "enum" in schema:
        assert all(isinstance(value, str) for value in schema["enum"])
    assert not isinstance(schema.get("type"), list)


json_types = st.sampled_from(["string", "integer", "number", "boolean", "object", "array", "null"])
schemas = st.recursive(
    st.fixed_dictionaries(
        {"type": json_types | st.lists(json_types, min_size=1, max_size=3)},
        optional={
            "description": st.text(max_size=5),
            "format": st.sampled_from(["uri", "date-time", "email", "int64", "enum"]),
            "enum": st.lists(st.text(max_size=3) | st.integers(), max_size=3),
            "const": st.text(max_size=3),
            "additionalProperties": st.booleans(),
            "$schema": st.just("http://json-schema.org/draft-07/schema#"),
            "exclusiveMinimum": st.integers(),
            "minimum": st.integers(),
            "$ref": st.sampled_from(["#/$defs/Node", "#/definitions/Missing"]),
        },
    ),
    lambda children: st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.just("object"),
                "properties": st.dictionaries(
                    st.text(min_size=1, max_size=5), children, max_size=3
                ),
            },
            optional={"required": st.lists(st.text(min_size=1, max_size=5), max_size=3)},
        ),
        st.fixed_dictionaries({"type": st.just("array"), "items": children}),
        st.fixed_dictionaries({"anyOf": st.lists(children, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"oneOf": st.lists(children, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"allOf": st.lists(children, min_size=1, max_size=2)}),
    ),
    max_leaves=12,
)


@settings(max_examples=300)
@given(schemas)
def test_cleaned_schemas_only_use_what_gemini_accepts(schema: dict[str, Any]) -> None:
    root = {
        **schema,
        "$defs": {"Node": {"type": "object", "properties": {"next": {"$ref": "#/$defs/Node"}}}},
    }
    assert_gemini_schema(gemini_schema(root))


def test_schema_details() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Pos": {"type": "object", "properties": {"x": {"type": "number", "format": "double"}}}
        },
        "properties": {
            "at": {"$ref": "#/$defs/Pos", "description": "where"},
            "kind": {"const": "circle"},
            "tags": {"type": "array", "items": {"type": ["string", "null"]}},
            "size": {"oneOf": [{"type": "integer"}, {"type": "string"}]},
            "both": {
                "allOf": [
                    {"properties": {"a": {"type": "string"}}, "required": ["a"]},
                    {"properties": {"b": {"type": "string"}}},
                ]
            },
        },
    }
    notes: list[str] = []
    cleaned = gemini_schema(schema, notes)
    props = cleaned["properties"]
    assert props["at"] == {
        "type": "object",
        "description": "where",
        "properties": {"x": {"type": "number", "format": "double"}},
    }
    assert props["kind"] == {"enum": ["circle"], "type": "string"}
    assert props["tags"]["items"] == {"nullable": True, "type": "string"}
    assert props["size"] == {"anyOf": [{"type": "integer"}, {"type": "string"}]}
    assert props["both"]["required"] == ["a"] and set(props["both"]["properties"]) == {"a", "b"}
    assert notes == ["dropped tool schema keywords Gemini rejects: $defs"]


# ------------------------------------------------------------------ response


def test_text_response() -> None:
    resp = {
        "candidates": [
            {
                "content": {
                    "role": "model",
                    "parts": [
                        {"text": "thinking...", "thought": True},
                        {"text": "Hello"},
                        {"text": " world"},
                    ],
                },
                "finishReason": "STOP",
            }
        ],
        "usageMetadata": {
            "promptTokenCount": 100,
            "cachedContentTokenCount": 60,
            "candidatesTokenCount": 5,
            "thoughtsTokenCount": 7,
        },
        "responseId": "abc",
    }
    message = gemini_response_to_anthropic(resp, model="gemini-2.5-pro")
    assert message["id"] == "msg_abc"
    assert message["model"] == "gemini-2.5-pro"
    assert message["content"] == [{"type": "text", "text": "Hello world"}]
    assert message["stop_reason"] == "end_turn"
    assert message["usage"] == {
        "input_tokens": 40,
        "output_tokens": 12,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 60,
    }


@pytest.mark.parametrize(
    ("finish", "expected"),
    [
        ("MAX_TOKENS", "max_tokens"),
        ("SAFETY", "refusal"),
        ("RECITATION", "refusal"),
        ("OTHER", "end_turn"),
        (None, "end_turn"),
    ],
)
def test_finish_reasons(finish: str | None, expected: str) -> None:
    resp = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": finish}]}
    assert gemini_response_to_anthropic(resp, model="m")["stop_reason"] == expected


def test_function_call_and_blocked_prompt() -> None:
    resp = {
        "candidates": [
            {
                "content": {
                    "parts": [
                        {"text": "Let me look."},
                        {"functionCall": {"name": "Read", "args": {"path": "a"}}},
                    ]
                },
                "finishReason": "STOP",
            }
        ]
    }
    message = gemini_response_to_anthropic(resp, model="m")
    assert message["stop_reason"] == "tool_use"
    tool = message["content"][1]
    assert tool["type"] == "tool_use" and tool["name"] == "Read" and tool["input"] == {"path": "a"}
    assert tool["id"].startswith("toolu_")
    blocked = gemini_response_to_anthropic({"promptFeedback": {"blockReason": "SAFETY"}}, model="m")
    assert blocked["content"] == [] and blocked["stop_reason"] == "refusal"


# ------------------------------------------------------------------ streams


def check_sequence(events: list[tuple[str, dict]]) -> list[dict[str, Any]]:
    """Assert the Anthropic stream grammar; return the content blocks it builds."""
    names = [name for name, _ in events]
    assert all(name == data["type"] for name, data in events)
    assert names[0] == "message_start" and names.count("message_start") == 1
    assert names[-1] == "message_stop" and names.count("message_stop") == 1
    assert names[-2] == "message_delta" and names.count("message_delta") == 1
    blocks: list[dict[str, Any]] = []
    open_index: int | None = None
    for name, data in events[1:-2]:
        if name == "content_block_start":
            assert open_index is None and data["index"] == len(blocks)
            open_index = data["index"]
            blocks.append(dict(data["content_block"], _json=""))
        elif name == "content_block_delta":
            assert data["index"] == open_index
            block, delta = blocks[open_index], data["delta"]
            if delta["type"] == "text_delta":
                assert block["type"] == "text"
                block["text"] += delta["text"]
            else:
                assert block["type"] == "tool_use" and delta["type"] == "input_json_delta"
                block["_json"] += delta["partial_json"]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        else:
            raise AssertionError(f"unexpected event {name}")
    assert open_index is None
    for block in blocks:
        raw = block.pop("_json")
        if block["type"] == "tool_use":
            block["input"] = orjson.loads(raw)
    return blocks


def without_ids(blocks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in block.items() if k != "id"} for block in blocks]


json_ints = st.integers(min_value=-(2**53), max_value=2**53)
args = st.dictionaries(st.text(max_size=4), json_ints | st.text(max_size=4), max_size=3)
items = st.lists(
    st.one_of(
        st.tuples(
            st.just("text"),
            st.text(min_size=1, max_size=20),
            st.lists(st.integers(0, 20), max_size=3),
        ),
        st.tuples(st.just("call"), st.sampled_from(["Read", "Bash"]), args),
    ),
    max_size=6,
)


def to_parts(item_list: list) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for item in item_list:
        if item[0] == "call":
            parts.append({"functionCall": {"name": item[1], "args": item[2]}})
            continue
        text, cuts = item[1], sorted({c % (len(item[1]) + 1) for c in item[2]})
        edges = [0, *cuts, len(text)]
        parts.extend(
            {"text": text[a:b]} for a, b in itertools.pairwise(edges) if text[a:b]
        )
    return parts


@settings(max_examples=200)
@given(
    items,
    st.lists(st.integers(0, 3), max_size=12),
    st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY"]),
    st.booleans(),
)
def test_any_chunking_gives_a_valid_sequence_with_the_same_content(
    item_list: list, group_sizes: list[int], finish: str, thoughts: bool
) -> None:
    parts = to_parts(item_list)
    if thoughts:
        parts.insert(0, {"text": "pondering", "thought": True})
    chunks: list[dict[str, Any]] = []
    position = 0
    for size in group_sizes:
        group = parts[position : position + size]
        position += size
        chunks.append(
            {
                "candidates": [{"content": {"role": "model", "parts": group}}],
                "usageMetadata": {"promptTokenCount": 9},
            }
        )
    chunks.append(
        {
            "candidates": [
                {"content": {"role": "model", "parts": parts[position:]}, "finishReason": finish}
            ],
            "usageMetadata": {"promptTokenCount": 9, "candidatesTokenCount": 4},
        }
    )

    stream = GeminiStreamToAnthropic("gemini-2.5-flash", input_tokens_estimate=3)
    events = [event for chunk in chunks for event in stream.feed(chunk)] + stream.finish()
    assert stream.finish() == [] and stream.feed(chunks[-1]) == []
    blocks = check_sequence(events)

    whole = {
        "candidates": [{"content": {"parts": parts}, "finishReason": finish}],
        "usageMetadata": chunks[-1]["usageMetadata"],
    }
    expected = gemini_response_to_anthropic(whole, model="gemini-2.5-flash")
    assert without_ids(blocks) == without_ids(expected["content"])
    message_delta = events[-2][1]
    assert message_delta["delta"]["stop_reason"] == expected["stop_reason"]
    assert message_delta["usage"] == expected["usage"]
    assert events[0][1]["message"]["usage"]["input_tokens"] == 9


def test_empty_stream_still_ends_properly() -> None:
    stream = GeminiStreamToAnthropic("gemini-2.5-flash", input_tokens_estimate=42)
    events = stream.finish()
    assert check_sequence(events) == []
    assert events[0][1]["message"]["usage"]["input_tokens"] == 42
    assert events[-2][1]["delta"]["stop_reason"] == "end_turn"


def test_error_inside_the_stream() -> None:
    stream = GeminiStreamToAnthropic("m")
    stream.feed(gemini_stream_chunks(["a"])[0])
    with pytest.raises(GeminiError) as caught:
        stream.feed({"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}})
    assert caught.value.anthropic_error_type == "overloaded_error"
    tail = stream.finish()
    assert [name for name, _ in tail] == ["content_block_stop", "message_delta", "message_stop"]


# ------------------------------------------------------------------ mock side


def test_mock_helpers_round_trip_through_the_translators() -> None:
    body, _ = anthropic_request_to_gemini(
        {
            "messages": [
                {"role": "user", "content": "first"},
                {"role": "assistant", "content": "ok"},
                {
                    "role": "user",
                    "content": [{"type": "text", "text": "say "}, {"type": "text", "text": "hi"}],
                },
            ]
        }
    )
    assert gemini_request_text(body) == "say hi"
    assert gemini_request_text({"contents": []}) == ""

    answer = gemini_response(
        "hello there", input_tokens=7, output_tokens=2, model="gemini-2.5-flash"
    )
    message = gemini_response_to_anthropic(answer, model="gemini-2.5-flash")
    assert message["content"] == [{"type": "text", "text": "hello there"}]
    assert message["usage"]["input_tokens"] == 7 and message["usage"]["output_tokens"] == 2

    pieces = ["hel", "lo ", "there"]
    wire = b"".join(
        encode_gemini_sse(chunk)
        for chunk in gemini_stream_chunks(pieces, input_tokens=7, output_tokens=2, model="g")
    )
    decoder = SSEDecoder()
    stream = GeminiStreamToAnthropic("g")
    events = []
    for sse in decoder.feed(wire):
        assert sse.event is None
        events.extend(stream.feed(orjson.loads(sse.data)))
    events.extend(stream.finish())
    blocks = check_sequence(events)
    assert blocks == [{"type": "text", "text": "hello there"}]
    assert events[-2][1]["usage"]["output_tokens"] == 2
    assert stream.usage["input_tokens"] == 7


# ------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (429, gemini_error_body(429, "Resource has been exhausted"), "rate_limit_error"),
        (400, gemini_error_body(400, "Invalid JSON payload"), "invalid_request_error"),
        (403, gemini_error_body(403, "denied"), "permission_error"),
        (404, gemini_error_body(404, "models/x is not found"), "not_found_error"),
        (500, gemini_error_body(500, "internal"), "api_error"),
        (503, gemini_error_body(503, "The model is overloaded."), "overloaded_error"),
        (
            400,
            {
                "error": {
                    "code": 400,
                    "message": "API key not valid. Please pass a valid API key.",
                    "status": "INVALID_ARGUMENT",
                    "details": [
                        {
                            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                            "reason": "API_KEY_INVALID",
                        }
                    ],
                }
            },
            "authentication_error",
        ),
        (502, None, "api_error"),
    ],
)
def test_errors(status: int, body: dict | None, expected: str) -> None:
    raw = orjson.dumps(body) if body is not None else b"<html>Bad Gateway</html>"
    kind, message = gemini_error_to_anthropic(status, raw)
    assert kind == expected
    assert message == (body["error"]["message"] if body else "<html>Bad Gateway</html>")


def test_usage_helper_defaults() -> None:
    assert anthropic_usage(None) == {
        "input_tokens": 0,
        "output_tokens": 0,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
