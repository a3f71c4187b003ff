"""When a hold has outlived its attempt: the rule both counter stores apply to tickets that were
never settled.

Every attempt that is admitted settles its hold in post_attempt, which the core runs for every
attempt whose pre_attempt ran. Should that ever fail (a bug, a crash of the code between the
two), the hold would block the budget it reserved for as long as the process lives (in memory)
or forever (in Redis, where the instance renews the lease of every ticket it has open). So a
ticket counts as *in flight* only while

    the task that took it is still running   (the request's handler: when it has returned or
                                              been cancelled, post_attempt has run or never will)
    and it is younger than `hold_max_age`     (a ceiling no real attempt reaches: provider
                                              timeouts bound the wait for each byte, not the
                                              length of a stream, so the ceiling is a setting)

A ticket that is no longer in flight is treated like one of an instance that died: its amounts
are charged as held (the provider may have billed them), in-flight slots are given back. In
Redis that happens when its lease runs out, since it is no longer renewed; in memory a sweep
does it (after seeing it stale twice in a row, so that a settlement already on its way, e.g.
the bookkeeping of a client that hung up, which runs in a task of its own, gets there first).
"""

from __future__ import annotations

import asyncio
from typing import Any

Owner = asyncio.Future[Any] | None


def owner() -> Owner:
    """The task taking a hold now (None outside a task, e.g. a synchronous test)."""
    try:
        return asyncio.current_task()
    except RuntimeError:
        return None


def over(task: Owner, admitted: float, now: float, max_age: float) -> bool:
    """The attempt that took this hold at `admitted` can no longer settle it."""
    return (task is not None and task.done()) or now - admitted > max_age
