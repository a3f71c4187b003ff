"""Which rows a query, an export, a report or a live stream wants: parsed once from query
parameters, then turned into SQL (stored rows) or tested in Python (rows being streamed live)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bifrost_py.admin import params
from bifrost_py.clients import client_name, client_sql
from bifrost_py.configschema import parse_duration

from .rows import Row

# Times a query may name: the epoch to the last second of year 9999 (what an ISO date can say),
# so no bound reaches a store as inf, NaN or a number no timestamp column compares sensibly.
TIME_RANGE = (0.0, 253_402_300_799.0)

# query parameter -> column, for the filters that are a plain equality.
EQUAL = {
    "key": "key_name",
    "team": "team",
    "customer": "customer",
    "provider": "provider",
    "session": "session_id",
    "request_id": "request_id",
    "endpoint": "endpoint",
}
FLAGS = ("cache_hit", "final", "price_unknown", "streamed", "fallback")
PARAMETERS = {
    "key": "virtual key name",
    "team": "team",
    "customer": "customer",
    "model": "model (requested, targeted or answered)",
    "provider": "provider name",
    "status": "status: 200, 4xx, 5xx, ok or error",
    "cache_hit": "true or false",
    "final": "true: only the last attempt of each request",
    "price_unknown": "true: rows whose model has no known price",
    "streamed": "true or false",
    "fallback": "true: attempts after the first",
    "session": "client session id (Claude Code's X-Claude-Code-Session-Id)",
    "client": "client app: claude-code, codex, gemini-cli, openai-sdk... (bifrost_py/clients.py)",
    "endpoint": "messages, count_tokens or embeddings",
    "since": "start: ISO 8601, epoch seconds, or a duration back from now (24h, 7d)",
    "until": "end (exclusive): ISO 8601 or epoch seconds",
}


@dataclass(slots=True)
class Filters:
    key: str | None = None
    team: str | None = None
    customer: str | None = None
    provider: str | None = None
    session: str | None = None
    request_id: str | None = None
    endpoint: str | None = None
    model: str | None = None
    client: str | None = None
    status: str | None = None
    cache_hit: bool | None = None
    final: bool | None = None
    price_unknown: bool | None = None
    streamed: bool | None = None
    fallback: bool | None = None
    since: float | None = None
    until: float | None = None
    teams: tuple[str, ...] | None = None  # only these teams' rows (a team manager's scope; not a parameter)

    def where(self) -> tuple[str, list[Any]]:
        """A SQL condition (`?` placeholders) and its parameters; "1=1" when nothing is asked."""
        parts: list[str] = []
        params: list[Any] = []
        for name, column in EQUAL.items():
            value = getattr(self, name)
            if value is not None:
                parts.append(f"{column} = ?")
                params.append(value)
        if self.model is not None:
            parts.append("(model = ? OR requested_model = ? OR answered_model = ?)")
            params += [self.model] * 3
        if self.client is not None:
            parts.append(f"{client_sql('client_app')} = ?")
            params.append(self.client)
        for flag in FLAGS:
            value = getattr(self, flag)
            if value is not None:
                parts.append(f"{flag} = ?")
                params.append(1 if value else 0)
        if self.status is not None:
            low, high = status_range(self.status)
            parts.append("status >= ? AND status < ?")
            params += [low, high]
        if self.teams is not None:
            parts.append(f"team IN ({', '.join('?' * len(self.teams))})" if self.teams else "1=0")
            params += self.teams
        if self.since is not None:
            parts.append("ts >= ?")
            params.append(float(self.since))
        if self.until is not None:
            parts.append("ts < ?")
            params.append(float(self.until))
        return (" AND ".join(parts) or "1=1"), params

    def accepts(self, row: Row) -> bool:
        """The same test for a row in memory (the live stream)."""
        for name, column in EQUAL.items():
            value = getattr(self, name)
            if value is not None and row.get(column) != value:
                return False
        if self.model is not None and self.model not in (
            row.get("model"),
            row.get("requested_model"),
            row.get("answered_model"),
        ):
            return False
        if self.client is not None and client_name(row.get("client_app")) != self.client:
            return False
        for flag in FLAGS:
            value = getattr(self, flag)
            if value is not None and bool(row.get(flag)) != value:
                return False
        if self.status is not None:
            low, high = status_range(self.status)
            if not low <= (row.get("status") or 0) < high:
                return False
        if self.teams is not None and row.get("team") not in self.teams:
            return False
        ts = row.get("ts") or 0.0
        if self.since is not None and ts < self.since:
            return False
        return self.until is None or ts < self.until


def status_range(text: str) -> tuple[int, int]:
    """`200` -> [200, 201); `4xx` -> [400, 500); `error` -> [400, 1000); `ok` -> [0, 400)."""
    text = text.strip().lower()
    if text == "error":
        return 400, 1000
    if text == "ok":
        return 0, 400
    if len(text) == 3 and text[0].isdigit() and text[1:] == "xx":
        low = int(text[0]) * 100
        return low, low + 100
    if text.isascii() and text.isdigit() and len(text) <= 3:
        return int(text), int(text) + 1
    raise params.BadParameter(f"status: expected a status like 200, 4xx, ok or error, got {text[:40]!r}")


def parse_filters(query: Mapping[str, str], *, now: float | None = None) -> Filters:
    """Filters from query parameters (the admin API's typed readers, `bifrost_py.admin.params`);
    BadParameter, a ValueError answered with a 400, names the parameter that is wrong."""
    filters = Filters()
    for name in ("key", "team", "customer", "provider", "session", "request_id", "endpoint", "model", "client"):
        setattr(filters, name, params.text(query, name))
    status = params.text(query, "status")
    if status is not None:
        status_range(status)
        filters.status = status
    for name in FLAGS:
        setattr(filters, name, params.flag(query, name, default=None))  # type: ignore[arg-type]
    current = time.time() if now is None else now
    if query.get("since"):
        filters.since = parse_time("since", query["since"], current)
    if query.get("until"):
        filters.until = parse_time("until", query["until"], current)
    return filters


def parse_time(name: str, text: str, now: float) -> float:
    """Epoch seconds from epoch seconds, ISO 8601 (naive means UTC) or a duration back from now,
    within TIME_RANGE (BadParameter otherwise: `since=inf` is the caller's mistake)."""
    text = text.strip()
    low, high = TIME_RANGE
    try:
        float(text)
    except ValueError:
        pass
    else:
        epoch = params.number({name: text}, name, default=low, minimum=low, maximum=high)
        return low if epoch is None else epoch
    try:
        moment = now - parse_duration(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise params.BadParameter(
                f"{name}: expected ISO 8601 (2026-01-31T00:00:00Z), epoch seconds or a duration like 24h, got {text!r}"
            ) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        moment = parsed.timestamp()
    if not low <= moment <= high:  # also NaN
        raise params.BadParameter(f"{name}: must be a time after 1970 and before the year 10000, got {text[:40]!r}")
    return moment
