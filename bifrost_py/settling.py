"""Running settlement work (post hooks, request_end) to its end, cheaply.

A client that hangs up cancels its request's task (aiohttp's handler cancellation), and a
cancellation thrown into a plugin's post hook half-way would lose a budget settlement or a log
row. So settlement must not run in that task once it waits on anything. But most of the time it
never waits at all (counters in memory, a row appended to a queue), and putting it in a task of
its own every time costs two trips through the event loop per request.

`finish()` therefore drives the coroutine right here until it first has to wait. Only if it does
is the rest handed to a task of its own, shielded from the request's cancellation — the same
step-by-step driving a Task would do (Python 3.12's eager tasks do this natively).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

Spawn = Callable[[Coroutine[Any, Any, Any]], "asyncio.Task[Any]"]


async def finish(coro: Coroutine[Any, Any, Any], spawn: Spawn) -> None:
    """Run `coro` to its end even if the awaiting task is cancelled meanwhile; its result is
    dropped and its exceptions are its own (the dispatcher's hooks catch theirs)."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return  # done without ever waiting: no task, no trip through the loop
    await asyncio.shield(spawn(_resume(coro, waiting_on)))


async def _resume(coro: Coroutine[Any, Any, Any], waiting_on: Any) -> None:
    """Drive an already started coroutine: wait for what it waits on, then resume it, until it
    ends. A cancellation of this task (shutdown) is passed on into it, as a Task would."""
    while True:
        thrown: BaseException | None = None
        try:
            if waiting_on is None:
                await asyncio.sleep(0)  # it only yielded to the loop (asyncio.sleep(0))
            else:
                await asyncio.wait((waiting_on,))  # done either way: the coroutine reads the outcome
        except asyncio.CancelledError as cancelled:
            thrown = cancelled
        try:
            waiting_on = coro.send(None) if thrown is None else coro.throw(thrown)
        except StopIteration:
            return
