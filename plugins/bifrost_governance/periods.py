"""Budget windows: when the current one started, when it ends, how to say so. (Rate limits use
sliding windows, counters.py; their `window` is parsed here as a duration too.)

Calendar resets (`daily`, `weekly`, `monthly`) are aligned to midnight, Monday and the first of
the month in the configured time zone (`currency.timezone`, UTC by default), so that a budget
"for this month" means what an accountant means. Durations (`30m`, `12h`, `7d`) are fixed windows
of that length aligned to the Unix epoch: every gateway instance computes the same window from
the clock alone, without sharing any state. `never` is one window for all time (a lifetime cap).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bifrost_py.configschema import parse_duration

CALENDAR = ("daily", "weekly", "monthly")
NEVER = "never"
FOREVER = math.inf
MAX_RESET = 3660 * 86400.0     # ten years: every window of a duration ends at a date we can show
_PERIOD_WORDS = {"daily": "today", "weekly": "this week", "monthly": "this month", NEVER: "in total"}


def zone(name: str) -> ZoneInfo:
    """The time zone `name`; raises ValueError for an unknown name (a config problem)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as UTC or Asia/Kolkata)") from exc


def check_reset(text: str) -> str:
    """Normalise a `reset:` value; raises ValueError when it is none of the accepted forms."""
    value = str(text).strip().lower()
    if value in CALENDAR or value == NEVER:
        return value
    try:
        seconds = parse_duration(value)
    except ValueError:
        raise ValueError(f"must be daily, weekly, monthly, never or a duration like 30m, 12h, 7d; got {text!r}") from None
    if not 1 <= seconds <= MAX_RESET:
        raise ValueError(f"a reset duration must be between 1s and 3660d (use never for a lifetime cap); got {text!r}")
    return value


@dataclass(slots=True)
class Period:
    """One reset rule; `window(now)` is cached until the window ends (it runs on every request)."""

    reset: str
    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("UTC"))
    seconds: float = 0.0
    _start: float = 0.0
    _end: float = -1.0

    def __post_init__(self) -> None:
        self.reset = check_reset(self.reset)
        if self.reset not in CALENDAR and self.reset != NEVER:
            self.seconds = parse_duration(self.reset)

    def window(self, now: float) -> tuple[float, float]:
        """(start, end) of the window holding `now`, as Unix times; end is exclusive."""
        if self._start <= now < self._end:
            return self._start, self._end
        self._start, self._end = self._compute(now)
        return self._start, self._end

    def _compute(self, now: float) -> tuple[float, float]:
        if self.reset == NEVER:
            return 0.0, FOREVER
        if self.seconds:
            start = math.floor(now / self.seconds) * self.seconds
            return start, start + self.seconds
        local = datetime.fromtimestamp(math.floor(now), self.tz)   # no rounding up past midnight
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.reset == "daily":
            begin, after = midnight, midnight + timedelta(days=1)
        elif self.reset == "weekly":
            begin = midnight - timedelta(days=midnight.weekday())
            after = begin + timedelta(days=7)
        else:
            begin = midnight.replace(day=1)
            after = (begin + timedelta(days=32)).replace(day=1)
        # Arithmetic on zoneinfo datetimes is wall-clock arithmetic: across a DST change the
        # next window still starts at local midnight, not exactly 24 hours later.
        return begin.timestamp(), after.timestamp()

    def describe(self) -> str:
        """The window in words, for refusal messages: `this month`, `in the current 12h window`."""
        return _PERIOD_WORDS.get(self.reset) or f"in the current {self.reset} window"

    def when(self, timestamp: float) -> str:
        """A reset time as people read it: `2026-12-01 00:00 UTC`."""
        if timestamp == FOREVER:
            return "never"
        local = datetime.fromtimestamp(timestamp, self.tz)
        return f"{local:%Y-%m-%d %H:%M} {self.tz.key}"


def iso(timestamp: float) -> str | None:
    """An ISO 8601 UTC time for the admin API; None for a window that never ends."""
    if timestamp == FOREVER:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
