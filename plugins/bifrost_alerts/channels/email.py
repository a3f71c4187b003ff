"""Email over SMTP with aiosmtplib: plain text and HTML parts, a report as an attachment.

`smtps://` speaks TLS from the first byte (port 465); `starttls: true` (the default on port 587)
upgrades a plain connection. aiosmtplib is the asyncio SMTP client the aio-libs world uses; the
standard library's smtplib would block the event loop for the whole conversation.
"""

from __future__ import annotations

from email.message import EmailMessage
from typing import TYPE_CHECKING

import aiosmtplib

from .base import Delivery, GiveUp, Retry, with_retries

if TYPE_CHECKING:
    from ..message import Message
    from ..settings import ChannelSettings


class EmailChannel:
    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings

    def compose(self, message: Message) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self.settings.sender
        mail["To"] = ", ".join(self.settings.to)
        mail["Subject"] = message.title
        mail.set_content(message.text)
        mail.add_alternative(message.html(), subtype="html")
        if message.attachment is not None:
            maintype, _, subtype = message.attachment.mime.partition("/")
            mail.add_attachment(message.attachment.content.encode(), maintype=maintype, subtype=subtype,
                                filename=message.attachment.filename)
        return mail

    async def send(self, message: Message) -> Delivery:
        mail = self.compose(message)
        return await with_retries(self.settings, message, lambda: self._send(mail))

    async def _send(self, mail: EmailMessage) -> int:
        s = self.settings
        try:
            await aiosmtplib.send(mail, hostname=s.smtp_host, port=s.smtp_port, use_tls=s.smtp_tls,
                                  start_tls=s.starttls if not s.smtp_tls else False,
                                  username=s.username or None, password=s.password or None, timeout=s.timeout,
                                  cert_bundle=str(s.ca_file) if s.ca_file else None)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise GiveUp(f"recipients refused: {exc}") from exc
        except aiosmtplib.SMTPResponseException as exc:
            if 500 <= exc.code < 600:
                raise GiveUp(f"SMTP {exc.code}: {exc.message}", exc.code) from exc
            raise Retry(f"SMTP {exc.code}: {exc.message}", exc.code) from exc
        except (TimeoutError, aiosmtplib.SMTPException, OSError) as exc:
            raise Retry(f"{type(exc).__name__}: {exc}") from exc
        return 250
