"""The Bedrock adapter: the Anthropic body in Bedrock's envelope, signed so the mock's
independent verifier accepts it, the model mapped through `models:`, and the binary event
stream turned into Anthropic SSE read by read — whatever the byte boundaries, with CRC
errors and cut-off frames rejected as the upstream's malformed answer and in-stream exceptions
becoming `error` events."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py.config import ProviderConfig
from bifrost_py.dialects.bedrock import encode_bedrock_exception, encode_bedrock_stream
from bifrost_py.dialects.sigv4 import verify_signature
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.errors import CredentialsRefused, InvalidRequest
from bifrost_py.mockupstream.bedrock_endpoints import ACCESS_KEY_ID, API_KEY, SECRET_ACCESS_KEY
from bifrost_py.providers import make_provider
from bifrost_py.providers.base import Provider
from bifrost_py.providers.bedrock import BedrockProvider, anthropic_stream

from .conftest import (
    BEDROCK_MODEL_ID,
    bedrock_config,
    key,
    messages_request,
    read_stream,
    sse_events,
)


@pytest.fixture
async def providers() -> AsyncIterator[list[Provider]]:
    """Adapters made by a test; their sessions are closed at the end."""
    made: list[Provider] = []
    yield made
    for provider in made:
        await provider.close()


def adapter(made: list[Provider], config: ProviderConfig) -> BedrockProvider:
    provider = make_provider(config)
    assert isinstance(provider, BedrockProvider)
    made.append(provider)
    return provider


# --------------------------------------------------------------------------- the stream


def anthropic_events(texts: list[str]) -> list[dict[str, Any]]:
    start = {"type": "message_start", "message": {"id": "msg_1", "type": "message", "role": "assistant",
             "model": "claude-x", "content": [], "usage": {"input_tokens": 7, "output_tokens": 1}}}
    events: list[dict[str, Any]] = [start, {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}]
    events += [{"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": t}} for t in texts]
    events += [{"type": "content_block_stop", "index": 0},
               {"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": len(texts)}},
               {"type": "message_stop"}]
    return events


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


async def _pieces(pieces: list[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


def convert(pieces: list[bytes]) -> tuple[list[bytes], BaseException | None]:
    """What the adapter yields for these reads, and what it raised at the end, if anything."""

    async def run() -> tuple[list[bytes], BaseException | None]:
        out: list[bytes] = []
        try:
            async for chunk in anthropic_stream(_pieces(pieces)):
                out.append(chunk)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return out, exc
        return out, None

    return asyncio.run(run())


texts = st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=8)
cuts = st.lists(st.integers(min_value=0), max_size=30)


@settings(max_examples=60, deadline=None)
@given(texts, cuts)
def test_any_split_gives_back_the_anthropic_events(words: list[str], where: list[int]) -> None:
    events = anthropic_events(words)
    data = b"".join(encode_bedrock_stream(events, invocation_latency_ms=50))
    out, error = convert(split(data, where))
    assert error is None
    assert all(chunk.endswith(b"\n\n") for chunk in out), "only whole SSE events are yielded"
    assert sse_events(b"".join(out)) == [(event["type"], event) for event in events]


@settings(max_examples=60, deadline=None)
@given(texts, st.data())
def test_a_corrupt_byte_anywhere_is_a_malformed_answer(words: list[str], data: st.DataObject) -> None:
    events = anthropic_events(words)
    frames = list(encode_bedrock_stream(events))
    stream = b"".join(frames)
    where = data.draw(st.integers(min_value=0, max_value=len(stream) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    corrupted = stream[:where] + bytes([stream[where] ^ flip]) + stream[where + 1:]
    out, error = convert(split(corrupted, data.draw(cuts)))
    assert isinstance(error, MalformedAnswer)
    frame = next(i for i, end in enumerate(_ends(frames)) if where < end)
    relayed = sse_events(b"".join(out))
    assert relayed == [(e["type"], e) for e in events[: len(relayed)]] and len(relayed) <= frame


def _ends(frames: list[bytes]) -> list[int]:
    total, ends = 0, []
    for frame in frames:
        total += len(frame)
        ends.append(total)
    return ends


def test_a_cut_off_frame_is_a_malformed_answer() -> None:
    data = b"".join(encode_bedrock_stream(anthropic_events(["a", "b"])))
    out, error = convert([data[:-5]])
    assert isinstance(error, MalformedAnswer) and "ended inside a message" in str(error)
    assert [name for name, _ in sse_events(b"".join(out))][-1] == "message_delta"


def test_an_exception_first_is_the_only_event() -> None:
    out, error = convert([encode_bedrock_exception("throttlingException", "Too many requests")])
    assert error is None
    [(name, data)] = sse_events(b"".join(out))
    assert name == "error"
    assert data["error"] == {"type": "rate_limit_error", "message": "throttlingException: Too many requests"}


def test_an_exception_after_events_follows_them() -> None:
    frames = list(encode_bedrock_stream(anthropic_events(["a", "b"])))[:3]
    exception = encode_bedrock_exception("modelStreamErrorException", "boom", originalStatusCode=529)
    out, error = convert([b"".join(frames) + exception + frames[0]])
    assert error is None
    names = [name for name, _ in sse_events(b"".join(out))]
    assert names == ["message_start", "content_block_start", "content_block_delta", "error"]


# --------------------------------------------------------------------------- against the mock


async def test_request_is_signed_enveloped_and_answered(mock_upstream: Any, mock_records: Any, providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config(mock_upstream.url))
    request = messages_request("hello", model=BEDROCK_MODEL_ID, metadata={"user_id": "u"})
    request.headers["anthropic-beta"] = "context-1m-2025-08-07, interleaved-thinking-2025-05-14"
    response = await provider.send(request, None)
    assert response.status == 200
    message = orjson.loads(await response.read())
    assert message["content"] == [{"type": "text", "text": "Mock answer to: hello"}]
    [record] = await mock_records()
    assert record["path"] == "/model/us.anthropic.claude-sonnet-4-20250514-v1:0/invoke"
    assert record["headers"]["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/")
    assert record["headers"]["accept"] == "application/json"
    sent = orjson.loads(record["body"])
    assert "model" not in sent and "stream" not in sent
    assert sent["anthropic_version"] == "bedrock-2023-05-31"
    assert sent["anthropic_beta"] == ["context-1m-2025-08-07", "interleaved-thinking-2025-05-14"]
    assert sent["metadata"] == {"user_id": "u"}, "unknown fields pass through untouched"


async def test_signature_covers_the_escaped_path(providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config("https://bedrock-runtime.eu-west-1.amazonaws.com", region="eu-west-1"))
    url = provider.config.base_url + "/model/us.anthropic.claude-x-v1%3A0/invoke-with-response-stream"
    headers = await provider._authorized(url, provider._headers(True), b'{"a":1}', None)
    assert headers["x-amzn-bedrock-accept"] == "application/json"
    on_the_wire = {**headers, "host": "bedrock-runtime.eu-west-1.amazonaws.com"}
    assert verify_signature("POST", url, on_the_wire, b'{"a":1}', secret_key=SECRET_ACCESS_KEY,
                            region="eu-west-1", access_key=ACCESS_KEY_ID)
    assert not verify_signature("POST", url.replace("%3A", ":"), on_the_wire, b'{"a":1}',
                                secret_key=SECRET_ACCESS_KEY, region="eu-west-1", access_key=ACCESS_KEY_ID)


async def test_stream_arrives_as_anthropic_sse(mock_upstream: Any, providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config(mock_upstream.url))
    response = await provider.send(messages_request("stream me", model=BEDROCK_MODEL_ID, stream=True), None)
    assert response.status == 200
    events = sse_events(await read_stream(response))
    assert [name for name, _ in events][:2] == ["message_start", "content_block_start"]
    assert events[-1] == ("message_stop", {"type": "message_stop"}), "invocation metrics are taken out"
    assert "".join(d["delta"].get("text", "") for n, d in events if n == "content_block_delta") == "Mock answer to: stream me"


async def test_http_error_keeps_status_and_speaks_anthropic(mock_upstream: Any, providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config(mock_upstream.url))
    response = await provider.send(messages_request("x [[fail:429]] [[retry_after:7]]", model=BEDROCK_MODEL_ID), None)
    assert response.status == 429 and response.headers["retry-after"] == "7"
    error = orjson.loads(await response.read())
    assert error == {"type": "error", "error": {"type": "rate_limit_error", "message": "Too many requests, please wait before trying again."}}


async def test_wrong_secret_is_refused_by_the_mock(mock_upstream: Any, providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config(mock_upstream.url, secret_access_key="not-the-secret"))
    response = await provider.send(messages_request("hi", model=BEDROCK_MODEL_ID), None)
    assert response.status == 403
    error = orjson.loads(await response.read())["error"]
    assert error["type"] == "authentication_error" and "signature" in error["message"]


async def test_models_table_maps_names_and_globs(mock_upstream: Any, mock_records: Any, providers: list[Provider]) -> None:
    models = {"claude-opus-4-8": "us.anthropic.claude-opus-4-8-v1:0", "claude-haiku-*": "us.anthropic.claude-haiku-4-5-20251001-v1:0",
              "claude-*": BEDROCK_MODEL_ID}
    provider = adapter(providers, bedrock_config(mock_upstream.url, model_map=models, models=list(models)))
    assert provider.upstream_model("claude-opus-4-8") == "us.anthropic.claude-opus-4-8-v1:0"
    assert provider.upstream_model("claude-haiku-4-5") == "us.anthropic.claude-haiku-4-5-20251001-v1:0"
    assert provider.upstream_model("claude-sonnet-4-5") == BEDROCK_MODEL_ID
    assert provider.upstream_model("mistral.large") == "mistral.large", "unmapped ids pass as they are"
    arn = "arn:aws:bedrock:us-east-1:123456789012:application-inference-profile/abc123"
    response = await provider.send(messages_request("hi", model=arn), None)
    assert response.status == 200
    assert orjson.loads(await response.read())["model"] == "abc123"
    [record] = await mock_records()
    assert record["path"] == f"/model/{arn}/invoke"


async def test_bedrock_api_key_is_a_bearer_token(mock_upstream: Any, mock_records: Any, providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config(mock_upstream.url, access_key_id="", secret_access_key=""))
    response = await provider.send(messages_request("hi", model=BEDROCK_MODEL_ID), key(API_KEY))
    assert response.status == 200
    [record] = await mock_records()
    assert record["headers"]["authorization"] == f"Bearer {API_KEY}"


@pytest.fixture
def aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> pytest.MonkeyPatch:
    """An AWS environment with nothing in it: no files, no profile, no instance metadata."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE", "AWS_DEFAULT_PROFILE",
                 "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI",
                 "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    return monkeypatch


async def test_credentials_from_the_aws_environment(mock_upstream: Any, mock_records: Any, providers: list[Provider],
                                                    aws_environment: pytest.MonkeyPatch) -> None:
    aws_environment.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
    aws_environment.setenv("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
    aws_environment.setenv("AWS_SESSION_TOKEN", "session-token-from-env")
    provider = adapter(providers, bedrock_config(mock_upstream.url, access_key_id="", secret_access_key=""))
    response = await provider.send(messages_request("hi", model=BEDROCK_MODEL_ID), None)
    assert response.status == 200
    [record] = await mock_records()
    assert record["headers"]["x-amz-security-token"] == "session-token-from-env"


async def test_no_credentials_anywhere_is_refused(providers: list[Provider], aws_environment: pytest.MonkeyPatch) -> None:
    provider = adapter(providers, bedrock_config("http://127.0.0.1:9", access_key_id="", secret_access_key=""))
    with pytest.raises(CredentialsRefused, match="no AWS credentials"):
        await provider.send(messages_request("hi", model=BEDROCK_MODEL_ID), None)
    half = adapter(providers, bedrock_config("http://127.0.0.1:9", secret_access_key=""))
    with pytest.raises(CredentialsRefused, match="no secret_access_key"):
        await half.send(messages_request("hi", model=BEDROCK_MODEL_ID), None)


async def test_only_messages_are_served(providers: list[Provider]) -> None:
    provider = adapter(providers, bedrock_config("http://127.0.0.1:9"))
    assert provider.dialects == ("anthropic",) and not provider.supports_count_tokens
    request = messages_request("hi", model=BEDROCK_MODEL_ID)
    request.endpoint = "embeddings"
    with pytest.raises(InvalidRequest):
        await provider.send(request, None)


def test_admin_description_shows_region_and_auth_but_no_secret() -> None:
    described = [
        BedrockProvider(bedrock_config("http://x")).describe(),
        BedrockProvider(bedrock_config("http://x", access_key_id="", keys=[key(API_KEY)])).describe(),
        BedrockProvider(bedrock_config("http://x", access_key_id="")).describe(),
    ]
    assert [d["auth"] for d in described] == [
        "sigv4: access key AKID…MOCK", "bedrock api key (bearer)", "sigv4: AWS default credential chain"]
    assert described[0]["region"] == "us-east-1"
    assert SECRET_ACCESS_KEY not in repr(described) and API_KEY not in repr(described)
