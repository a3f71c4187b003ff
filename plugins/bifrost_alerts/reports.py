"""Scheduled reports: the content of `bifrost-py report`, sent on a cron schedule.

Each `reports:` entry becomes a periodic task (`gateway.every`) whose wait is the time to the
next cron fire in the entry's time zone (croniter). The text comes from the `bifrost_report`
hook (`gateway.plugins.report`), the same call `bifrost-py report` makes, so a scheduled CSV is
byte for byte what the command prints. Several instances share one schedule: each fire is
claimed in the shared store and only the winner sends it.
"""

from __future__ import annotations

import csv
import html
import io
import logging
import time
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from croniter import croniter

from .message import Attachment, Message

if TYPE_CHECKING:
    from bifrost_py.gateway import Gateway

    from .outbox import Outbox
    from .settings import ReportSettings

log = logging.getLogger("bifrost_py.alerts")
MIME = {"csv": "text/csv", "json": "application/json", "html": "text/html"}


class ScheduledReport:
    def __init__(self, gateway: Gateway, settings: ReportSettings, outbox: Outbox) -> None:
        self.gateway = gateway
        self.settings = settings
        self.outbox = outbox
        self.due: float = 0.0  # epoch seconds of the fire being waited for

    def next_fire(self, now: float | None = None) -> float:
        zone = ZoneInfo(self.settings.timezone)
        start = datetime.fromtimestamp(time.time() if now is None else now, zone)
        return float(croniter(self.settings.schedule, start).get_next(float))

    def until_next(self) -> float:
        """The wait before the next round (gateway.every reads it before each wait)."""
        self.due = self.next_fire()
        return max(0.001, self.due - time.time())

    async def run(self) -> None:
        """One fire: claimed by one instance, built, and handed to the outbox."""
        if self.due and time.time() < self.due - 0.5:
            return  # woken early (shutdown's final round): not due yet
        if not await self.outbox.claim(f"report:{self.settings.name}:{self.due:.0f}", self.due + 86400):
            return
        message = await self.build()
        if message is not None:
            await self.outbox.send(message, self.settings.send_to)

    async def build(self, now: float | None = None) -> Message | None:
        s = self.settings
        fmt = "csv" if s.format == "html" else s.format
        text = await self.gateway.plugins.report(self.gateway, s.since, s.by, fmt)
        if text is None:
            log.warning("alerts: report %s: no plugin keeps a cost log (is costlog disabled?)", s.name)
            return None
        content = csv_to_html(text, s.name) if s.format == "html" else text
        now = time.time() if now is None else now
        day = datetime.fromtimestamp(now, ZoneInfo(s.timezone)).strftime("%Y-%m-%d")
        title = f"bifrost-py report '{s.name}': spend by {s.by}, last {_span(s.since)} (to {day})"
        attachment = Attachment(f"{s.name}-{day}.{s.format}", content, MIME[s.format])
        details = {"report": s.name, "by": s.by, "since_seconds": s.since, "format": s.format}
        return Message("report", title, (f"Attached: {attachment.filename}",), details, attachment)


def csv_to_html(text: str, name: str) -> str:
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return "<p>No requests in this period.</p>"
    head = "".join(f"<th>{html.escape(c)}</th>" for c in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>" for row in rows[1:])
    return f'<table border="1" cellpadding="4" data-report="{html.escape(name)}"><tr>{head}</tr>{body}</table>'


def _span(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:.0f}{unit}"
    return f"{seconds:.0f}s"
