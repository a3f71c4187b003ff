"""An upstream's answer of any shape: the usage readers, response translators and stream
translators of every dialect give a result or `MalformedAnswer` (a 502 for the provider, eligible
for failover), never another exception, and never believe a token count that is not one. An
error the upstream declares in a stream stays the upstream's error, not a malformed answer."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from json_strategies import json_values, nested, one_field_wrong
from test_translate_response import anthropic_message, chat_completion
from test_translate_stream import anthropic_streams, openai_streams

from bifrost_py.dialects import usage
from bifrost_py.dialects.anthropic_openai import (
    AnthropicStreamToOpenAI,
    MalformedAnswer,
    OpenAIStreamToAnthropic,
    anthropic_response_to_openai,
    openai_response_to_anthropic,
)
from bifrost_py.dialects.bedrock import (
    BedrockStreamError,
    BedrockStreamReader,
    bedrock_error_to_anthropic,
    encode_bedrock_chunk,
)
from bifrost_py.dialects.eventstream import EventStreamDecoder, EventStreamError, encode_message
from bifrost_py.dialects.gemini_errors import GeminiError, gemini_error_to_anthropic
from bifrost_py.dialects.gemini_mock import gemini_response, gemini_stream_chunks
from bifrost_py.dialects.gemini_response import gemini_response_to_anthropic
from bifrost_py.dialects.gemini_stream import GeminiStreamToAnthropic
from bifrost_py.dialects.sse import SSEDecoder

event_names = st.sampled_from(
    ["message_start", "message_delta", "message_stop", "error", "ping", "content_block_start",
     "content_block_delta", "content_block_stop", "completion"]
)  # fmt: skip
# What an upstream might put in `data:`: JSON of any shape, or text that is not JSON at all.
event_data = json_values.map(lambda value: orjson.dumps(value).decode()) | st.text(max_size=20)


def assert_facts_believable(facts: usage.StreamFacts) -> None:
    for count in (facts.input_tokens, facts.output_tokens, facts.cache_read_tokens, facts.cache_write_tokens):
        assert isinstance(count, int) and not isinstance(count, bool) and count >= 0
    assert facts.model is None or isinstance(facts.model, str)
    assert facts.stop_reason is None or isinstance(facts.stop_reason, str)
    if facts.error is not None:
        assert isinstance(facts.error["type"], str) and isinstance(facts.error.get("message", ""), str)


def read_or_refuse(read: Callable[[], Any]) -> Any:
    """`read()`'s result, or None when it raised MalformedAnswer; anything else fails."""
    try:
        return read()
    except MalformedAnswer as exc:
        assert str(exc)
        return None


# ---------------------------------------------------------------- usage readers, event by event


@settings(max_examples=600)
@given(st.lists(st.tuples(event_names, event_data), max_size=6), st.booleans())
def test_anthropic_events_of_any_shape(events: list[tuple[str, str]], model_known: bool) -> None:
    facts = usage.StreamFacts(model="claude-x" if model_known else None)
    for name, data in events:
        read_or_refuse(lambda name=name, data=data: usage.anthropic_event(name, data, facts))
        assert_facts_believable(facts)


@settings(max_examples=600)
@given(st.lists(event_data | st.just("[DONE]"), max_size=6), st.booleans())
def test_openai_chunks_of_any_shape(chunks: list[str], model_known: bool) -> None:
    facts = usage.StreamFacts(model="gpt-x" if model_known else None)
    for data in chunks:
        read_or_refuse(lambda data=data: usage.openai_event(data, facts))
        assert_facts_believable(facts)


@settings(max_examples=300)
@given(data=st.data())
def test_usage_bearing_anthropic_events_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    case = data.draw(anthropic_streams())
    name, event = data.draw(st.sampled_from([e for e in case["events"] if e[0] in ("message_start", "message_delta", "error")]))
    facts = usage.StreamFacts()
    read_or_refuse(lambda: usage.anthropic_event(name, orjson.dumps(data.draw(one_field_wrong(event))).decode(), facts))
    assert_facts_believable(facts)


@settings(max_examples=300)
@given(data=st.data())
def test_openai_chunks_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    chunks = data.draw(openai_streams())["chunks"]
    facts = usage.StreamFacts()
    for chunk in chunks:
        wrong = data.draw(st.booleans())
        raw = orjson.dumps(data.draw(one_field_wrong(chunk)) if wrong else chunk).decode()
        read_or_refuse(lambda raw=raw: usage.openai_event(raw, facts))
        assert_facts_believable(facts)


@pytest.mark.parametrize(
    ("event", "data", "field"),
    [
        ("message_start", '{"message": {"usage": {"input_tokens": "x"}}}', "message_start.message.usage.input_tokens"),
        ("message_start", '{"message": {"usage": {"input_tokens": -3}}}', "must be a non-negative integer"),
        ("message_start", '{"message": {"usage": {"input_tokens": true}}}', "input_tokens"),
        ("message_start", '{"message": {"usage": {"input_tokens": 1.5}}}', "input_tokens"),
        ("message_start", '{"message": {"usage": 5}}', "message_start.message.usage: must be an object"),
        ("message_start", '{"message": {"model": ["m"]}}', "message_start.message.model: must be a string"),
        ("message_start", "[1, 2]", "message_start: must be an object"),
        ("message_start", "{not json", "message_start is not JSON"),
        ("message_delta", '{"usage": {"output_tokens": "12"}}', "message_delta.usage.output_tokens"),
        ("message_delta", '{"delta": {"stop_reason": 1}}', "message_delta.delta.stop_reason: must be a string"),
    ],
)
def test_a_bad_usage_event_is_a_malformed_answer_naming_the_field(event: str, data: str, field: str) -> None:
    with pytest.raises(MalformedAnswer, match=field.replace(".", r"\.")):
        usage.anthropic_event(event, data, usage.StreamFacts())


@pytest.mark.parametrize(
    "data",
    ['{"usage": {"prompt_tokens": "9"}, "choices": []}', '{"usage": {"completion_tokens": -1}, "choices": []}',
     '{"usage": {"prompt_tokens": 5, "prompt_tokens_details": {"cached_tokens": "2"}}}',
     '{"choices": 5, "finish_reason": "x"}', '{"choices": [{"finish_reason": 5}], "model": "m"}',
     '{"model": 5}', '"just a string"', "{oops"],
)
def test_a_bad_openai_chunk_is_a_malformed_answer(data: str) -> None:
    with pytest.raises(MalformedAnswer):
        usage.openai_event(data, usage.StreamFacts())


def test_content_chunks_stay_unparsed() -> None:
    """The hot path: once the model is known, a chunk without usage, finish or error is not
    parsed at all; it is only seen to be framed as an object, which a write cut short upstream
    (the usual garbage) is not."""
    facts = usage.StreamFacts(model="gpt-x")
    usage.openai_event('{"choices": [{"delta": {"content": "hi"}} BROKEN}', facts)
    usage.anthropic_event("content_block_delta", "{BROKEN}", facts)
    assert facts == usage.StreamFacts(model="gpt-x")
    with pytest.raises(MalformedAnswer, match="a stream chunk is not a JSON object"):
        usage.openai_event('{"id":"chatcmpl-garbage","object":"chat.completion.chunk","choices":[{"ind', facts)
    with pytest.raises(MalformedAnswer, match="content_block_delta is not a JSON object"):
        usage.anthropic_event("content_block_delta", '{"type":"content_block_delta","index":0,"delta":{"ty', facts)
    with pytest.raises(MalformedAnswer):
        usage.anthropic_event("ping", "", facts)


@pytest.mark.parametrize(
    ("read", "body"),
    [(usage.anthropic_response_facts, {"usage": {"input_tokens": None, "output_tokens": 3}}),
     (usage.anthropic_response_facts, {"usage": {"output_tokens": None}}),
     (usage.openai_response_facts, {"usage": {"prompt_tokens": None, "completion_tokens": 1}}),
     (lambda body: usage.anthropic_event("message_start", orjson.dumps({"message": body}).decode(), usage.StreamFacts()),
      {"usage": {"input_tokens": None}}),
     (lambda body: usage.anthropic_event("message_delta", orjson.dumps(body).decode(), usage.StreamFacts()),
      {"usage": {"output_tokens": None}})],
)
def test_a_count_the_dialect_declares_an_integer_is_never_null(read: Callable[[Any], Any], body: Any) -> None:
    with pytest.raises(MalformedAnswer, match="must be a non-negative integer"):
        read(body)


def test_counts_the_dialect_declares_nullable_may_be_null() -> None:
    """Anthropic's cache counts are `int | null`, and so is message_delta's input_tokens."""
    facts = usage.anthropic_response_facts({"usage": {"input_tokens": 5, "output_tokens": 1,
                                                      "cache_read_input_tokens": None, "cache_creation_input_tokens": None}})
    assert (facts.input_tokens, facts.cache_read_tokens) == (5, 0)
    usage.anthropic_event("message_delta", '{"usage": {"output_tokens": 3, "input_tokens": null}}', facts)
    assert facts.output_tokens == 3 and facts.input_tokens == 5
    assert usage.openai_response_facts({"usage": {"prompt_tokens": 4, "prompt_tokens_details": None}}).input_tokens == 4


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}',
         {"type": "overloaded_error", "message": "Overloaded"}),
        ('{"type": "error", "error": "boom"}', {"type": "api_error", "message": "boom"}),
        ('{"type": "error", "error": {"message": 5}}', {"type": "api_error", "message": "5"}),
        ("[1]", {"type": "api_error", "message": "[1]"}),
        ("not json", {"type": "api_error", "message": "not json"}),
    ],
)
def test_an_anthropic_error_event_stays_the_upstreams_error(data: str, expected: dict[str, Any]) -> None:
    facts = usage.StreamFacts()
    usage.anthropic_event("error", data, facts)
    assert facts.error == expected


def test_an_openai_error_chunk_stays_the_upstreams_error() -> None:
    facts = usage.StreamFacts()
    usage.openai_event('{"error": {"message": "rate limited", "type": "tokens"}}', facts)
    assert facts.error == {"message": "rate limited", "type": "tokens"}
    facts = usage.StreamFacts()
    usage.openai_event('{"error": ' + "[" * 1000 + "]" * 1000 + "}", facts)  # too deep to print
    assert facts.error is not None and "deeply nested" in facts.error["message"]


# ---------------------------------------------------------------- whole answers


@settings(max_examples=500)
@given(json_values)
def test_whole_answers_of_any_shape(body: Any) -> None:
    for read in (usage.anthropic_response_facts, usage.openai_response_facts):
        facts = read_or_refuse(lambda read=read: read(body))
        if facts is not None:
            assert_facts_believable(facts)
    for translate in (openai_response_to_anthropic, anthropic_response_to_openai):
        out = read_or_refuse(lambda translate=translate: translate(body, model="m"))
        if out is not None:
            orjson.dumps(out)
    out = read_or_refuse(lambda: gemini_response_to_anthropic(body, model="gemini-x"))
    if out is not None:
        orjson.dumps(out)


def valid_answers() -> list[tuple[str, dict[str, Any]]]:
    tools = [{"type": "tool_use", "id": "toolu_1", "name": "f", "input": {"a": [1]}}]
    calls = [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}}]
    return [
        ("anthropic", anthropic_message([{"type": "thinking", "thinking": "t"}, {"type": "text", "text": "x"}, *tools],
                                        cache_read_input_tokens=3, cache_creation_input_tokens=4)),
        ("openai", chat_completion({"role": "assistant", "content": [{"type": "text", "text": "x"}], "refusal": "no",
                                    "tool_calls": calls}, usage={"prompt_tokens": 10, "completion_tokens": 2,
                                                                 "prompt_tokens_details": {"cached_tokens": 4}})),
        ("openai", {"object": "list", "data": [{"embedding": [0.1]}], "model": "e", "usage": {"prompt_tokens": 3, "total_tokens": 3}}),
        ("gemini", gemini_response("hi", input_tokens=3, output_tokens=1, model="gemini-x")
         | {"promptFeedback": {"blockReason": None}}),
    ]  # fmt: skip


def read_answer(dialect: str, body: Any) -> None:
    """Everything the gateway does with a whole answer of `dialect`."""
    if dialect == "anthropic":
        read_or_refuse(lambda: (usage.anthropic_response_facts(body), orjson.dumps(anthropic_response_to_openai(body))))
    elif dialect == "openai":
        read_or_refuse(lambda: (usage.openai_response_facts(body), orjson.dumps(openai_response_to_anthropic(body))))
    else:
        read_or_refuse(lambda: orjson.dumps(gemini_response_to_anthropic(body, model="g")))


@pytest.mark.parametrize(("dialect", "body"), valid_answers())
def test_the_valid_answers_are_read(dialect: str, body: dict[str, Any]) -> None:
    if dialect == "anthropic":
        assert usage.anthropic_response_facts(body).cache_write_tokens == 4
        assert anthropic_response_to_openai(body)["usage"]["prompt_tokens"] == 17
    elif dialect == "openai":
        assert usage.openai_response_facts(body).input_tokens in (6, 3)
        openai_response_to_anthropic(body)
    else:
        assert gemini_response_to_anthropic(body, model="g")["usage"]["input_tokens"] == 3


@settings(max_examples=600)
@given(data=st.data())
def test_valid_answers_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    dialect, body = data.draw(st.sampled_from(valid_answers()))
    read_answer(dialect, data.draw(one_field_wrong(body)))


@pytest.mark.parametrize(
    ("read", "body", "why"),
    [
        (usage.openai_response_facts, [{"choices": []}], "the answer: must be an object"),
        (usage.openai_response_facts, {"error": {"message": "quota", "type": "insufficient_quota"}},
         "error sent with a success status: insufficient_quota: quota"),
        (usage.openai_response_facts, {"error": "boom"}, "api_error: boom"),
        (usage.openai_response_facts, {"choices": {}}, "choices: must be a list"),
        (usage.openai_response_facts, {"choices": [], "usage": {"prompt_tokens": "10"}}, "usage.prompt_tokens"),
        (usage.anthropic_response_facts, {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}},
         "overloaded_error: busy"),
        (usage.anthropic_response_facts, {"type": "error"}, "error sent with a success status: api_error"),
        (usage.anthropic_response_facts, {"content": "hi"}, "content: must be a list"),
        (usage.anthropic_response_facts, {"usage": {"output_tokens": None, "input_tokens": "x"}}, "usage.input_tokens"),
        (usage.anthropic_response_facts, "a string", "the answer: must be an object"),
        (lambda body: gemini_response_to_anthropic(body, model="g"),
         {"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "message": "quota"}}, "429 RESOURCE_EXHAUSTED: quota"),
        (lambda body: gemini_response_to_anthropic(body, model="g"), {"usageMetadata": {"promptTokenCount": "3"}},
         "usageMetadata.promptTokenCount"),
        (lambda body: gemini_response_to_anthropic(body, model="g"), {"candidates": [{"content": {"parts": 5}}]},
         "candidates[0].content.parts: must be a list"),
        (openai_response_to_anthropic, chat_completion({"tool_calls": [{"id": 5, "function": {"name": "f"}}]}),
         "tool_calls[0].id: must be a string"),
        (openai_response_to_anthropic, chat_completion({"tool_calls": [{"function": {"name": "f", "arguments": "{no"}}]}),
         "arguments: is not valid JSON"),
        (anthropic_response_to_openai, anthropic_message([{"type": "tool_use", "id": "t", "name": "f", "input": nested(300)}]),
         "content[0].input"),
    ],
)
def test_what_is_not_a_success_is_a_malformed_answer(read: Callable[[Any], Any], body: Any, why: str) -> None:
    with pytest.raises(MalformedAnswer) as caught:
        read(body)
    assert why in str(caught.value)


def test_embeddings_and_null_error_are_successes() -> None:
    facts = usage.openai_response_facts({"object": "list", "data": [], "usage": {"prompt_tokens": 7, "total_tokens": 7}})
    assert facts.input_tokens == 7
    assert usage.openai_response_facts({"choices": [], "error": None}).finished


# ---------------------------------------------------------------- stream translators


@settings(max_examples=400)
@given(st.lists(json_values, max_size=6))
def test_openai_stream_translation_of_any_chunks(chunks: list[Any]) -> None:
    translator = OpenAIStreamToAnthropic(model="claude-x", input_tokens_estimate=5)
    feed_until_malformed(lambda chunk: translator.feed(chunk), chunks)
    orjson.dumps(translator.finish())


@settings(max_examples=400)
@given(st.lists(st.tuples(event_names, json_values), max_size=6), st.booleans())
def test_anthropic_stream_translation_of_any_events(events: list[tuple[str, Any]], include_usage: bool) -> None:
    translator = AnthropicStreamToOpenAI(model="gpt-x", include_usage=include_usage)
    feed_until_malformed(lambda event: translator.feed(*event), events)
    orjson.dumps(translator.finish())
    assert all(isinstance(v, int) and v >= 0 for v in translator.usage.values())


@settings(max_examples=300)
@given(data=st.data())
def test_openai_streams_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    chunks = data.draw(openai_streams())["chunks"]
    broken = [data.draw(one_field_wrong(chunk)) if data.draw(st.booleans()) else chunk for chunk in chunks]
    translator = OpenAIStreamToAnthropic(model="claude-x")
    feed_until_malformed(lambda chunk: translator.feed(chunk), broken)
    orjson.dumps(translator.finish())


@settings(max_examples=300)
@given(data=st.data())
def test_anthropic_streams_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    events = data.draw(anthropic_streams())["events"]
    broken = [(name, data.draw(one_field_wrong(event))) if data.draw(st.booleans()) else (name, event) for name, event in events]
    translator = AnthropicStreamToOpenAI(model="gpt-x", include_usage=True)
    feed_until_malformed(lambda event: translator.feed(*event), broken)
    orjson.dumps(translator.finish())


def feed_until_malformed(feed: Callable[[Any], list[Any]], items: list[Any]) -> None:
    """Feed items until one is malformed (the core ends the stream there); what comes out
    before must be writable as JSON."""
    for item in items:
        try:
            orjson.dumps(feed(item))
        except MalformedAnswer:
            return


def test_declared_stream_errors_are_translated_not_raised() -> None:
    to_anthropic = OpenAIStreamToAnthropic(model="claude-x")
    events = to_anthropic.feed({"error": ["not", "an", "object"]})
    assert events[-1] == ("error", {"type": "error", "error": {"type": "api_error", "message": '["not","an","object"]'}})
    to_openai = AnthropicStreamToOpenAI(model="gpt-x", include_usage=False)
    [chunk] = to_openai.feed("error", {"type": "error", "error": "boom"})
    assert chunk["error"]["message"] == "boom" and chunk["error"]["type"] == "server_error"


def test_bad_usage_in_a_translated_stream_is_malformed() -> None:
    to_openai = AnthropicStreamToOpenAI(model="gpt-x", include_usage=True)
    with pytest.raises(MalformedAnswer, match=r"message_start\.message\.usage\.input_tokens"):
        to_openai.feed("message_start", {"type": "message_start", "message": {"usage": {"input_tokens": "x"}}})
    to_anthropic = OpenAIStreamToAnthropic(model="claude-x")
    with pytest.raises(MalformedAnswer, match=r"chunk\.usage\.prompt_tokens"):
        to_anthropic.feed({"choices": [], "usage": {"prompt_tokens": -1}})
    with pytest.raises(MalformedAnswer, match="chunk: must be an object"):
        to_anthropic.feed([1, 2])


# ---------------------------------------------------------------- Gemini and Bedrock streams


@settings(max_examples=400)
@given(st.lists(json_values, max_size=5))
def test_gemini_stream_chunks_of_any_shape(chunks: list[Any]) -> None:
    translator = GeminiStreamToAnthropic("gemini-x", input_tokens_estimate=4)
    for chunk in chunks:
        try:
            orjson.dumps(translator.feed(chunk))
        except (MalformedAnswer, GeminiError):
            break
    orjson.dumps(translator.finish())
    assert all(isinstance(v, int) and v >= 0 for v in translator.usage.values())


@settings(max_examples=300)
@given(data=st.data())
def test_gemini_stream_chunks_with_one_field_of_the_wrong_type(data: st.DataObject) -> None:
    chunks = gemini_stream_chunks(["a", "b", "c"], input_tokens=3, output_tokens=3)
    chunks[1]["candidates"][0]["content"]["parts"].append({"functionCall": {"name": "f", "args": {"x": 1}}, "thoughtSignature": "c2ln"})
    translator = GeminiStreamToAnthropic("gemini-x")
    for chunk in chunks:
        try:
            translator.feed(data.draw(one_field_wrong(chunk)) if data.draw(st.booleans()) else chunk)
        except (MalformedAnswer, GeminiError):
            break
    orjson.dumps(translator.finish())


def test_gemini_stream_error_chunks_stay_gemini_errors() -> None:
    translator = GeminiStreamToAnthropic("gemini-x")
    with pytest.raises(GeminiError) as caught:
        translator.feed({"error": {"code": "x", "message": nested(1000), "details": 5}})
    assert caught.value.code == 500 and "deeply nested" in caught.value.message
    with pytest.raises(MalformedAnswer, match="usageMetadata.candidatesTokenCount"):
        GeminiStreamToAnthropic("g").feed({"usageMetadata": {"candidatesTokenCount": 2.5}})


def bedrock_frame(payload: bytes, **headers: str) -> bytes:
    return encode_message({":message-type": "event", ":event-type": "chunk", **headers}, payload)


@settings(max_examples=400)
@given(st.lists(st.binary(max_size=64) | json_values.map(lambda v: bedrock_frame(orjson.dumps(v)))
                | json_values.map(lambda v: bedrock_frame(orjson.dumps({"bytes": base64.b64encode(orjson.dumps(v)).decode()}))),
                max_size=5))
def test_bedrock_streams_of_any_bytes(pieces: list[bytes]) -> None:
    reader = BedrockStreamReader()
    try:
        for piece in pieces:
            for name, event in reader.feed(piece):
                assert isinstance(name, str) and "\n" not in name and isinstance(event, dict)
        reader.close()
    except (MalformedAnswer, BedrockStreamError):
        pass


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        (b'{"bytes": 1}', "undecodable Bedrock chunk"),
        (b'{"bytes": "!!!"}', "undecodable Bedrock chunk"),
        (orjson.dumps({"bytes": base64.b64encode(b"[1]").decode()}), "not a JSON object"),
        (orjson.dumps({"bytes": base64.b64encode(b'{"type": "ping\\nevent: x"}').decode()}), "not an event name"),
        (orjson.dumps({"bytes": base64.b64encode(b'{"type": 5}').decode()}), "not an event name"),
    ],
)
def test_an_undecodable_bedrock_chunk_is_malformed(payload: bytes, why: str) -> None:
    with pytest.raises(MalformedAnswer, match=why):
        BedrockStreamReader().feed(bedrock_frame(payload))


def test_a_malformed_bedrock_chunk_comes_after_the_good_events_before_it() -> None:
    good = encode_bedrock_chunk({"type": "ping"})
    reader = BedrockStreamReader()
    assert reader.feed(good + bedrock_frame(b"[]")) == [("ping", {"type": "ping"})]
    with pytest.raises(MalformedAnswer):
        reader.close()


@settings(max_examples=400)
@given(st.lists(st.binary(max_size=80), max_size=4))
def test_the_event_stream_decoder_raises_only_its_error(pieces: list[bytes]) -> None:
    decoder = EventStreamDecoder()
    try:
        for piece in pieces:
            decoder.feed(piece)
        decoder.close()
    except EventStreamError as exc:
        assert isinstance(exc, MalformedAnswer)


@settings(max_examples=300)
@given(st.lists(st.binary(max_size=40) | st.text(max_size=30).map(str.encode), max_size=6))
def test_the_sse_decoder_takes_any_bytes(pieces: list[bytes]) -> None:
    decoder = SSEDecoder()
    try:
        for piece in pieces:
            decoder.feed(piece)
        decoder.close()
    except MalformedAnswer as exc:
        assert "not UTF-8" in str(exc)


def test_an_sse_line_that_is_not_utf8_is_malformed() -> None:
    """A proxy's error page in the middle of a stream is not text the client could be given."""
    decoder = SSEDecoder()
    assert decoder.feed(b"data: {}\n\n") != []
    with pytest.raises(MalformedAnswer, match="not UTF-8"):
        decoder.feed(b"\xff\xfe\x00\x9c<html><body>upstream hiccup</body></html>\n\n")
    with pytest.raises(MalformedAnswer, match="not UTF-8"):
        SSEDecoder().feed(b"data: caf\xe9\n\n")
    assert SSEDecoder().feed("data: café ☕\n\n".encode())[0].data == "café ☕"


def test_an_sse_retry_of_unicode_digits_is_ignored() -> None:
    decoder = SSEDecoder()
    [event] = decoder.feed("retry: ²\ndata: x\n\n".encode())
    assert event.retry is None and event.data == "x"


# ---------------------------------------------------------------- error answers (non-2xx) of any shape


@settings(max_examples=400)
@given(json_values.map(orjson.dumps) | st.binary(max_size=40), st.sampled_from([400, 401, 429, 500, 503]))
def test_error_bodies_of_any_shape_are_read(body: bytes, status: int) -> None:
    kind, message = gemini_error_to_anthropic(status, body)
    assert isinstance(kind, str) and isinstance(message, str)
    kind, message = bedrock_error_to_anthropic(status, body, {})
    assert isinstance(kind, str) and isinstance(message, str)


def test_error_bodies_too_deep_to_print() -> None:
    deep = b'{"error": {"message": ' + b"[" * 1000 + b"]" * 1000 + b', "details": 5, "status": {"a": 1}}}'
    kind, message = gemini_error_to_anthropic(503, deep)
    assert kind == "overloaded_error" and "deeply nested" in message
    assert bedrock_error_to_anthropic(500, b'{"__type": ' + b"[" * 1000 + b"]" * 1000 + b"}", {})[0] == "api_error"
