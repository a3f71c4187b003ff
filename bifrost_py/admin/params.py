"""Query parameters of admin routes, read with their range checked.

A value that is not a number, not finite or out of range is the caller's mistake: `guarded()`
answers it with a 400 naming the parameter, so no handler turns `since=inf` or a 30-digit cursor
into a 500 or a database error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


class BadParameter(ValueError):
    """A query parameter that is malformed or out of range (answered with 400)."""


def number(query: Mapping[str, str], name: str, *, default: float | None, minimum: float,
           maximum: float) -> float | None:
    """`name` as a finite float within [minimum, maximum]; `default` when absent or empty."""
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        value = float(text)
    except ValueError:
        raise BadParameter(f"{name}: expected a number, got {text[:40]!r}") from None
    if not math.isfinite(value) or not minimum <= value <= maximum:
        raise BadParameter(f"{name}: must be between {minimum:g} and {maximum:g}, got {text[:40]!r}")
    return value


def whole_number(query: Mapping[str, str], name: str, *, default: int | None, minimum: int,
                 maximum: int) -> int | None:
    """`name` as an int within [minimum, maximum]; `default` when absent or empty."""
    text = query.get(name)
    if text is None or text == "":
        return default
    digits = text[1:] if text[:1] == "-" else text
    if len(text) > 20 or not (digits.isascii() and digits.isdigit()):
        raise BadParameter(f"{name}: expected a whole number, got {text[:40]!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise BadParameter(f"{name}: must be between {minimum} and {maximum}, got {value}")
    return value
