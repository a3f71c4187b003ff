"""The core gateway end to end, through real sockets, with the official SDKs as clients.

No plugins (builtins=False): a gateway with no plugins is a plain pass-through proxy.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from bifrost_py.testing import provider_config

PROMPT = [{"role": "user", "content": "Tell me about the gateway"}]


@pytest.fixture
async def gw(start_gateway: Any, mock_upstream: Any) -> Any:
    gateway = await start_gateway({"providers": provider_config(mock_upstream.url)}, builtins=False)
    gateway.upstream = mock_upstream
    return gateway


def anthropic_client(gw: Any, **kwargs: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", api_key="vk-test", max_retries=0, **kwargs)


def openai_client(gw: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="vk-test", max_retries=0)


async def test_anthropic_create_and_stream_agree(gw: Any) -> None:
    client = anthropic_client(gw)
    raw = await client.messages.with_raw_response.create(model="claude-sonnet-4-20250514", max_tokens=200, messages=PROMPT)
    message = await raw.parse()
    assert raw.headers["x-bf-provider"] == "anthropic"
    assert raw.headers["x-bf-model"] == "claude-sonnet-4-20250514"
    assert raw.headers["x-bf-attempts"] == "1"
    assert raw.headers["x-bf-request-id"].startswith("req_")
    text = message.content[0].text
    async with client.messages.stream(model="claude-sonnet-4-20250514", max_tokens=200, messages=PROMPT) as stream:
        pieces = [piece async for piece in stream.text_stream]
        final = await stream.get_final_message()
    assert len(pieces) > 1, "the answer arrives in several deltas"
    assert "".join(pieces) == text
    assert final.usage.output_tokens == message.usage.output_tokens > 0
    assert final.usage.input_tokens == message.usage.input_tokens > 0
    assert final.stop_reason == "end_turn"


async def test_anthropic_sdk_bearer_auth_and_new_version_work(gw: Any) -> None:
    client = anthropic.AsyncAnthropic(base_url=gw.url + "/anthropic", auth_token="vk-test", max_retries=0,
                                      default_headers={"anthropic-version": "2025-06-01"})
    message = await client.messages.create(model="claude-sonnet-4-20250514", max_tokens=50, messages=PROMPT)
    assert message.content[0].text
    forwarded = (await gw.upstream.get("/_mock/requests"))[2]
    last = orjson.loads(forwarded)[-1]
    assert last["headers"]["anthropic-version"] == "2025-06-01"
    assert last["headers"]["x-api-key"] == "sk-ant-test", "the provider key is sent, never the virtual key"
    assert "authorization" not in {k.lower() for k in last["headers"]}


async def test_count_tokens_and_model_list(gw: Any) -> None:
    client = anthropic_client(gw)
    counted = await client.messages.count_tokens(model="claude-sonnet-4-20250514", messages=PROMPT)
    assert counted.input_tokens > 0
    models = await openai_client(gw).models.list()
    assert isinstance(models.data, list)


async def test_openai_create_stream_with_usage_and_embeddings(gw: Any) -> None:
    client = openai_client(gw)
    completion = await client.chat.completions.create(model="gpt-4o", messages=PROMPT)
    text = completion.choices[0].message.content
    stream = await client.chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True,
                                                  stream_options={"include_usage": True})
    pieces, usage = [], None
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
        if chunk.usage:
            usage = chunk.usage
    assert "".join(pieces) == text
    assert usage is not None and usage.completion_tokens == completion.usage.completion_tokens
    embedding = await client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(embedding.data[0].embedding) > 0


async def test_openai_stream_without_include_usage_gets_no_usage_chunk(gw: Any) -> None:
    """The gateway asks the upstream for usage (billing needs it) but hides it from a client
    that did not ask."""
    stream = await openai_client(gw).chat.completions.create(model="gpt-4o", messages=PROMPT, stream=True)
    chunks = [chunk async for chunk in stream]
    assert all(chunk.usage is None for chunk in chunks)
    assert all(chunk.choices for chunk in chunks)
    sent = orjson.loads((await gw.upstream.get("/_mock/requests"))[2])[-1]
    assert orjson.loads(sent["body"])["stream_options"] == {"include_usage": True}


async def test_errors_in_the_callers_dialect(gw: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/v1/messages", data=b"{not json") as r:
            assert r.status == 400
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        async with session.post(gw.url + "/v1/chat/completions", data=b"[1, 2") as r:
            assert r.status == 400
            assert (await r.json())["error"]["type"] == "invalid_request_error"
        async with session.post(gw.url + "/v1/messages", json={"model": 5, "messages": []}) as r:
            assert r.status == 400 and "model" in (await r.json())["error"]["message"]
        async with session.post(gw.url + "/v1/messages", json={"model": "m", "max_tokens": "ten", "messages": []}) as r:
            assert r.status == 400 and "max_tokens" in (await r.json())["error"]["message"]
    with pytest.raises(anthropic.NotFoundError) as caught:
        await anthropic_client(gw).messages.create(model="no-such-model", max_tokens=5, messages=PROMPT)
    assert caught.value.body["error"]["type"] == "not_found_error"
    with pytest.raises(openai.NotFoundError):
        await openai_client(gw).chat.completions.create(model="no-such-model", messages=PROMPT)


async def test_body_over_the_limit_is_413(start_gateway: Any, mock_upstream: Any) -> None:
    gw = await start_gateway({"server": {"max_body_mb": 0.01}, "providers": provider_config(mock_upstream.url)},
                             builtins=False)
    big = [{"role": "user", "content": "x" * 20_000}]
    with pytest.raises(anthropic.APIStatusError) as caught:
        await anthropic_client(gw).messages.create(model="claude-sonnet-4-20250514", max_tokens=5, messages=big)
    assert caught.value.status_code == 413
    assert caught.value.body["error"]["type"] == "request_too_large"


@pytest.mark.parametrize("marker,status,kind", [("[[fail:500]]", 500, "api_error"), ("[[fail:529]]", 529, "overloaded_error"),
                                                ("[[reset]]", 502, "api_error")])
async def test_upstream_failures_keep_status_and_dialect(gw: Any, marker: str, status: int, kind: str) -> None:
    prompt = [{"role": "user", "content": f"hello {marker}"}]
    with pytest.raises(anthropic.APIStatusError) as caught:
        await anthropic_client(gw).messages.create(model="claude-sonnet-4-20250514", max_tokens=5, messages=prompt)
    assert caught.value.status_code == status
    assert caught.value.body["error"]["type"] == kind
    with pytest.raises(openai.APIStatusError) as caught_openai:
        await openai_client(gw).chat.completions.create(model="gpt-4o", messages=prompt)
    assert caught_openai.value.status_code == status


async def test_stream_cut_after_first_byte_ends_with_an_error_event(gw: Any) -> None:
    prompt = [{"role": "user", "content": "tell me [[long:40]] [[cut:3]]"}]
    async with aiohttp.ClientSession() as session, session.post(
        gw.url + "/v1/messages",
        json={"model": "claude-sonnet-4-20250514", "max_tokens": 100, "stream": True, "messages": prompt},
    ) as r:
        assert r.status == 200
        body = await r.read()
    events = [block for block in body.split(b"\n\n") if block.strip()]
    for block in events:  # every event is whole: its data is valid JSON
        data = block.split(b"data: ", 1)[1]
        orjson.loads(data)
    assert events[-1].startswith(b"event: error\n")
    assert b"message_stop" not in body


async def test_client_disconnect_cancels_the_upstream_stream(gw: Any) -> None:
    prompt = [{"role": "user", "content": "[[long:400]]"}]
    await gw.upstream.post("/_mock/options", json={"tokens_per_second": 50})
    async with aiohttp.ClientSession() as session:
        response = await session.post(gw.url + "/v1/messages", json={"model": "claude-sonnet-4-20250514", "max_tokens": 1000,
                                                                      "stream": True, "messages": prompt})
        await response.content.readany()
        response.close()  # hang up mid-stream
    for _ in range(100):
        stats = orjson.loads((await gw.upstream.get("/_mock/stats"))[2])
        if stats["streams_cancelled"]:
            break
        await asyncio.sleep(0.05)
    assert stats["streams_cancelled"] == 1
    assert stats["streams_completed"] == 0


async def test_count_tokens_falls_back_to_the_estimate_when_the_provider_is_unreachable(start_gateway: Any) -> None:
    from bifrost_py.testing import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gw = await start_gateway({"providers": provider_config(dead)}, builtins=False)
    async with aiohttp.ClientSession() as session, session.post(
        gw.url + "/v1/messages/count_tokens", json={"model": "claude-sonnet-4-20250514", "messages": PROMPT}
    ) as r:
        assert r.status == 200
        assert r.headers["x-bf-estimate"] == "true"
        assert (await r.json())["input_tokens"] > 0
