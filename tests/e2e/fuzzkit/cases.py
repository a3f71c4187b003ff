"""Hypothesis strategies for whole HTTP requests to the gateway: what a buggy client or an
attacker sends.

A `Case` is one request plus what its answer must look like (the dialect of its path). The mix:
model endpoints with valid-ish bodies whose fields get random types, random JSON, bytes that are
not JSON, huge strings in `model`; header values with bytes that are not UTF-8 and control
characters; every public endpoint of CONTRACT.md that exists, unknown paths, the admin API (its
paths read from /api/openapi.json at start) with and without the token, odd query strings; valid
keys, unknown keys, no key; streaming and not.

Strings inside bodies never contain `[[`, so no body can ask the mock upstream for a fault by
chance: in a fuzz run the upstream is healthy, and any 5xx is the gateway's own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import orjson
from hypothesis import strategies as st

from .client import Request
from .world import ADMIN_TOKEN, EMBEDDING, GPT, KEY, OTHER_KEY, SONNET

ANTHROPIC, OPENAI, ADMIN, GEMINI, ANY = "anthropic", "openai", "admin", "gemini", "any"
HAIKU = "claude-haiku-4-5-20251001"

# (method, path, dialect, body kind) of each model endpoint.
MODEL_ENDPOINTS = (
    ("POST", "/v1/messages", ANTHROPIC, "messages"),
    ("POST", "/anthropic/v1/messages", ANTHROPIC, "messages"),
    ("POST", "/v1/messages/count_tokens", ANTHROPIC, "count_tokens"),
    ("POST", "/anthropic/v1/messages/count_tokens", ANTHROPIC, "count_tokens"),
    ("POST", "/v1/chat/completions", OPENAI, "chat"),
    ("POST", "/openai/v1/chat/completions", OPENAI, "chat"),
    ("POST", "/v1/embeddings", OPENAI, "embeddings"),
    ("POST", "/openai/v1/embeddings", OPENAI, "embeddings"),
)
MODEL_PATHS = frozenset(path for _, path, _, _ in MODEL_ENDPOINTS)
# Other public endpoints (CONTRACT.md) and what they answer in.
OTHER_ENDPOINTS = (
    ("GET", "/v1/models", ANY),
    ("GET", "/anthropic/v1/models", ANTHROPIC),
    ("GET", "/openai/v1/models", OPENAI),
    ("HEAD", "/", ANY),
    ("HEAD", "/anthropic", ANTHROPIC),
    ("HEAD", "/openai", OPENAI),
    ("GET", "/health", ANY),
    ("GET", "/metrics", ANY),
    ("GET", "/", ANY),
    ("GET", "/ui/app.css", ANY),
    ("GET", "/ui/js/%2e%2e/%2e%2e/server.py", ANY),
    ("POST", "/v1/responses", OPENAI),
    ("POST", "/openai/v1/responses", OPENAI),
    ("POST", "/v1/responses/input_tokens", OPENAI),
    ("POST", "/gemini/v1beta/models/gemini-2.5-flash:generateContent", GEMINI),
    ("POST", "/gemini/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", GEMINI),
    ("GET", "/gemini/v1beta/models", GEMINI),
)
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "PROPFIND")
QUERIES = (
    "", "?beta=true", "?since=inf", "?since=-inf", "?since=nan", "?until=1e300", "?since=1e400",
    "?cursor=99999999999999999999", "?cursor=-1", "?limit=0", "?limit=-5", "?limit=1e9",
    "?limit=abc", "?since=7d", "?since=2026-13-45", "?by=nothing", "?status=9xx",
    "?bodies=maybe", "?key=%FF%FE", "?session=%00", f"?token={ADMIN_TOKEN}", "?token=wrong",
    "?after=-3", "?final=yes", "?model=%0d%0aX-Injected:%201", "?a=1&a=2&a=3",
)
FIELDS = (
    "model", "messages", "max_tokens", "stream", "system", "temperature", "top_p", "top_k",
    "stop_sequences", "stop", "tools", "tool_choice", "metadata", "thinking", "stream_options",
    "max_completion_tokens", "n", "user", "input", "dimensions", "encoding_format", "role",
    "content", "type", "text", "name", "input_schema", "function", "parameters", "tool_calls",
    "tool_use_id", "cache_control", "include_usage", "user_id", "budget_tokens", "image_url",
    "source", "id", "arguments", "response_format", "seed", "logprobs", "limit", "reset",
    "budget", "budgets", "team", "customer", "key", "active", "rate_limit", "requests", "window",
)
MODELS = (SONNET, SONNET, HAIKU, GPT, GPT, "gpt-4o-mini", EMBEDDING, "anthropic/" + SONNET,
          "openai/gpt-4o", "claude-unknown-9", "o3-mini", "mock/anything", "backup-only-a")


def _no_markers(text: str) -> str:
    return text.replace("[[", "[ [")


def texts(max_size: int = 30) -> st.SearchStrategy[str]:
    return st.text(max_size=max_size).map(_no_markers)


# Numbers as orjson reads them from a body: 64-bit integers (unsigned too) and finite doubles.
NUMBERS = st.one_of(
    st.integers(-(2**63), 2**64 - 1),
    st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, 2**63 - 1, 2**64 - 1, -(2**63)]),
    st.floats(allow_nan=False, allow_infinity=False),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, texts(), st.sampled_from(FIELDS))
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), texts(8)), inner, max_size=4),
    ),
    max_leaves=12,
)


@st.composite
def models(draw: st.DrawFn) -> Any:
    choice = draw(st.integers(0, 40))
    if choice < 32:
        return draw(st.sampled_from(MODELS))
    if choice < 34:
        return draw(texts(60))
    if choice < 35:
        return draw(st.sampled_from([SONNET + "\r\nX-Injected: 1", "gpt-4o\x00", "../../etc/passwd",
                                     "claude-" + "é" * 50, "", " ", "\u202egpt-4o"]))
    if choice < 37:
        return "claude-" + "x" * draw(st.sampled_from([300, 5_000, 200_000, 1_900_000]))
    return draw(JSON)


SMALL_JSON: st.SearchStrategy[Any] = st.recursive(
    SCALARS, lambda inner: st.one_of(st.lists(inner, max_size=2), st.dictionaries(st.sampled_from(FIELDS), inner,
                                                                                   max_size=2)),
    max_leaves=4,
)
BLOCK_TYPES = ("text", "image", "tool_use", "tool_result", "thinking", "document", "nonsense")
BLOCK_FIELDS = ("text", "content", "input", "id", "source", "cache_control", "name", "signature")


@st.composite
def content_blocks(draw: st.DrawFn) -> Any:
    """A message's content: a string, or blocks that are right, or of a random type and fields."""
    if draw(st.booleans()):
        return draw(texts())
    blocks: list[Any] = []
    for _ in range(draw(st.integers(1, 3))):
        if draw(st.booleans()):
            blocks.append({"type": "text", "text": draw(texts())})
            continue
        block = {"type": draw(st.sampled_from(BLOCK_TYPES))}
        block.update(draw(st.dictionaries(st.sampled_from(BLOCK_FIELDS), SMALL_JSON, max_size=3)))
        blocks.append(block)
    return blocks


@st.composite
def messages(draw: st.DrawFn, openai: bool) -> list[Any]:
    roles = ["user", "assistant", "system", "tool", "developer"] if openai else ["user", "assistant"]
    turns: list[Any] = []
    for _ in range(draw(st.integers(0, 2))):
        turn = {"role": draw(st.sampled_from(roles)), "content": draw(content_blocks())}
        turn.update(draw(st.dictionaries(st.sampled_from(["tool_calls", "tool_call_id", "name"]), SMALL_JSON,
                                         max_size=1)))
        turns.append(turn)
    return [*turns, {"role": "user", "content": draw(content_blocks())}]


@st.composite
def base_body(draw: st.DrawFn, kind: str) -> dict[str, Any]:
    """A body the endpoint would accept (mostly), before any field is made wrong."""
    body: dict[str, Any] = {"model": draw(models())}
    if kind == "embeddings":
        body["input"] = draw(st.one_of(texts(), st.lists(texts(), min_size=1, max_size=3)))
        return body
    body["messages"] = draw(messages(kind == "chat"))
    if kind == "messages" or draw(st.booleans()):
        body["max_tokens"] = draw(st.one_of(st.integers(1, 64), st.sampled_from([1, 4096, 2**31, 2**63 - 1])))
    if kind != "count_tokens" and draw(st.booleans()):
        body["stream"] = True
    if kind == "chat" and draw(st.booleans()):
        body["stream_options"] = {"include_usage": draw(st.booleans())}
    for name in draw(st.lists(st.sampled_from(("system", "temperature", "tools", "tool_choice", "metadata",
                                                "stop_sequences", "stop", "thinking", "top_p")), max_size=2)):
        body[name] = draw(_plausible(name))
    return body


def _plausible(name: str) -> st.SearchStrategy[Any]:
    tool = {"name": "get_weather", "description": "w", "input_schema": {"type": "object", "properties": {
        "city": {"type": "string"}}}}
    return {
        "system": st.one_of(texts(), st.just([{"type": "text", "text": "be brief"}])),
        "temperature": st.floats(0, 1),
        "top_p": st.floats(0, 1),
        "tools": st.just([tool]),
        "tool_choice": st.sampled_from([{"type": "auto"}, {"type": "any"}, "auto", "required", "none"]),
        "metadata": st.sampled_from([{"user_id": "u-1"}, {"user_id": '{"session_id": "s-1"}'}]),
        "stop_sequences": st.lists(texts(5), max_size=2),
        "stop": st.lists(texts(5), max_size=2),
        "thinking": st.just({"type": "enabled", "budget_tokens": 1024}),
    }[name]


@st.composite
def bodies(draw: st.DrawFn, kind: str) -> bytes:
    """Valid-ish JSON with fields of random types, or random JSON, or not JSON at all."""
    choice = draw(st.integers(0, 19))
    if choice < 6:
        return orjson.dumps(draw(base_body(kind)))  # so that enough requests reach the upstream
    if choice < 12:
        body = draw(base_body(kind))
        for name, value in draw(st.lists(st.tuples(st.sampled_from(FIELDS), JSON), max_size=3)):
            body[name] = value
        for name in draw(st.lists(st.sampled_from(sorted(body)), max_size=1)):
            body.pop(name, None)
        return orjson.dumps(body)
    if choice < 15:
        return orjson.dumps(draw(JSON))
    if choice < 17:
        return draw(st.binary(max_size=200)).replace(b"[[", b"[ [")
    if choice < 18:
        return b""
    raw = orjson.dumps(draw(base_body(kind)))  # valid JSON made wrong by one edit of the text
    cut = draw(st.integers(0, len(raw)))
    return raw[:cut] + draw(st.sampled_from([b"", b"\x00", b"\xff", b"}", b",", b"1e400", b"99999999999999999999"]))


# ---- headers ---------------------------------------------------------------------------------

ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40).map(str.encode)
OBS_TEXT = list(range(0x80, 0x100))  # bytes HTTP allows in a field value (RFC 9110 5.5) that are not ASCII
CONTROL_BYTES = bytes(b for b in range(0x20) if b not in (0x09, 0x0A, 0x0D)) + b"\x7f"  # what HTTP forbids there
# Header values HTTP allows: visible ASCII, spaces and tabs, and any byte >= 0x80 (so also UTF-8
# and bytes that are not UTF-8). Control characters get a strategy of their own (below).
HEADER_BYTES = st.one_of(
    ASCII,
    ASCII,
    st.lists(st.sampled_from([*range(0x20, 0x7F), 0x09, *OBS_TEXT]), max_size=40).map(bytes),
    st.lists(st.sampled_from(OBS_TEXT), min_size=1, max_size=8).map(bytes),
    st.text(st.characters(min_codepoint=0x20, blacklist_categories=("Cc", "Cs")), max_size=20).map(str.encode),
    st.sampled_from([b"x" * 4000, b"\xc3\x28", b"\xed\xa0\x80", b"\xff" * 100, b" padded ", b"", b"\t"]),
)
# A value with a control character (NUL, ESC, DEL...; not CR or LF, which would end the line).
FORBIDDEN_HEADER_BYTES = st.tuples(HEADER_BYTES, st.sampled_from(list(CONTROL_BYTES)), HEADER_BYTES).map(
    lambda t: t[0] + bytes([t[1]]) + t[2]
)
KEPT_HEADERS = (b"User-Agent", b"x-bf-session-id", b"X-Claude-Code-Session-Id", b"anthropic-beta",
                b"x-bf-cache", b"x-bf-cache-ttl", b"x-bf-fallbacks", b"x-app", b"session-id")


@st.composite
def credentials(draw: st.DrawFn, admin: bool, values: st.SearchStrategy[bytes]) -> list[tuple[bytes, bytes]]:
    choice = draw(st.integers(0, 9))
    if admin:
        token = ADMIN_TOKEN.encode() if choice < 6 else draw(values)
        return [] if choice == 9 else [(b"Authorization", b"Bearer " + token)]
    secret = KEY.encode() if choice < 6 else OTHER_KEY.encode() if choice < 7 else draw(values)
    header = draw(st.sampled_from([b"x-api-key", b"Authorization", b"x-bf-vk", b"x-goog-api-key"]))
    if choice == 9:
        return []
    return [(header, b"Bearer " + secret if header == b"Authorization" else secret)]


CONTROL, ENCODING = "control", "encoding"  # the two kinds of request the HTTP layer sees first
ENCODINGS = (b"gzip", b"deflate", b"br", b"zstd", b"identity", b"x-bogus", b"gzip, gzip")


@st.composite
def headers(draw: st.DrawFn, dialect: str, admin: bool, layer: str = "") -> list[tuple[bytes, bytes]]:
    """Credentials, the usual headers, and a few the gateway keeps, with random values. With
    `layer` CONTROL one value holds a control character; with ENCODING the body claims a
    Content-Encoding it does not have."""
    control = layer == CONTROL
    values = FORBIDDEN_HEADER_BYTES if control else HEADER_BYTES
    found = draw(credentials(admin, values))
    if dialect == ANTHROPIC and draw(st.integers(0, 4)):
        found.append((b"anthropic-version", b"2023-06-01"))
    if draw(st.integers(0, 3)):
        found.append((b"Content-Type", b"application/json"))
    if layer == ENCODING:
        found.append((b"Content-Encoding", draw(st.sampled_from(ENCODINGS))))
    for name in draw(st.lists(st.sampled_from(KEPT_HEADERS), max_size=3, unique=True)):
        found.append((name, draw(HEADER_BYTES)))
    if control:
        found.append((draw(st.sampled_from(KEPT_HEADERS)), draw(FORBIDDEN_HEADER_BYTES)))
    return found


# ---- whole requests --------------------------------------------------------------------------


@dataclass(slots=True)
class Case:
    """One request and what its answer must look like."""

    request: Request
    label: str  # method and route, for the histogram
    dialect: str  # the error shape the path promises: anthropic, openai, admin, gemini, any
    model_endpoint: bool = False  # a request that must leave a log row (when it got a request id)

    def describe(self) -> str:
        lines = [f"{self.request.method} {self.request.target[:300]!r}"]
        lines += [f"  {name.decode('latin-1')}: {value[:200]!r}" for name, value in self.request.headers]
        lines.append(f"  body ({len(self.request.body)} bytes): {self.request.body[:600]!r}")
        return "\n".join(lines)


def _target(path: str, query: str) -> bytes:
    joiner = "&" if "?" in path and query.startswith("?") else ""
    return (path + (joiner + query[1:] if joiner else query)).encode()


@st.composite
def model_case(draw: st.DrawFn, layer: str = "") -> Case:
    method, path, dialect, kind = draw(st.sampled_from(MODEL_ENDPOINTS))
    if draw(st.integers(0, 19)) == 0:
        method = draw(st.sampled_from(METHODS))
    query = draw(st.sampled_from(("", "", "", "?beta=true", "?x=%FF", "?key=" + KEY)))
    body = draw(bodies(kind))
    request = Request(method, _target(path, query), draw(headers(dialect, admin=False, layer=layer)), body)
    return Case(request, f"{method} {path}", dialect, model_endpoint=method == "POST")


@st.composite
def other_case(draw: st.DrawFn, layer: str = "") -> Case:
    method, path, dialect = draw(st.sampled_from(OTHER_ENDPOINTS))
    body = draw(bodies("messages")) if method == "POST" else b""
    query = draw(st.sampled_from(QUERIES[:4]))
    request = Request(method, _target(path, query), draw(headers(dialect, admin=False, layer=layer)), body)
    return Case(request, f"{method} {path.split('?')[0]}", dialect)


def _fill(path: str, name: str) -> str:
    parts = [name if part.startswith("{") else part for part in path.split("/")]
    return "/".join(parts)


@st.composite
def admin_case(draw: st.DrawFn, routes: Sequence[tuple[str, str]], layer: str = "") -> Case:
    method, path = draw(st.sampled_from(routes))
    if draw(st.integers(0, 9)) == 0:
        method = draw(st.sampled_from(METHODS))
    name = draw(st.one_of(st.sampled_from(["alice", "bob", "platform", "acme", "globex", "nobody"]),
                          texts(12).map(lambda t: quote(t, safe=""))))
    query = draw(st.sampled_from(QUERIES))
    body = orjson.dumps(draw(JSON)) if method in ("POST", "PATCH", "PUT") else b""
    request = Request(method, _target(_fill(path, name), query), draw(headers(ADMIN, admin=True, layer=layer)),
                      body)
    return Case(request, f"{method} {path}", ADMIN)


SEGMENTS = ("v1", "v2", "api", "anthropic", "openai", "gemini", "messages", "chat", "ui", "..", "%2e%2e",
            "%00", "%ff", "admin", "metrics", "health", "responses", "models", "x" * 300)


@st.composite
def unknown_case(draw: st.DrawFn) -> Case:
    segments = draw(st.lists(st.one_of(st.sampled_from(SEGMENTS), texts(10).map(lambda t: quote(t, safe=""))),
                             min_size=1, max_size=4))
    path = "/" + "/".join(segments)
    method = draw(st.sampled_from(METHODS))
    body = draw(bodies("messages")) if method in ("POST", "PUT", "PATCH") else b""
    dialect = dialect_of(path)
    request = Request(method, _target(path, draw(st.sampled_from(QUERIES[:6]))),
                      draw(headers(dialect, admin=dialect == ADMIN)), body)
    first = segments[0] if segments[0] in SEGMENTS[:-1] else "<random>"
    return Case(request, f"{method} /{first}/... (unknown)", dialect)


def dialect_of(path: str) -> str:
    """The error shape a path promises (CONTRACT.md): /anthropic and /v1/messages Anthropic's,
    /v1 and /openai OpenAI's, /api the admin shape; elsewhere any JSON error."""
    if path == "/api" or path.startswith("/api/"):
        return ADMIN
    if path.startswith(("/anthropic/", "/v1/messages")) or path == "/anthropic":
        return ANTHROPIC
    if path.startswith(("/v1/", "/openai/")) or path in ("/v1", "/openai"):
        return OPENAI
    return GEMINI if path.startswith("/gemini/") else ANY


@st.composite
def cases(draw: st.DrawFn, admin_routes: Sequence[tuple[str, str]]) -> Case:
    """Any request; model endpoints most often, since they hold budgets and write the log."""
    choice = draw(st.integers(0, 19))
    if choice < 10:
        return draw(model_case())
    if choice < 12:
        return draw(other_case())
    if choice < 15:
        return draw(admin_case(admin_routes))
    if choice < 18:
        return draw(unknown_case())
    return draw(control_case(admin_routes) if choice == 18 else encoding_case(admin_routes))


def control_case(admin_routes: Sequence[tuple[str, str]]) -> st.SearchStrategy[Case]:
    """A request with a control character in a header value: HTTP forbids it, so it must be
    refused (4xx), and in JSON like every other answer."""
    return st.one_of(model_case(CONTROL), admin_case(admin_routes, CONTROL))


def encoding_case(admin_routes: Sequence[tuple[str, str]]) -> st.SearchStrategy[Case]:
    """A request whose body claims a Content-Encoding it does not have (or one nobody knows):
    a 4xx in JSON, whichever endpoint, and never a 500."""
    return st.one_of(model_case(ENCODING), other_case(ENCODING), admin_case(admin_routes, ENCODING))
