"""A property of failover over random failure schedules, through real sockets.

Three mock upstreams form one chain t0 → t1 → t2. For each example every upstream gets a random
script of answers (success, retryable statuses, a client error, a connection reset); one request
goes through the gateway. Whatever the schedule, the request either succeeds on the first target
in chain order that answers within its retries, or fails with every attempt listed; it makes
exactly the attempts a reference model predicts, and never more than the configuration allows.

The servers and gateways live on one event loop for all examples (starting them per example
would dominate the run time); each example resets the mocks' scripts and records.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import aiohttp
import bifrost_failover
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.testing import RunningGateway, RunningServer, running_gateway, running_mock_upstream

MODEL = "claude-sonnet-4-20250514"
TARGETS = ("t0", "t1", "t2")
RETRIES = (0, 1, 2)
RESET = "reset"
RETRYABLE = {429, 500, 503, 529, RESET}
ANSWERS = st.sampled_from([200, 200, 429, 500, 503, 529, 400, RESET])


def expected(schedules: list[list[Any]], retries: int) -> tuple[str | None, list[tuple[int, Any]]]:
    """The reference model: (target that answers or None, the attempts as (target, answer))."""
    attempts: list[tuple[int, Any]] = []
    for index, schedule in enumerate(schedules):
        queue = list(schedule)
        for _ in range(retries + 1):
            answer = queue.pop(0) if queue else 200
            attempts.append((index, answer))
            if answer == 200:
                return TARGETS[index], attempts
            if answer not in RETRYABLE:
                return None, attempts
    return None, attempts


def entry(answer: Any) -> dict[str, Any]:
    return {"reset": True} if answer == RESET else {"status": answer}


class World:
    """The mocks and one gateway per retry count, on a loop of their own."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.stack = contextlib.AsyncExitStack()
        self.mocks: list[RunningServer] = []
        self.gateways: dict[int, RunningGateway] = {}
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        for _ in TARGETS:
            self.mocks.append(await self.stack.enter_async_context(running_mock_upstream()))
        providers = {
            name: {"type": "anthropic", "base_url": mock.url, "keys": [{"value": f"sk-{name}"}],
                   **({"models": ["claude-*"]} if name == "t0" else {})}
            for name, mock in zip(TARGETS, self.mocks)
        }
        for retries in RETRIES:
            failover = {"chains": {MODEL: list(TARGETS)}, "retries": retries, "backoff": {"base": 0, "max": 0},
                        "circuit": {"failures": 1_000_000}}
            self.gateways[retries] = await self.stack.enter_async_context(
                running_gateway({"providers": providers, "failover": failover},
                                plugins=[bifrost_failover], builtins=False))
        self.session = await self.stack.enter_async_context(aiohttp.ClientSession())

    async def one(self, schedules: list[list[Any]], retries: int, stream: bool) -> tuple[int, dict[str, str], bytes, list[int]]:
        assert self.session is not None
        for mock, schedule in zip(self.mocks, schedules):
            await mock.post("/_mock/reset")
            if schedule:
                await mock.post("/_mock/script", json={"responses": [entry(a) for a in schedule]})
        body = {"model": MODEL, "max_tokens": 30, "stream": stream,
                "messages": [{"role": "user", "content": "hello"}]}
        gateway = self.gateways[retries]
        async with self.session.post(gateway.url + "/v1/messages", json=body,
                                     headers={"x-api-key": "vk-test"}) as response:
            payload = await response.read()
            status, headers = response.status, dict(response.headers)
        counts = []
        for mock in self.mocks:
            counts.append(len(orjson.loads((await mock.get("/_mock/requests"))[2])))
        return status, headers, payload, counts


@contextlib.contextmanager
def world() -> Iterator[World]:
    w = World()
    w.loop.run_until_complete(w.start())
    try:
        yield w
    finally:
        w.loop.run_until_complete(w.stack.aclose())
        w.loop.close()


def test_a_request_succeeds_on_the_first_healthy_target_or_lists_every_attempt() -> None:
    examples = 0
    with world() as w:

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            schedules=st.lists(st.lists(ANSWERS, max_size=4), min_size=3, max_size=3),
            retries=st.sampled_from(RETRIES),
            stream=st.booleans(),
        )
        def check(schedules: list[list[Any]], retries: int, stream: bool) -> None:
            nonlocal examples
            examples += 1
            status, headers, payload, counts = w.loop.run_until_complete(w.one(schedules, retries, stream))
            winner, attempts = expected(schedules, retries)
            assert int(headers["x-bf-attempts"]) == len(attempts) <= len(TARGETS) * (retries + 1)
            assert counts == [sum(1 for t, _ in attempts if t == i) for i in range(len(TARGETS))]
            if winner is not None:
                assert status == 200
                assert headers["x-bf-provider"] == winner
                assert headers["x-bf-provider"] == TARGETS[attempts[-1][0]]
                return
            last = attempts[-1][1]
            assert status == (502 if last == RESET else last)
            error = orjson.loads(payload)
            assert error["type"] == "error"
            message = error["error"]["message"]
            if len(attempts) > 1:
                assert message.startswith(f"all {len(attempts)} attempts failed")
                for number, (target, answer) in enumerate(attempts, start=1):
                    shown = 502 if answer == RESET else answer
                    assert f"#{number} {TARGETS[target]}/{MODEL}: {shown} " in message

        check()
    assert examples >= 60
