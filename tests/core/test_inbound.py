"""A client's request as the gateway takes it: every refusal of a body names the field, and
header values that are not UTF-8 (sent as raw bytes: aiohttp's client will not) become escaped
values that nothing downstream fails on — a non-UTF-8 key is simply an unknown key (401)."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.context import ANTHROPIC, COUNT_TOKENS, EMBEDDINGS, MESSAGES, OPENAI, Call
from bifrost_py.inbound import client_app, credential, problem_of, session_id
from bifrost_py.limits import MAX_HEADER_KEPT_CHARS

from .kit import ANTHROPIC_HEADERS, OPENAI_HEADERS, Journal, Probe, message, raw_post

FIELDS = ("request body", "model:", "messages:", "stream:", "max_tokens:", "max_completion_tokens:",
          "stream_options:", "stream_options.include_usage:", "input:")
UUID = "0b7c3a4e-3a59-4c5c-9f0e-4a2e3c1d5b6f"


def headers(**values: str) -> CIMultiDictProxy[str]:
    return CIMultiDictProxy(CIMultiDict({k.replace("_", "-"): v for k, v in values.items()}))


# ----------------------------------------------------------------------------- bodies


BAD_BODIES = [
    ([1, 2], "request body must be a JSON object"),
    ({"messages": []}, "model:"),
    ({"model": 5, "messages": []}, "model:"),
    ({"model": "", "messages": []}, "model:"),
    ({"model": "claude\r\nx-injected: 1", "messages": []}, "model:"),
    ({"model": "c" * 300, "messages": []}, "model:"),
    ({"model": "claude-é", "messages": []}, "model:"),
    ({"model": "m", "messages": "hi"}, "messages:"),
    ({"model": "m", "messages": [], "stream": "yes"}, "stream:"),
    ({"model": "m", "messages": [], "max_tokens": 0}, "max_tokens:"),
    ({"model": "m", "messages": [], "max_tokens": 2**31}, "max_tokens:"),
    ({"model": "m", "messages": [], "max_tokens": True}, "max_tokens:"),
    ({"model": "m", "messages": [], "max_tokens": 1.5}, "max_tokens:"),
    ({"model": "m", "messages": [], "max_tokens": "100"}, "max_tokens:"),
]
OPENAI_ONLY = [
    ({"model": "m", "messages": [], "max_completion_tokens": -1}, "max_completion_tokens:"),
    ({"model": "m", "messages": [], "stream_options": 1}, "stream_options:"),
    ({"model": "m", "messages": [], "stream_options": {"include_usage": "yes"}}, "stream_options.include_usage:"),
]


@pytest.mark.parametrize(("body", "names"), BAD_BODIES + [({"model": "m", "messages": []}, "max_tokens:")])
async def test_a_bad_anthropic_body_is_a_400_naming_the_field(gateway: Any, body: Any, names: str) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, "/anthropic/v1/messages", orjson.dumps(body), ANTHROPIC_HEADERS)
    assert answer.status == 400, answer.raw
    assert answer.json()["error"] == {"type": "invalid_request_error", "message": answer.json()["error"]["message"]}
    assert answer.json()["error"]["message"].startswith(names)


@pytest.mark.parametrize(("body", "names"), BAD_BODIES + OPENAI_ONLY)
async def test_a_bad_openai_body_is_a_400_naming_the_field(gateway: Any, body: Any, names: str) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, "/openai/v1/chat/completions", orjson.dumps(body), OPENAI_HEADERS)
    assert answer.status == 400, answer.raw
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(names)


async def test_an_embeddings_body_without_input_is_a_400_naming_it(gateway: Any) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, "/v1/embeddings", b'{"model": "text-embedding-3-small"}', OPENAI_HEADERS)
    assert answer.status == 400 and answer.json()["error"]["message"].startswith("input:")


async def test_a_body_that_is_not_json_is_a_400(gateway: Any) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, "/anthropic/v1/messages", b"\xff{not json", ANTHROPIC_HEADERS)
    assert answer.status == 400 and "not valid JSON" in answer.json()["error"]["message"]


async def test_a_body_over_the_limit_is_a_413(gateway: Any) -> None:
    gw = await gateway(server={"max_body_mb": 0.01})
    body = orjson.dumps(message("x" * 20_000))
    answer = await raw_post(gw.url, "/anthropic/v1/messages", body, ANTHROPIC_HEADERS)
    assert answer.status == 413 and answer.json()["error"]["type"] == "request_too_large"


async def test_a_model_of_256_printable_characters_is_taken(gateway: Any) -> None:
    gw = await gateway()
    model = "anthropic/" + "c" * 246
    answer = await raw_post(gw.url, "/anthropic/v1/messages", orjson.dumps(message(model=model)), ANTHROPIC_HEADERS)
    assert answer.status == 200


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
FIELD_VALUES = st.fixed_dictionaries({}, optional={
    "model": JSONISH | st.sampled_from(["claude-x", "gpt-4o"]),
    "messages": JSONISH | st.just([]),
    "stream": JSONISH,
    "max_tokens": JSONISH | st.integers(),
    "max_completion_tokens": JSONISH,
    "stream_options": JSONISH,
    "input": JSONISH,
})


@given(body=FIELD_VALUES | JSONISH, dialect=st.sampled_from([ANTHROPIC, OPENAI]),
       endpoint=st.sampled_from([MESSAGES, COUNT_TOKENS, EMBEDDINGS]))
def test_problem_of_any_body_names_a_field_or_lets_a_well_typed_body_through(
    body: Any, dialect: str, endpoint: str
) -> None:
    problem = problem_of(body, dialect, endpoint)
    if problem is not None:
        assert problem.startswith(FIELDS), problem
        return
    # What the core reads next must be what it expects.
    assert isinstance(body, dict) and isinstance(body["model"], str) and body["model"].isprintable()
    if endpoint in (MESSAGES, COUNT_TOKENS):
        assert isinstance(body["messages"], list)
        assert isinstance(body.get("stream", False), bool)
        if dialect == OPENAI:
            assert body.get("stream_options") is None or isinstance(body["stream_options"], dict)
    if endpoint == EMBEDDINGS:
        assert isinstance(body["input"], (str, list))


# ----------------------------------------------------------------------------- headers


def test_the_credential_comes_from_x_bf_vk_then_x_api_key_then_a_bearer_token() -> None:
    assert credential(headers(x_bf_vk="a", x_api_key="b", authorization="Bearer c")) == "a"
    assert credential(headers(x_api_key="b", authorization="Bearer c")) == "b"
    assert credential(headers(authorization="bearer  c ")) == "c"
    assert credential(headers(authorization="Bearer   ")) is None
    assert credential(headers(authorization="Basic abc")) is None
    assert credential(headers()) is None


def test_the_client_app_is_the_first_word_of_the_user_agent_bounded() -> None:
    assert client_app("claude-cli/2.1.3 (external, cli)") == "claude-cli/2.1.3"
    assert client_app("x" * 500) == "x" * 100
    assert client_app(None) is None


def test_the_session_comes_from_claude_codes_header_then_its_user_id_then_x_bf_session_id() -> None:
    both = headers(x_claude_code_session_id="from-header", x_bf_session_id="from-bf")
    assert session_id(both, {"metadata": {"user_id": f"user_1_session_{UUID}"}}) == "from-header"
    bf = headers(x_bf_session_id="from-bf")
    assert session_id(bf, {"metadata": {"user_id": f"user_abc_account__session_{UUID}"}}) == UUID
    as_json = orjson.dumps({"device_id": "d", "session_id": UUID}).decode()
    assert session_id(bf, {"metadata": {"user_id": as_json}}) == UUID
    assert session_id(bf, {"metadata": {"user_id": "{not json"}}) == "from-bf"
    assert session_id(bf, {"metadata": "odd"}) == "from-bf"
    assert session_id(headers(), {}) is None


@given(metadata=JSONISH, user_id=JSONISH | st.text(), header=st.text() | st.none())
def test_a_session_id_from_anything_is_printable_and_bounded(metadata: Any, user_id: Any, header: str | None) -> None:
    found = session_id(headers(**({"x_bf_session_id": header} if header is not None else {})),
                       {"metadata": {"user_id": user_id}} if isinstance(metadata, dict) else {"metadata": metadata})
    if found is not None:
        assert found.isprintable() and len(found) <= MAX_HEADER_KEPT_CHARS
        found.encode("utf-8")


def _raw_headers(**values: bytes) -> list[tuple[bytes, bytes]]:
    return [(name.replace("_", "-").encode(), value) for name, value in values.items()]


@pytest.mark.parametrize("session_header", [b"x-bf-session-id", b"x-claude-code-session-id"])
async def test_header_bytes_that_are_not_utf8_are_kept_escaped_and_forwarded_escaped(
    gateway: Any, mock_upstream: Any, session_header: bytes
) -> None:
    journal = Journal()
    gw = await gateway([Probe("first", journal)])
    sent = ANTHROPIC_HEADERS + [(b"user-agent", b"claude-cli/2.0\xff\xfe (x)"), (session_header, b"sess-\xff\t-1")]
    answer = await raw_post(gw.url, "/anthropic/v1/messages", orjson.dumps(message()), sent)
    assert answer.status == 200, answer.raw
    await journal.ended(1)
    call: Call = journal.calls[0]
    assert call.client_app == "claude-cli/2.0\\xff\\xfe"
    assert call.session_id == "sess-\\xff\\x09-1"
    _, _, recorded = await mock_upstream.get("/_mock/requests")
    forwarded = orjson.loads(recorded)[-1]["headers"]
    assert forwarded["user-agent"] == "claude-cli/2.0\\xff\\xfe (x)"


@pytest.mark.parametrize(("path", "key_header"), [
    ("/anthropic/v1/messages", (b"x-api-key", b"vk-\xff\xfe")),
    ("/openai/v1/chat/completions", (b"authorization", b"Bearer vk-\xc3\x28")),
])
async def test_a_credential_that_is_not_utf8_is_a_401(start_gateway: Any, mock_upstream: Any, tmp_path: Any,
                                                        path: str, key_header: tuple[bytes, bytes]) -> None:
    config = {
        "providers": {"anthropic": {"type": "anthropic", "base_url": mock_upstream.url, "keys": [{"value": "k"}]}},
        "storage": {"logs": f"sqlite:///{tmp_path}/gov.db"},
        "governance": {"virtual_keys": {"dev": {"key": "vk-dev-0123456789"}}},
        "plugins": {"disable": ["costlog", "cache", "routing", "failover"]},
    }
    gw = await start_gateway(config)
    answer = await raw_post(gw.url, path, orjson.dumps(message()), ANTHROPIC_HEADERS + [key_header])
    assert answer.status == 401, answer.raw
    assert answer.json()["error"]["type"] == "authentication_error"


# ----------------------------------------------------------------------------- encoded bodies


async def test_a_gzip_body_is_read_decoded(gateway: Any) -> None:
    gw = await gateway()
    packed = gzip.compress(orjson.dumps(message()))
    answer = await raw_post(gw.url, "/anthropic/v1/messages", packed,
                            ANTHROPIC_HEADERS + [(b"content-encoding", b"gzip")])
    assert answer.status == 200, answer.raw


@pytest.mark.parametrize("encoding", [b"gzip", b"deflate"])
@pytest.mark.parametrize(("path", "sent"), [("/anthropic/v1/messages", ANTHROPIC_HEADERS),
                                            ("/openai/v1/chat/completions", OPENAI_HEADERS)])
async def test_a_body_that_cannot_be_decoded_is_a_400_in_the_callers_dialect_and_ends_the_call(
    gateway: Any, encoding: bytes, path: str, sent: list[tuple[bytes, bytes]]
) -> None:
    """The client's mistake (a Content-Encoding its body does not have) is a 400 naming the
    body, as JSON, and the call ends like every other: request_end runs, so it is logged."""
    journal = Journal()
    gw = await gateway([Probe("first", journal)])
    answer = await raw_post(gw.url, path, b"this is not compressed", sent + [(b"content-encoding", encoding)])
    assert answer.status == 400, answer.raw
    assert answer.headers["content-type"] == "application/json", answer.raw
    error = answer.json()["error"]
    assert error["type"] == "invalid_request_error" and "body" in error["message"]
    await journal.ended(1)
