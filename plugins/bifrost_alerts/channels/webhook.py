"""A generic JSON webhook, signed, and a Slack-compatible incoming webhook.

The webhook body is the message's JSON payload; with a `secret`, the header
`X-Bifrost-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>` lets the receiver check
that it came from this gateway (`signature()` computes it; docs/alerts-and-reports.md shows the
receiver's side). Slack (and Mattermost, Rocket.Chat, Teams' Slack-compatible hooks) get `text`
plus `blocks`: a header and a section per line.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson

from .base import Delivery, GiveUp, Retry, with_retries

if TYPE_CHECKING:
    from ..message import Message
    from ..settings import ChannelSettings

SIGNATURE_HEADER = "X-Bifrost-Signature"


def signature(secret: str, body: bytes) -> str:
    """The header value for `body`: `sha256=` and the hex HMAC-SHA256 under `secret`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookChannel:
    def __init__(self, settings: ChannelSettings, session: aiohttp.ClientSession) -> None:
        self.settings = settings
        self.session = session

    def body(self, message: Message) -> dict[str, Any]:
        return message.payload()

    async def send(self, message: Message) -> Delivery:
        body = orjson.dumps(self.body(message))
        headers = {"content-type": "application/json", "user-agent": "bifrost-py-alerts"}
        if self.settings.secret:
            headers[SIGNATURE_HEADER] = signature(self.settings.secret, body)
        return await with_retries(self.settings, message, lambda: self._post(body, headers))

    async def _post(self, body: bytes, headers: dict[str, str]) -> int:
        timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        try:
            async with self.session.post(self.settings.url, data=body, headers=headers, timeout=timeout) as response:
                text = (await response.text(errors="replace"))[:200]
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise Retry(f"{type(exc).__name__}: {exc}".rstrip(": ")) from exc
        if status < 300:
            return status
        if status == 429 or status >= 500 or status == 408:
            raise Retry(f"HTTP {status}: {text}", status)
        raise GiveUp(f"HTTP {status}: {text}", status)


class SlackChannel(WebhookChannel):
    def body(self, message: Message) -> dict[str, Any]:
        blocks: list[dict[str, Any]] = [{"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}}]
        if message.lines:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(message.lines)[:3000]}})
        if message.attachment is not None:
            blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                       "text": f"```{message.attachment.content[:2900]}```"}})
        return {"text": message.text[:3000], "blocks": blocks}
