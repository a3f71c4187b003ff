"""Strict, typed reading of YAML config sections, for the core and for plugins alike.

A `Section` wraps one mapping of the file and remembers its path (`governance.teams.backend`).
Every getter checks the type, records a problem naming the path when it is wrong, and marks the
key as read; `done()` then reports each key nobody read as unknown. Problems are collected, not
raised one at a time, so `bifrost-py check` can list them all.
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")
_MISSING: Any = object()

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, None: 1.0}


class ConfigError(Exception):
    """The config has problems; `problems` holds one line per problem: `path: what is wrong`."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def parse_duration(value: object) -> float:
    """`30s`, `1m`, `12h`, `7d`, `250ms` or a bare number of seconds -> seconds."""
    if isinstance(value, bool):  # callers catch ValueError for every malformed duration
        raise ValueError("expected a duration like 30s, 5m, 12h or 7d")  # noqa: TRY004
    if isinstance(value, (int, float)):
        return float(value)
    match = _DURATION.match(str(value))
    if not match:
        raise ValueError(f"expected a duration like 30s, 5m, 12h or 7d, got {value!r}")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


class Problems:
    """Collects problems across sections; raises them together."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path or '(top level)'}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(list(self.items))


def _type_name(value: object) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", bool: "true/false", type(None): "nothing"}.get(
        type(value), type(value).__name__
    )


class Section:
    """A mapping in the config file, read key by key."""

    def __init__(self, data: object, path: str, problems: Problems) -> None:
        self.path = path
        self.problems = problems
        if data is None:
            data = {}
        if not isinstance(data, dict):
            problems.add(path, f"expected a mapping, got {_type_name(data)}")
            data = {}
        self.data: dict[str, Any] = data
        self._read: set[str] = set()

    def child_path(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else str(key)

    def has(self, key: str) -> bool:
        return key in self.data

    def keys(self) -> list[str]:
        return [str(k) for k in self.data]

    def __iter__(self) -> Iterator[builtins.str]:
        """The section's key names, as in the file (`for name in section:`)."""
        return iter(self.keys())

    def error(self, key: str | None, message: str) -> None:
        self.problems.add(self.child_path(key) if key else self.path, message)

    def raw(self, key: str, default: Any = None) -> Any:
        self._read.add(key)
        return self.data.get(key, default)

    def _get(self, key: str, default: Any, check: Callable[[Any], T], expected: str) -> T:
        self._read.add(key)
        if key not in self.data or self.data[key] is None:
            if default is _MISSING:
                self.problems.add(self.child_path(key), "is required")
                return None  # type: ignore[return-value]
            return default
        value = self.data[key]
        try:
            return check(value)
        except (TypeError, ValueError, OverflowError) as exc:
            detail = str(exc) or f"expected {expected}, got {_type_name(value)} {value!r}"
            self.problems.add(self.child_path(key), detail)
            return default if default is not _MISSING else None  # type: ignore[return-value]

    def str(self, key: str, default: Any = _MISSING, *, choices: tuple[str, ...] | None = None) -> Any:
        def check(value: Any) -> str:
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise TypeError
            text = str(value)
            if choices and text not in choices:
                raise ValueError(f"must be one of {', '.join(choices)}; got {text!r}")
            return text

        return self._get(key, default, check, "a string")

    def int(self, key: builtins.str, default: Any = _MISSING, *, minimum: int | None = None) -> Any:
        def check(value: Any) -> int:
            if isinstance(value, bool) or not isinstance(value, int):
                raise TypeError
            if minimum is not None and value < minimum:
                raise ValueError(f"must be at least {minimum}; got {value}")
            return value

        return self._get(key, default, check, "a whole number")

    def number(self, key: builtins.str, default: Any = _MISSING, *, minimum: float | None = None) -> Any:
        def check(value: Any) -> float:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError
            number = float(value)  # OverflowError for a 400-digit integer: a problem, not a crash
            if not math.isfinite(number):
                raise ValueError(f"must be a finite number; got {value}")
            if minimum is not None and number < minimum:
                raise ValueError(f"must be at least {minimum}; got {value}")
            return number

        return self._get(key, default, check, "a number")

    def bool(self, key: builtins.str, default: Any = _MISSING) -> Any:
        def check(value: Any) -> bool:
            if not isinstance(value, bool):
                raise TypeError
            return value

        return self._get(key, default, check, "true or false")

    def duration(self, key: builtins.str, default: Any = _MISSING) -> Any:
        return self._get(key, default, parse_duration, "a duration")

    def str_list(self, key: builtins.str, default: Any = _MISSING) -> Any:
        def check(value: Any) -> list[builtins.str]:
            if isinstance(value, str):
                return [value]
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise TypeError
            return list(value)

        return self._get(key, default, check, "a list of strings")

    def int_list(self, key: builtins.str, default: Any = _MISSING) -> Any:
        def check(value: Any) -> list[int]:
            if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
                raise TypeError
            return list(value)

        return self._get(key, default, check, "a list of whole numbers")

    def section(self, key: builtins.str, *, required: builtins.bool = False) -> Section | None:
        """A nested mapping, or None when absent."""
        self._read.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                self.problems.add(self.child_path(key), "is required")
            return None
        return Section(self.data[key], self.child_path(key), self.problems)

    def sections(self, key: builtins.str) -> Iterator[tuple[builtins.str, Section]]:
        """A mapping of name -> mapping (e.g. `teams:`), as (name, Section) pairs."""
        sub = self.section(key)
        if sub is None:
            return iter(())
        items = [(str(name), Section(value, sub.child_path(str(name)), self.problems)) for name, value in sub.data.items()]
        sub._read.update(sub.data)
        return iter(items)

    def section_list(self, key: builtins.str) -> list[Section]:
        """A list of mappings (e.g. `routing.rules`)."""
        self._read.add(key)
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problems.add(self.child_path(key), f"expected a list, got {_type_name(value)}")
            return []
        return [Section(item, f"{self.child_path(key)}[{i}]", self.problems) for i, item in enumerate(value)]

    def done(self) -> None:
        """Report every key that no getter read: unknown keys are errors, not silently ignored."""
        for key in self.data:
            if key not in self._read:
                self.problems.add(self.child_path(str(key)), "unknown key")
