"""Bounds on what a client, or an upstream, can make the gateway keep, echo or forward.

A model name ends up in log rows, metric labels, response headers and memo tables; a header value
in log rows and in the request forwarded upstream. Whatever arrives, what is kept is short,
printable and valid UTF-8, so no request can inflate the gateway's memory, split a response
header, or poison the log store with a lone surrogate.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from multidict import CIMultiDict, CIMultiDictProxy

from .errors import InvalidRequest

MAX_MODEL_CHARS = 256
MAX_HEADER_KEPT_CHARS = 512   # of a header value the gateway stores (session id, user agent)
_MODEL = re.compile(rf"[\x20-\x7e]{{1,{MAX_MODEL_CHARS}}}")


def model_problem(value: object) -> str | None:
    """Why `value` cannot be a model name, or None when it can."""
    if not isinstance(value, str) or not value:
        return "model: field required (a non-empty string)"
    if _MODEL.fullmatch(value) is None:
        return f"model: must be at most {MAX_MODEL_CHARS} printable ASCII characters"
    return None


def answered_model(value: object) -> str | None:
    """The model an upstream says answered, if it can be echoed in a header and logged."""
    return value if isinstance(value, str) and _MODEL.fullmatch(value) is not None else None


def kept(value: str | None, limit: int = MAX_HEADER_KEPT_CHARS) -> str | None:
    """A client-supplied string the gateway stores: escaped when it must be, cut at `limit`."""
    if value is None:
        return None
    if not (value.isascii() and value.isprintable()):
        value = _escape_unprintable(value)
    return value[:limit]


def _escape_unprintable(value: str) -> str:
    """Keeps printable Unicode as it is; escapes surrogates and control characters."""
    return "".join(ch if ch.isprintable() and not 0xD800 <= ord(ch) <= 0xDFFF else _escape_char(ch) for ch in value)


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, as surrogateescape keeps it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def valid_headers(headers: CIMultiDictProxy[str]) -> CIMultiDictProxy[str]:
    """The request's headers with every value valid UTF-8 (escaped where it was not), so that a
    plugin or an adapter forwarding a header cannot fail on it. The common case costs one scan."""
    if "".join(headers.values()).isascii():  # one pass in C: the common case
        return headers
    copy: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        copy.add(name, value if value.isascii() else _valid_utf8(value))
    return CIMultiDictProxy(copy)


def _valid_utf8(value: str) -> str:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return _escape_unprintable(value)
    return value


def request_json(body: Any) -> bytes:
    """A client's (possibly rewritten) body as JSON bytes. orjson reads 1024 levels of nesting
    but writes only 254: a body nested deeper cannot be forwarded except as it came (a 400)."""
    try:
        return orjson.dumps(body)
    except orjson.JSONEncodeError as exc:
        raise InvalidRequest(f"request body cannot be re-encoded ({exc}): is it nested deeper than 254 levels?") from exc
