"""The malformed answers over real sockets: a 200 that is `[]`, a 200 carrying an error, usage of
the wrong type, garbage in a stream; asked by marker or by script, in both dialects."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bifrost_py.mockupstream import (
    MockOptions,
    MockState,
    anthropic_stream,
    anthropic_wire,
    openai_wire,
)
from bifrost_py.mockupstream.calls import plan, plan_count_tokens, plan_embeddings
from bifrost_py.mockupstream.faults import (
    BadUsage,
    Directives,
    Garbage,
    parse_markers,
    parse_script_entry,
)

from .conftest import ANTHROPIC_HEADERS, OPENAI_HEADERS, user

CLAUDE, GPT = "claude-sonnet-4-20250514", "gpt-4o"


def anthropic_body(text: str, stream: bool = False) -> dict[str, Any]:
    return {"model": CLAUDE, "max_tokens": 100, "stream": stream, "messages": user(text)}


def openai_body(text: str, stream: bool = False) -> dict[str, Any]:
    return {"model": GPT, "stream": stream, "messages": user(text)}


async def post(http: Any, url: str, path: str, body: dict[str, Any]) -> tuple[int, str, bytes]:
    headers = ANTHROPIC_HEADERS if path == "/v1/messages" else OPENAI_HEADERS
    async with http.post(url + path, json=body, headers=headers) as r:
        return r.status, r.headers["content-type"], await r.read()


def events(raw: bytes) -> list[tuple[str | None, bytes]]:
    found = []
    for block in raw.split(b"\n\n"):
        lines = block.split(b"\n")
        name = next((line[7:].decode() for line in lines if line.startswith(b"event: ")), None)
        data = next((line[6:] for line in lines if line.startswith(b"data: ")), None)
        if data is not None:
            found.append((name, data))
    return found


# ---- parsing ---------------------------------------------------------------------------------


def test_markers_parse() -> None:
    asked = parse_markers("[[non_object:null]] [[error_200:429]] [[bad_usage:message_start:list]] "
                          "[[garbage:2:raw:end]]")
    assert asked == Directives(non_object="null", error_200=429, bad_usage=BadUsage("message_start", "list"),
                               garbage=Garbage(2, raw=True, end=True))
    defaults = parse_markers("[[non_object]] [[error_200]] [[bad_usage]] [[garbage]]")
    assert defaults == Directives(non_object="list", error_200=529, bad_usage=BadUsage("", "string"),
                                  garbage=Garbage(1, raw=False, end=False))


@pytest.mark.parametrize("text", ["[[non_object:dict]]", "[[error_200:200]]", "[[bad_usage:nowhere]]",
                                  "[[bad_usage::huger]]", "[[garbage:x]]", "[[garbage:1:sideways]]"])
def test_malformed_markers_are_plain_text(text: str) -> None:
    assert parse_markers(text) == Directives()


def test_script_entries_say_the_same() -> None:
    entry = parse_script_entry({"non_object": True, "error_200": 429, "bad_usage": "message_delta:null",
                                "garbage": 3})
    assert (entry.non_object, entry.error_200) == ("list", 429)
    assert entry.bad_usage == BadUsage("message_delta", "null") and entry.garbage == Garbage(3)
    assert parse_script_entry({"garbage": False, "error_200": None}) == Directives()
    with pytest.raises(ValueError):
        parse_script_entry({"garbage": "1:sideways"})


# ---- whole answers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("kind", "sent"), [("list", b"[]"), ("null", b"null"), ("string", b'"ok"')])
async def test_non_object_is_the_whole_200_body(http: Any, url: str, kind: str, sent: bytes) -> None:
    for path, body in (("/v1/messages", anthropic_body(f"hi [[non_object:{kind}]]")),
                       ("/v1/chat/completions", openai_body(f"hi [[non_object:{kind}]]"))):
        assert await post(http, url, path, body) == (200, "application/json", sent)


async def test_error_200_carries_the_apis_error_body(http: Any, url: str) -> None:
    status, _, raw = await post(http, url, "/v1/messages", anthropic_body("hi [[error_200]]"))
    error = orjson.loads(raw)
    assert status == 200 and error["type"] == "error" and error["error"]["type"] == "overloaded_error"
    status, _, raw = await post(http, url, "/v1/chat/completions", openai_body("hi [[error_200:429]]"))
    assert status == 200 and orjson.loads(raw)["error"]["code"] == "rate_limit_exceeded"


@pytest.mark.parametrize(("kind", "value"), [("string", "lots"), ("negative", -7), ("null", None),
                                             ("list", [12]), ("float", 2.5)])
async def test_bad_usage_in_a_whole_answer(http: Any, url: str, kind: str, value: Any) -> None:
    _, _, raw = await post(http, url, "/v1/messages", anthropic_body(f"hi [[bad_usage::{kind}]]"))
    usage = orjson.loads(raw)["usage"]
    assert usage["input_tokens"] == usage["output_tokens"] == usage["cache_read_input_tokens"] == value
    assert usage["service_tier"] == "standard", "only the counts change"
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body(f"hi [[bad_usage::{kind}]]"))
    usage = orjson.loads(raw)["usage"]
    assert usage["prompt_tokens"] == usage["completion_tokens"] == usage["total_tokens"] == value


async def test_bad_usage_bare_and_in_embeddings(http: Any, url: str) -> None:
    _, _, raw = await post(http, url, "/v1/messages", anthropic_body("hi [[bad_usage::bare]]"))
    assert orjson.loads(raw)["usage"] == "lots"
    body = {"model": "text-embedding-3-small", "input": "hi [[bad_usage::negative]]"}
    _, _, raw = await post(http, url, "/v1/embeddings", body)
    assert orjson.loads(raw)["usage"] == {"prompt_tokens": -7, "total_tokens": -7}
    body = {"model": "text-embedding-3-small", "input": "hi [[non_object]]"}
    assert (await post(http, url, "/v1/embeddings", body))[2] == b"[]"


# ---- streams ---------------------------------------------------------------------------------


async def test_stream_faults_before_the_first_event(http: Any, url: str) -> None:
    _, kind, raw = await post(http, url, "/v1/messages", anthropic_body("hi [[non_object]]", True))
    assert kind.startswith("text/event-stream") and raw == b"event: message_start\ndata: []\n\n"
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body("hi [[non_object:null]]", True))
    assert raw == b"data: null\n\n"
    _, _, raw = await post(http, url, "/v1/messages", anthropic_body("hi [[error_200]]", True))
    [(name, data)] = events(raw)
    assert name == "error" and orjson.loads(data)["error"]["type"] == "overloaded_error"
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body("hi [[error_200]]", True))
    [(_, data)] = events(raw)
    assert orjson.loads(data)["error"]["type"] == "server_error"


@pytest.mark.parametrize(("place", "start_bad", "delta_bad"),
                         [("message_start", True, False), ("message_delta", False, True), ("", True, True)])
async def test_bad_usage_in_a_stream_where_asked(http: Any, url: str, place: str, start_bad: bool,
                                                 delta_bad: bool) -> None:
    _, _, raw = await post(http, url, "/v1/messages", anthropic_body(f"hi [[bad_usage:{place}:null]]", True))
    found = {name: orjson.loads(data) for name, data in events(raw) if name in ("message_start", "message_delta")}
    assert (found["message_start"]["message"]["usage"]["input_tokens"] is None) is start_bad
    assert (found["message_delta"]["usage"]["output_tokens"] is None) is delta_bad
    assert events(raw)[-1][0] == "message_stop", "the rest of the stream is as usual"


async def test_bad_usage_in_openais_usage_chunk_even_unasked(http: Any, url: str) -> None:
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body("hi [[bad_usage::string]]", True))
    chunks = [orjson.loads(data) for _, data in events(raw) if data != b"[DONE]"]
    assert chunks[-1]["choices"] == [] and chunks[-1]["usage"]["completion_tokens"] == "lots"
    assert events(raw)[-1][1] == b"[DONE]"


async def test_garbage_after_the_nth_delta(http: Any, url: str) -> None:
    _, _, raw = await post(http, url, "/v1/messages", anthropic_body("one two three [[garbage:2]]", True))
    seen = events(raw)
    junk = next(i for i, (_, data) in enumerate(seen) if not data.endswith(b"}"))
    deltas_before = sum(1 for name, _ in seen[:junk] if name == "content_block_delta")
    assert deltas_before == 2 and seen[junk][0] == "content_block_delta"
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(seen[junk][1])
    assert seen[-1][0] == "message_stop", "without `end` the stream goes on"
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body("one two [[garbage]]", True))
    assert b'"chatcmpl-garbage"' in raw and raw.endswith(b"data: [DONE]\n\n")


async def test_raw_garbage_then_a_clean_end(http: Any, url: str) -> None:
    status, _, raw = await post(http, url, "/v1/messages", anthropic_body("one two [[garbage:1:raw:end]]", True))
    assert status == 200 and raw.endswith(b"\xff\xfe\x00\x9c<html><body>upstream hiccup</body></html>\n\n")
    assert raw.count(b"event: content_block_delta") == 1 and b"message_stop" not in raw
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body("one [[garbage:0:raw:end]]", True))
    assert raw.count(b'"delta":{"content":') == 0 and raw.endswith(b"</html>\n\n"), "0: before the first delta"


async def test_script_entries_work_like_markers(http: Any, url: str) -> None:
    async with http.post(url + "/_mock/script", json={"responses": [{"non_object": "number"},
                                                                    {"garbage": "1:end"}]}) as r:
        assert r.status == 200
    assert (await post(http, url, "/v1/messages", anthropic_body("hi")))[2] == b"42"
    _, _, raw = await post(http, url, "/v1/chat/completions", openai_body("one two", True))
    assert raw.endswith(b'"choices":[{"ind\n\n') and b"[DONE]" not in raw
    assert (await post(http, url, "/v1/messages", anthropic_body("hi")))[0] == 200


async def test_in_process_streams_are_malformed_the_same_way() -> None:
    chunks = [c async for c in anthropic_stream(anthropic_body("hi [[error_200:529]]"), MockOptions())]
    assert b"".join(chunks).startswith(b"event: error\ndata: ")


# ---- the mock itself stays healthy under any body ----------------------------------------------

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["type", "text", "content", "role", "name", "input_schema", "properties", "enum",
                         "function", "parameters", "items", "default", "cache_control"]) | st.text(max_size=4),
        inner, max_size=3),
    max_leaves=12,
)
FIELDS = st.sampled_from(["model", "messages", "max_tokens", "stream", "tools", "tool_choice", "system",
                          "thinking", "stream_options", "max_completion_tokens", "input", "dimensions",
                          "encoding_format", "cache_control"])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(FIELDS, JSON, max_size=8))
def test_any_json_object_gets_an_answer_or_a_4xx(body: dict[str, Any]) -> None:
    """What orjson can read from a request never makes the mock fail: the gateway's fuzz test
    counts on a healthy upstream, so that any 5xx it sees is the gateway's."""
    state = MockState(MockOptions())
    for wire in (anthropic_wire.WIRE, openai_wire.WIRE):
        call = plan(wire, body, state.options, state)
        assert call.status == 200 or 400 <= call.status < 500
        if call.stream:
            call.segments(state.options)
    assert plan_embeddings(body, state.options, state).status in (200, 400)
    assert plan_count_tokens(body, state).status in (200, 400)
