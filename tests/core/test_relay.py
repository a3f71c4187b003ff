"""Relaying a stream: however TCP cuts an upstream stream into chunks, the client gets the same
bytes, the plugins' observers the same events, and the bill the same facts, as if it had come in
one piece. Streams are the mock upstream's (what the real APIs send), relayed passed through,
with the billing-only usage chunk hidden, and translated both ways."""

from __future__ import annotations

import asyncio
import functools
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bifrost_py.context import ANTHROPIC, OPENAI
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.dialects.usage import StreamFacts
from bifrost_py.mockupstream import MockOptions, anthropic_stream, openai_stream
from bifrost_py.relay import EventSplitter, StreamRelay, UpstreamReader, last_event_end
from bifrost_py.translation import stream_translator

TOOL = {"name": "get_weather", "description": "Weather for a city",
        "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}
OPENAI_TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": TOOL["input_schema"]}}
# Ids and timestamps a translator makes up afresh for each stream.
_MADE_UP = re.compile(rb'(msg_|chatcmpl-|toolu_)[0-9a-f]{24}|"created":\d+')


async def _collect(chunks: Any) -> bytes:
    return b"".join([chunk async for chunk in chunks])


@functools.cache
def streams() -> dict[str, bytes]:
    """Whole upstream streams, as the mock upstream sends them (made once)."""
    def anthropic(text: str, **extra: Any) -> Any:
        body = {"model": "claude-sonnet-4", "max_tokens": 400, "stream": True,
                "messages": [{"role": "user", "content": text}], **extra}
        return _collect(anthropic_stream(body, MockOptions(seed=1)))

    def openai(text: str, **extra: Any) -> Any:
        body = {"model": "gpt-4o", "stream": True, "messages": [{"role": "user", "content": text}], **extra}
        return _collect(openai_stream(body, MockOptions(seed=1)))

    async def make() -> dict[str, bytes]:
        usage = {"stream_options": {"include_usage": True}}
        made = {
            "anthropic-text": await anthropic("tell me [[long:25]]"),
            "anthropic-tool": await anthropic("weather? [[tool]] [[thinking]]", tools=[TOOL]),
            "openai-usage": await openai("tell me [[long:25]]", **usage),
            "openai-tool": await openai("weather? [[tool]]", tools=[OPENAI_TOOL], **usage),
        }
        made["anthropic-crlf"] = made["anthropic-text"].replace(b"\n", b"\r\n")
        return made

    return asyncio.run(make())


class Recorder:
    """A stream observer that keeps what it was shown."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None, Any]] = []

    def on_event(self, dialect: str, name: str | None, data: Any) -> None:
        self.seen.append((dialect, name, data))


@dataclass(frozen=True)
class Case:
    name: str
    stream: str
    relay: Callable[[list[Any]], StreamRelay]

    def __repr__(self) -> str:
        return self.name


def _translated(source: str, target: str, include_usage: bool) -> Callable[[list[Any]], StreamRelay]:
    def make(observers: list[Any]) -> StreamRelay:
        translator = stream_translator(source, target, model="client-model", input_tokens=12,
                                       include_usage=include_usage)
        return StreamRelay(source, translator, hide_usage=False, observers=observers)

    return make


def _passthrough(dialect: str, hide_usage: bool = False) -> Callable[[list[Any]], StreamRelay]:
    return lambda observers: StreamRelay(dialect, None, hide_usage=hide_usage, observers=observers)


CASES = [
    Case("anthropic-passthrough", "anthropic-text", _passthrough(ANTHROPIC)),
    Case("anthropic-passthrough-tool", "anthropic-tool", _passthrough(ANTHROPIC)),
    Case("anthropic-passthrough-crlf", "anthropic-crlf", _passthrough(ANTHROPIC)),
    Case("openai-passthrough", "openai-usage", _passthrough(OPENAI)),
    Case("openai-usage-hidden", "openai-usage", _passthrough(OPENAI, hide_usage=True)),
    Case("openai-tool-usage-hidden", "openai-tool", _passthrough(OPENAI, hide_usage=True)),
    Case("anthropic-to-openai", "anthropic-tool", _translated(ANTHROPIC, OPENAI, True)),
    Case("anthropic-to-openai-no-usage", "anthropic-text", _translated(ANTHROPIC, OPENAI, False)),
    Case("openai-to-anthropic", "openai-tool", _translated(OPENAI, ANTHROPIC, False)),
]


@dataclass
class Relayed:
    client: bytes
    facts: StreamFacts
    observed: list[tuple[str, str | None, Any]]


def relay(case: Case, chunks: list[bytes]) -> Relayed:
    recorder = Recorder()
    relayed = case.relay([recorder])
    out = b"".join((relayed.push(chunk) or b"") for chunk in chunks) + relayed.finish()
    return Relayed(_MADE_UP.sub(b"<made-up>", out), relayed.facts, recorder.seen)


def cut(data: bytes, offsets: list[int]) -> list[bytes]:
    edges = [0, *sorted(offsets), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def test_the_streams_are_relayed_whole_with_their_facts() -> None:
    """The baseline the split tests compare with is itself right."""
    for case in CASES:
        whole = relay(case, [streams()[case.stream]])
        assert whole.facts.finished and whole.facts.error is None, case
        assert whole.facts.output_tokens > 0 and whole.facts.input_tokens > 0, case
        assert whole.facts.stop_reason and whole.facts.model, case
        assert whole.observed, case
    hidden = relay(CASES[4], [streams()["openai-usage"]]).client
    assert b'"usage"' not in hidden and hidden.endswith(b"data: [DONE]\n\n")


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(data=st.data())
def test_any_split_of_a_stream_gives_the_client_the_same_bytes_and_the_bill_the_same_facts(
    case: Case, data: st.DataObject
) -> None:
    raw = streams()[case.stream]
    offsets = data.draw(st.lists(st.integers(0, len(raw)), max_size=24), label="cuts")
    whole, split = relay(case, [raw]), relay(case, cut(raw, offsets))
    assert split.facts == whole.facts
    assert split.observed == whole.observed
    assert split.client == whole.client


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_a_stream_arriving_byte_by_byte_is_the_same_stream(case: Case) -> None:
    raw = streams()[case.stream]
    whole, split = relay(case, [raw]), relay(case, [raw[i:i + 1] for i in range(len(raw))])
    assert (split.facts, split.observed) == (whole.facts, whole.observed)
    assert split.client == whole.client


class ByteRecorder:
    """A stream observer that takes the upstream's bytes (`on_bytes`) and keeps them."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes]] = []

    def on_bytes(self, dialect: str, data: bytes) -> None:
        self.calls.append((dialect, data))


@pytest.mark.parametrize("case", CASES, ids=repr)
@given(data=st.data())
def test_a_bytes_observer_gets_the_upstreams_whole_events_once_beside_an_event_observer(
    case: Case, data: st.DataObject
) -> None:
    """However the stream was cut, a bytes observer is handed the upstream's own bytes, whole
    events only, each byte once, while the client, the bill and an event observer see what
    they see without it."""
    raw = streams()[case.stream]
    chunks = cut(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=12), label="cuts"))
    with_both = data.draw(st.booleans(), label="with an event observer")
    recorder, taker = Recorder(), ByteRecorder()
    relayed = case.relay([recorder, taker] if with_both else [taker])
    out = b"".join((relayed.push(chunk) or b"") for chunk in chunks) + relayed.finish()
    whole = relay(case, [raw])
    assert b"".join(part for _, part in taker.calls) == raw
    assert all(part.endswith((b"\n\n", b"\r\n\r\n")) and dialect == case.relay([]).dialect
               for dialect, part in taker.calls)
    assert _MADE_UP.sub(b"<made-up>", out) == whole.client
    assert relayed.facts == whole.facts
    assert recorder.seen == (whole.observed if with_both else [])


def test_a_passthrough_whose_observers_all_take_bytes_keeps_the_fast_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = streams()["anthropic-text"]
    read = []
    monkeypatch.setattr(UpstreamReader, "read", lambda self, complete: read.append(complete) or [])
    relayed = StreamRelay(ANTHROPIC, None, hide_usage=False, observers=[ByteRecorder(), ByteRecorder()])
    assert relayed.push(raw) == raw and relayed.facts.finished
    assert read == []
    with_events = StreamRelay(ANTHROPIC, None, hide_usage=False, observers=[ByteRecorder(), Recorder()])
    with_events.push(raw)
    assert read == [raw]  # an event observer needs the events


def test_a_bytes_observer_that_raises_is_dropped_and_the_others_and_the_client_see_everything() -> None:
    class Broken:
        calls = 0

        def on_bytes(self, dialect: str, data: bytes) -> None:
            Broken.calls += 1
            raise RuntimeError("observer bug")

    raw = streams()["anthropic-tool"]
    taker, recorder = ByteRecorder(), Recorder()
    relayed = StreamRelay(ANTHROPIC, None, hide_usage=False, observers=[Broken(), taker, recorder])
    out = b"".join((relayed.push(raw[i:i + 50]) or b"") for i in range(0, len(raw), 50))
    assert out == raw
    assert Broken.calls == 1
    assert b"".join(part for _, part in taker.calls) == raw
    assert recorder.seen == relay(CASES[0], [raw]).observed


# ----------------------------------------------------------------------------- the splitter


EVENTS = st.lists(
    st.tuples(st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30),
              st.sampled_from([b"\n\n", b"\r\n\r\n"])),
    min_size=1, max_size=8,
)


@given(events=EVENTS, tail=st.binary(max_size=20), data=st.data())
def test_the_splitter_gives_whole_events_only_and_loses_no_byte(
    events: list[tuple[str, bytes]], tail: bytes, data: st.DataObject
) -> None:
    stream = b"".join(b"data: " + text.encode() + end for text, end in events)
    assume(last_event_end(stream + tail) == len(stream))  # the tail is an unfinished event
    offsets = data.draw(st.lists(st.integers(0, len(stream + tail)), max_size=12))
    splitter = EventSplitter()
    given_out = []
    for chunk in cut(stream + tail, offsets):
        out = splitter.push(chunk)
        if out:
            assert out.endswith((b"\n\n", b"\r\n\r\n")), out
        given_out.append(out)
    assert b"".join(given_out) == stream
    assert splitter.pending == tail


# ----------------------------------------------------------------------------- observers, bad events


def test_an_observer_that_raises_is_dropped_and_the_others_and_the_client_see_everything() -> None:
    class Broken:
        calls = 0

        def on_event(self, dialect: str, name: str | None, data: Any) -> None:
            Broken.calls += 1
            raise RuntimeError("observer bug")

    raw = streams()["anthropic-text"]
    recorder = Recorder()
    relayed = StreamRelay(ANTHROPIC, None, hide_usage=False, observers=[Broken(), recorder])
    out = b"".join((relayed.push(raw[i:i + 50]) or b"") for i in range(0, len(raw), 50))
    assert out == raw
    assert Broken.calls == 1
    assert recorder.seen == relay(CASES[0], [raw]).observed


@pytest.mark.parametrize(("dialect", "event"), [
    (ANTHROPIC, b'event: message_delta\ndata: {"type":"message_delta","usage":{"output_tokens":"many"}}\n\n'),
    (ANTHROPIC, b"event: message_start\ndata: [1]\n\n"),
    (OPENAI, b'data: {"choices":[],"usage":{"prompt_tokens":-3}}\n\n'),
    (OPENAI, b'data: {"choices":[{"finish_reason":"stop"'),
])
def test_an_event_the_bill_depends_on_that_is_malformed_raises_malformed_answer(dialect: str, event: bytes) -> None:
    relayed = StreamRelay(dialect, None, hide_usage=False, observers=[])
    with pytest.raises(MalformedAnswer):
        relayed.push(event + (b"\n\n" if not event.endswith(b"\n\n") else b""))


# ----------------------------------------------------------------------------- whatever arrives


ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _slots(value: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) inside a parsed event, at any depth."""
    found: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append((value, key))
            found.extend(_slots(item))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found.append((value, index))
            found.extend(_slots(item))
    return found


def _mutated(raw: bytes, data: st.DataObject) -> bytes:
    """`raw` with one event changed: a field's value replaced by any JSON value, the whole data
    replaced, or bytes inserted."""
    events = raw.split(b"\n\n")
    index = data.draw(st.integers(0, len(events) - 2), label="event")
    head, sep, payload = events[index].rpartition(b"data: ")
    how = data.draw(st.sampled_from(["field", "data", "bytes"]), label="how")
    if how == "bytes" or not sep:
        junk = data.draw(st.binary(min_size=1, max_size=12), label="junk")
        at = data.draw(st.integers(0, len(events[index])), label="at")
        events[index] = events[index][:at] + junk + events[index][at:]
        return b"\n\n".join(events)
    try:
        parsed = orjson.loads(payload)
    except orjson.JSONDecodeError:  # [DONE]
        parsed = payload.decode()
    slots = _slots(parsed)
    if how == "field" and slots:
        container, key = data.draw(st.sampled_from(slots), label="field")
        container[key] = data.draw(ANY_JSON, label="value")
    else:
        parsed = data.draw(ANY_JSON, label="data")
    events[index] = head + sep + orjson.dumps(parsed)
    return b"\n\n".join(events)


@pytest.mark.parametrize("case", [c for c in CASES if c.stream != "anthropic-crlf"], ids=repr)
@settings(max_examples=60)
@given(data=st.data())
def test_whatever_an_upstream_sends_the_relay_raises_nothing_but_malformed_answer(
    case: Case, data: st.DataObject
) -> None:
    """An upstream is not trusted: any event of a stream may carry any JSON in any field. The
    relay either relays it or says the answer is malformed, which the exchange turns into a
    clean upstream error; any other exception is a gateway bug (a 500 for the upstream's fault)."""
    raw = _mutated(streams()[case.stream], data)
    relayed = case.relay([Recorder()])
    offsets = data.draw(st.lists(st.integers(0, len(raw)), max_size=4), label="cuts")
    try:
        for chunk in cut(raw, offsets):
            relayed.push(chunk)
        relayed.finish()
    except MalformedAnswer:
        pass


def _outcome(push: Callable[[bytes], Any], chunks: list[bytes], facts: Callable[[], StreamFacts]) -> Any:
    out = []
    try:
        for chunk in chunks:
            out.append(push(chunk))
    except MalformedAnswer as exc:
        return out, str(exc), facts()
    return out, None, facts()


@settings(max_examples=200)
@given(data=st.data(), stream=st.sampled_from(["anthropic-text", "anthropic-tool", "anthropic-crlf"]))
def test_a_passthrough_without_observers_bills_and_refuses_as_the_event_reader_does(
    data: st.DataObject, stream: str
) -> None:
    """With no observer and no translation an Anthropic stream's facts are read without an
    event object per event: the client, the bill and a refusal are what reading every event
    gives, whatever the upstream sent and however it was cut."""
    raw = streams()[stream]
    if stream != "anthropic-crlf" and data.draw(st.booleans(), label="mutate"):
        raw = _mutated(raw, data)
    if data.draw(st.booleans(), label="one event a chunk, as a live stream comes"):
        chunks = re.findall(rb"(?s).*?\n\n|.+", raw)
    else:
        chunks = cut(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=4), label="cuts"))
    _assert_relayed_as_the_event_reader_reads(chunks)


def _assert_relayed_as_the_event_reader_reads(chunks: list[bytes]) -> None:
    """The relay's fast reading of `chunks` gives the client, the bill and the refusal that reading
    every event does."""
    relayed = StreamRelay(ANTHROPIC, None, hide_usage=False, observers=[])
    splitter, reader = EventSplitter(), UpstreamReader(ANTHROPIC)

    def reference(chunk: bytes) -> bytes | None:
        complete = splitter.push(chunk)
        if not complete:
            return None
        reader.read(complete)
        return complete

    assert _outcome(relayed.push, chunks, lambda: relayed.facts) == _outcome(reference, chunks, lambda: reader.facts)


# Lines an upstream (or a proxy in between) may put where Anthropic's own form has its lines:
# every way a chunk can stop being in that form, or stay in it with events that tell.
_ODD_LINES = [
    b"", b"event: message_start", b"event: message_delta", b"event: message_stop", b"event: error",
    b"event: message_stop}", b"event: ping", b"event:message_delta", b"event:  message_delta", b"data: {}",
    b'data: {"type":"message_stop"}', b"data: {", b"data: }", b"data:{}", b"data: {x}", b": comment", b"id: 7",
    b"retry: 5", b"data: {\xff}", b"event: \xc3\xa9", b"data: {\r}", b"\r", b'data: {"type":"error"}',
    b'data: {"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":3}}',
]


@settings(max_examples=500)
@given(data=st.data(), stream=st.sampled_from(["anthropic-text", "anthropic-tool"]))
def test_a_passthrough_whose_lines_are_moved_bills_and_refuses_as_the_event_reader_does(
    data: st.DataObject, stream: str
) -> None:
    """The fast reading of Anthropic's own form takes a chunk only when it is in that form: lines
    dropped, repeated, cut short, lengthened, inserted or replaced anywhere give the client, the bill and a refusal that
    reading every event gives, whole or cut."""
    lines = streams()[stream].split(b"\n")
    for _ in range(data.draw(st.integers(1, 4), label="edits")):
        at = data.draw(st.integers(0, len(lines) - 1), label="at")
        how = data.draw(st.sampled_from(["drop", "repeat", "shorten", "extend", "insert", "replace"]), label="how")
        if how == "drop":
            del lines[at]
        elif how == "repeat":
            lines.insert(at, lines[at])
        elif how == "shorten":
            lines[at] = lines[at][:-data.draw(st.integers(1, 3), label="by")]
        elif how == "extend":
            lines[at] += data.draw(st.sampled_from([b"}", b" ", b"\r", b"\xff", b"\n"]) | st.binary(max_size=4), label="by")
        else:
            line = data.draw(st.sampled_from(_ODD_LINES) | st.binary(max_size=12), label="line")
            lines[at:at + (how == "replace")] = [line]
    raw = b"\n".join(lines)
    if data.draw(st.booleans(), label="whole"):
        chunks = [raw]
    else:
        chunks = cut(raw, data.draw(st.lists(st.integers(0, len(raw)), max_size=3), label="cuts"))
    _assert_relayed_as_the_event_reader_reads(chunks)
