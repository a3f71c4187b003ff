"""Text from outside the gateway, made safe to store, to show and to use as a metric label.

A client chooses its model name, user agent and session id, and an upstream its error message:
any of them may be megabytes long, or hold control characters or lone surrogates (aiohttp decodes
header bytes that are not UTF-8 with `surrogateescape`), which neither SQLite nor PostgreSQL
accepts and which a finance lead cannot read. `bounded` cuts such text to a size and escapes
those characters with backslashes (`\\xff` for a byte that was not UTF-8, `\\x00`, `\\n`), so
a row always goes into the store as readable text. It runs on every request, so the usual case
(short printable ASCII) is three C-level checks. (The core bounds what it reads from a request
too, `bifrost_py.limits`; the log does not rely on every plugin having done so.)
"""

from __future__ import annotations

import re

TRUNCATED = "…[truncated]"
# Control characters (C0, DEL, C1) and surrogates: what is escaped.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Only what a store refuses inside a logged body (bodies keep their newlines and tabs).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
# The start of an escape sequence left at the end of text cut to size.
_PARTIAL_ESCAPE = re.compile(r"\\(?:x[0-9a-f]?|u[0-9a-f]{0,3})?\Z")


def _escape(match: re.Match[str]) -> str:
    """`\\xff` for a byte that was not UTF-8 (surrogateescape keeps byte b as U+DC00 + b, as the
    core's `limits` escapes it too), else Python's escape: `\\n`, `\\x00`, `\\ud800`."""
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return match.group().encode("unicode_escape").decode("ascii")


def escaped(text: str) -> str:
    """`text` with control characters and surrogates written as backslash escapes."""
    return _UNSAFE.sub(_escape, text)


def bounded(text: str, limit: int) -> str:
    """`text` escaped and cut to at most `limit` bytes of UTF-8 (then marked as truncated).

    Bytes rather than characters because what a store keeps in an index is limited in bytes
    (a PostgreSQL btree entry to about 2.7 KB)."""
    if len(text) <= limit and text.isascii() and text.isprintable():
        return text
    cut = len(text) > limit
    text = escaped(text[:limit])
    data = text.encode()
    if len(data) <= limit and not cut:
        return text
    text = data[:limit].decode("utf-8", "ignore")
    return _PARTIAL_ESCAPE.sub("", text) + TRUNCATED


def storable(text: str) -> str:
    """A logged body as a store takes it: NUL and surrogates escaped, everything else kept."""
    if text.isascii():
        return text.replace("\x00", "\\x00") if "\x00" in text else text
    return _UNSTORABLE.sub(_escape, text)
