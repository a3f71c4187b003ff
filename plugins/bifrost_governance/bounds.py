"""How big a number in a definition may be: far above any real use, low enough that nothing
downstream overflows (a budget in nano-USD stays a finite integer, a count fits Redis' 64-bit
integers, a date is one `datetime` can show). A bigger number is a mistake, reported as one with
its path, from the YAML file and the admin API alike."""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from typing import Any

from bifrost_py.configschema import Section

MAX_LIMIT = 1e12           # a budget's limit, in the configured currency
MAX_COUNT = 10**15         # requests or tokens of a rate limit
MAX_CONCURRENT = 1_000_000
MAX_WEIGHT = 1e6
MAX_SECONDS = 253402300799.0   # 9999-12-31T23:59:59Z: expires_at, cache ttl
MAX_WINDOW = 366 * 86400.0     # a rate-limit window
REQUIRED: Any = object()


def bounded(section: Section, key: str, value: Any, maximum: float, minimum: float | None = None) -> Any:
    """`value` as read, or None (reported with its path) when it is not finite, above `maximum`
    or below `minimum`. The readers of configschema check types and minimums; the rest is here."""
    if value is None:
        return None
    finite = isinstance(value, int) or math.isfinite(value)   # (an int of 400 digits is no float)
    if not finite or value > maximum or (minimum is not None and value < minimum):
        section.error(key, f"must be a finite number of at most {maximum:g}; got {shown(value)}")
        return None
    return value


def number(section: Section, key: str, *, minimum: float, maximum: float, default: Any = REQUIRED) -> Any:
    """`section.number(key)` within [minimum, maximum]. An integer too big for a float is
    refused here first: the generic reader would fail converting it rather than report it."""
    value = section.data.get(key)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > maximum:
        section.raw(key)
        section.error(key, f"must be a finite number of at most {maximum:g}; got {shown(value)}")
        return None
    read = section.number(key, minimum=minimum) if default is REQUIRED else section.number(key, default, minimum=minimum)
    return bounded(section, key, read, maximum)


def shown(value: Any) -> str:
    """A number as a message may quote it (a caller's 400 digits are not worth echoing)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:20] + "…" + f" ({len(text)} characters)"


def to_timestamp(value: Any) -> float:
    """Unix seconds of a date, date-time, ISO 8601 string or number, from 1970 to the end of 9999
    (what the admin API can show again as an ISO date)."""
    seconds = _seconds_of(value)
    if not 0 <= seconds <= MAX_SECONDS:
        raise ValueError(f"must be between 1970-01-01 and 9999-12-31; got {value!r}")
    return seconds


def _seconds_of(value: Any) -> float:
    if isinstance(value, bool):
        raise TypeError("expected a date, a date-time or Unix seconds")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC).timestamp()
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"expected an ISO 8601 date or date-time, got {value!r}") from None
    return _seconds_of(parsed)
