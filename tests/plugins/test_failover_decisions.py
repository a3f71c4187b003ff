"""What failover advises after a failed attempt, and how failures are classified."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import pytest
from bifrost_failover.decisions import Decider, backoff_delay, memory
from bifrost_failover.failures import Kind, classify, classify_error, retry_after
from bifrost_failover.settings import Backoff, FailoverSettings
from hypothesis import given
from hypothesis import strategies as st
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py.config import config_from_dict
from bifrost_py.context import Advice, Attempt, Call, Target
from bifrost_py.errors import (
    BudgetExceeded,
    CredentialsRefused,
    GatewayError,
    PermissionDenied,
    UpstreamError,
    UpstreamUnavailable,
)
from bifrost_py.gateway import Gateway

ON = frozenset({408, 429, 500, 502, 503, 504, 529})
SONNET = "claude-sonnet-4-20250514"


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def gateway() -> Gateway:
    providers = {
        "anthropic": {"type": "anthropic", "keys": [{"value": "a1", "name": "a1"}, {"value": "a2", "name": "a2"}]},
        "single": {"type": "anthropic", "keys": [{"value": "s1", "name": "s1"}]},
        "openai": {"type": "openai", "keys": [{"value": "o"}]},
    }
    return Gateway(config_from_dict({"providers": providers}), builtins=False)


def failed(error: GatewayError, target: Target | None = None, call: Call | None = None,
           key: str | None = None, refused_by: str | None = None) -> Attempt:
    call = call or Call(request_id="r", dialect="anthropic", endpoint="messages",
                        headers=CIMultiDictProxy(CIMultiDict()), model=SONNET)
    attempt = Attempt(call=call, target=target or Target("single", SONNET), number=len(call.attempts) + 1)
    call.attempts.append(attempt)
    attempt.key_name = key
    attempt.outcome.error = error
    attempt.outcome.status = error.status
    attempt.outcome.refused_by = refused_by
    return attempt


def refused(status: int) -> CredentialsRefused:
    error = CredentialsRefused(f"provider refused the gateway's API key ({status})")
    error.upstream_status = status  # type: ignore[attr-defined]
    return error


def upstream(status: int, message: str = "boom", retry: str | None = None) -> UpstreamError:
    return UpstreamError(message, status=status, headers={"retry-after": retry} if retry else None)


def decider(gateway: Gateway, clock: Clock | None = None, **settings: Any) -> Decider:
    return Decider(FailoverSettings(**settings), gateway, rng=random.Random(1), clock=clock or Clock())


# --------------------------------------------------------------------------- classification


@pytest.mark.parametrize(("error", "kind"), [
    (refused(401), Kind.KEY_REFUSED),
    (CredentialsRefused("provider 'x' has no usable API key"), Kind.NO_KEY),
    (UpstreamUnavailable("could not be reached"), Kind.UNAVAILABLE),
    (UpstreamUnavailable("did not answer within 1s", status=504), Kind.UNAVAILABLE),
    (upstream(429), Kind.RATE_LIMITED),
    (upstream(529), Kind.RETRYABLE_STATUS),
    (upstream(408), Kind.RETRYABLE_STATUS),
    (upstream(400), Kind.FATAL),
    (upstream(413), Kind.FATAL),
    (upstream(404), Kind.FATAL),
    (upstream(501), Kind.FATAL),
    (upstream(400, "prompt is too long: 250000 tokens > 200000 maximum"), Kind.CONTEXT_WINDOW),
    (upstream(400, "This model's maximum context length is 128000 tokens"), Kind.CONTEXT_WINDOW),
    (upstream(400, "Input is too long for requested model."), Kind.CONTEXT_WINDOW),
    (BudgetExceeded("budget"), Kind.FATAL),
])
def test_classify_error(error: GatewayError, kind: Kind) -> None:
    assert classify_error(error, ON) == kind


def test_on_status_is_configurable() -> None:
    assert classify_error(upstream(404), frozenset({404})) == Kind.RETRYABLE_STATUS
    assert classify_error(upstream(429), frozenset({529})) == Kind.FATAL


def test_classify_attempts() -> None:
    assert classify(failed(PermissionDenied("no", final=False), refused_by="governance"), ON) == Kind.REFUSED_BY_PLUGIN
    ok = failed(upstream(500))
    ok.outcome.error, ok.outcome.status = None, 200
    assert classify(ok, ON) == Kind.OK
    ok.outcome.client_disconnected = True
    assert classify(ok, ON) == Kind.DISCONNECTED


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after(upstream(429, retry="2")) == 2.0
    assert retry_after(upstream(429, retry="0.5")) == 0.5
    assert retry_after(upstream(429)) is None
    assert retry_after(upstream(429, retry="soon")) is None
    when = format_datetime(datetime.fromtimestamp(1_000_030, tz=UTC), usegmt=True)
    assert retry_after(upstream(429, retry=when), now=1_000_000) == 30.0
    assert retry_after(upstream(429, retry=when), now=2_000_000) == 0.0


@given(base=st.floats(0, 10), cap=st.floats(0, 60), n=st.integers(1, 5000), seed=st.integers(0, 2**32))
def test_backoff_grows_exponentially_within_its_cap_with_jitter(base: float, cap: float, n: int, seed: int) -> None:
    ceiling = min(cap, base * 2.0 ** min(n - 1, 64))
    delay = backoff_delay(Backoff(base=base, max=cap), n, random.Random(seed))
    assert ceiling / 2 <= delay <= ceiling


# --------------------------------------------------------------------------- decisions


def test_retries_then_the_next_target(gateway: Gateway) -> None:
    d = decider(gateway, retries=2, backoff=Backoff(base=1.0, max=10.0))
    first = failed(upstream(529))
    advice = d.decide(first, Kind.RETRYABLE_STATUS, circuit_open=False)
    assert advice.action == Advice.RETRY and 0.5 <= advice.delay <= 1.0
    second = failed(upstream(529), call=first.call)
    advice = d.decide(second, Kind.RETRYABLE_STATUS, circuit_open=False)
    assert advice.action == Advice.RETRY and 1.0 <= advice.delay <= 2.0
    third = failed(upstream(529), call=first.call)
    assert d.decide(third, Kind.RETRYABLE_STATUS, circuit_open=False).action == Advice.NEXT
    other = failed(upstream(529), target=Target("openai", "gpt-4o"), call=first.call)
    assert d.decide(other, Kind.RETRYABLE_STATUS, circuit_open=False).action == Advice.RETRY, "counted per target"


def test_retry_after_is_used_as_the_delay_up_to_the_cap(gateway: Gateway) -> None:
    d = decider(gateway, retries=3, retry_after_cap=5.0)
    advice = d.decide(failed(upstream(503, retry="4")), Kind.RETRYABLE_STATUS, circuit_open=False)
    assert (advice.action, advice.delay) == (Advice.RETRY, 4.0)
    advice = d.decide(failed(upstream(503, retry="6")), Kind.RETRYABLE_STATUS, circuit_open=False)
    assert (advice.action, advice.delay) == (Advice.NEXT, 0.0)


def test_nothing_is_scheduled_past_the_deadline(gateway: Gateway) -> None:
    clock = Clock()
    d = decider(gateway, clock, retries=3, retry_after_cap=60.0)
    attempt = failed(upstream(429, retry="10"))
    attempt.call.deadline = clock.now + 5
    assert d.decide(attempt, Kind.RATE_LIMITED, circuit_open=False).action == Advice.NEXT
    attempt.call.deadline = clock.now + 11
    assert d.decide(attempt, Kind.RATE_LIMITED, circuit_open=False).action == Advice.RETRY
    clock.now += 11
    assert d.decide(attempt, Kind.RATE_LIMITED, circuit_open=False).action == Advice.STOP


def test_other_key_first_without_delay(gateway: Gateway) -> None:
    d = decider(gateway, retries=1)
    attempt = failed(upstream(429), target=Target("anthropic", SONNET), key="a1")
    advice = d.decide(attempt, Kind.RATE_LIMITED, circuit_open=False)
    assert advice.action == Advice.RETRY and advice.delay == 0
    assert advice.target == Target("anthropic", SONNET, key_name="a2")
    again = failed(upstream(429), target=advice.target, call=attempt.call, key="a2")
    advice = d.decide(again, Kind.RATE_LIMITED, circuit_open=False)
    assert advice.action == Advice.RETRY and advice.delay > 0, "keys used up: an ordinary retry"
    assert memory(attempt.call).tried_keys["anthropic"] == {"a1", "a2"}


def test_refused_key_moves_to_another_key_or_the_next_target(gateway: Gateway) -> None:
    d = decider(gateway)
    gateway.providers["anthropic"].keys.put_aside("a1", 60, "refused")
    attempt = failed(refused(401), target=Target("anthropic", SONNET), key="a1")
    advice = d.decide(attempt, Kind.KEY_REFUSED, circuit_open=False)
    assert (advice.action, advice.delay, advice.target.key_name) == (Advice.RETRY, 0.0, "a2")  # type: ignore[union-attr]
    single = failed(refused(403), key="s1")
    assert d.decide(single, Kind.KEY_REFUSED, circuit_open=False).action == Advice.NEXT


@pytest.mark.parametrize(("kind", "action"), [
    (Kind.REFUSED_BY_PLUGIN, Advice.NEXT),
    (Kind.FATAL, Advice.STOP),
    (Kind.NO_KEY, Advice.NEXT),
    (Kind.CONTEXT_WINDOW, Advice.STOP),
])
def test_other_kinds(gateway: Gateway, kind: Kind, action: str) -> None:
    assert decider(gateway).decide(failed(upstream(400)), kind, circuit_open=False).action == action


def test_open_circuit_moves_on_instead_of_retrying(gateway: Gateway) -> None:
    advice = decider(gateway, retries=5).decide(failed(upstream(500)), Kind.RETRYABLE_STATUS, circuit_open=True)
    assert advice.action == Advice.NEXT


def test_context_window_fallbacks_are_tried_in_order_once(gateway: Gateway) -> None:
    d = decider(gateway, context_window_fallbacks={SONNET: ("single", "openai/gpt-4.1")})
    first = failed(upstream(400, "prompt is too long"), target=Target("anthropic", SONNET))
    advice = d.decide(first, Kind.CONTEXT_WINDOW, circuit_open=False)
    assert advice.action == Advice.RETRY and advice.target is not None
    assert (advice.target.provider, advice.target.model, advice.target.rule) == (
        "single", SONNET, "failover:context-window")
    second = failed(upstream(400, "prompt is too long"), target=advice.target, call=first.call)
    advice = d.decide(second, Kind.CONTEXT_WINDOW, circuit_open=False)
    assert (advice.target.provider, advice.target.model) == ("openai", "gpt-4.1")  # type: ignore[union-attr]
    third = failed(upstream(400, "maximum context length"), target=advice.target, call=first.call)  # type: ignore[arg-type]
    assert d.decide(third, Kind.CONTEXT_WINDOW, circuit_open=False).action == Advice.STOP
