"""The attempt loop and the call's one ending: fallback as the plugins advise, the final error
of several attempts, and `request_end` once per call after every attempt settled, whatever
ended the call (a refusal before any attempt, a bug in a hook, an unknown model, a bad body)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py import hookimpl
from bifrost_py.context import Advice, Attempt, Call, Reply, Target
from bifrost_py.errors import (
    AuthenticationFailed,
    BudgetExceeded,
    CredentialsRefused,
    GatewayError,
    PermissionDenied,
    UpstreamError,
    UpstreamUnavailable,
)
from bifrost_py.pipeline import final_error

from .kit import ANTHROPIC_HEADERS, OPENAI_HEADERS, lineup, message, raw_post, settled

PATH = "/anthropic/v1/messages"
DOWN = Target("down", "down-1")
UP = Target("anthropic", "claude-sonnet-4")


class Router:
    """Sends every call to `targets`."""

    name = "router"

    def __init__(self, *targets: Target) -> None:
        self.targets = list(targets)

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Target]) -> list[Target]:
        return list(self.targets)


class Advisor:
    """Answers should_fall_back with `advise(attempt)` and counts how often it was asked."""

    name = "advisor"

    def __init__(self, advise: Callable[[Attempt], Advice | None]) -> None:
        self.advise = advise
        self.asked = 0

    @hookimpl
    async def bifrost_should_fall_back(self, attempt: Attempt) -> Advice | None:
        self.asked += 1
        return self.advise(attempt)


class Starter:
    """request_start and route behaviour for the call-level tests."""

    name = "starter"

    def __init__(self, start: Callable[[Call], Reply | None] | None = None,
                 route: Callable[[Call], list[Target] | None] | None = None) -> None:
        self.start = start
        self.route_to = route

    @hookimpl
    async def bifrost_request_start(self, call: Call) -> Reply | None:
        return self.start(call) if self.start else None

    @hookimpl
    async def bifrost_route(self, call: Call, targets: list[Target]) -> list[Target] | None:
        return self.route_to(call) if self.route_to else None


async def post(gw: Any, body: dict[str, Any] | bytes, path: str = PATH) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    answer = await raw_post(gw.url, path, raw, ANTHROPIC_HEADERS if "anthropic" in path else OPENAI_HEADERS)
    assert answer.status_lines == 1 and answer.complete, answer.raw
    return answer


# ----------------------------------------------------------------------------- falling back


async def test_an_upstream_failure_falls_back_when_a_plugin_advises_next(gateway: Any) -> None:
    line = lineup()
    advisor = Advisor(lambda attempt: Advice(Advice.NEXT))
    gw = await gateway([Router(DOWN, UP), advisor, *line.plugins])
    answer = await post(gw, message())
    await line.journal.ended(len(line.plugins))
    assert answer.status == 200 and answer.headers["x-bf-attempts"] == "2"
    assert answer.headers["x-bf-provider"] == "anthropic"
    assert settled(line, attempts=2) == [502, 200]
    assert advisor.asked == 1


async def test_with_no_advice_an_upstream_failure_stops(gateway: Any) -> None:
    line = lineup()
    gw = await gateway([Router(DOWN, UP), *line.plugins])
    answer = await post(gw, message())
    await line.journal.ended(len(line.plugins))
    assert answer.status == 502 and answer.headers["x-bf-attempts"] == "1"
    assert settled(line, attempts=1) == [502]


async def test_with_no_advice_a_non_final_refusal_moves_to_the_next_target(gateway: Any) -> None:
    async def skip_down(attempt: Attempt) -> None:
        if attempt.target.provider == "down":
            raise PermissionDenied("provider 'down' is over its tier budget", final=False)

    line = lineup(skip_down)
    gw = await gateway([Router(DOWN, UP), *line.plugins])
    answer = await post(gw, message())
    await line.journal.ended(len(line.plugins))
    assert answer.status == 200
    assert settled(line, attempts=2) == [403, 200]


async def test_a_final_refusal_is_never_fallen_back_from(gateway: Any) -> None:
    async def refuse(attempt: Attempt) -> None:
        raise BudgetExceeded("key budget exhausted")

    line = lineup(refuse)
    advisor = Advisor(lambda attempt: Advice(Advice.NEXT))
    gw = await gateway([Router(UP, UP), advisor, *line.plugins])
    answer = await post(gw, message())
    await line.journal.ended(len(line.plugins))
    assert answer.status == 402
    assert settled(line, attempts=1) == [402]
    assert advisor.asked == 0


async def test_retry_advice_can_name_another_target(gateway: Any) -> None:
    line = lineup()
    advisor = Advisor(lambda attempt: Advice(Advice.RETRY, target=UP) if attempt.number == 1 else None)
    gw = await gateway([Router(DOWN), advisor, *line.plugins])
    answer = await post(gw, message())
    await line.journal.ended(len(line.plugins))
    assert answer.status == 200 and answer.headers["x-bf-attempts"] == "2"
    assert settled(line, attempts=2) == [502, 200]


async def test_stop_advice_ends_the_call_with_that_attempts_error(gateway: Any) -> None:
    line = lineup()
    gw = await gateway([Router(DOWN, UP), Advisor(lambda attempt: Advice(Advice.STOP)), *line.plugins])
    answer = await post(gw, message())
    await line.journal.ended(len(line.plugins))
    assert answer.status == 502 and "'down'" in answer.json()["error"]["message"]
    assert settled(line, attempts=1) == [502]


async def test_a_delay_past_the_calls_deadline_is_not_waited(gateway: Any) -> None:
    line = lineup()
    starter = Starter(start=lambda call: setattr(call, "deadline", time.perf_counter() + 0.5))  # type: ignore[func-returns-value]
    gw = await gateway([starter, Router(DOWN, UP), Advisor(lambda attempt: Advice(Advice.NEXT, delay=60)),
                        *line.plugins])
    started = time.perf_counter()
    answer = await post(gw, message())
    assert time.perf_counter() - started < 5
    await line.journal.ended(len(line.plugins))
    assert answer.status == 502
    assert settled(line, attempts=1) == [502]


async def test_a_retry_after_from_the_upstream_reaches_the_client(gateway: Any) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    answer = await post(gw, message("hi [[fail:429]] [[retry_after:7]]"))
    await line.journal.ended(len(line.plugins))
    assert answer.status == 429 and answer.headers["retry-after"] == "7"
    assert answer.json()["error"]["type"] == "rate_limit_error"
    assert settled(line) == [429]


async def test_after_several_attempts_the_answer_lists_them_all(gateway: Any) -> None:
    line = lineup()
    gw = await gateway([Router(DOWN, Target("anthropic", "claude-x")), Advisor(lambda a: Advice(Advice.NEXT)),
                        *line.plugins])
    answer = await post(gw, message("hi [[fail:503]]"))
    await line.journal.ended(len(line.plugins))
    assert answer.status == 503
    text = answer.json()["error"]["message"]
    assert text.startswith("all 2 attempts failed: #1 down/down-1: 502") and "#2 anthropic/claude-x: 503" in text
    assert settled(line, attempts=2) == [502, 503]


# ----------------------------------------------------------------------------- final_error


def _call_with(*errors: GatewayError | None) -> Call:
    call = Call(request_id="req_t", dialect="anthropic", endpoint="messages",
                headers=CIMultiDictProxy(CIMultiDict()))
    for number, error in enumerate(errors, 1):
        attempt = Attempt(call=call, target=Target("p", f"m{number}"), number=number)
        attempt.outcome.error = error
        attempt.outcome.status = error.status if error else 200
        call.attempts.append(attempt)
    return call


def test_final_error_of_one_attempt_is_that_attempts_error() -> None:
    error = UpstreamError("provider 'p' answered 529: Overloaded", status=529)
    assert final_error(_call_with(error)) is error


def test_final_error_of_several_attempts_keeps_the_last_ones_class_and_leaves_theirs_alone() -> None:
    first = UpstreamUnavailable("provider 'p' could not be reached")
    last = CredentialsRefused("provider 'p' refused the gateway's API key", upstream_status=401,
                              headers={"retry-after": "3"})
    call = _call_with(first, last)
    error = final_error(call)
    assert type(error) is CredentialsRefused and error.status == 502 and error.upstream_status == 401
    assert error.headers == {"retry-after": "3"} and error.final is False
    assert error.message == ("all 2 attempts failed: #1 p/m1: 502 api_error (provider 'p' could not be reached); "
                             "#2 p/m2: 502 api_error (provider 'p' refused the gateway's API key)")
    assert call.attempts[1].outcome.error is last and last.message == "provider 'p' refused the gateway's API key"


def test_final_error_with_no_failed_attempt_is_an_upstream_unavailable() -> None:
    assert isinstance(final_error(_call_with()), UpstreamUnavailable)


# ----------------------------------------------------------------------------- the call's end


def _refuse(call: Call) -> Reply | None:
    raise AuthenticationFailed("invalid API key")


def _bug(call: Any) -> Any:
    raise KeyError("plugin bug")


@pytest.mark.parametrize(("starter", "body", "status", "names"), [
    pytest.param(Starter(start=_refuse), message(), 401, None, id="request_start-refuses"),
    pytest.param(Starter(start=_bug), message(), 500, None, id="request_start-bug"),
    pytest.param(Starter(route=_bug), message(), 500, None, id="route-bug"),
    pytest.param(Starter(route=lambda call: []), message(), 404, "model 'claude-sonnet-4'", id="no-target"),
    pytest.param(Starter(), message(model="no-such-model"), 404, "no-such-model", id="unknown-model"),
    pytest.param(Starter(), b'{"model": ', 400, "not valid JSON", id="bad-json"),
    pytest.param(Starter(), message(max_tokens=0), 400, "max_tokens", id="bad-field"),
])
async def test_a_call_that_ends_before_any_attempt_still_ends_once(
    gateway: Any, starter: Starter, body: Any, status: int, names: str | None
) -> None:
    line = lineup()
    gw = await gateway([starter, *line.plugins])
    answer = await post(gw, body)
    await line.journal.ended(len(line.plugins))
    assert answer.status == status
    assert answer.json()["type"] == "error"
    if names:
        assert names in answer.json()["error"]["message"]
    assert settled(line, attempts=0) == []
    call = line.journal.calls[0]
    assert call.error is not None and call.error.status == status and call.attempts == []
    assert answer.headers["x-bf-request-id"] == call.request_id


async def test_a_plugins_reply_at_request_start_ends_the_call_once_without_an_attempt(gateway: Any) -> None:
    canned = Reply({"id": "msg_r", "type": "message", "role": "assistant", "model": "m",
                    "content": [{"type": "text", "text": "canned"}], "stop_reason": "end_turn",
                    "usage": {"input_tokens": 1, "output_tokens": 1}})
    line = lineup()
    gw = await gateway([Starter(start=lambda call: canned), *line.plugins])
    answer = await post(gw, message(), "/openai/v1/chat/completions")
    await line.journal.ended(len(line.plugins))
    assert answer.status == 200 and answer.json()["choices"][0]["message"]["content"] == "canned"
    assert settled(line, attempts=0) == []


async def test_every_call_gets_its_own_request_end(gateway: Any) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    for text in ("one", "two [[fail:500]]", "three"):
        await post(gw, message(text))
    await line.journal.ended(len(line.plugins), calls=3)
    assert [c.attempts[0].outcome.status for c in line.journal.calls] == [200, 500, 200]
    assert len({c.request_id for c in line.journal.calls}) == 3
    assert line.hold.held == 0
