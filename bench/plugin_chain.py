"""The per-request cost of the plugin dispatcher alone: an empty chain vs. five no-op plugins.

Times the hooks one request goes through (request_start, route, pre_attempt, post_attempt,
request_end) with no provider call, so the number is the dispatch overhead and nothing else;
also with plugins whose hooks declare none of the spec's arguments (pluggy allows a subset),
which the dispatcher adapts.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from multidict import CIMultiDict, CIMultiDictProxy

from bifrost_py import hookimpl
from bifrost_py.context import Attempt, Call, Target
from bifrost_py.pluginmanager import Dispatcher, PluginInfo, Progress

ROUNDS = 50_000


class NoOp:
    @hookimpl
    async def bifrost_request_start(self, call: Any) -> None:
        return None

    @hookimpl
    async def bifrost_route(self, call: Any, targets: Any) -> None:
        return None

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Any) -> None:
        return None

    @hookimpl
    async def bifrost_post_attempt(self, attempt: Any) -> None:
        return None

    @hookimpl
    async def bifrost_request_end(self, call: Any) -> None:
        return None


class NoArguments:
    @hookimpl
    async def bifrost_request_start(self) -> None:
        return None

    @hookimpl
    async def bifrost_route(self) -> None:
        return None

    @hookimpl
    async def bifrost_pre_attempt(self) -> None:
        return None

    @hookimpl
    async def bifrost_post_attempt(self) -> None:
        return None

    @hookimpl
    async def bifrost_request_end(self) -> None:
        return None


async def per_request(dispatcher: Dispatcher) -> float:
    call = Call(request_id="r", dialect="anthropic", endpoint="messages", headers=CIMultiDictProxy(CIMultiDict()))
    target = Target("p", "m")
    started = time.perf_counter()
    for _ in range(ROUNDS):
        await dispatcher.request_start(call)
        targets = await dispatcher.route(call, [target])
        attempt = Attempt(call=call, target=targets[0], number=1)
        progress = Progress()
        await dispatcher.pre_attempt(attempt, progress)
        await dispatcher.post_attempt(attempt, progress.reached)
        await dispatcher.request_end(call)
    return (time.perf_counter() - started) / ROUNDS * 1e6


def report() -> str:
    empty = Dispatcher([])
    five = Dispatcher([PluginInfo(f"noop{i}", "bench", NoOp(), []) for i in range(5)])
    adapted = Dispatcher([PluginInfo(f"noargs{i}", "bench", NoArguments(), []) for i in range(5)])
    empty_us = asyncio.run(per_request(empty))
    five_us = asyncio.run(per_request(five))
    adapted_us = asyncio.run(per_request(adapted))
    return (f"plugin chain per request (5 hooks, no provider call): empty {empty_us:.2f} µs, "
            f"five no-op plugins {five_us:.2f} µs ({(five_us - empty_us) / 5:.2f} µs per plugin), "
            f"declaring no arguments {adapted_us:.2f} µs ({(adapted_us - empty_us) / 5:.2f} µs per plugin)")


if __name__ == "__main__":
    print(report())
