"""The error tree and its one mapping to each dialect: every class's body and stream event in
both dialects, the types the SDKs switch on, and `with_message`, which changes only the words."""

from __future__ import annotations

import math

import orjson
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from bifrost_py.dialects.sse import SSEDecoder
from bifrost_py.errors import (
    ANTHROPIC,
    ANTHROPIC_ERROR_TYPES,
    OPENAI,
    AuthenticationFailed,
    BudgetExceeded,
    CredentialsRefused,
    GatewayError,
    InvalidRequest,
    NotFound,
    PermissionDenied,
    RateLimited,
    RequestTooLarge,
    UpstreamError,
    UpstreamUnavailable,
    error_body,
    error_event,
)

OPENAI_TYPES = {"invalid_request_error", "authentication_error", "insufficient_quota", "permission_error",
                "not_found_error", "rate_limit_error", "api_error", "timeout_error"}
# (error, status, Anthropic type, OpenAI type, OpenAI code, final) as CONTRACT.md lists them.
TREE = [
    (GatewayError("bug"), 500, "api_error", "api_error", None, True),
    (InvalidRequest("model: field required"), 400, "invalid_request_error", "invalid_request_error", None, True),
    (AuthenticationFailed("invalid API key"), 401, "authentication_error", "authentication_error",
     "invalid_api_key", True),
    (BudgetExceeded("budget exhausted"), 402, "billing_error", "insufficient_quota", "budget_exceeded", True),
    (PermissionDenied("model not allowed"), 403, "permission_error", "permission_error", "permission_denied", True),
    (NotFound("model 'x' is not served"), 404, "not_found_error", "not_found_error", "model_not_found", True),
    (RequestTooLarge("body too large"), 413, "request_too_large", "invalid_request_error", "request_too_large", True),
    (RateLimited("slow down", retry_after=1.5), 429, "rate_limit_error", "rate_limit_error",
     "rate_limit_exceeded", True),
    (CredentialsRefused("no usable key"), 502, "api_error", "api_error", None, False),
    (UpstreamUnavailable("could not be reached"), 502, "api_error", "api_error", None, False),
    (UpstreamUnavailable("no answer in time", status=504), 504, "api_error", "api_error", None, False),
    (UpstreamError("Overloaded", status=529), 529, "overloaded_error", "api_error", None, False),
    (UpstreamError("Bad", status=400), 400, "invalid_request_error", "invalid_request_error", None, False),
    (UpstreamError("x", status=503, error_type="timeout_error"), 503, "timeout_error", "timeout_error", None, False),
]


@pytest.mark.parametrize(("error", "status", "anthropic_type", "openai_type", "code", "final"), TREE,
                         ids=lambda v: type(v).__name__ if isinstance(v, GatewayError) else None)
def test_every_error_has_its_status_types_and_bodies_in_both_dialects(
    error: GatewayError, status: int, anthropic_type: str, openai_type: str, code: str | None, final: bool
) -> None:
    assert (error.status, error.final, error.type) == (status, final, anthropic_type)
    assert orjson.loads(error_body(error, ANTHROPIC)) == {
        "type": "error", "error": {"type": anthropic_type, "message": error.message}}
    assert orjson.loads(error_body(error, OPENAI)) == {
        "error": {"message": error.message, "type": openai_type, "param": None, "code": code}}


@pytest.mark.parametrize("error", [row[0] for row in TREE], ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("dialect", [ANTHROPIC, OPENAI])
def test_the_stream_event_of_an_error_is_one_well_formed_event_carrying_its_body(
    error: GatewayError, dialect: str
) -> None:
    decoder = SSEDecoder()
    events = decoder.feed(error_event(error, dialect))
    assert len(events) == 1 and decoder.close() == []
    assert events[0].event == ("error" if dialect == ANTHROPIC else None)
    assert events[0].data.encode() == error_body(error, dialect)


@given(message=st.text(), dialect=st.sampled_from([ANTHROPIC, OPENAI]))
@example(message='quote " backslash \\ newline \n\n data: x', dialect=ANTHROPIC)
def test_any_message_is_carried_intact_and_cannot_break_the_event(message: str, dialect: str) -> None:
    error = UpstreamError(message, status=502)
    assert orjson.loads(error_body(error, dialect))["error"]["message"] == message
    events = SSEDecoder().feed(error_event(error, dialect))
    assert len(events) == 1 and orjson.loads(events[0].data)["error"]["message"] == message


@given(status=st.integers(400, 599))
def test_an_upstream_status_always_maps_to_a_type_each_sdk_knows(status: int) -> None:
    error = UpstreamError("x", status=status)
    assert error.anthropic_type in ANTHROPIC_ERROR_TYPES
    assert error.openai_type in OPENAI_TYPES
    server_side = {"api_error", "overloaded_error"}
    assert (error.anthropic_type in server_side) == (status >= 500), "a 4xx must not read as the server's fault"


@given(seconds=st.floats(0, 1e6))
def test_retry_after_is_whole_seconds_rounded_up_and_at_least_one(seconds: float) -> None:
    error = RateLimited("slow down", retry_after=seconds)
    assert error.headers["retry-after"] == str(max(1, math.ceil(seconds)))
    assert error.retry_after == seconds


@pytest.mark.parametrize("error", [row[0] for row in TREE] + [
    CredentialsRefused("refused", upstream_status=401, headers={"retry-after": "9"}, final=True),
], ids=lambda e: type(e).__name__)
def test_with_message_keeps_everything_but_the_message(error: GatewayError) -> None:
    clone = error.with_message("all 2 attempts failed")
    assert type(clone) is type(error) and clone is not error
    assert (clone.status, clone.final, clone.anthropic_type, clone.openai_type, clone.openai_code) == (
        error.status, error.final, error.anthropic_type, error.openai_type, error.openai_code)
    assert clone.headers == error.headers and clone.headers is not error.headers
    assert clone.message == str(clone) == "all 2 attempts failed"
    assert error.message != clone.message
    for extra in ("upstream_status", "retry_after"):
        assert getattr(clone, extra, None) == getattr(error, extra, None)
    clone.headers["x-changed"] = "1"
    assert "x-changed" not in error.headers
