"""Bedrock, Gemini and Azure end to end: the official anthropic and openai SDKs talk to the
gateway over real sockets, and the gateway talks to the mock upstream in each provider's own
wire format (SigV4-signed event streams, Gemini SSE, Azure deployments). Then the real Claude
Code CLI, with a tool round trip, against the bedrock, openai-compatible and anthropic mocks."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from bifrost_py.dialects.sse import SSEDecoder
from bifrost_py.mockupstream.bedrock_endpoints import ACCESS_KEY_ID, SECRET_ACCESS_KEY
from bifrost_py.testing import provider_config

BEDROCK_MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"
PROMPT = [{"role": "user", "content": "Tell me about the providers"}]
ANSWER = "Mock answer to: Tell me about the providers"
TOOL = {
    "name": "get_weather",
    "description": "Weather for a city",
    "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
}
TARGETS = [("claude-sonnet-4-20250514", "bedrock"), ("gemini-2.5-flash", "gemini"), ("gpt-4o", "azure")]
DATA = Path(__file__).parent.parent / "data"


def providers(url: str, secret: str = SECRET_ACCESS_KEY) -> dict[str, Any]:
    return {
        "bedrock": {"type": "bedrock", "base_url": url, "region": "us-east-1", "access_key_id": ACCESS_KEY_ID,
                    "secret_access_key": secret, "models": {"claude-*": BEDROCK_MODEL_ID}},
        "gemini": {"type": "gemini", "base_url": url, "keys": [{"value": "g-key"}], "models": ["gemini-*"]},
        "azure": {"type": "azure", "base_url": url, "keys": [{"value": "az-key"}], "models": {"gpt-*": "my-gpt4o"}},
    }


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any) -> Any:
    gateway = await start_gateway({"providers": providers(mock_upstream.url)}, builtins=False)
    gateway.upstream = mock_upstream
    return gateway


def claude(gw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-test", max_retries=0)


def gpt(gw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-test", max_retries=0)


async def records(upstream: Any) -> list[dict[str, Any]]:
    return orjson.loads((await upstream.get("/_mock/requests"))[2])


@pytest.mark.parametrize(("model", "provider"), TARGETS)
async def test_anthropic_sdk_create_and_stream(gw: Any, model: str, provider: str) -> None:
    client = claude(gw)
    raw = await client.messages.with_raw_response.create(model=model, max_tokens=200, messages=PROMPT)
    message = await raw.parse()
    assert raw.headers["x-bf-provider"] == provider
    assert message.content[0].text == ANSWER
    assert message.usage.input_tokens > 0 and message.usage.output_tokens == 8
    async with client.messages.stream(model=model, max_tokens=200, messages=PROMPT) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) == 8 and "".join(pieces) == ANSWER
    assert final.stop_reason == "end_turn" and final.usage.output_tokens == 8
    assert final.usage.input_tokens == message.usage.input_tokens


@pytest.mark.parametrize(("model", "provider"), TARGETS)
async def test_anthropic_sdk_streamed_tool_round_trip(gw: Any, model: str, provider: str) -> None:
    client = claude(gw)
    question = [{"role": "user", "content": "Weather in Paris? [[tool]]"}]
    async with client.messages.stream(model=model, max_tokens=200, messages=question, tools=[TOOL]) as stream:
        first = await stream.get_final_message()
    assert first.stop_reason == "tool_use"
    [call] = [block for block in first.content if block.type == "tool_use"]
    assert call.name == "get_weather" and call.input == {"city": "mock"}
    history = [*question, {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
               {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "sunny, 21C"}]}]
    async with client.messages.stream(model=model, max_tokens=200, messages=history, tools=[TOOL]) as stream:
        second = await stream.get_final_message()
    assert second.content[0].text == "Mock answer to: sunny, 21C"


@pytest.mark.parametrize(("model", "provider"), TARGETS)
async def test_openai_sdk_create_and_stream(gw: Any, model: str, provider: str) -> None:
    client = gpt(gw)
    completion = await client.chat.completions.create(model=model, messages=PROMPT)
    assert completion.choices[0].message.content == ANSWER
    assert completion.usage is not None and completion.usage.completion_tokens == 8
    stream = await client.chat.completions.create(model=model, messages=PROMPT, stream=True, stream_options={"include_usage": True})
    chunks = [chunk async for chunk in stream]
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == ANSWER
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 8
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]


@pytest.mark.parametrize(("model", "provider"), TARGETS)
async def test_openai_sdk_tool_call(gw: Any, model: str, provider: str) -> None:
    tools = [{"type": "function", "function": {"name": TOOL["name"], "parameters": TOOL["input_schema"]}}]
    completion = await gpt(gw).chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Weather? [[tool]]"}], tools=tools)  # type: ignore[arg-type]
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.tool_calls and json.loads(choice.message.tool_calls[0].function.arguments) == {"city": "mock"}


# --------------------------------------------------------------------------- Bedrock


async def test_bedrock_requests_are_signed_and_enveloped(gw: Any) -> None:
    await claude(gw).messages.create(model="claude-sonnet-4-20250514", max_tokens=50, messages=PROMPT)
    [record] = await records(gw.upstream)
    assert record["path"] == f"/model/{BEDROCK_MODEL_ID}/invoke"
    assert record["headers"]["authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIDMOCKMOCKMOCKMOCK/")
    assert "vk-test" not in json.dumps(record["headers"])
    body = orjson.loads(record["body"])
    assert "model" not in body and body["anthropic_version"] == "bedrock-2023-05-31"


async def test_bedrock_wrong_secret_is_a_credentials_error(start_gateway: Any, mock_upstream: Any) -> None:
    gw = await start_gateway({"providers": providers(mock_upstream.url, secret="wrong")}, builtins=False)
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(gw).messages.create(model="claude-sonnet-4-20250514", max_tokens=50, messages=PROMPT)
    assert caught.value.status_code == 502
    assert caught.value.body["error"]["type"] == "api_error"  # type: ignore[index]
    assert "refused the gateway's API key (403" in caught.value.message


async def test_bedrock_http_throttling_keeps_status_and_retry_after(gw: Any) -> None:
    with pytest.raises(anthropic.RateLimitError) as caught:
        await claude(gw).messages.create(model="claude-sonnet-4-20250514", max_tokens=50,
                                         messages=[{"role": "user", "content": "x [[fail:429]] [[retry_after:4]]"}])
    assert caught.value.response.headers["retry-after"] == "4"
    assert "Too many requests" in caught.value.message


async def test_bedrock_exception_before_the_first_event_fails_the_attempt(gw: Any) -> None:
    messages = [{"role": "user", "content": "x [[exception:throttlingException]]"}]
    with pytest.raises(anthropic.RateLimitError) as caught:
        async with claude(gw).messages.stream(model="claude-sonnet-4-20250514", max_tokens=50, messages=messages) as stream:
            await stream.get_final_message()
    assert caught.value.response.headers["x-bf-attempts"] == "1"
    assert "throttlingException" in caught.value.message


async def test_bedrock_exception_after_the_first_event_reaches_the_client(gw: Any) -> None:
    body = {"model": "claude-sonnet-4-20250514", "max_tokens": 50, "stream": True,
            "messages": [{"role": "user", "content": "a b c [[stream_error]][[exception:throttlingException]]"}]}
    url = gw.url + "/anthropic/v1/messages"
    async with aiohttp.ClientSession() as session, session.post(url, json=body, headers={"x-api-key": "vk"}) as response:
        assert response.status == 200
        raw = await response.read()
    events = SSEDecoder().feed(raw)
    names = [event.event for event in events]
    assert names[:3] == ["message_start", "content_block_start", "content_block_delta"]
    assert names[-1] == "error" and "message_stop" not in names
    assert orjson.loads(events[-1].data)["error"]["type"] == "rate_limit_error"


async def test_claude_code_request_reaches_bedrock_in_its_envelope(gw: Any) -> None:
    meta = json.loads((DATA / "claude_code_request.meta.json").read_text())
    sent = (DATA / "claude_code_request.body.json").read_bytes()
    headers = {**meta["headers"], "x-api-key": "vk-developer"}
    url = f"{gw.url}/anthropic/v1/messages?beta=true"
    async with aiohttp.ClientSession() as session, session.post(url, data=sent, headers=headers) as response:
        assert response.status == 200
        assert b"event: message_stop" in await response.read()
    [record] = await records(gw.upstream)
    assert record["path"].endswith("/invoke-with-response-stream") and record["query"] == ""
    body, original = orjson.loads(record["body"]), orjson.loads(sent)
    assert body["anthropic_beta"] == meta["headers"]["anthropic-beta"].split(",")
    assert {k: v for k, v in body.items() if k not in ("anthropic_version", "anthropic_beta")} == {
        k: v for k, v in original.items() if k not in ("model", "stream")}


# --------------------------------------------------------------------------- Gemini


async def test_gemini_rate_limit_retry_info_becomes_retry_after(gw: Any) -> None:
    await gw.upstream.post("/_mock/script", json={"responses": [{"status": 429, "retry_after": 9}]})
    with pytest.raises(openai.RateLimitError) as caught:
        await gpt(gw).chat.completions.create(model="gemini-2.5-flash", messages=PROMPT)
    assert caught.value.response.headers["retry-after"] == "9"


async def test_gemini_rejected_key_is_a_credentials_error(gw: Any) -> None:
    await gw.upstream.post("/_mock/script", json={"responses": [{"status": 400, "message": "API key not valid. Please pass a valid API key."}]})
    with pytest.raises(anthropic.APIStatusError) as caught:
        await claude(gw).messages.create(model="gemini-2.5-flash", max_tokens=50, messages=PROMPT)
    assert caught.value.status_code == 502 and "API key not valid" in caught.value.message


# --------------------------------------------------------------------------- Claude Code


CLAUDE = shutil.which("claude")


def claude_code_providers(kind: str, url: str) -> dict[str, Any]:
    if kind == "bedrock":
        return {"bedrock": {**providers(url)["bedrock"], "models": {
            "claude-opus-4-8": "us.anthropic.claude-opus-4-8-v1:0", "claude-haiku-*": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
            "claude-*": BEDROCK_MODEL_ID}}}
    if kind == "openai-compatible":
        return {"compat": {"type": "openai", "base_url": url + "/v1", "keys": [{"value": "sk-compat"}], "models": ["claude-*"]}}
    return {"anthropic": provider_config(url)["anthropic"]}


@pytest.mark.skipif(CLAUDE is None, reason="the Claude Code CLI (`claude`) is not installed")
@pytest.mark.parametrize("kind", ["bedrock", "openai-compatible", "anthropic"])
async def test_claude_code_tool_round_trip(start_gateway: Any, mock_upstream: Any, tmp_path: Path, kind: str) -> None:
    """`claude -p` with only the Read tool: the mock asks for Read (with a made-up input),
    Claude Code runs it and sends the result back: two model calls, through the gateway."""
    gw = await start_gateway({"providers": claude_code_providers(kind, mock_upstream.url)}, builtins=False)
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(home), "ANTHROPIC_BASE_URL": gw.url + "/anthropic",
           "ANTHROPIC_API_KEY": "vk-claude-code", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
           "DISABLE_AUTOUPDATER": "1", "CLAUDE_CODE_MAX_RETRIES": "0"}
    process = await asyncio.create_subprocess_exec(
        str(CLAUDE), "-p", "hello [[tool]]", "--tools", "Read", "--allowedTools", "Read",
        cwd=work, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), 180)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()[-2000:]
    assert stdout.decode().startswith("Mock answer to:") and "tool_use_error" in stdout.decode()
    calls = [r for r in await records(mock_upstream) if r["method"] == "POST"]
    assert len(calls) == 2, [r["path"] for r in calls]
    assert calls[0]["path"] == {"bedrock": "/model/us.anthropic.claude-opus-4-8-v1:0/invoke-with-response-stream",
                                "openai-compatible": "/v1/chat/completions", "anthropic": "/v1/messages"}[kind]
    assert calls[1]["path"] == calls[0]["path"]
    assert ("tool_result" if kind != "openai-compatible" else '"role":"tool"') in calls[1]["body"]
    assert list(work.iterdir()) == [], "nothing was written"


# --------------------------------------------------------------------------- hang-ups


@pytest.mark.parametrize(("model", "provider"), TARGETS)
async def test_client_hang_up_cancels_the_provider_stream(gw: Any, model: str, provider: str) -> None:
    """The converted streams are pulled, never pre-read: closing the client's connection closes
    the provider's, mid-answer."""
    body = {"model": model, "max_tokens": 200, "stream": True,
            "messages": [{"role": "user", "content": "a b c d [[stall:5s]]"}]}
    async with aiohttp.ClientSession() as session:
        response = await session.post(gw.url + "/anthropic/v1/messages", json=body, headers={"x-api-key": "vk"})
        assert response.status == 200
        await response.content.readany()
        response.close()
    for _ in range(100):
        stats = orjson.loads((await gw.upstream.get("/_mock/stats"))[2])
        if stats["streams_cancelled"]:
            break
        await asyncio.sleep(0.05)
    assert stats["streams_cancelled"] == 1 and stats["streams_completed"] == 0
