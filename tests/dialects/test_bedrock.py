"""Bedrock InvokeModel: body and path as the AWS SDK builds them, the event stream both ways
(checked against botocore's parser and the Anthropic SDK's Bedrock decoder), and errors."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
from typing import Any

import botocore.session
import orjson
import pytest
from botocore.awsrequest import AWSResponse
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.dialects.bedrock import (
    BEDROCK_ANTHROPIC_VERSION,
    INVOCATION_METRICS_KEY,
    BedrockStreamError,
    BedrockStreamReader,
    bedrock_error_response,
    bedrock_error_to_anthropic,
    bedrock_invoke_path,
    bedrock_response_headers,
    bedrock_runtime_url,
    betas_from_header,
    encode_bedrock_chunk,
    encode_bedrock_exception,
    encode_bedrock_stream,
    to_bedrock_body,
)
from bifrost_py.dialects.eventstream import EventStreamDecoder, EventStreamError
from bifrost_py.dialects.sigv4 import verify_signature
from bifrost_py.dialects.translate_errors import MalformedAnswer

MODEL_ID = "us.anthropic.claude-sonnet-4-20250514-v1:0"


def botocore_request(operation: str, model_id: str, body: bytes) -> Any:
    """What boto3 would send, captured just before it leaves (no network)."""
    session = botocore.session.get_session()
    client = session.create_client(
        "bedrock-runtime",
        region_name="us-east-1",
        aws_access_key_id="AKID",
        aws_secret_access_key="SECRET",
    )
    captured = []

    class Raw:
        def stream(self, **_: Any) -> Any:
            return iter([b"{}"])

    def before_send(request: Any, **_: Any) -> AWSResponse:
        captured.append(request)
        return AWSResponse(request.url, 200, {"content-type": "application/json"}, Raw())

    client.meta.events.register("before-send", before_send)
    method = getattr(client, operation)
    # The fake response may not parse as a stream; the request is all we want.
    with contextlib.suppress(Exception):
        method(modelId=model_id, body=body, contentType="application/json")
    return captured[0]


@pytest.mark.parametrize(
    "model_id",
    [
        MODEL_ID,
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        "arn:aws:bedrock:us-east-1:123456789012:inference-profile/us.anthropic.claude-opus-4-v1:0",
    ],
)
@pytest.mark.parametrize(
    ("operation", "stream"),
    [("invoke_model", False), ("invoke_model_with_response_stream", True)],
)
def test_path_is_what_boto3_sends_and_its_signature_verifies(
    model_id: str, operation: str, stream: bool
) -> None:
    request = botocore_request(operation, model_id, b'{"max_tokens":1}')
    path = bedrock_invoke_path(model_id, stream)
    assert request.url == bedrock_runtime_url("us-east-1") + path
    headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
    headers["Host"] = "bedrock-runtime.us-east-1.amazonaws.com"
    assert verify_signature(
        "POST", path, headers, request.body, secret_key="SECRET", region="us-east-1"
    )


def test_colon_in_model_id_is_percent_encoded() -> None:
    assert bedrock_invoke_path(MODEL_ID, False) == (
        "/model/us.anthropic.claude-sonnet-4-20250514-v1%3A0/invoke"
    )
    assert bedrock_invoke_path(MODEL_ID, True).endswith("-v1%3A0/invoke-with-response-stream")


def test_body_drops_model_and_stream_and_carries_betas() -> None:
    anthropic_body = {
        "model": "claude-sonnet-4-20250514",
        "stream": True,
        "max_tokens": 100,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
        "system": [{"type": "text", "text": "s", "cache_control": {"type": "ephemeral"}}],
        "thinking": {"type": "enabled", "budget_tokens": 2000},
        "some_future_field": {"x": 1},
    }
    betas = betas_from_header("interleaved-thinking-2025-05-14, context-1m-2025-08-07")
    body = to_bedrock_body(anthropic_body, betas)
    assert "model" not in body and "stream" not in body
    assert body["anthropic_version"] == BEDROCK_ANTHROPIC_VERSION
    assert body["anthropic_beta"] == ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]
    assert body["system"] == anthropic_body["system"]
    assert body["some_future_field"] == {"x": 1}
    assert "anthropic_beta" not in to_bedrock_body({"model": "m", "max_tokens": 1})
    merged = to_bedrock_body({"anthropic_beta": ["a"]}, ["a", "b"])
    assert merged["anthropic_beta"] == ["a", "b"]
    assert betas_from_header(None) == [] and betas_from_header(" , ") == []


# ------------------------------------------------------------------ streams

TEXT = st.text(max_size=30)


@st.composite
def anthropic_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    """A full Anthropic event sequence with text, thinking and tool_use blocks."""
    events: list[dict[str, Any]] = [
        {
            "type": "message_start",
            "message": {
                "id": "msg_bdrk_01",
                "type": "message",
                "role": "assistant",
                "model": "claude-sonnet-4-20250514",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {"input_tokens": draw(st.integers(0, 10**6)), "output_tokens": 1},
            },
        }
    ]
    kinds = draw(st.lists(st.sampled_from(["text", "tool_use", "thinking"]), max_size=4))
    for index, kind in enumerate(kinds):
        events.extend(block_events(draw, index, kind))
    if draw(st.booleans()):
        events.append({"type": "ping"})
    output = draw(st.integers(0, 10**5))
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": output},
        }
    )
    events.append({"type": "message_stop"})
    return events


def block_events(draw: st.DrawFn, index: int, kind: str) -> list[dict[str, Any]]:
    starts = {
        "text": ({"type": "text", "text": ""}, "text_delta", "text"),
        "tool_use": (
            {"type": "tool_use", "id": f"toolu_{index}", "name": "Read", "input": {}},
            "input_json_delta",
            "partial_json",
        ),
        "thinking": ({"type": "thinking", "thinking": ""}, "thinking_delta", "thinking"),
    }
    block, delta_type, field = starts[kind]
    events = [{"type": "content_block_start", "index": index, "content_block": block}]
    for piece in draw(st.lists(TEXT, max_size=4)):
        delta = {"type": delta_type, field: piece}
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
    if kind == "thinking":
        delta = {"type": "signature_delta", "signature": "EqQBCkYIARgCIkA="}
        events.append({"type": "content_block_delta", "index": index, "delta": delta})
    events.append({"type": "content_block_stop", "index": index})
    return events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@given(anthropic_streams(), st.lists(st.integers(min_value=0), max_size=40))
def test_stream_decodes_back_exactly(events: list[dict], cuts: list[int]) -> None:
    data = b"".join(encode_bedrock_stream(events, invocation_latency_ms=900))
    reader = BedrockStreamReader()
    out = []
    for piece in split(data, cuts):
        out.extend(reader.feed(piece))
    reader.close()
    assert out == [(event["type"], event) for event in events]
    usage = events[0]["message"]["usage"]
    assert reader.invocation_metrics == {
        "inputTokenCount": usage["input_tokens"],
        "outputTokenCount": events[-2]["usage"]["output_tokens"],
        "invocationLatency": 900,
        "firstByteLatency": 0,
    }


def test_botocore_and_the_anthropic_sdk_read_our_stream() -> None:
    """The mock's Bedrock stream must parse with the official clients' own decoders."""
    from botocore.parsers import EventStreamJSONParser

    events = [
        {"type": "message_start", "message": {"usage": {"input_tokens": 3, "output_tokens": 1}}},
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn"},
            "usage": {"output_tokens": 2},
        },
        {"type": "message_stop"},
    ]
    data = b"".join(encode_bedrock_stream(events))
    session = botocore.session.get_session()
    model = session.get_service_model("bedrock-runtime")
    shape = model.shape_for("ResponseStream")
    parser = EventStreamJSONParser()
    decoded = []
    for message in _botocore_messages(data):
        parsed = parser.parse(message.to_response_dict(), shape)
        decoded.append(json.loads(parsed["chunk"]["bytes"]))
    assert decoded[:2] == events[:2]
    assert decoded[2][INVOCATION_METRICS_KEY]["outputTokenCount"] == 2

    decoder_module = pytest.importorskip("anthropic.lib.bedrock._stream_decoder")
    sse = list(decoder_module.AWSEventStreamDecoder().iter_bytes(iter([data])))
    assert [item.event for item in sse] == ["message_start", "message_delta", "message_stop"]
    throttled = encode_bedrock_exception("throttlingException", "Too many requests")
    [error] = list(decoder_module.AWSEventStreamDecoder().iter_bytes(iter([throttled])))
    assert error.event == "error" and "Too many requests" in error.data


def _botocore_messages(data: bytes) -> list[Any]:
    from botocore.eventstream import EventStreamBuffer

    buffer = EventStreamBuffer()
    buffer.add_data(data)
    return list(buffer)


def test_chunks_are_padded_like_bedrock() -> None:
    [message] = EventStreamDecoder().feed(encode_bedrock_chunk({"type": "ping"}))
    envelope = orjson.loads(message.payload)
    assert set(envelope) == {"bytes", "p"}
    assert orjson.loads(base64.b64decode(envelope["bytes"])) == {"type": "ping"}
    assert message.headers == {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }


def test_exception_after_events_in_the_same_chunk_comes_after_them() -> None:
    data = encode_bedrock_chunk({"type": "ping"}) + encode_bedrock_exception(
        "ThrottlingException", "Too many tokens, please wait before trying again."
    )
    reader = BedrockStreamReader()
    assert reader.feed(data) == [("ping", {"type": "ping"})]
    with pytest.raises(BedrockStreamError) as caught:
        reader.close()
    assert caught.value.exception_type == "throttlingException"
    assert caught.value.anthropic_error_type == "rate_limit_error"
    assert "Too many tokens" in caught.value.message


@pytest.mark.parametrize(
    ("kind", "extra", "anthropic_type"),
    [
        (
            "modelStreamErrorException",
            {"originalStatusCode": 529, "originalMessage": "o"},
            "api_error",
        ),
        ("internalServerException", {}, "api_error"),
        ("serviceUnavailableException", {}, "overloaded_error"),
        ("validationException", {}, "invalid_request_error"),
        ("modelTimeoutException", {}, "timeout_error"),
        ("somethingNewException", {}, "api_error"),
    ],
)
def test_stream_exceptions(kind: str, extra: dict, anthropic_type: str) -> None:
    reader = BedrockStreamReader()
    with pytest.raises(BedrockStreamError) as caught:
        reader.feed(encode_bedrock_exception(kind, "boom", **extra))
    assert caught.value.exception_type == kind
    assert caught.value.anthropic_error_type == anthropic_type
    assert caught.value.original_status_code == extra.get("originalStatusCode")


def test_error_messages_and_corruption() -> None:
    from bifrost_py.dialects.eventstream import encode_message

    error = encode_message(
        {":message-type": "error", ":error-code": "InternalFailure", ":error-message": "bad"}, b""
    )
    with pytest.raises(BedrockStreamError, match="InternalFailure: bad"):
        BedrockStreamReader().feed(error)
    bad_chunk = encode_message({":message-type": "event", ":event-type": "chunk"}, b'{"bytes":1}')
    with pytest.raises(MalformedAnswer, match="undecodable"):
        BedrockStreamReader().feed(bad_chunk)
    other = encode_message({":message-type": "event", ":event-type": "initial-response"}, b"{}")
    assert BedrockStreamReader().feed(other) == []
    corrupt = bytearray(encode_bedrock_chunk({"type": "ping"}))
    corrupt[20] ^= 0xFF
    with pytest.raises(EventStreamError):
        BedrockStreamReader().feed(bytes(corrupt))


# ------------------------------------------------------------------ non-streamed errors


@pytest.mark.parametrize(
    ("kind", "status", "anthropic_type"),
    [
        ("ThrottlingException", 429, "rate_limit_error"),
        ("ValidationException", 400, "invalid_request_error"),
        ("AccessDeniedException", 403, "permission_error"),
        ("ResourceNotFoundException", 404, "not_found_error"),
        ("ServiceUnavailableException", 503, "overloaded_error"),
        ("ModelTimeoutException", 408, "timeout_error"),
        ("InternalServerException", 500, "api_error"),
        ("ModelNotReadyException", 429, "rate_limit_error"),
    ],
)
def test_error_response_round_trip(kind: str, status: int, anthropic_type: str) -> None:
    sent_status, headers, body = bedrock_error_response(kind, "something went wrong")
    assert sent_status == status
    assert headers["x-amzn-ErrorType"].startswith(kind + ":http://internal.amazon.com/")
    assert bedrock_error_to_anthropic(status, body, headers) == (
        anthropic_type,
        "something went wrong",
    )


def test_error_without_type_header_falls_back() -> None:
    assert bedrock_error_to_anthropic(
        403, b'{"Message":"The security token included in the request is invalid."}', {}
    ) == ("permission_error", "The security token included in the request is invalid.")
    assert bedrock_error_to_anthropic(
        403, b'{"message":"bad sig"}', {"X-Amzn-ErrorType": "InvalidSignatureException"}
    ) == ("authentication_error", "bad sig")
    json_type = b'{"__type":"com.amazon#ThrottlingException","message":"slow"}'
    assert bedrock_error_to_anthropic(429, json_type, {}) == ("rate_limit_error", "slow")
    assert bedrock_error_to_anthropic(502, b"<html>bad gateway</html>", {}) == (
        "api_error",
        "<html>bad gateway</html>",
    )
    assert bedrock_error_to_anthropic(529, b"", {})[0] == "overloaded_error"


def test_response_headers() -> None:
    headers = bedrock_response_headers(12, 34, 560)
    assert headers["x-amzn-bedrock-input-token-count"] == "12"
    assert headers["x-amzn-bedrock-output-token-count"] == "34"
