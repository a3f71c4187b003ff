"""The cache's reading of Responses API calls: one key whatever Codex's session fields, and
answers turned into the stored Anthropic message only when a replay can reproduce them."""

from __future__ import annotations

import pytest
from bifrost_cache.requestkey import Uncacheable, canonical_request
from bifrost_cache.responses_answer import ResponsesStreamAnswer, responses_answer_to_anthropic

from bifrost_py.context import RESPONSES

CODEX = {"model": "gpt-5", "instructions": "Be brief.", "stream": True, "store": False,
         "input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]}],
         "prompt_cache_key": "session-1", "client_metadata": {"turn_id": "t1"}, "include": ["reasoning.encrypted_content"]}


def test_codex_session_fields_do_not_split_the_key() -> None:
    other = {**CODEX, "prompt_cache_key": "session-2", "client_metadata": {"turn_id": "t9"}, "stream": False}
    assert canonical_request(CODEX, RESPONSES, "gpt-5") == canonical_request(other, RESPONSES, "gpt-5")
    assert canonical_request(CODEX, RESPONSES, "gpt-5") != canonical_request(
        {**CODEX, "instructions": "Be long."}, RESPONSES, "gpt-5")


def test_reasoning_items_and_previous_responses() -> None:
    with_reasoning = {**CODEX, "input": [*CODEX["input"], {"type": "reasoning", "summary": [],
                                                          "encrypted_content": "abc"}]}
    assert "responses_only" in canonical_request(with_reasoning, RESPONSES, "gpt-5")
    with pytest.raises(Uncacheable):
        canonical_request({**CODEX, "previous_response_id": "resp_1"}, RESPONSES, "gpt-5")


def response(*output: dict, status: str = "completed") -> dict:
    return {"id": "resp_1", "model": "gpt-5", "status": status, "output": list(output),
            "usage": {"input_tokens": 100, "output_tokens": 7, "input_tokens_details": {"cached_tokens": 40}}}


TEXT = {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Hello", "annotations": []}]}
CALL = {"type": "function_call", "call_id": "call_1", "name": "shell", "arguments": '{"cmd": "ls"}'}


def test_text_and_calls_become_the_stored_message() -> None:
    message = responses_answer_to_anthropic(response(TEXT, CALL))
    assert message is not None
    assert message["content"] == [{"type": "text", "text": "Hello"},
                                  {"type": "tool_use", "id": "call_1", "name": "shell", "input": {"cmd": "ls"}}]
    assert message["stop_reason"] == "tool_use"
    assert message["usage"] == {"input_tokens": 60, "output_tokens": 7, "cache_read_input_tokens": 40,
                                "cache_creation_input_tokens": 0}
    assert responses_answer_to_anthropic(response(TEXT, status="incomplete"))["stop_reason"] == "max_tokens"  # type: ignore[index]


@pytest.mark.parametrize("output", [
    {**CALL, "namespace": "mcp__files"},                      # only meaningful with the request's namespaces
    {"type": "web_search_call", "id": "ws_1", "status": "completed"},
])
def test_what_a_replay_cannot_reproduce_is_not_stored(output: dict) -> None:
    assert responses_answer_to_anthropic(response(TEXT, output)) is None
    assert responses_answer_to_anthropic(response(TEXT, status="failed")) is None


def test_a_stream_is_read_from_its_final_event() -> None:
    answer = ResponsesStreamAnswer()
    answer.on("response.output_text.delta", {"delta": "Hel"})
    assert answer.message() is None                           # not finished
    answer.on("response.completed", {"response": response(TEXT)})
    assert answer.message()["content"] == [{"type": "text", "text": "Hello"}]  # type: ignore[index]
    answer.on("response.failed", {"response": {}})
    assert answer.message() is None
