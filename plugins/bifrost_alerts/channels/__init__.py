"""Where alerts and reports go: a signed webhook, a Slack incoming webhook, email, a folder.

A channel's `send(message)` makes every attempt (retried with back-off) and returns one
`Delivery`: what the history shows. It never raises for a failed delivery.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .base import Channel, Delivery
from .email import EmailChannel
from .folder import FolderChannel
from .webhook import SlackChannel, WebhookChannel

if TYPE_CHECKING:
    import aiohttp

    from ..settings import ChannelSettings

__all__ = ["Channel", "Delivery", "EmailChannel", "FolderChannel", "SlackChannel", "WebhookChannel", "make_channel"]


def make_channel(settings: ChannelSettings, session: aiohttp.ClientSession) -> Channel:
    if settings.type == "slack":
        return SlackChannel(settings, session)
    if settings.type == "email":
        return EmailChannel(settings)
    if settings.type == "folder":
        return FolderChannel(settings)
    return WebhookChannel(settings, session)
