"""Billing facts of Gemini answers passed through untouched (`gemini_usage.py`): a stream is
read at its first chunk, its finishing chunk and error chunks; usage is counted as the
Gemini provider's translation counts it."""

from __future__ import annotations

import orjson
import pytest

from bifrost_py.dialects.gemini_mock import gemini_response, gemini_stream_chunks
from bifrost_py.dialects.gemini_usage import gemini_event, gemini_response_facts
from bifrost_py.dialects.translate_errors import MalformedAnswer
from bifrost_py.dialects.usage import StreamFacts


def test_a_stream_is_billed_from_its_last_chunk() -> None:
    facts = StreamFacts()
    for chunk in gemini_stream_chunks(["Hel", "lo", "!"], input_tokens=40, output_tokens=3, model="gemini-2.5-pro"):
        gemini_event(orjson.dumps(chunk).decode(), facts)
    assert (facts.input_tokens, facts.output_tokens, facts.model) == (40, 3, "gemini-2.5-pro")
    assert facts.finished and facts.stop_reason == "STOP" and facts.error is None


def test_a_cut_stream_still_bills_its_prompt() -> None:
    facts = StreamFacts()
    first = gemini_stream_chunks(["a", "b"], input_tokens=12, output_tokens=2)[0]
    gemini_event(orjson.dumps(first).decode(), facts)
    assert facts.input_tokens == 12 and not facts.finished


def test_cached_and_thought_tokens_are_counted_as_billed() -> None:
    answer = gemini_response("hi", input_tokens=100, output_tokens=5, model="m")
    answer["usageMetadata"].update(cachedContentTokenCount=60, thoughtsTokenCount=7)
    facts = gemini_response_facts(answer)
    assert (facts.input_tokens, facts.cache_read_tokens, facts.output_tokens) == (40, 60, 12)


def test_an_error_chunk_is_the_providers_error_and_garbage_is_malformed() -> None:
    facts = StreamFacts()
    gemini_event('{"error": {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}}', facts)
    assert facts.error == {"type": "overloaded_error", "message": "overloaded"}
    with pytest.raises(MalformedAnswer):
        gemini_event('{"candidates": [{"finishReason": 7}]', StreamFacts())
    with pytest.raises(MalformedAnswer):
        gemini_response_facts({"error": {"code": 429, "message": "slow down"}})


def test_a_refused_prompt_ends_the_stream() -> None:
    facts = StreamFacts()
    chunk = {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 9}}
    gemini_event(orjson.dumps(chunk).decode(), facts)
    assert facts.finished and facts.stop_reason == "PROHIBITED_CONTENT" and facts.input_tokens == 9
