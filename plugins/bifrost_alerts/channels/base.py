"""The channel protocol and the record of one delivery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ..message import Message
    from ..settings import ChannelSettings


@dataclass(frozen=True, slots=True)
class Delivery:
    """One message to one channel, after every attempt: what the history shows."""

    message_id: str
    channel: str
    ok: bool
    attempts: int
    status: int | None = None        # the receiver's last HTTP (or SMTP) status, when it answered
    error: str = ""
    ts: float = 0.0                  # when the first attempt started
    seconds: float = 0.0             # from the first attempt to the last answer


class Retry(Exception):
    """An attempt that may succeed when repeated (a 5xx, a 429, a refused connection)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class GiveUp(Exception):
    """An attempt that repeating will not fix (a 4xx, a bad address)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class Channel(Protocol):
    settings: ChannelSettings

    async def send(self, message: Message) -> Delivery: ...


async def with_retries(settings: ChannelSettings, message: Message,
                       attempt: Callable[[], Awaitable[int | None]]) -> Delivery:
    """`attempt()` until it returns (its status), raises GiveUp, or `retries` retries failed;
    the wait doubles from `backoff` each time."""
    started, clock = time.time(), time.perf_counter()
    error, status = "", None
    for number in range(1, settings.retries + 2):
        try:
            status = await attempt()
        except GiveUp as exc:
            return _done(message, settings, False, number, exc.status, str(exc), started, clock)
        except Retry as exc:
            error, status = str(exc), exc.status
        else:
            return _done(message, settings, True, number, status, "", started, clock)
        if number <= settings.retries:
            await asyncio.sleep(settings.backoff * 2 ** (number - 1))
    return _done(message, settings, False, settings.retries + 1, status, error, started, clock)


def _done(message: Message, settings: ChannelSettings, ok: bool, attempts: int, status: int | None, error: str,
          started: float, clock: float) -> Delivery:
    return Delivery(message.id, settings.name, ok, attempts, status, error[:500], started,
                    time.perf_counter() - clock)
