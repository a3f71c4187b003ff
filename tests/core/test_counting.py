"""count_tokens: the provider's own count when it offers one, else the local estimate marked as
one (`x-bf-estimate: true`). A provider that cannot count, fails or answers nonsense is answered
for by the estimate; only a provider saying the request itself is wrong (a 4xx other than
401/403/429) reaches the client. Counting is not an attempt: no pre/post hooks, no hold."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bifrost_py.dialects.tokens import estimate_input_tokens
from bifrost_py.testing import running_gateway

from .kit import ANTHROPIC_HEADERS, Canned, lineup, raw_post, scripted_upstream, settled

PATH = "/anthropic/v1/messages/count_tokens"


def body(model: str = "claude-sonnet-4", **extra: Any) -> bytes:
    return orjson.dumps({"model": model, "messages": [{"role": "user", "content": "count these words"}], **extra})


def odd_provider(url: str) -> dict[str, Any]:
    return {"odd": {"type": "anthropic", "base_url": url, "keys": [{"value": "k"}], "models": ["odd-*"]}}


async def test_an_anthropic_provider_counts_and_no_attempt_is_made(gateway: Any) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    answer = await raw_post(gw.url, PATH, body(), ANTHROPIC_HEADERS)
    await line.journal.ended(len(line.plugins))
    assert answer.status == 200 and "x-bf-estimate" not in answer.headers
    assert answer.headers["x-bf-provider"] == "anthropic"
    assert isinstance(answer.json()["input_tokens"], int) and answer.json()["input_tokens"] > 0
    assert settled(line, attempts=0) == [] and line.journal.calls[0].attempts == []


async def test_the_providers_count_is_passed_on_as_it_was() -> None:
    async with scripted_upstream(Canned(200, b'{"input_tokens": 1234}')) as odd, \
            running_gateway({"providers": odd_provider(odd.url)}, builtins=False) as gw:
        answer = await raw_post(gw.url, PATH, body("odd-1"), ANTHROPIC_HEADERS)
    assert answer.status == 200 and answer.json() == {"input_tokens": 1234}
    assert odd.requests[0][0] == "/v1/messages/count_tokens"
    assert orjson.loads(odd.requests[0][1])["model"] == "odd-1"


async def test_a_provider_that_cannot_count_is_answered_for_by_the_estimate(gateway: Any) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, PATH, body("gpt-4o"), ANTHROPIC_HEADERS)
    assert answer.status == 200 and answer.headers["x-bf-estimate"] == "true"
    assert answer.json() == {"input_tokens": estimate_input_tokens(orjson.loads(body("gpt-4o")))}


async def test_a_provider_that_is_down_is_answered_for_by_the_estimate(gateway: Any) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, PATH, body("down/claude-x"), ANTHROPIC_HEADERS)
    assert answer.status == 200 and answer.headers["x-bf-estimate"] == "true"


@pytest.mark.parametrize("canned", [
    Canned(500, b'{"type":"error","error":{"type":"api_error","message":"boom"}}'),
    Canned(529, b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'),
    Canned(401, b'{"type":"error","error":{"type":"authentication_error","message":"bad key"}}'),
    Canned(429, b'{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}'),
    Canned(200, b"<html>not json</html>", {"content-type": "text/html"}),
    Canned(200, b"[]"),
    Canned(200, b'{"input_tokens": "12"}'),
    Canned(200, b'{"input_tokens": -1}'),
    Canned(200, b'{"input_tokens": true}'),
], ids=["500", "529", "401", "429", "not-json", "array", "string-count", "negative", "bool"])
async def test_a_provider_failing_or_answering_nonsense_is_answered_for_by_the_estimate(canned: Canned) -> None:
    async with scripted_upstream(canned) as odd, \
            running_gateway({"providers": odd_provider(odd.url)}, builtins=False) as gw:
        answer = await raw_post(gw.url, PATH, body("odd-1"), ANTHROPIC_HEADERS)
    assert answer.status == 200 and answer.headers["x-bf-estimate"] == "true", answer.raw
    assert answer.json() == {"input_tokens": estimate_input_tokens(orjson.loads(body("odd-1")))}


async def test_a_provider_saying_the_request_is_wrong_is_heard_by_the_client() -> None:
    refusal = Canned(400, b'{"type":"error","error":{"type":"invalid_request_error","message":"messages.0: bad"}}')
    async with scripted_upstream(refusal) as odd, \
            running_gateway({"providers": odd_provider(odd.url)}, builtins=False) as gw:
        answer = await raw_post(gw.url, PATH, body("odd-1"), ANTHROPIC_HEADERS)
    assert answer.status == 400
    assert answer.json()["error"] == {"type": "invalid_request_error",
                                      "message": "provider 'odd' answered 400: messages.0: bad"}


@pytest.mark.parametrize("messages", [
    [{"role": "user", "content": [{"type": "text", "text": 5}]}],
    [{"role": "assistant", "content": None, "tool_calls": 5}],
    [{"role": "user", "content": [{"type": "image"}, {"type": "tool_result", "content": {"odd": [1, None]}}]}],
    [5, "text", None, [[[]]]],
])
async def test_odd_content_is_still_estimated_never_a_500(gateway: Any, messages: list[Any]) -> None:
    gw = await gateway()
    answer = await raw_post(gw.url, PATH, orjson.dumps({"model": "gpt-4o", "messages": messages}), ANTHROPIC_HEADERS)
    assert answer.status == 200, answer.raw
    assert isinstance(answer.json()["input_tokens"], int)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["role", "content", "type", "text", "tool_calls", "system", "tools", "messages",
                         "image_url", "source", "input", "function", "arguments"]) | st.text(max_size=4),
        inner, max_size=4),
    max_leaves=20,
)


@given(body=JSON)
def test_estimation_of_anything_never_raises_and_is_a_count(body: Any) -> None:
    count = estimate_input_tokens(body)
    assert isinstance(count, int) and count >= 0
