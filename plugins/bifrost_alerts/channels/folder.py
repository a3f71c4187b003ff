"""A folder on disk: each message's attachment (or its text) written as a file of its own."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import TYPE_CHECKING

from .base import Delivery, GiveUp, with_retries

if TYPE_CHECKING:
    from ..message import Message
    from ..settings import ChannelSettings


class FolderChannel:
    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings

    def path_for(self, message: Message) -> Path:
        assert self.settings.folder is not None
        stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(message.ts))
        name = message.attachment.filename if message.attachment else f"{message.kind}.txt"
        return self.settings.folder / f"{stamp}-{message.id[:6]}-{name}"

    async def send(self, message: Message) -> Delivery:
        path = self.path_for(message)
        content = message.attachment.content if message.attachment else message.text + "\n"
        return await with_retries(self.settings, message, lambda: asyncio.to_thread(_write, path, content))


def _write(path: Path, content: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(path.suffix + ".partial")
        partial.write_text(content)
        partial.replace(path)  # a reader of the folder never sees half a report
    except OSError as exc:
        raise GiveUp(f"cannot write {path}: {exc}") from exc
