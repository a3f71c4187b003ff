"""The Gemini client dialect's translators against the outbound Gemini ones they invert, on
generated conversations with function calls (hypothesis): a Gemini request through Anthropic
and back, an Anthropic answer through Gemini and back, whole and streamed in any chunking,
and a Gemini request on to Chat Completions."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.dialects.anthropic_openai import anthropic_request_to_openai
from bifrost_py.dialects.gemini_inbound_request import gemini_request_to_anthropic
from bifrost_py.dialects.gemini_inbound_response import anthropic_response_to_gemini
from bifrost_py.dialects.gemini_inbound_stream import AnthropicStreamToGemini
from bifrost_py.dialects.gemini_request import anthropic_request_to_gemini
from bifrost_py.dialects.gemini_response import gemini_response_to_anthropic
from bifrost_py.dialects.gemini_stream import GeminiStreamToAnthropic
from bifrost_py.dialects.synthesize import message_events
from bifrost_py.dialects.tokens import estimate_input_tokens
from bifrost_py.dialects.translate_errors import MalformedAnswer, TranslationError

NAMES = ["read_file", "run_shell", "search"]
texts = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=30)
json_values = st.recursive(st.none() | st.booleans() | st.integers(-(2**53), 2**53) | texts,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
                           max_leaves=6)
arguments = st.dictionaries(st.sampled_from(["path", "command", "query", "limit"]), json_values, max_size=3)


@st.composite
def conversations(draw: st.DrawFn) -> dict[str, Any]:
    """A Gemini CLI-like request: user turns, model turns with text and function calls (with or
    without ids), each answered by the next user turn's function responses."""
    contents: list[dict[str, Any]] = []

    def user_turn() -> None:
        """A user turn: the responses to the model turn before it, if any, then text."""
        calls = [p["functionCall"] for p in contents[-1]["parts"] if "functionCall" in p] if contents else []
        responses = [{"functionResponse": {**({"id": c["id"]} if "id" in c else {}), "name": c["name"],
                                           "response": {"output": draw(texts)}}} for c in calls]
        contents.append({"role": "user", "parts": [*responses, {"text": draw(texts)}]})

    for turn in range(draw(st.integers(1, 4))):
        user_turn()
        parts: list[dict[str, Any]] = [{"text": draw(texts)}] if draw(st.booleans()) else []
        for n in range(draw(st.integers(0 if parts else 1, 2))):
            call: dict[str, Any] = {"name": draw(st.sampled_from(NAMES)), "args": draw(arguments)}
            if draw(st.booleans()):
                call["id"] = f"call_{turn}_{n}"
            parts.append({"functionCall": call})
        contents.append({"role": "model", "parts": parts})
    user_turn()
    declarations = [{"name": name, "description": f"{name} tool", "parametersJsonSchema": {
        "type": "object", "properties": {"path": {"type": "string"}}}} for name in NAMES]
    return {"contents": contents, "systemInstruction": {"parts": [{"text": draw(texts)}]},
            "tools": [{"functionDeclarations": declarations}],
            "generationConfig": {"maxOutputTokens": draw(st.integers(1, 64000)), "temperature": 0.5}}


def comparable(contents: list[dict[str, Any]]) -> list[tuple[str, list[Any]]]:
    """What must survive a round trip: roles, texts, calls (name, args), responses (name, output)."""
    out: list[tuple[str, list[Any]]] = []
    for content in contents:
        parts = []
        for part in content["parts"]:
            if "functionCall" in part:
                parts.append(("call", part["functionCall"]["name"], part["functionCall"]["args"]))
            elif "functionResponse" in part:
                response = part["functionResponse"]
                parts.append(("response", response["name"], response["response"]))
            else:
                parts.append(("text", part["text"]))
        out.append((content.get("role", "user"), parts))
    return out


@settings(max_examples=150, deadline=None)
@given(conversations())
def test_a_gemini_request_survives_anthropic_and_back(request: dict[str, Any]) -> None:
    anthropic, notes = gemini_request_to_anthropic(request, model="claude-sonnet-4-6")
    assert notes == []
    assert anthropic["max_tokens"] == request["generationConfig"]["maxOutputTokens"]
    assert anthropic["system"] == request["systemInstruction"]["parts"][0]["text"]
    for message in anthropic["messages"]:  # Anthropic's rules: results first, each answering a call before it
        kinds = [block["type"] for block in message["content"]]
        assert kinds == sorted(kinds, key=lambda kind: kind != "tool_result")
    called = {b["id"] for m in anthropic["messages"] for b in m["content"] if b["type"] == "tool_use"}
    answered = [b["tool_use_id"] for m in anthropic["messages"] for b in m["content"] if b["type"] == "tool_result"]
    assert set(answered) <= called and len(answered) == len(set(answered))
    back, _ = anthropic_request_to_gemini(anthropic)
    assert comparable(back["contents"]) == comparable(request["contents"])
    assert [d["name"] for d in back["tools"][0]["functionDeclarations"]] == NAMES


@settings(max_examples=50, deadline=None)
@given(conversations())
def test_a_gemini_request_reaches_chat_completions_with_its_calls_answered(request: dict[str, Any]) -> None:
    anthropic, _ = gemini_request_to_anthropic(request, model="gpt-4o")
    openai, _ = anthropic_request_to_openai(anthropic, model="gpt-4o")
    calls = [c["id"] for m in openai["messages"] for c in m.get("tool_calls") or []]
    results = [m["tool_call_id"] for m in openai["messages"] if m["role"] == "tool"]
    assert sorted(results) == sorted(calls)


@st.composite
def answers(draw: st.DrawFn) -> dict[str, Any]:
    """An Anthropic message: thinking, text and tool_use blocks, a stop reason, usage."""
    blocks: list[dict[str, Any]] = []
    if draw(st.booleans()):
        blocks.append({"type": "thinking", "thinking": draw(texts), "signature": "sig" + draw(st.text("abc", max_size=8))})
    if draw(st.booleans()):
        blocks.append({"type": "text", "text": draw(texts)})
    calls = draw(st.integers(0, 2))
    blocks += [{"type": "tool_use", "id": f"toolu_{n}", "name": draw(st.sampled_from(NAMES)), "input": draw(arguments)}
               for n in range(calls)]
    stop = "tool_use" if calls else draw(st.sampled_from(["end_turn", "max_tokens", "stop_sequence"]))
    counts = st.integers(0, 10**6)
    usage = {"input_tokens": draw(counts), "output_tokens": draw(counts), "cache_read_input_tokens": draw(counts),
             "cache_creation_input_tokens": 0}
    return {"id": "msg_abc", "type": "message", "role": "assistant", "model": "claude", "content": blocks,
            "stop_reason": stop, "stop_sequence": None, "usage": usage}


def expected_blocks(message: dict[str, Any]) -> list[Any]:
    return [(b["type"], b.get("text"), b.get("name"), b.get("input")) for b in message["content"] if b["type"] != "thinking"]


def expected_stop(message: dict[str, Any]) -> str:
    return "end_turn" if message["stop_reason"] == "stop_sequence" else message["stop_reason"]


@settings(max_examples=150, deadline=None)
@given(answers())
def test_an_anthropic_answer_survives_gemini_and_back(message: dict[str, Any]) -> None:
    gemini = anthropic_response_to_gemini(message, model="gemini-2.5-pro")
    metadata = gemini["usageMetadata"]
    assert metadata["totalTokenCount"] == metadata["promptTokenCount"] + metadata["candidatesTokenCount"]
    back = gemini_response_to_anthropic(orjson.loads(orjson.dumps(gemini)), model="claude")
    assert [(b["type"], b.get("text"), b.get("name"), b.get("input")) for b in back["content"]] == expected_blocks(message)
    assert back["stop_reason"] == expected_stop(message)
    assert back["usage"] == message["usage"]
    thoughts = [p["text"] for p in gemini["candidates"][0]["content"]["parts"] if p.get("thought")]
    assert thoughts == [b["thinking"] for b in message["content"] if b["type"] == "thinking"]


@settings(max_examples=150, deadline=None)
@given(answers(), st.lists(st.integers(1, 4), max_size=10))
def test_a_streamed_answer_carries_the_same_as_the_whole_one(message: dict[str, Any], groups: list[int]) -> None:
    to_gemini = AnthropicStreamToGemini(model="gemini-2.5-pro")
    chunks = [c for name, data in message_events(message) for c in to_gemini.feed(name, data)] + to_gemini.finish()
    assert all("finishReason" not in c["candidates"][0] for c in chunks[:-1])
    assert chunks[-1]["usageMetadata"] == anthropic_response_to_gemini(message, model="m")["usageMetadata"]
    to_anthropic = GeminiStreamToAnthropic("claude")
    events = [e for chunk in chunks for e in to_anthropic.feed(orjson.loads(orjson.dumps(chunk)))] + to_anthropic.finish()
    blocks: list[Any] = []
    for name, data in events:
        if name == "content_block_start":
            blocks.append([data["content_block"]["type"], "", data["content_block"].get("name"), ""])
        elif name == "content_block_delta":
            delta = data["delta"]
            blocks[-1][1 if delta["type"] == "text_delta" else 3] += delta.get("text") or delta.get("partial_json", "")
    got = [(kind, text or None, name, orjson.loads(raw) if raw else None) for kind, text, name, raw in blocks]
    texts_joined = "".join(b["text"] for b in message["content"] if b["type"] == "text")
    assert "".join(t or "" for k, t, _, _ in got if k == "text") == texts_joined
    assert [(n, i) for k, _, n, i in got if k == "tool_use"] == [
        (b["name"], b["input"]) for b in message["content"] if b["type"] == "tool_use"]
    assert events[-2][1]["delta"]["stop_reason"] == expected_stop(message)


def test_thinking_rides_in_the_first_call_and_comes_back_before_it() -> None:
    message = {"id": "msg_1", "content": [
        {"type": "thinking", "thinking": "Let me look.", "signature": "EqSig=="},
        {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a"}},
        {"type": "tool_use", "id": "toolu_2", "name": "read_file", "input": {"path": "b"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 3, "output_tokens": 4}}
    parts = anthropic_response_to_gemini(message, model="m")["candidates"][0]["content"]["parts"]
    assert parts[0] == {"text": "Let me look.", "thought": True}
    assert parts[1]["functionCall"]["id"] == "toolu_1" and "thoughtSignature" in parts[1]
    assert "thoughtSignature" not in parts[2]
    history = {"contents": [{"role": "user", "parts": [{"text": "read"}]},
                            {"role": "model", "parts": parts},
                            {"role": "user", "parts": [
                                {"functionResponse": {"id": "toolu_1", "name": "read_file", "response": {"output": "A"}}},
                                {"functionResponse": {"name": "read_file", "response": {"error": "no such file"}}}]}]}
    anthropic, notes = gemini_request_to_anthropic(history, model="claude")
    assert anthropic["messages"][1]["content"] == [
        {"type": "thinking", "thinking": "Let me look.", "signature": "EqSig=="},
        {"type": "tool_use", "id": "toolu_1", "name": "read_file", "input": {"path": "a"}},
        {"type": "tool_use", "id": "toolu_2", "name": "read_file", "input": {"path": "b"}}]
    assert anthropic["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "A"},
        {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no such file", "is_error": True}]
    assert notes == ["dropped thought parts of the history"]


def test_generation_settings_thinking_and_json_mode() -> None:
    """What Gemini CLI sends: thoughts at a level, sampling knobs Anthropic refuses with thinking,
    a JSON-mode routing call."""
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}]}],
               "generationConfig": {"temperature": 1, "topP": 0.95, "topK": 64, "responseMimeType": "application/json",
                                    "responseJsonSchema": {"type": "OBJECT", "properties": {"score": {"type": "INTEGER"}}},
                                    "thinkingConfig": {"includeThoughts": True, "thinkingLevel": "HIGH"}}}
    anthropic, notes = gemini_request_to_anthropic(request, model="claude")
    assert anthropic["max_tokens"] == 8192
    assert anthropic["thinking"] == {"type": "enabled", "budget_tokens": 8192 - 1024}
    assert anthropic["temperature"] == 1 and anthropic["top_p"] == 0.95 and "top_k" not in anthropic
    assert '{"type":"object","properties":{"score":{"type":"integer"}}}' in anthropic["system"]
    assert "dropped top_k: not allowed with thinking" in notes
    request["generationConfig"] = {"maxOutputTokens": 1500, "thinkingConfig": {"includeThoughts": True, "thinkingBudget": 4000}}
    anthropic, notes = gemini_request_to_anthropic(request, model="claude")
    assert "thinking" not in anthropic and any("dropped thinking" in n for n in notes)
    request["generationConfig"] = {"thinkingConfig": {"thinkingBudget": 4000}}  # thoughts not asked for: no thinking
    assert "thinking" not in gemini_request_to_anthropic(request, model="claude")[0]


def test_tools_schemas_choice_and_what_is_dropped() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": "hi"}, {"inlineData": {"mimeType": "image/png", "data": "iVBO"}},
                                                      {"fileData": {"fileUri": "gs://x", "mimeType": "text/plain"}}]}],
               "tools": [{"functionDeclarations": [{"name": "f", "parameters": {
                   "type": "OBJECT", "properties": {"x": {"type": "STRING", "nullable": True}}, "propertyOrdering": ["x"]}},
                   {"name": "g"}]}, {"googleSearch": {}}],
               "toolConfig": {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["g"]}},
               "safetySettings": [{"category": "HARM_CATEGORY_HATE_SPEECH", "threshold": "BLOCK_NONE"}]}
    anthropic, notes = gemini_request_to_anthropic(request, model="claude")
    assert anthropic["tools"] == [
        {"name": "f", "description": "", "input_schema": {"type": "object", "properties": {"x": {"type": ["string", "null"]}}}},
        {"name": "g", "description": "", "input_schema": {"type": "object", "properties": {}}}]
    assert anthropic["tool_choice"] == {"type": "tool", "name": "g"}
    assert anthropic["messages"][0]["content"][1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "iVBO"}}
    assert notes == ["dropped unsupported part 'fileData'", "dropped server tool 'googleSearch'"]


def test_a_wrongly_typed_field_names_its_place() -> None:
    with pytest.raises(TranslationError, match=r"contents\[0\].parts\[0\].functionCall.args"):
        gemini_request_to_anthropic({"contents": [{"role": "model", "parts": [{"functionCall": {"name": "f", "args": [1]}}]}]},
                                    model="m")
    with pytest.raises(TranslationError, match="maxOutputTokens"):
        gemini_request_to_anthropic({"contents": [], "generationConfig": {"maxOutputTokens": "many"}}, model="m")


anything = st.recursive(st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | st.text(max_size=5),
                        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(
                            ["text", "parts", "role", "functionCall", "functionResponse", "name", "args", "id",
                             "response", "inlineData", "mimeType", "data", "thought", "thoughtSignature", "output",
                             "functionDeclarations", "parameters", "type", "properties", "mode", "delta", "index",
                             "content_block", "partial_json", "usage", "input_tokens", "stop_reason", "message",
                             "signature", "thinking", "error"]), inner, max_size=4),
                        max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.fixed_dictionaries({}, optional={
    "contents": anything, "systemInstruction": anything, "tools": anything, "toolConfig": anything,
    "generationConfig": st.fixed_dictionaries({}, optional={
        "maxOutputTokens": anything, "temperature": anything, "stopSequences": anything, "thinkingConfig": anything,
        "responseMimeType": st.just("application/json"), "responseJsonSchema": anything})}))
def test_any_request_translates_or_names_its_fault(body: dict[str, Any]) -> None:
    """Whatever a client sends, the translation is a request that can be sent, or a
    TranslationError (a 400 naming the field): never another exception."""
    try:
        anthropic, _ = gemini_request_to_anthropic(body, model="m")
        openai, _ = anthropic_request_to_openai(anthropic, model="m")
    except TranslationError:
        return
    orjson.dumps(anthropic)
    orjson.dumps(openai)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["message_start", "content_block_start", "content_block_delta",
                                           "content_block_stop", "message_delta", "message_stop", "error", "ping"]),
                          anything), max_size=8))
def test_any_event_sequence_translates_or_is_malformed(events: list[tuple[str, Any]]) -> None:
    to_gemini = AnthropicStreamToGemini(model="m")
    try:
        chunks = [c for name, data in events for c in to_gemini.feed(name, data)] + to_gemini.finish()
    except MalformedAnswer:
        return
    orjson.dumps(chunks)


@settings(max_examples=100, deadline=None)
@given(conversations())
def test_a_gemini_request_is_estimated_as_its_anthropic_form(request: dict[str, Any]) -> None:
    """Budgets reserve and routing decides on this estimate: a Gemini body must not look smaller
    than the same conversation as Anthropic Messages (JSON framing of calls may count a little more)."""
    anthropic, _ = gemini_request_to_anthropic(request, model="m")
    gemini_estimate, anthropic_estimate = estimate_input_tokens(request), estimate_input_tokens(anthropic)
    assert anthropic_estimate <= gemini_estimate <= anthropic_estimate * 1.5 + 20
