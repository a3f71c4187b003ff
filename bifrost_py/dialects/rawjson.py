"""Editing one top-level string field of a JSON object in place, bytes untouched elsewhere.

Passthrough must forward the client's body byte for byte except the model name: re-serialising
would change number formatting, escapes and spacing of a 200 kB Claude Code request, and cost
time. The scan jumps over strings with a regular expression, so it runs at C speed.
"""

from __future__ import annotations

import re

import orjson

_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[{}\[\]]', re.DOTALL)
_AFTER_KEY = re.compile(rb'\s*:\s*("(?:[^"\\]|\\.)*")', re.DOTALL)


def replace_top_level_string(raw: bytes, key: str, value: str) -> bytes | None:
    """`raw` with the top-level `key`'s string value replaced by `value`, or None when the key is
    absent or not a string at the top level (callers then re-serialise)."""
    wanted = orjson.dumps(key)
    depth = 0
    for token in _TOKENS.finditer(raw):
        text = token.group()
        if text in (b"{", b"["):
            depth += 1
        elif text in (b"}", b"]"):
            depth -= 1
        elif depth == 1 and text == wanted:
            after = _AFTER_KEY.match(raw, token.end())
            if after is None:
                continue  # a string value equal to the key's name, not the key itself
            start, end = after.span(1)
            return raw[:start] + orjson.dumps(value) + raw[end:]
    return None
