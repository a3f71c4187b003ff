"""The fault matrix: every malformed or broken answer an upstream can give, streamed and not,
passed through and translated (Anthropic and OpenAI clients, each to an anthropic- and an
openai-type provider; embeddings too), and what the client, the budgets and the log make of it.

Each case is one request through real sockets (the gateway and the mock upstream on 127.0.0.1),
with governance on (a virtual key with a money budget, a rate limit and a concurrency cap, its
team and its customer) and the cost log on SQLite. The mock takes the fault from its script, so
only the first upstream call of the request gets it. What must hold:

* a fault before the first event reached the client: a clean JSON error in the client's dialect,
  502 (or the upstream's own error status), naming the provider; never a 500 of the gateway's.
  With a fallback (`x-bf-fallbacks`) the fault is failed over and the client gets the answer;
* a fault after the first event: the stream ends with a well-formed error event in the client's
  dialect, every event is JSON, and the message ends and the connection closes (read with a
  timeout: EOF, not a hang), with no second status line inside the body;
* afterwards: no in-flight hold left on the key, its team or its customer, and a log row for the
  request whose status is the real one (never 0, never 200 for a failed answer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import aiohttp
import orjson
import pytest
from fuzzkit.client import Answer, Request, send
from fuzzkit.verdict import is_error, sse_events, stream_error
from fuzzkit.world import EMBEDDING, GPT, KEY, SONNET, Audit, gateway_config

ANTHROPIC, OPENAI = "anthropic", "openai"
TIMEOUT = 10.0  # seconds a client waits for the end of an answer before calling it a hang
# A fault meant for after the first event comes this long after the first delta: without the
# pause the mock writes a whole stream at once, the gateway sees the fault before it sends a byte,
# and the late path (an error event in a stream already under way) would never be taken.
STALL = "300ms"
RAW_JUNK = b"\xff\xfe\x00\x9c"  # how the mock's `garbage:N:raw` event starts


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    client: str  # the client's dialect
    model: str
    provider: str  # the provider (and so the upstream dialect) the model resolves to
    backup: str
    embeddings: bool = False


ROUTES = (
    Route("anthropic-passthrough", "/anthropic/v1/messages", ANTHROPIC, SONNET, "anthropic", "anthropic-backup"),
    Route("openai-client-to-anthropic", "/v1/chat/completions", OPENAI, SONNET, "anthropic", "anthropic-backup"),
    Route("anthropic-client-to-openai", "/anthropic/v1/messages", ANTHROPIC, GPT, "openai", "openai-backup"),
    Route("openai-passthrough", "/openai/v1/chat/completions", OPENAI, GPT, "openai", "openai-backup"),
    Route("openai-embeddings", "/v1/embeddings", OPENAI, EMBEDDING, "openai", "openai-backup", embeddings=True),
)


@dataclass(frozen=True)
class Fault:
    name: str
    script: dict[str, Any]  # the mock's script entry
    stream: bool
    early: bool  # the fault comes before the first event could reach the client
    upstream: str | None = None  # only for this upstream dialect
    statuses: tuple[int, ...] = (502,)  # what the client may see when `early`


def _faults() -> list[Fault]:
    found = [
        Fault("non_object", {"non_object": "list"}, False, True),
        Fault("non_object_null", {"non_object": "null"}, False, True),
        Fault("error_200", {"error_200": 529}, False, True, ANTHROPIC, (502, 529)),
        Fault("error_200", {"error_200": 529}, False, True, OPENAI, (502, 500)),
        Fault("cut_body", {"cut": 1}, False, True),
        Fault("reset", {"reset": True}, False, True),
        Fault("non_object", {"non_object": "list"}, True, True),
        Fault("error_200", {"error_200": 529}, True, True, ANTHROPIC, (502, 529)),
        Fault("error_200", {"error_200": 529}, True, True, OPENAI, (502, 500)),
        Fault("reset", {"reset": True}, True, True),
        Fault("bad_usage_message_start", {"bad_usage": "message_start:string"}, True, True, ANTHROPIC),
        Fault("bad_usage_message_start_negative", {"bad_usage": "message_start:negative"}, True, True, ANTHROPIC),
        Fault("bad_usage_message_delta", {"bad_usage": "message_delta:string"}, True, False, ANTHROPIC),
        Fault("bad_usage_message_delta_list", {"bad_usage": "message_delta:list"}, True, False, ANTHROPIC),
        Fault("bad_usage_chunk", {"bad_usage": ":string"}, True, False, OPENAI),
        Fault("bad_usage_chunk_negative", {"bad_usage": ":negative"}, True, False, OPENAI),
        Fault("garbage_json", {"garbage": "1"}, True, False),
        Fault("garbage_raw", {"garbage": "1:raw"}, True, False),
        Fault("garbage_raw_then_end", {"garbage": "1:raw:end"}, True, False),
        Fault("garbage_json_then_end", {"garbage": "2:end"}, True, False),
        Fault("stream_error", {"stream_error": True}, True, False),
        Fault("cut_stream", {"cut": 2}, True, False),
    ]
    found += [Fault(f"bad_usage_{kind}", {"bad_usage": f":{kind}"}, False, True)
              for kind in ("string", "negative", "null", "list", "bare")]
    return found


FAULTS = _faults()
CASES = [
    pytest.param(route, fault, fallback, id=f"{route.name}-{'stream' if fault.stream else 'whole'}-{fault.name}"
                                            + ("-fallback" if fallback else ""))
    for route in ROUTES
    for fault in FAULTS
    if fault.upstream in (None, route.provider) and not (route.embeddings and fault.stream)
    for fallback in ((False, True) if fault.early else (False,))
]


def body(route: Route, stream: bool) -> bytes:
    if route.embeddings:
        return orjson.dumps({"model": route.model, "input": ["Tell me about the fault matrix"]})
    prompt = [{"role": "user", "content": "Tell me about the fault matrix"}]
    return orjson.dumps({"model": route.model, "max_tokens": 50, "messages": prompt, "stream": stream})


def headers(route: Route, fallback: bool) -> list[tuple[bytes, bytes]]:
    found = [(b"content-type", b"application/json")]
    if route.client == ANTHROPIC:
        found += [(b"x-api-key", KEY.encode()), (b"anthropic-version", b"2023-06-01")]
    else:
        found.append((b"authorization", b"Bearer " + KEY.encode()))
    found.append((b"x-bf-fallbacks", route.backup.encode() if fallback else b"none"))
    return found


@pytest.fixture
async def world(start_gateway: Any, mock_upstream: Any, tmp_path: Any) -> Any:
    gateway = await start_gateway(gateway_config(mock_upstream.url, f"sqlite:///{tmp_path}/logs.db"))
    async with aiohttp.ClientSession() as http:
        yield gateway, mock_upstream, Audit(gateway.url, http)


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def message_of(error: dict[str, Any]) -> str:
    return str(error["error"]["message"])


def names_provider(message: str, provider: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(provider)}(?![\w-])", message) is not None


@pytest.mark.parametrize(("route", "fault", "fallback"), CASES)
async def test_upstream_fault(world: Any, route: Route, fault: Fault, fallback: bool) -> None:
    gateway, upstream, audit = world
    entry = fault.script if fault.early else {**fault.script, "stall": STALL}
    status, _, queued = await upstream.post("/_mock/script", json={"responses": [entry]})
    assert status == 200, queued
    request = Request("POST", route.path.encode(), headers(route, fallback), body(route, fault.stream))
    answer = await send("127.0.0.1", _port(gateway.url), request, TIMEOUT)

    assert not answer.timed_out, f"the client waited {TIMEOUT}s for the end of the answer: {answer.describe()}"
    assert answer.framing is None, f"{answer.framing}: {answer.describe()}"
    assert answer.complete and answer.status is not None, answer.describe()
    request_id = answer.headers.get("x-bf-request-id")
    assert request_id, f"no x-bf-request-id: {answer.describe()}"

    seen: int | None
    if fallback:
        seen = _answered_by_the_backup(answer, route, fault)
    elif fault.early:
        seen = _clean_error(answer, route, fault)
    else:
        _stream_ended_by_an_error(answer, route)
        seen = None

    holds = await audit.holds()
    assert holds == {}, f"in-flight holds left after the request: {holds}"
    rows = (await audit.rows_of([request_id]))[request_id]
    assert rows, f"no log row for {request_id}"
    final = [row for row in rows if row.get("final")]
    assert len(final) == 1, f"{len(final)} final rows: {rows}"
    logged = final[0]["status"]
    if seen is None:  # a stream that failed after its first event: HTTP said 200, the log must not
        assert logged not in (0, 200, None), f"a stream that ended in an error is logged as {logged}: {final[0]}"
    else:
        assert logged == seen, f"the log says {logged}, the client saw {seen}: {final[0]}"
    if fallback:
        first = min(rows, key=lambda row: row["attempt"])
        assert first["status"] not in (0, 200, None), f"the failed attempt is logged as {first['status']}"


def _clean_error(answer: Answer, route: Route, fault: Fault) -> int:
    """A JSON error in the client's dialect naming the provider; returns its status."""
    assert answer.status in fault.statuses, f"status {answer.status}, wanted one of {fault.statuses}: " \
                                            f"{answer.describe()}"
    assert answer.content_type == "application/json", answer.describe()
    error = orjson.loads(answer.body)
    assert is_error(error, route.client), f"not an error in the {route.client} dialect: {error}"
    assert names_provider(message_of(error), route.provider), f"the message names no provider: {error}"
    assert answer.status is not None
    return answer.status


def _answered_by_the_backup(answer: Answer, route: Route, fault: Fault) -> int:
    assert answer.status == 200, f"the fault was not failed over: {answer.describe()}"
    assert answer.headers.get("x-bf-provider") == route.backup, answer.headers
    assert answer.headers.get("x-bf-attempts") == "2", answer.headers
    if fault.stream:
        assert answer.content_type == "text/event-stream", answer.describe()
        events = sse_events(answer.body)
        last = events[-1]
        assert last[0] == "message_stop" if route.client == ANTHROPIC else last[1] == b"[DONE]", events[-3:]
        assert b"Mock answer to" in answer.body or b"Mock" in answer.body, answer.body[:500]
    elif route.embeddings:
        data = orjson.loads(answer.body)
        assert len(data["data"][0]["embedding"]) > 0, data
    else:
        data = orjson.loads(answer.body)
        text = data["content"][0]["text"] if route.client == ANTHROPIC else data["choices"][0]["message"]["content"]
        assert text.startswith("Mock answer to: Tell me about the fault matrix"), data
    return 200


def _stream_ended_by_an_error(answer: Answer, route: Route) -> None:
    """A stream whose every event is JSON and whose last is an error (the upstream's own, relayed,
    or the gateway's)."""
    assert answer.status == 200 and answer.content_type == "text/event-stream", answer.describe()
    events = sse_events(answer.body)
    for name, data in events:
        if data != b"[DONE]":
            assert isinstance(_json_or_none(data), dict), f"an event that is not a JSON object reached the " \
                                                          f"client: {name!r} {data[:200]!r}"
    if route.client == OPENAI and events and events[-1][1] == b"[DONE]":
        events = events[:-1]
    error = stream_error(events[-1], route.client) if events else None
    assert error is not None, f"the stream does not end with an error event: {events[-3:]}"
    assert b"HTTP/1." not in answer.body, "a status line inside the stream"
    assert RAW_JUNK not in answer.body, "the upstream's raw bytes were relayed to the client"


def _json_or_none(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None
