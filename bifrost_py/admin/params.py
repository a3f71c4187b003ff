"""Query parameters of admin routes, read with their type and range checked.

A value that is not a number, not finite, out of range, not one of the choices or holding a NUL
is the caller's mistake: `guarded()` answers it with a 400 naming the parameter, so no handler
turns `since=inf`, a 30-digit cursor or `key=%00` into a 500 or a database error.

    limit = whole_number(request.query, "limit", default=100, minimum=1, maximum=1000)
    scope = text(request.query, "scope")                   # None when absent or empty
    bodies = flag(request.query, "bodies", default=False)  # true/false, 1/0, yes/no, on/off
    by = choice(request.query, "by", ("model", "key"), default="model")
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

S = TypeVar("S", bound=str)

TRUE = frozenset(("1", "true", "yes", "on"))
FALSE = frozenset(("0", "false", "no", "off"))
TEXT_LIMIT = 1000  # characters of a text parameter, unless a route says otherwise


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


def text(query: Mapping[str, str], name: str, *, default: str | None = None,
         max_length: int = TEXT_LIMIT) -> str | None:
    """`name` as text of at most `max_length` characters and no NUL (PostgreSQL refuses it in
    text); `default` when absent or empty."""
    value = query.get(name)
    if value is None or value == "":
        return default
    if len(value) > max_length:
        raise BadParameter(f"{name}: at most {max_length} characters, got {len(value)}")
    if "\x00" in value:
        raise BadParameter(f"{name}: must not contain NUL characters")
    return value


def flag(query: Mapping[str, str], name: str, *, default: bool) -> bool:
    """`name` as a boolean (true/false, 1/0, yes/no, on/off, any case); `default` when absent
    or empty."""
    value = query.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise BadParameter(f"{name}: expected true or false, got {value[:40]!r}")


def choice(query: Mapping[str, str], name: str, choices: tuple[S, ...], *, default: S | None = None) -> S | None:
    """`name` as one of `choices` (exactly); `default` when absent or empty."""
    value = query.get(name)
    if value is None or value == "":
        return default
    for option in choices:
        if value == option:
            return option
    raise BadParameter(f"{name}: expected one of {', '.join(choices)}, got {value[:40]!r}")
