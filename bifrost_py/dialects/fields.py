"""Typed reads of JSON fields, failing with the field's path and the error that says whose fault.

Every translator reads fields of JSON it did not write: the client's request or a provider's
answer. A field of the wrong type must not surface as a TypeError three calls later, so each
field is read through one of these before it is used, and a wrong type raises at once with the
path (`messages[2].content[0].text: must be a string`). `REQUEST` raises `TranslationError` (the
client's mistake, a 400), `ANSWER` raises `MalformedAnswer` (the provider's, a 502).

Absent and `null` are the same everywhere here: an optional field may be either. Booleans are
not numbers (JSON keeps them apart, Python does not).
"""

from __future__ import annotations

from typing import Any, TypeVar

import orjson

from .translate_errors import MalformedAnswer, TranslationError

JSON = dict[str, Any]
T = TypeVar("T")

# orjson refuses to write documents nested deeper than this; a translator that copies a value it
# does not look inside (a tool schema, tool input) checks it still fits with OUTER_DEPTH levels
# of the enclosing request around it.
ORJSON_MAX_DEPTH = 254
OUTER_DEPTH = 8


def path(where: str, key: str | int) -> str:
    """`where` extended by a key or an index: `messages[0]` + `content` -> `messages[0].content`."""
    if isinstance(key, int):
        return f"{where}[{key}]"
    return f"{where}.{key}" if where else key


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def is_count(value: object) -> bool:
    """A token count: a non-negative integer."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def describe(value: object, limit: int = 80) -> str:
    """A short text for `value` in a message or a note. Never `str()` or `repr()` of JSON read from
    outside: a list nested a thousand levels deep (valid JSON) exhausts Python's stack there."""
    if isinstance(value, str):
        return repr(value[:limit])
    try:
        return orjson.dumps(value).decode()[:limit]
    except orjson.JSONEncodeError:
        return f"a deeply nested {type(value).__name__}"


class Fields:
    """Readers bound to the error they raise; see the module docstring."""

    __slots__ = ("error",)

    def __init__(self, error: type[ValueError]) -> None:
        self.error = error

    def fail(self, where: str, what: str) -> ValueError:
        return self.error(f"{where}: must be {what}")

    # ------------------------------------------------------------ a value already in hand

    def an_object(self, value: object, where: str) -> JSON:
        if not isinstance(value, dict):
            raise self.fail(where, "an object")
        return value

    def a_list(self, value: object, where: str) -> list[Any]:
        if not isinstance(value, list):
            raise self.fail(where, "a list")
        return value

    def objects(self, value: object, where: str) -> list[JSON]:
        """A list of objects (content blocks, tools, messages)."""
        items = self.a_list(value, where)
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                raise self.fail(path(where, i), "an object")
        return items

    def strings(self, value: object, where: str) -> list[str]:
        items = self.a_list(value, where)
        for i, item in enumerate(items):
            if not isinstance(item, str):
                raise self.fail(path(where, i), "a string")
        return items

    # ------------------------------------------------------------ an optional field of an object

    def opt_str(self, obj: JSON, key: str, where: str = "") -> str | None:
        value = obj.get(key)
        if value is None or isinstance(value, str):
            return value
        raise self.fail(path(where, key), "a string")

    def opt_int(self, obj: JSON, key: str, where: str = "") -> int | None:
        value = obj.get(key)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        raise self.fail(path(where, key), "an integer")

    def opt_number(self, obj: JSON, key: str, where: str = "") -> int | float | None:
        value = obj.get(key)
        if value is None or is_number(value):
            return value
        raise self.fail(path(where, key), "a number")

    def opt_bool(self, obj: JSON, key: str, where: str = "") -> bool | None:
        value = obj.get(key)
        if value is None or isinstance(value, bool):
            return value
        raise self.fail(path(where, key), "true or false")

    def opt_count(self, obj: JSON, key: str, where: str = "", nullable: bool = True) -> int | None:
        """A token count; absent is None, and so is `null` where the dialect allows it."""
        value = obj.get(key)
        if is_count(value) or (value is None and (nullable or key not in obj)):
            return value
        raise self.fail(path(where, key), "a non-negative integer")

    def opt_object(self, obj: JSON, key: str, where: str = "") -> JSON | None:
        value = obj.get(key)
        if value is None or isinstance(value, dict):
            return value
        raise self.fail(path(where, key), "an object")

    def opt_list(self, obj: JSON, key: str, where: str = "") -> list[Any] | None:
        value = obj.get(key)
        if value is None or isinstance(value, list):
            return value
        raise self.fail(path(where, key), "a list")

    def opt_objects(self, obj: JSON, key: str, where: str = "") -> list[JSON]:
        """A list of objects, empty when absent."""
        value = obj.get(key)
        return [] if value is None else self.objects(value, path(where, key))

    # ------------------------------------------------------------ values copied without a look inside

    def storable(self, value: T, where: str) -> T:
        """`value` if it can still be written as JSON inside a request or an answer (orjson has a
        nesting limit; JSON read by orjson may be nested four times deeper)."""
        wrapped: object = value
        for _ in range(OUTER_DEPTH):
            wrapped = [wrapped]
        try:
            orjson.dumps(wrapped)
        except orjson.JSONEncodeError:
            raise self.fail(where, f"nested less than {ORJSON_MAX_DEPTH - OUTER_DEPTH} levels deep") from None
        return value

    def dumps(self, value: object, where: str) -> str:
        """`value` as JSON text (tool input as OpenAI carries it)."""
        try:
            return orjson.dumps(value).decode()
        except orjson.JSONEncodeError:
            raise self.fail(where, f"nested less than {ORJSON_MAX_DEPTH} levels deep") from None


REQUEST = Fields(TranslationError)
ANSWER = Fields(MalformedAnswer)
