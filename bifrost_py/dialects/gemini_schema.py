"""JSON Schema reduced to the subset Gemini's function declarations accept.

Tool schemas are JSON Schema, which Gemini only partly accepts (an OpenAPI 3.0 subset; any other
keyword is a 400). So `gemini_schema` inlines ``$ref``, merges ``allOf`` and rewrites what has an
equivalent; a keyword that does not fit is dropped and noted, never an error. Only a schema
nested deeper than any real one is refused (`TranslationError`), to keep the recursion bounded.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .notes import note
from .translate_errors import TranslationError

JSON = dict[str, Any]

# The OpenAPI 3.0 subset Gemini's Schema accepts; every other keyword is rejected with a 400.
_SCHEMA_KEYS = {
    "type", "format", "title", "description", "nullable", "enum", "items", "properties",
    "required", "minItems", "maxItems", "minProperties", "maxProperties", "minLength",
    "maxLength", "pattern", "minimum", "maximum", "anyOf", "propertyOrdering", "default",
    "example",
}  # fmt: skip
_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}
_MAX_REF_DEPTH = 8
# Schemas nest a handful of levels; this bound keeps the recursion below far from Python's limit.
MAX_SCHEMA_NESTING = 64


def gemini_schema(schema: Mapping[str, Any], notes: list[str] | None = None, where: str = "input_schema") -> JSON:
    """A JSON Schema reduced to what Gemini accepts: ``$ref`` inlined, ``oneOf`` as ``anyOf``,
    ``["x", "null"]`` as ``nullable``, ``const`` as a one-value enum, unsupported keywords and
    string formats dropped (listed once in ``notes``), and keywords whose value has the wrong
    type dropped too. A schema nested more than MAX_SCHEMA_NESTING levels is a TranslationError."""
    dropped: set[str] = set()
    definitions = {**_mapping(schema.get("definitions")), **_mapping(schema.get("$defs"))}
    cleaned = _Cleaner(definitions, dropped, where).clean(schema, 0, 0)
    if notes is not None and dropped:
        note(notes, "dropped tool schema keywords Gemini rejects: " + ", ".join(sorted(dropped)))
    return cleaned


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _names(value: object) -> list[str]:
    """The strings of a `required` list (anything else in it cannot name a property)."""
    return [name for name in value if isinstance(name, str)] if isinstance(value, list) else []


class _Cleaner:
    """One schema's cleaning: the definitions `$ref` points into, the keywords dropped so far."""

    __slots__ = ("definitions", "dropped", "where")

    def __init__(self, definitions: Mapping[str, Any], dropped: set[str], where: str) -> None:
        self.definitions = definitions
        self.dropped = dropped
        self.where = where

    def clean(self, schema: object, depth: int, level: int) -> JSON:
        """`depth` counts `$ref`s expanded on the way down, `level` the nesting."""
        if not isinstance(schema, Mapping):
            return {}
        if level > MAX_SCHEMA_NESTING:
            raise TranslationError(f"{self.where}: nested more than {MAX_SCHEMA_NESTING} levels deep")
        schema, depth = self.resolve(schema, depth, level)
        out: JSON = {}
        for key, value in schema.items():
            if key == "properties" and isinstance(value, Mapping):
                out["properties"] = {name: self.clean(sub, depth, level + 1) for name, sub in value.items()}
            elif key == "items":
                out["items"] = self.clean(value, depth, level + 1)
            elif key in ("anyOf", "oneOf") and isinstance(value, list):
                out["anyOf"] = [self.clean(sub, depth, level + 1) for sub in value]
            elif key in ("type", "const", "enum", "format", "required"):
                continue  # handled below, they depend on each other
            elif key in _SCHEMA_KEYS and key not in ("properties", "anyOf"):
                out[key] = value
            else:
                self.dropped.add(key)
        _clean_type(schema, out, self.dropped)
        if "required" in schema and "properties" in out:
            out["required"] = [name for name in _names(schema["required"]) if name in out["properties"]]
        if out.get("properties") == {}:
            del out["properties"]
        return out

    def resolve(self, schema: Mapping[str, Any], depth: int, level: int) -> tuple[Mapping[str, Any], int]:
        """Inline ``$ref`` and merge ``allOf``, which Gemini does not know. A recursive type is
        cut off after _MAX_REF_DEPTH expansions, not followed forever."""
        if level > MAX_SCHEMA_NESTING:
            raise TranslationError(f"{self.where}: nested more than {MAX_SCHEMA_NESTING} levels deep")
        ref = schema.get("$ref")
        if isinstance(ref, str):
            target = self.definitions.get(ref.rsplit("/", 1)[-1])
            rest = {key: value for key, value in schema.items() if key != "$ref"}
            if not isinstance(target, Mapping) or depth >= _MAX_REF_DEPTH:
                self.dropped.add("$ref")
                return (rest or {"type": "object"}), depth
            return self.resolve({**target, **rest}, depth + 1, level + 1)
        if isinstance(schema.get("allOf"), list):
            merged: Mapping[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
            deepest = depth
            for part in schema["allOf"]:
                if isinstance(part, Mapping):
                    part, part_depth = self.resolve(part, depth, level + 1)
                    deepest = max(deepest, part_depth)
                    merged = _merge(merged, part)
            return self.resolve(merged, deepest, level + 1)
        return schema, depth


def _merge(left: Mapping[str, Any], right: Mapping[str, Any]) -> JSON:
    merged = {**right, **left}
    if "properties" in left or "properties" in right:
        merged["properties"] = {**_mapping(right.get("properties")), **_mapping(left.get("properties"))}
    if "required" in left or "required" in right:
        merged["required"] = list(dict.fromkeys([*_names(left.get("required")), *_names(right.get("required"))]))
    return merged


def _clean_type(schema: Mapping[str, Any], out: JSON, dropped: set[str]) -> None:
    kind = schema.get("type")
    if isinstance(kind, list):
        real = [name for name in kind if name != "null"]
        if len(real) < len(kind):
            out["nullable"] = True
        if len(real) == 1:
            kind = real[0]
        elif real:
            names = [name for name in real if isinstance(name, str)]
            out.setdefault("anyOf", [{"type": name} for name in names])
            kind = None
        else:
            kind = None
    values = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(values, list):
        strings = [value for value in values if isinstance(value, str)]
        if strings and len(strings) == len([v for v in values if v is not None]):
            out["enum"] = strings
            kind = kind or "string"
        else:
            dropped.add("enum")
    if isinstance(kind, str):
        out["type"] = kind
    elif kind is not None:
        dropped.add("type")
    fmt = schema.get("format")
    if isinstance(fmt, str):
        if isinstance(kind, str) and fmt in _FORMATS.get(kind, ()):
            out["format"] = fmt
        else:
            dropped.add(f"format:{fmt}")
