"""The mock's Bedrock runtime, driven by botocore's own bedrock-runtime client: it signs the way
AWS SDKs sign, and parses the answers (JSON, the binary event stream, exceptions in it and
`x-amzn-ErrorType` errors) with AWS's own parsers. So if botocore accepts the mock, the mock
speaks Bedrock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import botocore.session
import orjson
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError, EventStreamError
from urllib3.exceptions import ProtocolError

from bifrost_py.dialects.bedrock import BEDROCK_ANTHROPIC_VERSION, INVOCATION_METRICS_KEY
from bifrost_py.dialects.sigv4 import sign_request
from bifrost_py.mockupstream.bedrock_endpoints import ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY
from bifrost_py.mockupstream.bedrock_wire import anthropic_model_name

from .conftest import BEDROCK_MODEL_ID, WEATHER_TOOL


def client(url: str, *, access_key: str = ACCESS_KEY_ID, secret: str = SECRET_ACCESS_KEY, region: str = "us-east-1") -> Any:
    session = botocore.session.get_session()
    return session.create_client(
        "bedrock-runtime", region_name=region, endpoint_url=url,
        aws_access_key_id=access_key, aws_secret_access_key=secret,
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def body(text: str, **extra: Any) -> bytes:
    return orjson.dumps({
        "anthropic_version": BEDROCK_ANTHROPIC_VERSION, "max_tokens": 100,
        "messages": [{"role": "user", "content": text}], **extra,
    })


def invoke(url: str, payload: bytes, model_id: str = BEDROCK_MODEL_ID, **kwargs: Any) -> dict[str, Any]:
    answer = client(url, **kwargs).invoke_model(modelId=model_id, body=payload, contentType="application/json")
    return {"headers": answer["ResponseMetadata"]["HTTPHeaders"], "body": json.loads(answer["body"].read())}


def invoke_stream(url: str, payload: bytes, model_id: str = BEDROCK_MODEL_ID) -> list[dict[str, Any]]:
    """Every event of the stream, chunks decoded; an in-stream exception raises botocore's error
    after the events before it were collected into `invoke_stream.seen`."""
    answer = client(url).invoke_model_with_response_stream(modelId=model_id, body=payload, contentType="application/json")
    events: list[dict[str, Any]] = []
    invoke_stream.seen = events  # type: ignore[attr-defined]
    for item in answer["body"]:
        events.append(json.loads(item["chunk"]["bytes"]))
    return events


async def test_botocore_invoke_model_gets_an_anthropic_message(mock_upstream: Any) -> None:
    answer = await asyncio.to_thread(invoke, mock_upstream.url, body("hello bedrock"))
    message = answer["body"]
    assert message["type"] == "message" and message["id"].startswith("msg_bdrk_01")
    assert message["model"] == "claude-sonnet-4-20250514"
    assert message["content"] == [{"type": "text", "text": "Mock answer to: hello bedrock"}]
    headers = answer["headers"]
    assert int(headers["x-amzn-bedrock-input-token-count"]) == message["usage"]["input_tokens"] > 0
    assert int(headers["x-amzn-bedrock-output-token-count"]) == message["usage"]["output_tokens"] == 5
    assert len(headers["x-amzn-requestid"]) == 36


async def test_botocore_reads_the_event_stream_and_the_metrics(mock_upstream: Any) -> None:
    events = await asyncio.to_thread(invoke_stream, mock_upstream.url, body("stream please", tools=[WEATHER_TOOL]))
    kinds = [event["type"] for event in events]
    assert kinds[0] == "message_start" and kinds[-2:] == ["message_delta", "message_stop"]
    assert "ping" not in kinds
    text = "".join(e["delta"].get("text", "") for e in events if e["type"] == "content_block_delta")
    assert text == "Mock answer to: stream please"
    metrics = events[-1][INVOCATION_METRICS_KEY]
    assert metrics["outputTokenCount"] == events[-2]["usage"]["output_tokens"] == 5
    assert metrics["inputTokenCount"] == events[0]["message"]["usage"]["input_tokens"]


async def test_tool_use_streams_as_input_json_deltas(mock_upstream: Any) -> None:
    events = await asyncio.to_thread(invoke_stream, mock_upstream.url, body("[[tool]]", tools=[WEATHER_TOOL]))
    start = next(e for e in events if e["type"] == "content_block_start")
    assert start["content_block"]["type"] == "tool_use" and start["content_block"]["name"] == "get_weather"
    arguments = "".join(e["delta"]["partial_json"] for e in events if e["type"] == "content_block_delta")
    assert json.loads(arguments) == {"city": "mock", "days": 1}
    assert events[-2]["delta"]["stop_reason"] == "tool_use"


@pytest.mark.parametrize(
    ("marker", "first"),
    [("[[exception:throttlingException]]", True), ("[[stream_error]]", False),
     ("[[stream_error]][[exception:modelTimeoutException]]", False)],
)
async def test_exceptions_inside_the_stream(mock_upstream: Any, marker: str, first: bool) -> None:
    with pytest.raises(EventStreamError) as caught:
        await asyncio.to_thread(invoke_stream, mock_upstream.url, body(f"hi {marker}"))
    seen = invoke_stream.seen  # type: ignore[attr-defined]
    code = caught.value.response["Error"]["Code"]
    if first:
        assert seen == [] and code == "throttlingException"
    else:
        assert seen[0]["type"] == "message_start"
        assert sum(e["type"] == "content_block_delta" for e in seen) == 1
        assert code == ("modelTimeoutException" if "Timeout" in marker else "serviceUnavailableException")


@pytest.mark.parametrize(
    ("marker", "status", "code"),
    [("[[fail:429]]", 429, "ThrottlingException"), ("[[fail:503]]", 503, "ServiceUnavailableException"),
     ("[[fail:400]]", 400, "ValidationException"), ("[[fail:529]]", 529, "InternalServerException")],
)
async def test_http_errors_are_bedrock_exceptions(mock_upstream: Any, marker: str, status: int, code: str) -> None:
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(invoke, mock_upstream.url, body(f"x {marker} [[retry_after:3]]"))
    error = caught.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == status
    assert error["Error"]["Code"] == code
    if status != 400:
        assert error["ResponseMetadata"]["HTTPHeaders"]["retry-after"] == "3"


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [({"secret": "wrong-secret"}, "InvalidSignatureException"),
     ({"access_key": "AKIDSOMEBODYELSE0000"}, "UnrecognizedClientException")],
)
async def test_bad_credentials_are_refused_with_403(mock_upstream: Any, kwargs: dict[str, str], code: str) -> None:
    with pytest.raises(ClientError) as caught:
        await asyncio.to_thread(invoke, mock_upstream.url, body("hi"), **kwargs)
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert caught.value.response["Error"]["Code"] == code


async def test_any_region_signs_for_itself(mock_upstream: Any) -> None:
    answer = await asyncio.to_thread(invoke, mock_upstream.url, body("hi"), region="eu-west-3")
    assert answer["body"]["type"] == "message"


async def _post(url: str, path: str, payload: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    async with aiohttp.ClientSession() as session, session.post(url + path, data=payload, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


def _path(model_id: str = BEDROCK_MODEL_ID) -> str:
    return f"/model/{model_id.replace(':', '%3A')}/invoke"


def _signed(url: str, payload: bytes, **changes: Any) -> dict[str, str]:
    return sign_request("POST", url, {"content-type": "application/json"}, payload, region="us-east-1",
                        access_key=ACCESS_KEY_ID, secret_key=SECRET_ACCESS_KEY, **changes)


async def test_unsigned_and_tampered_requests_are_refused(mock_upstream: Any) -> None:
    from yarl import URL

    payload = body("hi")
    status, headers, raw = await _post(mock_upstream.url, _path(), payload, {"content-type": "application/json"})
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("MissingAuthenticationTokenException:")
    assert orjson.loads(raw) == {"message": "Missing Authentication Token"}
    url = mock_upstream.url + _path()
    signed = _signed(url, payload)
    async with aiohttp.ClientSession() as session:
        async with session.post(URL(url, encoded=True), data=body("changed after signing"), headers=signed) as response:
            assert response.status == 403
            assert response.headers["x-amzn-ErrorType"].startswith("InvalidSignatureException:")
        async with session.post(URL(url, encoded=True), data=payload, headers=signed) as response:
            assert response.status == 200, await response.text()


async def test_bedrock_api_key_as_bearer(mock_upstream: Any) -> None:
    payload = body("hi")
    status, _, _ = await _post(mock_upstream.url, _path(), payload, {"authorization": f"Bearer {API_KEY}"})
    assert status == 200
    status, headers, _ = await _post(mock_upstream.url, _path(), payload, {"authorization": "Bearer ABSKnope"})
    assert status == 403 and headers["x-amzn-ErrorType"].startswith("UnrecognizedClientException:")


@pytest.mark.parametrize(
    ("payload", "message"),
    [({"model": "x"}, "extraneous key [model]"), ({"stream": True}, "extraneous key [stream]"),
     ({"anthropic_version": None}, "required key [anthropic_version]"), ({"anthropic_version": "2023-06-01"}, "Invalid API version")],
)
async def test_envelope_is_checked_like_bedrock(mock_upstream: Any, payload: dict[str, Any], message: str) -> None:
    data = {**orjson.loads(body("hi")), **payload}
    raw = orjson.dumps({k: v for k, v in data.items() if v is not None})
    status, headers, answer = await _post(mock_upstream.url, _path(), raw, {"authorization": f"Bearer {API_KEY}"})
    assert status == 400 and headers["x-amzn-ErrorType"].startswith("ValidationException:")
    assert message in orjson.loads(answer)["message"]


async def test_an_arn_model_id_is_served(mock_upstream: Any) -> None:
    arn = "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-1-20250805-v1:0"
    answer = await asyncio.to_thread(invoke, mock_upstream.url, body("hi"), arn)
    assert answer["body"]["model"] == "claude-opus-4-1-20250805"


@pytest.mark.parametrize(
    ("model_id", "name"),
    [("us.anthropic.claude-sonnet-4-20250514-v1:0", "claude-sonnet-4-20250514"),
     ("anthropic.claude-3-5-haiku-20241022-v1:0", "claude-3-5-haiku-20241022"),
     ("global.anthropic.claude-opus-4-8-v1", "claude-opus-4-8"),
     ("apac.anthropic.claude-sonnet-4-5-20250929-v1:0", "claude-sonnet-4-5-20250929"),
     ("claude-opus-4-8", "claude-opus-4-8")],
)
def test_model_name_in_answers(model_id: str, name: str) -> None:
    assert anthropic_model_name(model_id) == name


async def test_cut_stream_is_truncated_mid_answer(mock_upstream: Any) -> None:
    """[[cut:2]]: the connection closes after two deltas, without message_stop."""
    with pytest.raises(ProtocolError, match="ended prematurely"):
        await asyncio.to_thread(invoke_stream, mock_upstream.url, body("a b c d e [[cut:2]]"))
    seen = invoke_stream.seen  # type: ignore[attr-defined]
    assert "message_stop" not in [e["type"] for e in seen]
    assert sum(e["type"] == "content_block_delta" for e in seen) <= 2
