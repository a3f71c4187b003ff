"""settling.finish: settlement runs to its end whatever happens to the request's task, and costs
no task when it never waits."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bifrost_py.settling import finish


class Spawner:
    def __init__(self) -> None:
        self.tasks: list[asyncio.Task[Any]] = []

    def __call__(self, coro: Any) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.append(task)
        return task


async def test_work_that_never_waits_runs_inline_without_a_task() -> None:
    spawn, done = Spawner(), []

    async def settle() -> None:
        done.append("settled")

    await finish(settle(), spawn)
    assert done == ["settled"] and spawn.tasks == []


async def test_work_that_waits_goes_on_when_the_request_is_cancelled() -> None:
    spawn, steps = Spawner(), []
    gate = asyncio.Event()

    async def settle() -> None:
        steps.append("first hook")
        await gate.wait()          # e.g. a Redis round trip
        steps.append("second hook")
        await asyncio.sleep(0)
        steps.append("third hook")

    request = asyncio.ensure_future(finish(settle(), spawn))
    await asyncio.sleep(0.01)
    request.cancel()               # the client hangs up while a post hook waits
    with pytest.raises(asyncio.CancelledError):
        await request
    assert steps == ["first hook"]
    gate.set()
    await asyncio.gather(*spawn.tasks)
    assert steps == ["first hook", "second hook", "third hook"]


async def test_the_outcome_of_what_it_waited_on_reaches_the_coroutine() -> None:
    spawn, seen = Spawner(), []
    failing: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    succeeding: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def settle() -> None:
        try:
            await failing
        except ValueError as exc:
            seen.append(f"caught {exc}")
        seen.append(await succeeding)

    waiter = asyncio.ensure_future(finish(settle(), spawn))
    await asyncio.sleep(0)
    failing.set_exception(ValueError("store down"))
    await asyncio.sleep(0)
    succeeding.set_result(42)
    await waiter
    assert seen == ["caught store down", 42]


async def test_an_exception_of_the_work_reaches_the_caller() -> None:
    async def broken() -> None:
        await asyncio.sleep(0)
        raise RuntimeError("bug in a hook")

    with pytest.raises(RuntimeError, match="bug in a hook"):
        await finish(broken(), Spawner())


async def test_cancelling_the_settling_task_itself_is_passed_into_the_work() -> None:
    spawn, steps = Spawner(), []

    async def settle() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            steps.append("cleaned up")
            raise

    request = asyncio.ensure_future(finish(settle(), spawn))
    await asyncio.sleep(0.01)
    spawn.tasks[0].cancel()        # shutdown cancels what is left
    with pytest.raises(asyncio.CancelledError):
        await request
    assert steps == ["cleaned up"]
