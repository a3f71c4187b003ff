"""Row building: what an ended attempt (or a request without one) becomes in the log, priced."""

from __future__ import annotations

import pytest
from bifrost_costlog.rows import RowBuilder, StreamBody, usage_of_message
from bifrost_costlog.settings import Settings
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.context import Attempt, Call, Caller, Outcome, Reply, Target, Usage
from bifrost_py.errors import AuthenticationFailed, BudgetExceeded, UpstreamError
from bifrost_py.pricing import PriceBook

PRICES = PriceBook({"house-model": {"input": 1.0, "output": 2.0}})
SONNET = "claude-sonnet-4-20250514"
HAIKU = "claude-haiku-4-5-20251001"


def builder(**settings: object) -> RowBuilder:
    return RowBuilder(PRICES, Settings(**settings), frozenset({"anthropic", "bedrock", "openai"}))  # type: ignore[arg-type]


def make_call(model: str = SONNET, **fields: object) -> Call:
    fields.setdefault("dialect", "anthropic")
    return Call(request_id="req_1", endpoint="messages", headers=CIMultiDictProxy(CIMultiDict()),
                model=model, **fields)  # type: ignore[arg-type]


def make_attempt(call: Call, *, provider: str = "anthropic", model: str = SONNET, number: int = 1,
                 provider_type: str = "anthropic", outcome: Outcome | None = None) -> Attempt:
    attempt = Attempt(call=call, target=Target(provider, model), number=number, provider_type=provider_type)
    attempt.outcome = outcome or Outcome(status=200, usage=Usage(1000, 200, 0, 0), model=model, completed=True)
    attempt.started = 100.0
    attempt.ended = 100.5
    attempt.upstream_seconds = 0.45
    call.attempts.append(attempt)
    return attempt


def test_a_priced_attempt() -> None:
    call = make_call(caller=Caller("k1", "dev-pranay", team="backend", customer="acme"),
                     session_id="sess-1", client_app="claude-cli/2.1.3")
    attempt = make_attempt(call, outcome=Outcome(status=200, usage=Usage(1000, 200, 5000, 300), model=SONNET,
                                                 completed=True, stop_reason="end_turn"))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] == pytest.approx((1000 * 3 + 200 * 15 + 5000 * 0.3 + 300 * 3.75) / 1e6)
    assert row["price_unknown"] is False
    assert (row["key_name"], row["team"], row["customer"], row["session_id"], row["client_app"]) == (
        "dev-pranay", "backend", "acme", "sess-1", "claude-cli/2.1.3")
    assert (row["input_tokens"], row["output_tokens"], row["cache_read_tokens"], row["cache_write_tokens"]) == (1000, 200, 5000, 300)
    assert row["latency_ms"] == pytest.approx(500.0)
    assert row["upstream_ms"] == pytest.approx(450.0)
    assert row["overhead_ms"] == pytest.approx(50.0)
    assert row["ttft_ms"] is None  # not a stream
    assert row["requested_cost_usd"] is None  # not routed elsewhere
    assert row["fallback"] is False and row["cache_hit"] is False
    assert row["stop_reason"] == "end_turn"


def test_stream_time_to_first_token() -> None:
    call = make_call(stream=True)
    attempt = make_attempt(call, outcome=Outcome(status=200, usage=Usage(10, 10), streamed=True, completed=True))
    attempt.first_byte = 100.12
    row = builder().attempt_row(attempt)
    assert row["ttft_ms"] == pytest.approx(120.0)
    assert row["streamed"] is True


def test_unknown_price_is_flagged_not_free() -> None:
    call = make_call(model="my-private-model")
    attempt = make_attempt(call, model="my-private-model", provider="openai", provider_type="openai",
                           outcome=Outcome(status=200, usage=Usage(10, 10), model="my-private-model"))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] is None
    assert row["price_unknown"] is True


def test_no_tokens_costs_nothing_even_without_a_price() -> None:
    call = make_call(model="my-private-model")
    attempt = make_attempt(call, model="my-private-model", outcome=Outcome(
        status=529, error=UpstreamError("overloaded", status=529, error_type="overloaded_error")))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] == 0.0 and row["price_unknown"] is False
    assert (row["status"], row["error_type"], row["error_message"]) == (529, "overloaded_error", "overloaded")


def test_priced_by_the_answered_model_when_the_target_name_is_unknown() -> None:
    """An Azure deployment name is not in the catalogue; the model named in the answer is."""
    call = make_call(model="prod-gpt4o", dialect="openai")
    attempt = make_attempt(call, provider="azure", model="prod-gpt4o", provider_type="azure",
                           outcome=Outcome(status=200, usage=Usage(1000, 100), model="gpt-4o-2024-08-06"))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] == pytest.approx((1000 * 2.5 + 100 * 10) / 1e6)
    assert row["answered_model"] == "gpt-4o-2024-08-06"


def test_bedrock_attempt_is_priced_at_bedrock_rates() -> None:
    call = make_call()
    attempt = make_attempt(call, provider="bedrock", provider_type="bedrock",
                           outcome=Outcome(status=200, usage=Usage(1000, 100, 0, 1000), model="us.anthropic.claude-sonnet-4-20250514-v1:0"))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] == pytest.approx((1000 * 3 + 100 * 15 + 1000 * 3.75) / 1e6)


def test_routing_records_what_the_requested_model_would_have_cost() -> None:
    call = make_call(model=SONNET, route_rule="simple-tasks-to-haiku")
    attempt = make_attempt(call, model=HAIKU, outcome=Outcome(status=200, usage=Usage(1000, 100), model=HAIKU))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] == pytest.approx((1000 * 1 + 100 * 5) / 1e6)
    assert row["requested_cost_usd"] == pytest.approx((1000 * 3 + 100 * 15) / 1e6)
    assert row["route_rule"] == "simple-tasks-to-haiku"


def test_a_provider_prefix_is_not_routing() -> None:
    call = make_call(model=f"anthropic/{SONNET}")
    row = builder().attempt_row(make_attempt(call))
    assert row["requested_cost_usd"] is None


def test_cache_hit_costs_nothing_and_records_the_saving() -> None:
    call = make_call()
    message = {"model": SONNET, "usage": {"input_tokens": 2000, "output_tokens": 300, "cache_read_input_tokens": 0}}
    attempt = make_attempt(call, outcome=Outcome(status=200, usage=Usage(2000, 300), reply=Reply(message, source="cache")))
    row = builder().attempt_row(attempt)
    assert row["cache_hit"] is True
    assert row["cost_usd"] == 0.0 and row["input_tokens"] == 0 and row["output_tokens"] == 0
    assert row["saved_usd"] == pytest.approx((2000 * 3 + 300 * 15) / 1e6)


def test_a_plugin_reply_that_is_not_the_cache() -> None:
    call = make_call()
    attempt = make_attempt(call, outcome=Outcome(status=200, reply=Reply({"usage": {"output_tokens": 5}}, source="canned")))
    row = builder().attempt_row(attempt)
    assert row["cache_hit"] is False and row["saved_usd"] is None and row["cost_usd"] == 0.0


def test_refusal_and_fallback_attempts() -> None:
    call = make_call(caller=Caller("k1", "intern"))
    refused = make_attempt(call, outcome=Outcome(status=402, error=BudgetExceeded("budget exhausted"), refused_by="governance"))
    second = make_attempt(call, provider="bedrock", provider_type="bedrock", number=2)
    rows = [builder().attempt_row(refused), builder().attempt_row(second)]
    assert rows[0]["refused_by"] == "governance" and rows[0]["error_type"] == "billing_error" and rows[0]["status"] == 402
    assert rows[1]["fallback"] is True and rows[1]["attempt"] == 2


def test_finish_marks_the_final_row_and_fills_missing_attempts() -> None:
    call = make_call()
    first = make_attempt(call, outcome=Outcome(status=529, error=UpstreamError("overloaded", status=529)))
    make_attempt(call, number=2, provider="bedrock", provider_type="bedrock")
    b = builder()
    rows = b.finish(call, [b.attempt_row(first)])  # the post hook never saw attempt 2
    assert [r["attempt"] for r in rows] == [1, 2]
    assert [r["final"] for r in rows] == [False, True]
    assert rows[0]["request_ms"] == rows[1]["request_ms"] > 0


def test_a_request_that_never_reached_an_attempt() -> None:
    call = make_call(error=AuthenticationFailed("unknown virtual key"))
    rows = builder().finish(call, None)
    assert len(rows) == 1
    row = rows[0]
    assert (row["attempt"], row["final"], row["status"], row["error_type"]) == (0, True, 401, "authentication_error")
    assert row["cost_usd"] == 0.0 and row["provider"] is None
    assert row["latency_ms"] == row["overhead_ms"] == row["request_ms"]


def test_bodies_only_when_asked_and_cut_to_size() -> None:
    call = make_call(raw_body=b'{"model":"x","messages":[]}' + b" " * 5000)
    attempt = make_attempt(call, outcome=Outcome(status=200, usage=Usage(1, 1), body={"content": [{"text": "hi"}]}))
    plain = builder()
    rows = plain.finish(call, [plain.attempt_row(attempt)])
    assert "request_body" not in rows[0] and "response_body" not in rows[0]
    kept = builder(bodies=True, max_body_bytes=1024)
    rows = kept.finish(call, [kept.attempt_row(attempt)])
    assert rows[0]["request_body"].startswith('{"model":"x"') and rows[0]["request_body"].endswith("…[truncated]")
    assert rows[0]["response_body"] == '{"content":[{"text":"hi"}]}'


def test_stream_body_collects_text_of_both_dialects() -> None:
    body = StreamBody(limit=1000)
    body.on_event("anthropic", "message_start", {"message": {}})
    body.on_event("anthropic", "content_block_delta", {"delta": {"type": "text_delta", "text": "Hello"}})
    body.on_event("anthropic", "content_block_delta", {"delta": {"type": "input_json_delta", "partial_json": '{"a":'}})
    body.on_event("openai", None, {"choices": [{"delta": {"content": " world"}}]})
    body.on_event("openai", None, {"choices": [{"delta": {"tool_calls": [{"function": {"arguments": "1}"}}]}}]})
    assert body.text() == 'Hello{"a": world1}'


@given(st.lists(st.text(max_size=50), max_size=60), st.integers(min_value=1, max_value=300))
def test_stream_body_never_grows_past_its_limit(pieces: list[str], limit: int) -> None:
    body = StreamBody(limit=limit)
    for piece in pieces:
        body.on_event("anthropic", "content_block_delta", {"delta": {"text": piece}})
    text = body.text()
    assert len(text) <= limit + len("…[truncated]")
    assert "".join(pieces).startswith(text.removesuffix("…[truncated]"))


@given(st.dictionaries(st.sampled_from(["input_tokens", "output_tokens", "cache_read_input_tokens",
                                        "cache_creation_input_tokens", "other"]),
                       st.one_of(st.integers(-5, 10**7), st.none(), st.text(max_size=3), st.booleans())))
def test_usage_of_message_takes_only_sane_counts(usage: dict[str, object]) -> None:
    found = usage_of_message({"usage": usage})
    for value in (found.input_tokens, found.output_tokens, found.cache_read_tokens, found.cache_write_tokens):
        assert isinstance(value, int) and value >= 0
    if isinstance(usage.get("input_tokens"), int) and not isinstance(usage["input_tokens"], bool) and usage["input_tokens"] > 0:
        assert found.input_tokens == usage["input_tokens"]


def test_text_from_the_client_and_upstream_is_bounded_and_escaped_before_it_is_queued() -> None:
    huge = "claude-" + "x" * 1_900_000
    call = make_call(model=huge, session_id="sess-\udcc3(", client_app="curl\udcff/8.0",
                     caller=Caller("k1", "alice"))
    attempt = make_attempt(call, model=huge, outcome=Outcome(
        status=500, error=UpstreamError("boom\x00" + "!" * 10_000, status=500, error_type="t" * 1000),
        model="m\x1b[2J", stop_reason="\udcff" * 500))
    b = builder()
    (row,) = b.finish(call, [b.attempt_row(attempt)])
    for name in ("requested_model", "model"):
        assert row[name] == "claude-" + "x" * 249 + "…[truncated]"
    assert row["session_id"] == "sess-\\xc3(" and row["client_app"] == "curl\\xff/8.0"
    assert row["answered_model"] == "m\\x1b[2J"
    assert row["error_message"].startswith("boom\\x00!!!") and len(row["error_message"].encode()) <= 2000 + 15
    assert len(row["error_type"]) <= 128 + len("…[truncated]") and row["stop_reason"].startswith("\\xff")
    assert row["key_name"] == "alice" and row["team"] is None
    (unauthenticated,) = b.finish(make_call(model=huge, error=AuthenticationFailed("unknown virtual key")), None)
    assert len(unauthenticated["model"]) == len(unauthenticated["requested_model"]) == 256 + len("…[truncated]")


def test_logged_bodies_hold_no_nul_or_surrogate() -> None:
    call = make_call(raw_body=b'{"model":"x","messages":[{"content":"a\x00b\xff"}]}')
    attempt = make_attempt(call, outcome=Outcome(status=200, usage=Usage(1, 1), body={"content": [{"text": "\udcff"}]}))
    kept = builder(bodies=True)
    (row,) = kept.finish(call, [kept.attempt_row(attempt)])
    assert row["request_body"] == '{"model":"x","messages":[{"content":"a\\x00b\ufffd"}]}'
    assert row["response_body"] == '{"content": [{"text": "\\udcff"}]}'  # a plugin's body orjson refuses


OPUS = "claude-opus-4-1-20250805"
BEDROCK_SONNET = "us.anthropic.claude-sonnet-4-20250514-v1:0"


def test_a_bedrock_mapping_to_another_model_is_priced_at_the_served_model() -> None:
    """Issue 15: `claude-*` mapped to a Sonnet id on Bedrock; the client asked for Opus."""
    call = make_call(model=OPUS)
    attempt = make_attempt(call, provider="bedrock", model=OPUS, provider_type="bedrock", number=2,
                           outcome=Outcome(status=200, usage=Usage(1000, 100), model=BEDROCK_SONNET))
    attempt.upstream_model = BEDROCK_SONNET
    row = builder().attempt_row(attempt)
    assert row["served_model"] == BEDROCK_SONNET
    assert row["cost_usd"] == pytest.approx((1000 * 3 + 100 * 15) / 1e6)  # Sonnet, not Opus
    assert row["requested_cost_usd"] == pytest.approx((1000 * 15 + 100 * 75) / 1e6)  # what Opus would have cost
    assert row["savings_unpriced"] is False


def test_a_routed_request_whose_requested_model_has_no_price_saves_nothing_but_says_so() -> None:
    call = make_call(model="my-private-model")
    attempt = make_attempt(call, model=HAIKU, outcome=Outcome(status=200, usage=Usage(1000, 100), model=HAIKU))
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] == pytest.approx((1000 * 1 + 100 * 5) / 1e6)
    assert row["requested_cost_usd"] is None and row["savings_unpriced"] is True


def test_an_unpriced_served_model_is_never_priced_as_the_requested_one() -> None:
    call = make_call(model=SONNET)
    attempt = make_attempt(call, provider="openai", model="my-private-model", provider_type="openai",
                           outcome=Outcome(status=200, usage=Usage(1000, 100), model="my-private-model"))
    attempt.upstream_model = "my-private-model"
    row = builder().attempt_row(attempt)
    assert row["cost_usd"] is None and row["price_unknown"] is True
    assert row["requested_cost_usd"] is None and row["savings_unpriced"] is True


def test_a_cache_hit_saves_the_price_of_what_would_have_been_served() -> None:
    call = make_call(model=OPUS)
    message = {"model": OPUS, "usage": {"input_tokens": 1000, "output_tokens": 100}}
    attempt = make_attempt(call, provider="bedrock", model=OPUS, provider_type="bedrock",
                           outcome=Outcome(status=200, reply=Reply(message, source="cache")))
    attempt.upstream_model = BEDROCK_SONNET
    row = builder().attempt_row(attempt)
    assert row["cache_hit"] is True and row["cost_usd"] == 0.0
    assert row["saved_usd"] == pytest.approx((1000 * 3 + 100 * 15) / 1e6)


def test_a_cache_hit_of_an_unpriced_model_is_counted_not_priced() -> None:
    call = make_call(model="my-private-model")
    message = {"model": "my-private-model", "usage": {"input_tokens": 1000, "output_tokens": 100}}
    attempt = make_attempt(call, model="my-private-model",
                           outcome=Outcome(status=200, reply=Reply(message, source="cache")))
    row = builder().attempt_row(attempt)
    assert row["saved_usd"] is None and row["savings_unpriced"] is True
