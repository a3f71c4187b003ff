"""What every answer of the gateway must be, whatever was asked (CONTRACT.md, Errors).

`problems(case, answer)` lists what is wrong with one answer, each problem starting with a short
class name (`gateway-5xx`, `not-json`, `wrong-dialect`, ...) so that a long run can group them:

* an answer at all: a status line, a message that ends (no hang), framed as HTTP says, nothing
  written after its end (a second status line inside a body);
* no 5xx: the upstream is healthy in a fuzz run, so a 5xx can only be the gateway's own;
* a JSON body in the dialect of the path: Anthropic's error shape for /anthropic/... and
  /v1/messages..., OpenAI's for /v1/chat/completions, /v1/embeddings, /openai/..., the admin
  shape under /api; a success stream is SSE whose events hold JSON and which ends as its
  dialect ends a stream.
Exempt from the JSON rule: HEAD (no body), the web UI's files, /metrics (Prometheus text) and a
successful /api/logs/export (CSV).
"""

from __future__ import annotations

from typing import Any

import orjson

from .cases import ADMIN, ANTHROPIC, ANY, GEMINI, OPENAI, Case
from .client import Answer, Request

NOT_JSON_PATHS = ("/metrics", "/api/logs/export", "/api/audit/export")  # Prometheus text; CSV (CONTRACT.md)


def problems(case: Case, answer: Answer) -> list[str]:
    if refused_by_http_parser(case.request):
        return parser_refusal_problems(answer)
    if encoded(case.request) and answer.status == 400 and answer.content_type == "text/plain":
        # A body that does not decode is refused by the parser itself when the whole message
        # arrived before the handler read it (a small body); otherwise the handler answers JSON.
        return parser_refusal_problems(answer)
    return _problems(case, answer)


def encoded(request: Request) -> bool:
    return any(name.lower() == b"content-encoding" and value.strip().lower() not in (b"", b"identity")
               for name, value in request.headers)


def refused_by_http_parser(request: Request) -> bool:
    """What aiohttp's HTTP parser refuses before any route (or the gateway's code) runs, and
    answers itself with a plain-text 400: a control character in a header value (RFC 9110 5.5
    forbids it) or a Content-Encoding it cannot decode at all (br, zstd without their libraries).
    The parser does not even give the path, so the dialect cannot be known; docs/api.md says so."""
    for name, value in request.headers:
        if any(b < 0x20 and b != 0x09 or b == 0x7F for b in value):
            return True
        if name.lower() == b"content-encoding" and value.strip().lower() in (b"br", b"zstd"):
            return True
    return False


def parser_refusal_problems(answer: Answer) -> list[str]:
    """Such a request must get an answer that ends, and a 4xx: never a 5xx, never a hang. (For
    HEAD aiohttp writes the refusal's text after the status line; that framing is its own.)"""
    if answer.timed_out:
        return [f"hang: no end of the answer in time (status {answer.status})"]
    if answer.status is None:
        return [f"no-answer: {answer.framing or 'the connection closed without a status line'}"]
    if not 400 <= answer.status < 500:
        return [f"parser-refusal: {answer.status} for a request HTTP forbids (expected a 4xx)"]
    return []


def _problems(case: Case, answer: Answer) -> list[str]:
    found = _transport(answer)
    if answer.status is None or found:
        return found
    if answer.status >= 500:
        found.append(f"gateway-5xx: {answer.status}")
    path = case.request.target.split(b"?", 1)[0].decode("latin-1")
    if case.request.method == "HEAD" or answer.status in (204, 304):
        return found
    traversal = path.startswith("/ui/") and ".." in path.replace("%2e", ".").replace("%2E", ".")
    if traversal and answer.status == 200:
        found.append("path-traversal: a file outside the web UI was served")
    if answer.status < 300 and (path == "/" or path.startswith("/ui/") or path in NOT_JSON_PATHS):
        return found
    if answer.content_type == "text/event-stream":
        if answer.status != 200:
            found.append(f"stream-status: a stream with status {answer.status}")
        return found + stream_problems(answer.body, case.dialect)
    return found + body_problems(answer, case.dialect, path)


def _transport(answer: Answer) -> list[str]:
    if answer.timed_out:
        return [f"hang: no end of the answer in time (status {answer.status}, {len(answer.body)} bytes)"]
    if answer.status is None:
        return [f"no-answer: {answer.framing or 'the connection closed without a status line'}"]
    if answer.framing:
        if b"HTTP/1." in answer.trailing or b"HTTP/1." in answer.body:
            return [f"second-response: a status line inside or after the body ({answer.framing})"]
        return [f"framing: {answer.framing}"]
    if not answer.complete:
        return ["framing: the message did not end properly"]
    return []


def body_problems(answer: Answer, dialect: str, path: str = "") -> list[str]:
    if answer.content_type != "application/json":
        return [f"not-json: content-type {answer.content_type or 'none'!r}, body {answer.body[:120]!r}"]
    try:
        data = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return [f"not-json: body {answer.body[:120]!r}"]
    assert answer.status is not None
    if answer.status < 400:
        if not isinstance(data, (dict, list)):
            return [f"wrong-shape: a {answer.status} whose JSON is {data!r:.80}"]
        return [] if success_shape(path, data) else [f"wrong-shape: a {answer.status} answer {answer.body[:200]!r}"]
    if not any(is_error(data, shape) for shape in accepted(dialect)):
        return [f"wrong-dialect: a {answer.status} not in the {dialect} error shape: {answer.body[:200]!r}"]
    return []


SUCCESS_SHAPES = {  # a model endpoint's 200, by its path without the /anthropic or /openai prefix
    "/v1/messages": lambda d: d.get("type") == "message" and isinstance(d.get("content"), list),
    "/v1/messages/count_tokens": lambda d: isinstance(d.get("input_tokens"), int),
    "/v1/chat/completions": lambda d: d.get("object") == "chat.completion" and isinstance(d.get("choices"), list),
    "/v1/embeddings": lambda d: d.get("object") == "list" and isinstance(d.get("data"), list),
}


def success_shape(path: str, data: Any) -> bool:
    check = SUCCESS_SHAPES.get(path.removeprefix("/anthropic").removeprefix("/openai"))
    return check is None or (isinstance(data, dict) and bool(check(data)))


def accepted(dialect: str) -> tuple[str, ...]:
    if dialect == ANY:
        return (ANTHROPIC, OPENAI, ADMIN, GEMINI)
    if dialect == GEMINI:
        return (GEMINI, OPENAI)  # CONTRACT.md names no error shape for /gemini yet
    return (dialect,)


def is_error(data: Any, shape: str) -> bool:
    """Whether `data` is an error body in `shape` (CONTRACT.md, Errors; admin: its own shape)."""
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return False
    error = data["error"]
    message = isinstance(error.get("message"), str) and bool(error["message"])
    if shape == ANTHROPIC:
        return data.get("type") == "error" and isinstance(error.get("type"), str) and message
    if shape == GEMINI:
        return isinstance(error.get("code"), int) and isinstance(error.get("status"), str) and message
    return isinstance(error.get("type"), str) and message and "type" not in data


def stream_problems(body: bytes, dialect: str) -> list[str]:
    """A success stream: SSE, every data JSON (or [DONE]), ended as the dialect ends it."""
    events = sse_events(body)
    if not events:
        return [f"bad-stream: no SSE event in {body[:120]!r}"]
    for name, data in events:
        if data == b"[DONE]":
            continue
        try:
            parsed = orjson.loads(data)
        except orjson.JSONDecodeError:
            return [f"bad-stream: an event whose data is not JSON: {name!r} {data[:120]!r}"]
        if not isinstance(parsed, dict):
            return [f"bad-stream: an event whose data is not an object: {data[:120]!r}"]
    last_name, last = events[-1]
    if dialect == ANTHROPIC and last_name not in ("message_stop", "error"):
        return [f"bad-stream: an Anthropic stream that ends with {last_name!r}, not message_stop or error"]
    if dialect == OPENAI and last != b"[DONE]" and b'"error"' not in last:
        return [f"bad-stream: an OpenAI stream that ends with {last[:120]!r}, not [DONE] or an error"]
    return []


def sse_events(body: bytes) -> list[tuple[str | None, bytes]]:
    """(event name, data) of each event; CRLF and LF line ends alike."""
    events: list[tuple[str | None, bytes]] = []
    for block in body.replace(b"\r\n", b"\n").split(b"\n\n"):
        name: str | None = None
        data: list[bytes] = []
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode("utf-8", "replace")
            elif line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
        if data:
            events.append((name, b"\n".join(data)))
    return events


def stream_error(event: tuple[str | None, bytes], dialect: str) -> Any:
    """The error an SSE event carries in the client's dialect (Anthropic: an `error` event;
    OpenAI: a chunk that is an error object), or None."""
    name, data = event
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
    if dialect == ANTHROPIC:
        return parsed if name == "error" and is_error(parsed, ANTHROPIC) else None
    return parsed if is_error(parsed, OPENAI) else None
