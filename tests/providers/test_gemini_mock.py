"""The mock's Gemini API: generateContent and streamGenerateContent as Google sends them."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
import pytest

from bifrost_py.dialects.sse import SSEDecoder

TOOLS = [{"functionDeclarations": [{"name": "get_weather", "description": "w", "parameters": {
    "type": "OBJECT", "properties": {"city": {"type": "STRING"}, "days": {"type": "INTEGER"}}, "required": ["city"]}}]}]


def request(text: str, **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


async def post(url: str, path: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
    headers = {"x-goog-api-key": "g-key"} if headers is None else headers
    async with aiohttp.ClientSession() as session, session.post(url + path, data=orjson.dumps(body), headers=headers) as response:
        return response.status, response.headers, await response.read()


GENERATE = "/v1beta/models/gemini-2.5-flash:generateContent"
STREAM = "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"


def sse_chunks(raw: bytes) -> list[dict[str, Any]]:
    assert b"\r\n\r\n" in raw, "Google frames its SSE with CRLF"
    return [orjson.loads(event.data) for event in SSEDecoder().feed(raw)]


async def test_generate_content(mock_upstream: Any) -> None:
    status, _, raw = await post(mock_upstream.url, GENERATE, request("hello gemini", generationConfig={"maxOutputTokens": 50}))
    assert status == 200
    answer = orjson.loads(raw)
    candidate = answer["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": "Mock answer to: hello gemini"}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    usage = answer["usageMetadata"]
    assert usage["candidatesTokenCount"] == 5 and usage["totalTokenCount"] == usage["promptTokenCount"] + 5
    assert answer["modelVersion"] == "gemini-2.5-flash" and answer["responseId"]


async def test_stream_is_sse_of_whole_responses(mock_upstream: Any) -> None:
    status, headers, raw = await post(mock_upstream.url, STREAM, request("hello gemini"))
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    chunks = sse_chunks(raw)
    texts = [c["candidates"][0]["content"]["parts"][0]["text"] for c in chunks]
    assert "".join(texts) == "Mock answer to: hello gemini" and len(texts) == 5
    assert [c["candidates"][0].get("finishReason") for c in chunks] == [None] * 4 + ["STOP"]
    assert "candidatesTokenCount" in chunks[-1]["usageMetadata"]
    assert all(c["usageMetadata"]["promptTokenCount"] == chunks[0]["usageMetadata"]["promptTokenCount"] for c in chunks)


async def test_stream_without_alt_sse_is_a_json_array(mock_upstream: Any) -> None:
    status, _, raw = await post(mock_upstream.url, STREAM.split("?")[0], request("hello"))
    assert status == 200
    chunks = orjson.loads(raw)
    assert isinstance(chunks, list) and chunks[-1]["candidates"][0]["finishReason"] == "STOP"


async def test_function_calls_are_whole_and_signed(mock_upstream: Any) -> None:
    status, _, raw = await post(mock_upstream.url, STREAM, request("weather? [[tool]]", tools=TOOLS))
    assert status == 200
    [chunk] = sse_chunks(raw)
    [part] = chunk["candidates"][0]["content"]["parts"]
    assert part["functionCall"] == {"name": "get_weather", "args": {"city": "mock", "days": 1}}
    assert part["thoughtSignature"]
    assert chunk["candidates"][0]["finishReason"] == "STOP"


async def test_tool_config_forces_or_forbids_calls(mock_upstream: Any) -> None:
    forced = {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}}
    _, _, raw = await post(mock_upstream.url, GENERATE, request("hi", tools=TOOLS, toolConfig=forced))
    assert "functionCall" in orjson.loads(raw)["candidates"][0]["content"]["parts"][0]
    none = {"functionCallingConfig": {"mode": "NONE"}}
    _, _, raw = await post(mock_upstream.url, GENERATE, request("hi [[tool]]", tools=TOOLS, toolConfig=none))
    assert "text" in orjson.loads(raw)["candidates"][0]["content"]["parts"][0]


async def test_function_response_is_what_the_answer_echoes(mock_upstream: Any) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "weather? [[tool]]"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}, "thoughtSignature": "c2ln"}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}]},
    ]
    _, _, raw = await post(mock_upstream.url, "/v1beta/models/gemini-3-pro-preview:generateContent", {"contents": contents, "tools": TOOLS})
    assert orjson.loads(raw)["candidates"][0]["content"]["parts"] == [{"text": "Mock answer to: sunny"}]


async def test_gemini_3_refuses_a_call_without_its_signature(mock_upstream: Any) -> None:
    contents = [
        {"role": "user", "parts": [{"text": "weather?"}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {}}}]},
        {"role": "user", "parts": [{"functionResponse": {"name": "get_weather", "response": {"output": "sunny"}}}]},
    ]
    status, _, raw = await post(mock_upstream.url, "/v1beta/models/gemini-3-pro-preview:generateContent", {"contents": contents})
    assert status == 400
    error = orjson.loads(raw)["error"]
    assert error["status"] == "INVALID_ARGUMENT" and "thought_signature" in error["message"]
    status, _, _ = await post(mock_upstream.url, GENERATE, {"contents": contents})
    assert status == 200, "Gemini 2.5 does not check signatures"


@pytest.mark.parametrize(
    ("path", "headers", "status", "code"),
    [(GENERATE, {}, 403, "PERMISSION_DENIED"),
     (GENERATE + "?key=from-query", {}, 200, None),
     ("/v1beta/models/gemini-2.5-flash:embedContent", None, 404, "NOT_FOUND"),
     ("/v1/models/gemini-2.5-flash:generateContent", None, 200, None)],
)
async def test_keys_methods_and_versions(mock_upstream: Any, path: str, headers: Any, status: int, code: str | None) -> None:
    answer_status, _, raw = await post(mock_upstream.url, path, request("hi"), headers)
    assert answer_status == status
    if code:
        assert orjson.loads(raw)["error"]["status"] == code


async def test_bad_bodies(mock_upstream: Any) -> None:
    status, _, raw = await post(mock_upstream.url, GENERATE, {"contents": []})
    assert status == 400 and "contents is not specified" in orjson.loads(raw)["error"]["message"]
    status, _, raw = await post(mock_upstream.url, GENERATE, {"contents": [{"role": "user", "parts": []}]})
    assert status == 400 and orjson.loads(raw)["error"]["code"] == 400


async def test_rate_limit_says_when_in_retry_info(mock_upstream: Any) -> None:
    status, headers, raw = await post(mock_upstream.url, GENERATE, request("x [[fail:429]] [[retry_after:12]]"))
    assert status == 429 and "retry-after" not in headers
    error = orjson.loads(raw)["error"]
    assert error["status"] == "RESOURCE_EXHAUSTED"
    assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "12s"}]


async def test_stream_error_and_cut(mock_upstream: Any) -> None:
    status, _, raw = await post(mock_upstream.url, STREAM, request("a b c [[stream_error]]"))
    chunks = sse_chunks(raw)
    assert status == 200 and len(chunks) == 2
    assert chunks[-1] == {"error": {"code": 503, "message": "The model is overloaded. Please try again later.", "status": "UNAVAILABLE"}}
    with pytest.raises(aiohttp.ClientPayloadError):
        await post(mock_upstream.url, STREAM, request("a b c [[cut:2]]"))


async def test_thinking_comes_as_thought_parts(mock_upstream: Any) -> None:
    _, _, raw = await post(mock_upstream.url, GENERATE, request("ponder [[thinking]]"))
    answer = orjson.loads(raw)
    parts = answer["candidates"][0]["content"]["parts"]
    assert parts[0]["thought"] is True and parts[0]["text"].startswith("Thinking about:")
    assert answer["usageMetadata"]["thoughtsTokenCount"] > 0
