"""Deliveries off the request path: one task per message and channel, owned here, drained at
shutdown. Each result is recorded; a store that cannot take it is logged, never raised."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TYPE_CHECKING

from bifrost_py.storage import StorageUnavailable

if TYPE_CHECKING:
    from .channels import Channel, Delivery
    from .message import Message
    from .store import AlertStore

log = logging.getLogger("bifrost_py.alerts")


class Outbox:
    def __init__(self, store: AlertStore, channels: dict[str, Channel]) -> None:
        self.store = store
        self.channels = channels
        self.tasks: set[asyncio.Task[list[Delivery]]] = set()

    def post(self, message: Message, send_to: tuple[str, ...], *,
             mark: tuple[str, float] | None = None) -> asyncio.Task[list[Delivery]]:
        """Record and send `message` in a task of the outbox's; the caller does not wait. With
        `mark` (name, expiry), only if this instance claims that mark first (AlertStore.claim)."""
        work = self.send(message, send_to) if mark is None else self._claimed(message, send_to, *mark)
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def claim(self, mark: str, expires: float) -> bool:
        """True when this instance should send what `mark` names: it won the mark, or the store
        cannot say now (then an alert twice beats no alert)."""
        try:
            return await self.store.claim(mark, expires)
        except StorageUnavailable:
            log.warning("alerts: %s not marked (storage unavailable); sending it anyway", mark)
            return True

    async def _claimed(self, message: Message, send_to: tuple[str, ...], mark: str, expires: float) -> list[Delivery]:
        return await self.send(message, send_to) if await self.claim(mark, expires) else []

    async def send(self, message: Message, send_to: tuple[str, ...]) -> list[Delivery]:
        """Record `message` and deliver it to every named channel at once; record each delivery."""
        targets = [self.channels[name] for name in send_to if name in self.channels]
        # The history row is written while the channels are called: a slow store never delays
        # an alert (and it is in the history before its deliveries are).
        recorded = asyncio.ensure_future(self._keep(self.store.record(message), f"alert {message.id}"))
        deliveries = list(await asyncio.gather(*(channel.send(message) for channel in targets)))
        await recorded
        for delivery in deliveries:
            if not delivery.ok:
                log.warning("alerts: %s to %s failed after %d attempt(s): %s", message.kind, delivery.channel,
                            delivery.attempts, delivery.error)
            await self._keep(self.store.delivered(delivery), f"delivery of {message.id}")
        return deliveries

    async def drain(self, seconds: float) -> None:
        """Wait for what is in flight (retries included) up to `seconds`, then cancel the rest."""
        if not self.tasks:
            return
        _done, pending = await asyncio.wait(set(self.tasks), timeout=seconds)
        for task in pending:
            task.cancel()
            log.warning("alerts: a delivery still retrying at shutdown was abandoned")
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    @staticmethod
    async def _keep(work: Awaitable[None], what: str) -> None:
        try:
            await work
        except StorageUnavailable:
            log.warning("alerts: could not record %s (storage unavailable)", what)
