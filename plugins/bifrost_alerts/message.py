"""What the channels send: an alert (budget threshold, guard, test) or a report, in one shape.

Every channel renders the same `Message`: a webhook posts `payload()` as JSON, Slack gets
`text` as blocks, email gets `text` and `html` parts (and the report as an attachment), a
folder gets the attachment as a file.
"""

from __future__ import annotations

import html
import time
import uuid
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Attachment:
    filename: str
    content: str
    mime: str = "text/csv"


@dataclass(frozen=True, slots=True)
class Message:
    """One alert or report. `kind`: budget, spend_rate, loop, test, report."""

    kind: str
    title: str
    lines: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    attachment: Attachment | None = None
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    ts: float = field(default_factory=time.time)

    @property
    def text(self) -> str:
        return "\n".join((self.title, *self.lines))

    def html(self) -> str:
        items = "".join(f"<li>{html.escape(line)}</li>" for line in self.lines)
        body = f"<h2>{html.escape(self.title)}</h2><ul>{items}</ul>" if items else f"<h2>{html.escape(self.title)}</h2>"
        if self.attachment is not None and self.attachment.mime == "text/html":
            body += self.attachment.content
        return f"<!doctype html><html><body>{body}</body></html>"

    def payload(self) -> dict[str, Any]:
        """The webhook body: stable field names for whoever automates on it."""
        out: dict[str, Any] = {"id": self.id, "type": self.kind, "ts": self.ts, "title": self.title,
                               "text": self.text, **self.details}
        if self.attachment is not None:
            out["report"] = {"filename": self.attachment.filename, "mime": self.attachment.mime,
                             "content": self.attachment.content}
        return out
