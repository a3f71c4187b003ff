"""One attempt settles by construction: whatever ends it, post_attempt runs for exactly the
plugins whose pre_attempt was entered, the Outcome they see carries a real status, and the
budget hold a plugin took is given back.

Each test runs one call through real sockets (gateway and mock upstream on 127.0.0.1) with four
plugins in order — first, hold, actor, last — where `actor` is the one that refuses, fails,
waits or replies, and checks what the client got and what the journal of hooks says
(`kit.settled`). Faults of the upstream run in both dialects, passed through and translated.
"""

from __future__ import annotations

import asyncio
import copy
import functools
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bifrost_py import hookimpl
from bifrost_py.context import ANTHROPIC, OPENAI, Attempt, Reply
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.errors import BudgetExceeded, PermissionDenied
from bifrost_py.exchange import response_facts
from bifrost_py.mockupstream import MockOptions, anthropic_response, openai_response
from bifrost_py.testing import RunningServer, provider_config
from bifrost_py.translation import translate_response

from .kit import (
    ANTHROPIC_HEADERS,
    WAIT,
    Canned,
    Lineup,
    RawConnection,
    lineup,
    message,
    raw_post,
    request_bytes,
    scripted_upstream,
    settled,
    sse_events,
)

ANTHROPIC_PATH = "/anthropic/v1/messages"
OPENAI_PATH = "/openai/v1/chat/completions"
# (client path, model): passed through to its own dialect, or translated to the other one.
ROUTES = [
    pytest.param(ANTHROPIC_PATH, "claude-sonnet-4", id="anthropic-passthrough"),
    pytest.param(ANTHROPIC_PATH, "gpt-4o", id="anthropic-to-openai"),
    pytest.param(OPENAI_PATH, "gpt-4o", id="openai-passthrough"),
    pytest.param(OPENAI_PATH, "claude-sonnet-4", id="openai-to-anthropic"),
]


def is_error_body(body: Any, path: str) -> str:
    """The message of an error body in the dialect of `path` (fails on any other shape)."""
    if path == OPENAI_PATH:
        assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    else:
        assert body["type"] == "error" and set(body["error"]) == {"type", "message"}, body
    return str(body["error"]["message"])


async def call(gw: Any, line: Lineup, path: str = ANTHROPIC_PATH, **body: Any) -> Any:
    """One call; returns once the client has its answer and every request_end ran."""
    answer = await raw_post(gw.url, path, orjson.dumps(message(**body)), ANTHROPIC_HEADERS)
    await line.journal.ended(len(line.plugins))
    assert answer.status_lines == 1 and answer.complete and not answer.rest, answer.raw
    return answer


# ----------------------------------------------------------------------------- pre hooks


async def test_a_final_refusal_settles_the_plugins_entered_and_no_other(gateway: Any) -> None:
    async def refuse(attempt: Attempt) -> None:
        raise BudgetExceeded("budget of key 'k' exhausted")

    line = lineup(refuse)
    gw = await gateway(line.plugins)
    answer = await call(gw, line)
    assert answer.status == 402 and answer.json()["error"]["type"] == "billing_error"
    assert settled(line) == [402]
    assert "last.pre#1" not in line.journal.events
    assert line.journal.calls[0].attempts[0].outcome.refused_by == "actor"


async def test_a_non_final_refusal_with_no_other_target_is_the_answer(gateway: Any) -> None:
    async def refuse(attempt: Attempt) -> None:
        raise PermissionDenied("provider tier over budget", final=False)

    line = lineup(refuse)
    gw = await gateway(line.plugins)
    answer = await call(gw, line)
    assert answer.status == 403
    assert settled(line) == [403]


@pytest.mark.parametrize("path", [ANTHROPIC_PATH, OPENAI_PATH])
async def test_a_bug_in_a_pre_hook_is_a_500_in_the_callers_dialect_and_settles(gateway: Any, path: str) -> None:
    async def bug(attempt: Attempt) -> None:
        raise RuntimeError("plugin bug")

    line = lineup(bug)
    gw = await gateway(line.plugins)
    answer = await call(gw, line, path)
    assert answer.status == 500
    assert "actor" in is_error_body(answer.json(), path)
    assert settled(line) == [500]


async def test_a_client_hanging_up_while_a_pre_hook_waits_settles_with_499(gateway: Any) -> None:
    entered = asyncio.Event()

    async def wait_forever(attempt: Attempt) -> None:
        entered.set()
        await asyncio.Event().wait()

    line = lineup(wait_forever)
    gw = await gateway(line.plugins)
    connection = await RawConnection.open(gw.url)
    await connection.send(request_bytes(ANTHROPIC_PATH, orjson.dumps(message()), ANTHROPIC_HEADERS))
    await asyncio.wait_for(entered.wait(), WAIT)
    connection.close()
    await line.journal.ended(len(line.plugins))
    assert settled(line) == [499]
    assert all(seen.client_disconnected for seen in line.journal.posts())
    assert "last.pre#1" not in line.journal.events


@pytest.mark.parametrize("stream", [False, True])
async def test_a_client_hanging_up_while_the_provider_thinks_settles_with_499(gateway: Any, stream: bool) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    connection = await RawConnection.open(gw.url)
    body = orjson.dumps(message("hi [[slow:10s]]", stream=stream))
    await connection.send(request_bytes(ANTHROPIC_PATH, body, ANTHROPIC_HEADERS))
    await line.journal.until(lambda: "last.pre#1" in line.journal.events)
    connection.close()
    await line.journal.ended(len(line.plugins))
    assert settled(line) == [499]
    assert line.journal.posts()[0].client_disconnected


async def test_a_reply_settles_the_plugins_up_to_the_one_that_replied(gateway: Any) -> None:
    async def reply(attempt: Attempt) -> Reply:
        return Reply({"id": "msg_c", "type": "message", "role": "assistant", "model": "cached",
                      "content": [{"type": "text", "text": "from the cache"}], "stop_reason": "end_turn",
                      "usage": {"input_tokens": 3, "output_tokens": 4}})

    line = lineup(reply)
    gw = await gateway(line.plugins)
    answer = await call(gw, line)
    assert answer.status == 200 and answer.json()["content"][0]["text"] == "from the cache"
    assert settled(line) == [200]
    assert line.journal.calls[0].attempts[0].outcome.usage.output_tokens == 4


# ----------------------------------------------------------------------------- the upstream


async def test_a_provider_that_is_down_is_a_502_naming_it(gateway: Any) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    answer = await call(gw, line, model="down/claude-sonnet-4")
    assert answer.status == 502 and "'down'" in answer.json()["error"]["message"]
    assert settled(line) == [502]
    assert line.journal.posts()[0].error == "UpstreamUnavailable"


@pytest.mark.parametrize(("path", "model"), ROUTES)
async def test_an_upstream_5xx_is_its_status_and_settles(gateway: Any, path: str, model: str) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    answer = await call(gw, line, path, text="hi [[fail:503]]", model=model)
    assert answer.status == 503
    is_error_body(answer.json(), path)
    assert settled(line) == [503]


@pytest.mark.parametrize("stream", [False, True])
async def test_an_upstream_200_that_is_not_json_is_a_502(gateway: Any, stream: bool) -> None:
    line = lineup()
    async with scripted_upstream(Canned(200, b"<html>proxy error page</html>", {"content-type": "text/html"})) as odd:
        gw = await gateway(line.plugins, extra={"odd": {"type": "anthropic", "base_url": odd.url,
                                                        "keys": [{"value": "k"}], "models": ["odd-*"]}})
        answer = await call(gw, line, model="odd-1", stream=stream)
    assert answer.status == 502, answer.raw
    assert "'odd'" in answer.json()["error"]["message"]
    assert settled(line) == [502]


@pytest.mark.parametrize(("path", "model"), ROUTES)
async def test_an_upstream_200_whose_json_is_an_array_is_a_502(gateway: Any, path: str, model: str) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    answer = await call(gw, line, path, text="hi [[non_object:list]]", model=model)
    assert answer.status == 502
    assert "malformed" in is_error_body(answer.json(), path)
    assert settled(line) == [502]


@pytest.mark.parametrize(("path", "model"), ROUTES)
async def test_a_stream_cut_after_the_first_event_ends_with_an_error_event(gateway: Any, path: str,
                                                                            model: str) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    answer = await call(gw, line, path, text="hi [[cut:1]]", model=model, stream=True)
    assert answer.status == 200 and answer.headers["content-type"] == "text/event-stream"
    events = sse_events(answer.body)
    name, last = events[-1]
    if path == ANTHROPIC_PATH:
        assert name == "error" and last["type"] == "error"
    else:
        assert name is None and set(last) == {"error"}
    assert "'" + ("anthropic" if model.startswith("claude") else "openai") + "'" in last["error"]["message"]
    assert settled(line) == [502]
    assert line.journal.posts()[0].first_byte_sent


async def _stats(upstream: RunningServer) -> dict[str, int]:
    status, _, body = await upstream.get("/_mock/stats")
    assert status == 200
    return dict(orjson.loads(body))


@pytest.mark.parametrize(("path", "model"), ROUTES)
async def test_a_client_leaving_mid_stream_settles_with_499_and_the_upstream_is_closed(
    gateway: Any, mock_upstream: RunningServer, path: str, model: str
) -> None:
    line = lineup()
    gw = await gateway(line.plugins)
    connection = await RawConnection.open(gw.url)
    body = orjson.dumps(message("hi [[stall:5s]]", model=model, stream=True))
    await connection.send(request_bytes(path, body, ANTHROPIC_HEADERS))
    await connection.read_until(b"data:")  # the first event reached the client
    connection.close()
    await line.journal.ended(len(line.plugins))
    assert settled(line) == [499]
    assert line.journal.posts()[0].client_disconnected and line.journal.posts()[0].streamed
    for _ in range(100):  # the mock notices a gone client within 50 ms
        if (await _stats(mock_upstream))["streams_cancelled"] == 1:
            break
        await asyncio.sleep(0.05)
    assert (await _stats(mock_upstream))["streams_cancelled"] == 1


class Broken:
    """A stream observer with a bug: it raises on the first event it is shown."""

    def __init__(self) -> None:
        self.calls = 0

    def on_event(self, dialect: str, name: str | None, data: Any) -> None:
        self.calls += 1
        raise ValueError("observer bug")


@pytest.mark.parametrize(("path", "model"), ROUTES)
async def test_a_stream_observer_that_raises_costs_the_client_nothing(gateway: Any, path: str, model: str) -> None:
    observers: list[Broken] = []

    async def observe(attempt: Attempt) -> None:
        observers.append(Broken())
        attempt.observe_stream(observers[-1])

    line = lineup(observe)
    gw = await gateway(line.plugins)
    answer = await call(gw, line, path, text="hi there", model=model, stream=True)
    assert answer.status == 200
    events = sse_events(answer.body)
    if path == ANTHROPIC_PATH:
        assert events[-1][0] == "message_stop"
    else:
        assert events[-1][1] == "[DONE]"
    assert observers[0].calls == 1
    assert settled(line) == [200]
    assert line.journal.posts()[0].completed


# ----------------------------------------------------------------------------- whole answers, any shape


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@functools.cache
def whole_answers() -> dict[str, dict[str, Any]]:
    """A whole answer of each dialect, tool call included, as the mock upstream sends it."""
    tool = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}

    async def make() -> dict[str, dict[str, Any]]:
        asked = [{"role": "user", "content": "weather? [[tool]]"}]
        _, _, anthropic = await anthropic_response(
            {"model": "claude-x", "max_tokens": 99, "messages": asked, "tools": [tool]}, MockOptions(seed=1))
        _, _, openai = await openai_response(
            {"model": "gpt-4o", "messages": asked,
             "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": tool["input_schema"]}}]},
            MockOptions(seed=1))
        return {ANTHROPIC: orjson.loads(anthropic), OPENAI: orjson.loads(openai)}

    return asyncio.run(make())


def _slots(value: Any) -> list[tuple[Any, Any]]:
    found: list[tuple[Any, Any]] = []
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else []
    for key, item in items:
        found.append((value, key))
        found.extend(_slots(item))
    return found


@settings(max_examples=200)
@given(dialect=st.sampled_from([ANTHROPIC, OPENAI]), data=st.data())
def test_an_upstreams_whole_answer_of_any_shape_is_taken_or_malformed_never_a_bug(
    dialect: str, data: st.DataObject
) -> None:
    """Whatever JSON a provider puts in any field of its answer, reading its bill and
    translating it either works or raises MalformedAnswer (a 502 the attempt can fail over from);
    anything else would be a 500 of the gateway's for the provider's fault."""
    answer = copy.deepcopy(whole_answers()[dialect])
    container, key = data.draw(st.sampled_from(_slots(answer)), label="field")
    container[key] = data.draw(ANY_JSON, label="value")
    other = OPENAI if dialect == ANTHROPIC else ANTHROPIC
    try:
        response_facts(dialect, answer)
        translate_response(answer, dialect, other, "client-model")
    except MalformedAnswer:
        pass


class TraceHeader:
    """A plugin that sends a header of its own with each attempt (what an OpenTelemetry plugin
    does with traceparent)."""

    @hookimpl
    async def bifrost_pre_attempt(self, attempt: Any) -> None:
        attempt.upstream_headers["traceparent"] = f"00-{'a' * 32}-{attempt.number:016x}-01"
        attempt.upstream_headers["x-api-key"] = "a plugin must not replace the provider key"


@pytest.mark.parametrize("path", ["/v1/messages", "/v1/chat/completions"])
async def test_a_plugins_upstream_headers_reach_the_provider_but_never_replace_its_key(
    start_gateway: Any, mock_upstream: Any, path: str
) -> None:
    gw = await start_gateway({"providers": provider_config(mock_upstream.url)}, plugins=[TraceHeader()], builtins=False)
    model = "claude-sonnet-4-20250514" if "messages" in path else "gpt-4o"
    body = {"model": model, "max_tokens": 20, "messages": [{"role": "user", "content": "hi"}]}
    async with aiohttp.ClientSession() as session, session.post(gw.url + path, json=body) as response:
        assert response.status == 200
    records = orjson.loads((await mock_upstream.get("/_mock/requests"))[2])
    assert records[-1]["headers"]["traceparent"] == f"00-{'a' * 32}-{1:016x}-01"
    sent = records[-1]["headers"]
    if "messages" in path:
        assert sent["x-api-key"] == "sk-ant-test"
    else:
        assert sent["authorization"] == "Bearer sk-openai-test"
